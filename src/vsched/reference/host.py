"""The host loop on the pure-Python reference engines (same results as vsched.Host)."""

from __future__ import annotations

from ..host import Host as _NativeHost

__all__ = ["Host"]


class Host(_NativeHost):
    __doc__ = _NativeHost.__doc__
    _engines_module = "vsched.reference"
