"""Runs one fuzz sequence on the native engine and its reference twin side by side.

After every call both twins must agree: the same result (bit for bit), or the
same exception type, one line long, of a documented type (docs/design.md,
"Errors"), with the object unchanged; and the same observable state. The
first disagreement is a Finding; the caller records it with its reproducer.
"""

from __future__ import annotations

import dataclasses
import pickle
import struct
from typing import Any, Callable

import numpy as np

import vsched
import vsched.reference
from fuzz_engines import CHECKPOINT, ENGINES, NEW, Call, NetGuardCall
from fuzz_values import Draw
from vsched._state import Checkpointable

TWINS = {"native": vsched, "reference": vsched.reference}
DOCUMENTED = (TypeError, ValueError, KeyError, IndexError)  # AdmissionError is a ValueError


class Finding(Exception):
    """A disagreement or a broken contract: `kind`, a one-line `detail`, and the calls so far."""

    def __init__(self, kind: str, detail: str, engine: str, calls: list[Call]) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail, self.engine, self.calls = kind, detail, engine, list(calls)

    def reproducer(self) -> str:
        lines = ["import pickle", "import numpy as np", "import vsched as m  # or: import vsched.reference as m"]
        lines += [call.render(self.engine) for call in self.calls]
        return "\n".join(lines)


def plain(value: Any) -> Any:
    """`value` as comparable plain data: floats by their bits, arrays by dtype, shape and bytes."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return ("dict", tuple((key, plain(item)) for key, item in sorted(value.items())))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(plain(item) for item in value))
    return ("other", repr(value))


def observe(engine: str, obj: Any) -> Any:
    """What can be read from `obj` without changing it (compared between the twins after every call)."""
    if obj is None:
        return None
    if engine == "CpuScheduler":
        return plain((obj.now, obj.decisions, obj.stats(), obj.vcpu_stats()))
    if engine == "LRUK":
        return plain((len(obj), obj.time, obj.hits, obj.misses, obj.evictions, obj.retained))
    if engine == "MemoryManager":
        return plain(obj.stats())
    if engine == "Reallocator":
        return plain((obj.vms, obj.entitlements(), obj.base(), obj.estimates(), obj.load, obj.lending))
    if engine == "NetScheduler":
        return plain((obj.vms, [obj.band_of(vm) for vm in obj.vms], obj.starved_ticks(), obj.starved()))
    if engine == "Host":
        return plain((obj.vms, obj.tick, obj.events))
    return None


def fingerprint(engine: str, obj: Any) -> Any:
    """The whole state where the engine can be pickled, else what observe() sees."""
    if obj is None:
        return None
    if engine == "Host":  # a refusal is logged in `events` (docs/host.md, H2): all else must stay
        events = obj.events
        obj.events = [event for event in events if event["event"] not in ("refused", "resize_refused", "import_refused")]
        try:
            return pickle.dumps(obj)
        finally:
            obj.events = events
    try:
        return pickle.dumps(obj)
    except (TypeError, pickle.PicklingError, AttributeError):
        return observe(engine, obj)


def invoke(module: Any, engine: str, obj: Any, call: Call) -> tuple[Any, Any]:
    """Run `call`; returns (the object afterwards, the result)."""
    if call.method == NEW:
        args = [module.NetGuard(a.caps, a.minimums) if isinstance(a, NetGuardCall) else a for a in call.args]
        made = getattr(module, engine)(*args, **call.kwargs)
        return (None, made) if engine == "fair_share" else (made, None)
    if call.method == CHECKPOINT:
        return pickle.loads(pickle.dumps(obj)), None
    if call.method == "counters":
        return obj, (obj.time, obj.hits, obj.misses, obj.evictions, obj.retained)
    if call.method == "now":
        return obj, (obj.now, obj.decisions)
    if call.method == "load":
        return obj, (obj.load, obj.lending)
    if call.method == "export_import":
        state = obj.export_vm(call.args[0])
        if engine in ("MemoryManager", "Host"):
            return obj, (state, obj.import_vm(state, call.args[1]))
        return obj, (state, obj.import_vm(state))
    if call.method == "__contains__":
        return obj, call.args[0] in obj
    if call.method == "__len__":
        return obj, len(obj)
    if call.method == "vms":
        return obj, obj.vms
    result = getattr(obj, call.method)(*call.args, **call.kwargs)
    if dataclasses.is_dataclass(result):  # PacketRun, HostRun: compared field by field
        result = dict(vars(result))
    return obj, result


def _outcome(module: Any, engine: str, obj: Any, call: Call) -> tuple[Any, Any, BaseException | None]:
    try:
        obj, result = invoke(module, engine, obj, call)
        return obj, result, None
    except Exception as error:  # noqa: BLE001 - every exception is compared between the twins
        return obj, None, error


def run_sequence(engine: str, seed: int, length: int, on_call: Callable[[Call], None] = lambda call: None) -> dict:
    """Generate and run one sequence; returns counts, raises Finding at the first broken contract."""
    d = Draw(seed)
    gen = ENGINES[engine]()
    objs: dict[str, Any] = {"native": None, "reference": None}
    ids: list[int] = []
    calls: list[Call] = []
    counts = {"calls": 0, "refused": 0}
    for index in range(length + 1):
        if index == 0:
            call = gen.new(d)
        elif engine != "fair_share" and objs["native"] is None:
            break  # the constructor was refused (by both twins)
        elif engine != "fair_share" and d.chance(0.04) and issubclass(getattr(vsched, engine), Checkpointable):
            call = Call(CHECKPOINT)
        else:
            call = gen.new(d) if engine == "fair_share" else gen.step(d, ids)
        calls.append(call)
        on_call(call)
        before = {name: fingerprint(engine, objs[name]) for name in TWINS}
        results = {}
        for name, module in TWINS.items():
            objs[name], result, error = _outcome(module, engine, objs[name], call)
            results[name] = (result, error)
        counts["calls"] += 1
        (native, n_error), (reference, r_error) = results["native"], results["reference"]
        if (n_error is None) != (r_error is None) or (n_error and type(n_error) is not type(r_error)):
            raise Finding("divergence", f"{call.method}: native {_show(native, n_error)}, reference "
                          f"{_show(reference, r_error)}", engine, calls)  # fmt: skip
        if n_error is not None:
            counts["refused"] += 1
            for name, (_, error) in results.items():
                message = str(error)
                if not isinstance(error, DOCUMENTED):
                    raise Finding("undocumented exception", f"{call.method}: {name} {_show(None, error)}", engine, calls)
                if "\n" in message:
                    raise Finding("multi-line message", f"{call.method}: {name} {message[:120]!r}", engine, calls)
                if fingerprint(engine, objs[name]) != before[name]:
                    raise Finding("changed on error", f"{call.method}: {name} {_show(None, error)}", engine, calls)
            continue
        if plain(native) != plain(reference):
            raise Finding("divergence", f"{call.method}: results differ: native {_short(native)}, reference "
                          f"{_short(reference)}", engine, calls)  # fmt: skip
        if engine != "fair_share" and observe(engine, objs["native"]) != observe(engine, objs["reference"]):
            raise Finding("divergence", f"{call.method}: the twins' state differs afterwards", engine, calls)
        if call.method in ("add_vm",) or call.method == "export_import" and engine in ("MemoryManager", "Reallocator",
                                                                                         "Host"):
            new_id = native if call.method == "add_vm" else native[1]
            ids.append(int(new_id))
        elif call.method == "remove_vm":
            ids.remove(int(call.args[0]))
    return counts


def _show(result: Any, error: BaseException | None) -> str:
    if error is None:
        return f"returned {_short(result)}"
    return f"raised {type(error).__name__}({str(error)[:100]!r})"


def _short(value: Any) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 100 else text[:97] + "..."
