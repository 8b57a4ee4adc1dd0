"""The host loop on the pure-Python reference engines (same results as vsched.Host)."""

from __future__ import annotations

from ..engines import EngineSet
from ..host import Host as _Host

__all__ = ["Host"]


class Host(_Host):
    __doc__ = _Host.__doc__

    @staticmethod
    def _default_engines() -> EngineSet:
        from .. import reference

        return reference  # type: ignore[return-value]
