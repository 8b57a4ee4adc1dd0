"""
vsched native core (C++). Use the typed wrappers in the vsched package.
"""
from __future__ import annotations
import numpy
import numpy.typing
import typing
def fair_share(capacity: typing.SupportsFloat | typing.SupportsIndex, demand: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], shares: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], reservation: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, limit: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None) -> numpy.typing.NDArray[numpy.float64]:
    """
    Weighted max-min fair division of `capacity` (see vsched.fair_share).
    """
