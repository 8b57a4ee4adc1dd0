"""Native CpuScheduler: one thread at a time (InUseError, never a crash), two
schedulers in two threads at once, and Ctrl-C inside a long run (in this
process and from a real SIGINT to a child process)."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import vsched
from vsched import InUseError

MS = 1_000_000


def load_work(s, vms: int = 200) -> None:
    ids = np.arange(vms)
    s.add_work(np.repeat(ids, 2), np.tile([0, 1], vms), np.full(2 * vms, vsched.FOREVER))


def make_scheduler(vms: int = 200, pcpus: int = 16):
    """Every vCPU CPU-bound, some VMs reserved (rule 6), some limited (held)."""
    s = vsched.CpuScheduler(pcpus, 1 * MS)
    for i in range(vms):
        s.add_vm(2, shares=500 + 10 * i, reservation=0.05 if i % 7 == 0 else 0.0,
                 limit=1.5 if i % 5 == 0 else None)
    load_work(s, vms)
    return s


def clear_and_reload(s) -> None:
    """clear_all_work, then the load again (retried until it gets in), so the worker stays busy."""
    s.clear_all_work()
    while True:
        try:
            load_work(s)
            return
        except InUseError:
            pass


CALLS = {
    "add_vm": lambda s: s.add_vm(1),
    "set_vm": lambda s: s.set_vm(0, shares=700),
    "remove_vm": lambda s: s.remove_vm(10**6),  # KeyError when it gets in
    "add_work": lambda s: s.add_work(0, 0, 1000),
    "clear_work": lambda s: s.clear_work(1, 0),
    "clear_all_work": clear_and_reload,
    "set_limits": lambda s: s.set_limits([2], [1.0]),
    "run": lambda s: s.run(1000),
    "stats": lambda s: s.stats(),
    "vcpu_stats": lambda s: s.vcpu_stats(),
    "now": lambda s: s.now,
    "pcpus": lambda s: s.pcpus,
    "slice_ns": lambda s: s.slice_ns,
    "decisions": lambda s: s.decisions,
    "strict_reservations": lambda s: s.strict_reservations,
    "pickle": lambda s: s.__getstate__(),
}


def test_a_second_thread_is_refused_never_crashes():
    """One thread in long runs, this one calling every public method: each call
    is refused with InUseError or succeeds, the process never crashes."""
    s = make_scheduler()
    refused = dict.fromkeys(CALLS, 0)
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker():
        try:
            while not stop.is_set():
                s.run(20 * MS)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while min(refused.values()) < 2 and time.monotonic() < deadline:
            for name, call in CALLS.items():
                try:
                    call(s)
                except InUseError as exc:
                    assert "in use by another thread" in str(exc)
                    refused[name] += 1
                except KeyError:
                    pass
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert min(refused.values()) >= 2, refused
    # Consistent afterwards: the time of every vCPU there from the start adds up to now.
    rows = s.vcpu_stats()
    first = rows["vm"] < 200
    total = rows["run_ns"] + rows["ready_ns"] + rows["limited_ns"] + rows["wait_ns"]
    assert (total[first] == s.now).all()
    s.clear_all_work()
    s.run(MS)


def test_two_schedulers_in_two_threads_both_progress():
    schedulers = [make_scheduler(), make_scheduler()]
    duration = 20_000 * MS
    start = time.monotonic()
    for s in (make_scheduler(), make_scheduler()):
        s.run(duration)
    serial = time.monotonic() - start
    threads = [threading.Thread(target=s.run, args=(duration,)) for s in schedulers]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parallel = time.monotonic() - start
    assert schedulers[0].stats()["run_ns"].tolist() == schedulers[1].stats()["run_ns"].tolist()
    assert schedulers[0].now == duration
    print(f"2 runs: serial {serial:.3f} s, two threads {parallel:.3f} s")  # the ratio is reported, not asserted


# -- Ctrl-C -------------------------------------------------------------------------------


@pytest.fixture
def python_handles_sigint():
    """interrupt_main() does nothing unless Python's own SIGINT handler is installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_run_at_a_decision_instant(python_handles_sigint):
    s = make_scheduler()
    s.run(3 * MS + 17)
    before = s.__getstate__()
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        s.run(10**12)  # about 1000 simulated seconds: minutes of work
        print("not interrupted after", time.monotonic() - start, "s")
    elapsed = time.monotonic() - start
    timer.join()
    assert elapsed < 1.5, elapsed
    done = s.now - (3 * MS + 17)
    assert 0 < done < 10**12
    fresh = vsched.CpuScheduler.__new__(vsched.CpuScheduler)
    fresh.__setstate__(before)
    fresh.run(done)
    assert s._core._save() == fresh._core._save()  # exactly a shorter run, bit for bit
    s.run(5 * MS)  # usable afterwards
    fresh.run(5 * MS)
    assert s._core._save() == fresh._core._save()


def test_sigint_to_a_process_inside_run():
    """A real SIGINT, as Ctrl-C in a terminal sends it, ends a long run promptly."""
    script = textwrap.dedent(
        """
        import sys, time
        import numpy as np
        import vsched
        s = vsched.CpuScheduler(16, 1_000_000)
        for i in range(200):
            s.add_vm(2, shares=500 + i)
        s.add_work(np.repeat(np.arange(200), 2), np.tile([0, 1], 200), np.full(400, vsched.FOREVER))
        print("running", flush=True)
        try:
            s.run(10**12)
        except KeyboardInterrupt:
            print("interrupted", time.monotonic(), s.now, flush=True)
            s.run(1000)  # still usable
            rows = s.stats()
            sys.exit(0 if rows["run_ns"].sum() == 16 * s.now else 3)
        sys.exit(2)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "running"
        time.sleep(0.3)
        sent = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        line = child.stdout.readline().split()
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
    assert line[0] == "interrupted"
    latency = float(line[1]) - sent
    assert latency < 1.0, latency
    assert 0 < int(line[2]) < 10**12
