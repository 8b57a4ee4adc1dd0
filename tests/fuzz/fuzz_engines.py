"""Random call sequences for each engine, drawn from the edges of the documented ranges.

An engine's sequence is a constructor call, then up to N method calls, each
chosen from the live VMs (ids returned so far) and the edge values of
fuzz_values. A call is plain data, ``Call(method, args, kwargs)``, so that it
can be run on both twins and printed as a reproducer. ``method`` is
``"<new>"`` for the constructor (or the function, for fair_share) and
``"<checkpoint>"`` for a pickle round trip of the object.

Sizes that allocate or loop per unit (frames, pages, vCPUs, scan pages, run
durations) are drawn from small values plus the refused max+1, so that a
sequence's cost stays bounded and a time limit can tell a hang from work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fuzz_values import BAD_INTEGERS, INT64_MAX, Draw

NEW, CHECKPOINT = "<new>", "<checkpoint>"

# Known problems that the default campaign steers around, so that it can stay
# green while they are open; ``--include-known`` (campaign.py) draws them too.
KNOWN = {
    "realloc-window-1e6": "native Reallocator.add_vm takes seconds per VM at window = 10**6 (the documented max)",
    "memory-scan-huge": "MemoryManager.scan(pages) is linear in pages and ignores Ctrl-C: scan(2**63-1) never ends",
}
AVOID: set[str] = set(KNOWN)


@dataclass
class Call:
    method: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def render(self, engine: str) -> str:
        """The call as a line of Python (``m`` is vsched or vsched.reference, ``obj`` the engine)."""
        parts = [_literal(a) for a in self.args] + [f"{k}={_literal(v)}" for k, v in self.kwargs.items()]
        if self.method == NEW:
            call = f"m.{engine}({', '.join(parts)})"
            return call if engine == "fair_share" else f"obj = {call}"
        if self.method == CHECKPOINT:
            return "obj = pickle.loads(pickle.dumps(obj))"
        return f"obj.{self.method}({', '.join(parts)})"


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return f"[{', '.join(_literal(item) for item in value)}]"
    if isinstance(value, np.ndarray):
        return f"np.array({_literal(value.tolist())}, dtype=np.{value.dtype})"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return f"float({str(value)!r})"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"{'-' if value < 0 else ''}10**{len(str(abs(value))) - 1}"
    return repr(value)


class Engine:
    """One engine's sequence generator. ``ids`` are the VM ids the twins returned so far."""

    name = ""

    def new(self, d: Draw) -> Call:
        raise NotImplementedError

    def step(self, d: Draw, ids: list[int]) -> Call:
        raise NotImplementedError

    def vm(self, d: Draw, ids: list[int]) -> Any:
        """A live VM id, mostly; sometimes a removed or never-issued one, or a bad value."""
        if ids and d.chance(0.85):
            return d.pick(ids)
        return d.pick([0, 1, -1, max(ids, default=0) + 1, INT64_MAX, *BAD_INTEGERS[1:5]])


class FairShare(Engine):
    """fair_share: one call per step, n in 0..6, every magnitude."""

    name = "fair_share"

    def new(self, d: Draw) -> Call:
        return self.step(d, [])

    def step(self, d: Draw, ids: list[int]) -> Call:
        n = d.pick([0, 1, 1, 2, 3, 6])
        demand = [d.real(bad=d.chance(0.2)) for _ in range(n)]
        shares = [d.pick([1e-300, 5e-324, 1.0, 3.0, 1e300, 1.7976931348623157e308]) for _ in range(n)]
        if d.chance(0.03) and n:
            shares[0] = d.pick([0.0, -1.0, float("nan")])
        capacity = d.real(bad=d.chance(0.3))
        args: list[Any] = [capacity, demand, shares]
        if d.chance(0.5):
            args.append([d.real(high=x) if isinstance(x, float) and x >= 0 and d.chance(0.8) else d.real()
                         for x in demand])  # fmt: skip
        if d.chance(0.5):
            args += [None] * (4 - len(args)) + [[d.real(allow_inf=True) for _ in range(n)]]
        return Call(NEW, tuple(args))


class Scheduler(Engine):
    name = "CpuScheduler"
    MAX_VCPUS, MAX_SHARES, MAX_SLICE = 1024, 1_000_000, 10**11

    def new(self, d: Draw) -> Call:
        self.pcpus = d.integer(1, 1 << 16, (2, 3, 4, 8), BAD_INTEGERS) if d.chance(0.5) else d.pick([1, 2, 4])
        # Slices from 1 ns: a limit whose run quantum slice // ceil(limit) would be 0 ns is refused
        # (rule 5), which the limits drawn up to 2048 cores exercise.
        self.slice_ns = d.integer(1, self.MAX_SLICE, (1000, 3_000_000), BAD_INTEGERS)
        return Call(NEW, (self.pcpus, self.slice_ns), {"strict_reservations": d.chance(0.5)})

    def _vcpus(self, d: Draw) -> Any:
        return d.integer(1, self.MAX_VCPUS, (2, 3, 8), BAD_INTEGERS) if d.chance(0.2) else d.pick([1, 2, 3])

    def _limit(self, d: Draw) -> Any:
        return None if d.chance(0.4) else d.real(high=2048.0, allow_inf=True)

    def _reservation(self, d: Draw) -> Any:
        return d.pick([0.0, 0.0, 0.5, 1.0, 1e-9, 5e-324]) if not d.chance(0.05) else d.real()

    def step(self, d: Draw, ids: list[int]) -> Call:
        op = d.pick(["add_vm"] * 3 + ["add_work"] * 4 + ["run"] * 4 + ["set_vm", "remove_vm", "clear_work",
                     "clear_all_work", "set_limits", "stats", "vcpu_stats", "now"])  # fmt: skip
        if op == "add_vm" or not ids:
            shares = d.integer(1, self.MAX_SHARES, (1000,), BAD_INTEGERS)
            return Call("add_vm", (self._vcpus(d), shares, self._reservation(d), self._limit(d)))
        vm = self.vm(d, ids)
        if op == "add_work":
            work = d.pick([0, 1, 2, 1000, self.slice_ns - 1, self.slice_ns, 10**9, INT64_MAX]) if not d.chance(
                0.04) else d.pick(BAD_INTEGERS)  # fmt: skip
            if d.chance(0.3):
                k = d.pick([0, 1, 2, 3])
                return Call("add_work", (np.array([vm] * k if isinstance(vm, int) and abs(vm) < 2**63 else [0] * k),
                                         np.array([d.pick([0, 1, 2])] * k), np.array([work if isinstance(work, int)
                                         and 0 <= work <= INT64_MAX else 5] * k)))  # fmt: skip
            return Call("add_work", (vm, d.pick([0, 1, 2, -1]), work))
        if op == "run":
            # Bounded cost: a few slices, or a long idle-friendly stretch now and then.
            duration = d.pick([0, 1, 2, self.slice_ns - 1, self.slice_ns, self.slice_ns + 1, 3 * self.slice_ns,
                               20 * self.slice_ns])  # fmt: skip
            if d.chance(0.03):
                duration = d.pick(BAD_INTEGERS)
            return Call("run", (duration,))
        if op == "set_vm":
            kwargs: dict[str, Any] = {}
            if d.chance(0.5):
                kwargs["shares"] = d.integer(1, self.MAX_SHARES, (1000,), BAD_INTEGERS)
            if d.chance(0.5):
                kwargs["reservation"] = self._reservation(d)
            if d.chance(0.5):
                kwargs["limit"] = d.real(high=2048.0, allow_inf=True)
            return Call("set_vm", (vm,), kwargs)
        if op == "remove_vm":
            return Call("remove_vm", (vm,))
        if op == "clear_work":
            return Call("clear_work", (vm,) if d.chance(0.5) else (vm, d.pick([0, 1, -1, 5])))
        if op == "set_limits":
            chosen = [v for v in ids if d.chance(0.5)]
            return Call("set_limits", (np.array(chosen, dtype=np.int64), [d.real(high=2048.0, allow_inf=True)
                                                                         for _ in chosen]))  # fmt: skip
        return Call(op)


class Lruk(Engine):
    name = "LRUK"

    def new(self, d: Draw) -> Call:
        capacity = d.pick([1, 2, 3, 8]) if not d.chance(0.05) else d.pick([0, *BAD_INTEGERS])
        k = d.integer(1, 64, (2, 3), BAD_INTEGERS)
        crp = d.integer(0, INT64_MAX, (2, 5), BAD_INTEGERS)
        rip = None if d.chance(0.4) else d.integer(0, INT64_MAX, (2, 10), BAD_INTEGERS)
        history = None if d.chance(0.4) else d.integer(0, INT64_MAX, (2, 4), BAD_INTEGERS)
        return Call(NEW, (capacity, k, crp, rip, history))

    def step(self, d: Draw, ids: list[int]) -> Call:
        op = d.pick(["access"] * 6 + ["access_many"] * 2 + ["__contains__", "history_of", "__len__",
                     "counters"])  # fmt: skip
        if op == "access_many":
            keys = [d.key() for _ in range(d.pick([0, 1, 3, 12]))]
            if all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < 2**64 for k in keys):
                return Call(op, (np.array(keys, dtype=np.uint64),))
            return Call(op, (keys,))
        if op in ("__len__", "counters"):
            return Call(op)
        return Call(op, (d.key(),))


class Memory(Engine):
    name = "MemoryManager"

    def new(self, d: Draw) -> Call:
        frames = d.pick([1, 2, 3, 8]) if not d.chance(0.05) else d.pick([0, 2**32 - 2, *BAD_INTEGERS])
        k = d.integer(1, 64, (2,), BAD_INTEGERS)
        crp = d.integer(0, INT64_MAX, (2,), BAD_INTEGERS)
        rip = None if d.chance(0.5) else d.integer(0, INT64_MAX, (3,), BAD_INTEGERS)
        history = None if d.chance(0.5) else d.integer(0, INT64_MAX, (2,), BAD_INTEGERS)
        merge = d.pick(["immediate", "scan", "off"]) if not d.chance(0.03) else d.pick(["fast", 1])
        self.merge = merge
        return Call(NEW, (frames, k, crp, rip, history, merge))

    def _pages(self, d: Draw) -> Any:
        return d.pick([0, 1, 2, 4]) if not d.chance(0.05) else d.pick([2**32 - 1, INT64_MAX, *BAD_INTEGERS])

    def _gpn(self, d: Draw) -> Any:
        return d.pick([0, 1, 2, 3, 0, 1]) if not d.chance(0.05) else d.pick([-1, 4, INT64_MAX, *BAD_INTEGERS])

    def _content(self, d: Draw) -> Any:
        return d.key(pool_size=4)

    def step(self, d: Draw, ids: list[int]) -> Call:
        op = d.pick(["add_vm"] * 2 + ["read", "write"] * 3 + ["access"] * 3 + ["remove_vm", "scan", "stats",
                     "mapping", "page", "export_import"])  # fmt: skip
        if op == "add_vm" or not ids:
            domain = d.pick([0, 0, 1]) if not d.chance(0.1) else d.integer(0, INT64_MAX, (), BAD_INTEGERS)
            return Call("add_vm", (self._pages(d), domain))
        vm = self.vm(d, ids)
        if op == "read":
            return Call("read", (vm, self._gpn(d)))
        if op == "write":
            return Call("write", (vm, self._gpn(d), self._content(d)))
        if op == "access":
            n = d.pick([0, 1, 3, 8])
            gpn = np.array([d.pick([0, 1, 2, 3]) for _ in range(n)], dtype=np.int64)
            if d.chance(0.5):
                return Call("access", (vm, gpn))
            content = np.array([d.pick([0, 1, 2, 2**64 - 1]) for _ in range(n)], dtype=np.uint64)
            write = np.array([d.chance(0.5) for _ in range(n)], dtype=bool) if d.chance(0.5) else None
            return Call("access", (vm, gpn, content, write))
        if op == "scan":
            huge = [] if "memory-scan-huge" in AVOID else [2**62, INT64_MAX]
            return Call("scan", (d.pick([0, 1, 2, 5, 17, 64]) if not d.chance(0.05) else d.pick(BAD_INTEGERS + huge),))
        if op == "page":
            return Call("page", (vm, self._gpn(d)))
        if op == "export_import":
            return Call("export_import", (vm, None if d.chance(0.7) else d.pick([0, 1, 2, -1])))
        if op == "stats":
            return Call("stats")
        return Call(op, (vm,))


class Realloc(Engine):
    name = "Reallocator"

    def new(self, d: Draw) -> Call:
        self.estimator = d.pick(["max", "mean", "percentile", "ewma"]) if not d.chance(0.03) else "median"
        top = 1000 if "realloc-window-1e6" in AVOID else 1_000_000
        window = d.integer(1, top, (2, 3, 12), BAD_INTEGERS) if d.chance(0.3) else d.pick([1, 2, 3, 12])
        capacity = d.pick([5e-324, 1.0, 4.0, 1e300]) if not d.chance(0.05) else d.real()
        threshold = d.pick([0.0, 0.75, 1.0, 1e308]) if not d.chance(0.05) else d.real()
        percentile = d.pick([0.0, 50.0, 95.0, 100.0]) if not d.chance(0.05) else d.real()
        headroom = d.pick([0.0, 0.1, 1e308]) if not d.chance(0.05) else d.real()
        return Call(NEW, (capacity, window, threshold, self.estimator, percentile, headroom))

    def _vm_args(self, d: Draw) -> tuple:
        size = d.pick([0.0, 5e-324, 1.0, 2.0, 1e300]) if not d.chance(0.05) else d.real()
        shares = d.integer(1, 2**53, (1000,), BAD_INTEGERS)
        reservation = d.pick([0.0, 0.0, min(size, 0.5) if isinstance(size, float) else 0.0, 5e-324])
        limit = None if d.chance(0.5) else d.real(high=1e300, allow_inf=True)
        return (size, shares, reservation, limit)

    def step(self, d: Draw, ids: list[int]) -> Call:
        op = d.pick(["add_vm"] * 2 + ["observe"] * 4 + ["observe_many"] * 2 + ["set_vm", "remove_vm",
                     "entitlements", "base", "estimates", "load", "export_import"])  # fmt: skip
        if op == "add_vm" or not ids:
            return Call("add_vm", self._vm_args(d))
        if op == "observe":
            return Call("observe", ([d.real(high=1e300) for _ in ids],))
        if op == "observe_many":
            ticks = d.pick([0, 1, 3])
            rows = [[d.real(high=1e300, bad=d.chance(0.2)) for _ in ids] for _ in range(ticks)]
            usage = np.zeros((0, len(ids))) if ticks == 0 else rows
            return Call("observe_many", (usage, d.chance(0.5)))
        vm = self.vm(d, ids)
        if op == "set_vm":
            return Call("set_vm", (vm, *self._vm_args(d)))
        if op in ("remove_vm", "export_import"):
            return Call(op, (vm,))
        return Call(op)


ENGINES: dict[str, type[Engine]] = {
    cls.name: cls for cls in (FairShare, Scheduler, Lruk, Memory, Realloc)
}  # fmt: skip
