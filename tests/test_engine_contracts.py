"""The engine contracts (vsched.engines): both implementations satisfy them, the host takes an
engine set, and the reference runs with the native extension unavailable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import vsched
import vsched.reference
from vsched import workloads

HERE = Path(__file__).resolve().parent


def test_both_implementations_satisfy_the_contracts_under_mypy():
    mypy_api = pytest.importorskip("mypy.api")
    out, err, status = mypy_api.run(
        ["--no-incremental", "--follow-imports=silent", "--cache-dir=/dev/null",
         str(HERE / "engine_contracts_typecheck.py")]
    )
    assert status == 0, out + err


@pytest.mark.parametrize("impl", [vsched, vsched.reference], ids=["native", "reference"])
def test_engines_are_runtime_instances_of_their_protocols(impl):
    from vsched import engines

    assert isinstance(impl.CpuScheduler(2), engines.CpuSchedulerEngine)
    assert isinstance(impl.LRUK(4), engines.LRUKEngine)
    assert isinstance(impl.MemoryManager(8), engines.MemoryManagerEngine)
    assert isinstance(impl.Reallocator(2.0), engines.ReallocatorEngine)
    assert isinstance(impl.NetScheduler(1e9), engines.NetSchedulerEngine)


def _day(host, ticks=24):
    cpu = workloads.synthetic_cpu(4, ticks, seed=3).cpu
    for _ in range(4):
        host.add_vm(2, 64, domain=0)
    load = workloads.MemoryWorkload(4, 64, seed=3, accesses=50)
    return host.run(cpu * 2, lambda t: (load.boot() if t == 0 else []) + load.tick(t))


def test_host_takes_an_engine_set_object():
    by_class = _day(vsched.reference.Host(4, 1000))
    by_argument = _day(vsched.Host(4, 1000, engines=vsched.reference))
    look_alike = types.SimpleNamespace(
        IMPLEMENTATION="reference",
        fair_share=vsched.reference.fair_share,
        CpuScheduler=vsched.reference.CpuScheduler,
        MemoryManager=vsched.reference.MemoryManager,
        Reallocator=vsched.reference.Reallocator,
    )
    by_object = _day(vsched.Host(4, 1000, engines=look_alike))
    for run in (by_argument, by_object):
        for name, values in by_class.metrics.items():
            assert np.array_equal(values, run.metrics[name]), name
    native = _day(vsched.Host(4, 1000))
    for name, values in by_class.metrics.items():
        assert np.array_equal(values, native.metrics[name]), name
    with pytest.raises(TypeError, match="engines has no"):
        vsched.Host(4, 1000, engines=object())


BLOCKED = textwrap.dedent(
    """
    import sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name == "vsched._core":
                raise ImportError("vsched._core is blocked for this test")
            return None

    sys.meta_path.insert(0, Blocker())
    import numpy as np
    import vsched.reference as ref
    from vsched import workloads

    assert "vsched._core" not in sys.modules
    print(ref.fair_share(2.0, [1.5, 1.5], [1, 3]).tolist())
    lru = ref.LRUK(2)
    lru.access_many(np.array([1, 2, 1, 3], dtype=np.uint64))
    sched = ref.CpuScheduler(2)
    sched.add_vm(2)
    sched.add_work(0, 0, 10_000_000)
    sched.run(20_000_000)
    for fidelity in ("fluid", "sliced"):
        host = ref.Host(8, 4000, fidelity=fidelity, sample_ns=50_000_000)
        for _ in range(6):
            host.add_vm(2, 128, domain=0)
        load = workloads.MemoryWorkload(6, 128, seed=1, accesses=40)
        ticks = 288 if fidelity == "fluid" else 24
        run = host.run(workloads.synthetic_cpu(6, ticks, seed=1).cpu * 2,
                       lambda t: (load.boot() if t == 0 else []) + load.tick(t))
        assert run.metrics["cpu_used"].shape == (ticks, 6) and run.totals["frames_used"].max() > 0
    try:
        import vsched
        vsched.Host
    except ImportError as error:
        print("native:", error)
    assert "vsched._core" not in sys.modules
    print("ok")
    """
)


def test_reference_runs_with_the_native_extension_blocked():
    done = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
    assert "needs the native extension" in done.stdout
