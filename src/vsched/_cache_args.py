"""Argument checks for ``Cache``, shared by the native wrapper and the reference (imports no ``_core``).

Policy names and their keyword arguments are listed once here, in ``POLICY_ARGS``.
"""

from __future__ import annotations

from typing import Any

from ._lruk_args import check_lruk_args, check_lruk_values
from ._validate import as_int64

__all__ = ["POLICY_ARGS", "check_cache_args"]

# policy -> its keyword arguments and their defaults
POLICY_ARGS: dict[str, dict[str, Any]] = {
    "lru": {},
    "clock": {"bits": 1},
    "arc": {},
    "lirs": {},
    "lruk": {"k": 2, "crp": 0, "rip": None, "history": None},
}
MIN_CAPACITY = {"lirs": 2}  # LIRS needs room for one LIR and one HIR key
MAX_CLOCK_BITS = 8


def check_cache_args(capacity: Any, policy: Any, policy_args: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
    """(capacity, policy, complete policy arguments); TypeError / ValueError naming the argument."""
    if not isinstance(policy, str):
        raise TypeError(f"policy must be a str, got {type(policy).__name__}")
    if policy not in POLICY_ARGS:
        raise ValueError(f"policy = {policy!r}: policy must be one of {', '.join(sorted(POLICY_ARGS))}")
    defaults = POLICY_ARGS[policy]
    unknown = sorted(set(policy_args) - set(defaults))
    if unknown:
        raise TypeError(f"policy {policy!r} takes no argument {unknown[0]!r} (it takes: {', '.join(defaults) or 'none'})")
    args = {**defaults, **policy_args}
    capacity = as_int64("capacity", capacity)
    least = MIN_CAPACITY.get(policy, 1)
    if capacity < least:
        raise ValueError(f"capacity = {capacity}: capacity must be >= {least} for policy {policy!r}")
    if policy == "clock":
        bits = as_int64("bits", args["bits"])
        if not 1 <= bits <= MAX_CLOCK_BITS:
            raise ValueError(f"bits = {bits}: bits must be in 1..{MAX_CLOCK_BITS}")
        args["bits"] = bits
    elif policy == "lruk":
        _, k, crp, rip, history = check_lruk_args(capacity, args["k"], args["crp"], args["rip"], args["history"])
        check_lruk_values(k, crp, rip, history)
        args = {"k": k, "crp": crp, "rip": rip, "history": history}
    return capacity, policy, args
