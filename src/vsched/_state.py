"""Checkpoint envelopes shared by every engine (native and reference) and the host.

``pickle``, ``copy.deepcopy`` and ``copy.copy`` of an engine all go through
``__getstate__`` / ``__setstate__``, which wrap the engine's own state in one
envelope: the checkpoint format, the class it belongs to and the
implementation that wrote it. A restored object continues bit-identically.
An envelope of another format or class is refused with a clear ValueError
rather than misread. ``copy.copy`` is a deep copy: a copy never shares state
with its original. Imports no ``_core`` (the reference uses it too).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["CHECKPOINT_FORMAT", "Checkpointable", "envelope", "open_envelope"]

# Bump when any engine's envelope payload changes meaning.
CHECKPOINT_FORMAT = 1


def envelope(kind: str, implementation: str, payload: Any) -> dict[str, Any]:
    """The picklable state of an object of class `kind` from `implementation`."""
    return {"vsched_checkpoint": CHECKPOINT_FORMAT, "kind": kind, "implementation": implementation, "payload": payload}


def open_envelope(state: Any, kind: str, implementation: str) -> Any:
    """The payload of `state`; ValueError naming what does not match."""
    if not isinstance(state, dict) or "vsched_checkpoint" not in state:
        raise ValueError(f"not a vsched checkpoint of {kind}")
    if state["vsched_checkpoint"] != CHECKPOINT_FORMAT:
        raise ValueError(
            f"checkpoint format {state['vsched_checkpoint']!r}; this vsched reads format {CHECKPOINT_FORMAT}"
        )
    if state.get("kind") != kind or state.get("implementation") != implementation:
        raise ValueError(
            f"checkpoint of a {state.get('implementation')} {state.get('kind')}, "
            f"not of a {implementation} {kind}"
        )
    return state["payload"]


class Checkpointable:
    """Mixin: pickling and copying through ``_checkpoint()`` / ``_restore(payload)``.

    Subclasses define ``_checkpoint(self) -> payload`` (plain picklable data)
    and ``_restore(self, payload)`` (fills a fresh instance made without
    ``__init__``), plus the class attribute ``_implementation``.
    """

    _implementation = "native"

    def _checkpoint(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _restore(self, payload: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        return envelope(type(self).__name__, self._implementation, self._checkpoint())

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._restore(open_envelope(state, type(self).__name__, self._implementation))

    def __copy__(self) -> Any:
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        clone = type(self).__new__(type(self))
        clone.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        memo[id(self)] = clone
        return clone
