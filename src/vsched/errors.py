"""Exceptions shared by the native engines and the pure-Python reference."""

from __future__ import annotations

__all__ = ["AdmissionError", "InUseError"]


class AdmissionError(ValueError):
    """A request would break a guarantee the host has already given.

    Raised when reservations (floors) would exceed the capacity, when a VM's
    reservation exceeds what it could ever use, or when a limit is below a
    reservation. The message says which rule and by how much. It is a
    ValueError, so code that catches bad arguments catches it too.
    """


class InUseError(RuntimeError):
    """A native object was called while another thread was inside a call on it.

    Long native calls release the GIL so that *different* objects run in
    parallel; one object is never entered by two threads at once. The refused
    call changes nothing: wait for the other thread (or give each thread its
    own object, e.g. a ``copy.deepcopy``).
    """
