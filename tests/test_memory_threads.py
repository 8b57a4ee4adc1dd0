"""Native LRUK and MemoryManager: one thread at a time (InUseError, never a crash) and Ctrl-C inside
long batches (KeyboardInterrupt promptly, the object as if given the processed prefix)."""

from __future__ import annotations

import _thread
import signal
import threading
import time

import numpy as np
import pytest

import vsched
from vsched import InUseError

KEYS = np.random.default_rng(1).integers(0, 200_000, 4_000_000).astype(np.uint64)


def make_manager():
    mm = vsched.MemoryManager(20_000, merge="scan")
    for _ in range(4):
        mm.add_vm(50_000)
    return mm


def memory_batch(n: int):
    rng = np.random.default_rng(2)
    return rng.integers(0, 4, n), rng.integers(0, 50_000, n), rng.integers(0, 9_000, n).astype(np.uint64)


LRUK_CALLS = {
    "access": lambda c: c.access(5),
    "access_many": lambda c: c.access_many([1, 2]),
    "in": lambda c: 5 in c,
    "len": len,
    "history_of": lambda c: c.history_of(5),
    "memory_bytes": lambda c: c.memory_bytes(),
    "time": lambda c: c.time,
    "hits": lambda c: c.hits,
    "misses": lambda c: c.misses,
    "evictions": lambda c: c.evictions,
    "retained": lambda c: c.retained,
    "capacity": lambda c: c.capacity,
    "k": lambda c: c.k,
    "pickle": lambda c: c.__getstate__(),
}

MEMORY_CALLS = {
    "add_vm": lambda m: m.add_vm(3),
    "remove_vm": lambda m: m.remove_vm(0),
    "read": lambda m: m.read(0, 0),
    "write": lambda m: m.write(0, 0, 1),
    "access": lambda m: m.access(0, [0, 1]),
    "scan": lambda m: m.scan(3),
    "stats": lambda m: m.stats(),
    "mapping": lambda m: m.mapping(0),
    "page": lambda m: m.page(0, 0),
    "export_vm": lambda m: m.export_vm(0),
    "import_vm": lambda m: m.import_vm(EXPORTED),
    "memory_bytes": lambda m: m.memory_bytes(),
    "frames": lambda m: m.frames,
    "merge": lambda m: m.merge,
    "pickle": lambda m: m.__getstate__(),
}
_source = vsched.MemoryManager(4)
_source.add_vm(2)
EXPORTED = _source.export_vm(0)


def busy_calls(obj, long_call, calls) -> dict[str, int]:
    """Run `long_call(obj)` in a thread, over and over, while this thread calls every method:
    returns how often each was refused with InUseError."""
    refused = dict.fromkeys(calls, 0)
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker():
        try:
            while not stop.is_set():
                long_call(obj)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while min(refused.values()) < 2 and time.monotonic() < deadline:
            for name, call in calls.items():
                try:
                    call(obj)
                except InUseError as exc:
                    assert "in use by another thread" in str(exc)
                    refused[name] += 1
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    return refused


def test_lruk_refuses_a_second_thread():
    cache = vsched.LRUK(20_000)
    refused = busy_calls(cache, lambda c: c.access_many(KEYS[:500_000]), LRUK_CALLS)
    assert min(refused.values()) >= 2, refused
    assert cache.hits + cache.misses == cache.time  # consistent afterwards


def test_memory_manager_refuses_a_second_thread():
    mm = make_manager()
    vm, gpn, content = memory_batch(300_000)
    refused = busy_calls(mm, lambda m: m.access(vm, gpn, content), MEMORY_CALLS)
    assert min(refused.values()) >= 2, refused
    assert issubclass(InUseError, RuntimeError)


def test_two_objects_in_two_threads_run_together():
    caches = [vsched.LRUK(20_000), vsched.LRUK(20_000)]
    results = [None, None]

    def run(i):
        results[i] = caches[i].access_many(KEYS[:400_000])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert np.array_equal(results[0], results[1])


# -- Ctrl-C -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def python_handles_sigint():
    """interrupt_main() does nothing unless Python's own SIGINT handler is installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_stops_lruk_access_many_at_a_reference_boundary():
    keys = np.tile(KEYS, 8)  # 32 M references: seconds of work
    cache = vsched.LRUK(20_000, k=2, history=50_000)
    timer = interrupt_after(0.2)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        cache.access_many(keys)
        print("not interrupted after", time.monotonic() - start, "s")
    elapsed = time.monotonic() - start
    timer.join()
    done = cache.time
    assert 0 < done < keys.size
    # The work takes seconds; stopping early is the claim (done < size above).
    # The bound here is loose on purpose: a shared, loaded machine is slow.
    assert elapsed < 10.0, elapsed
    fresh = vsched.LRUK(20_000, k=2, history=50_000)
    fresh.access_many(keys[:done])
    assert cache._core._save() == fresh._core._save()  # exactly the prefix, bit for bit
    cache.access_many(keys[:10])  # usable afterwards
    fresh.access_many(keys[:10])
    assert cache._core._save() == fresh._core._save()


def test_ctrl_c_stops_memory_access_at_an_access_boundary():
    vm, gpn, content = memory_batch(6_000_000)
    mm = make_manager()
    timer = interrupt_after(0.2)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        mm.access(vm, gpn, content)
        print("not interrupted after", time.monotonic() - start, "s")
    elapsed = time.monotonic() - start
    timer.join()
    done = mm.stats()["time"]
    assert 0 < done < vm.size
    # The work takes seconds; stopping early is the claim (done < size above).
    # The bound here is loose on purpose: a shared, loaded machine is slow.
    assert elapsed < 10.0, elapsed
    fresh = make_manager()
    fresh.access(vm[:done], gpn[:done], content[:done])
    assert mm._core._save() == fresh._core._save()
    mm.scan(100)
    fresh.scan(100)
    assert mm._core._save() == fresh._core._save()
