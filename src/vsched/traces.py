"""Readers for page/key reference traces (pure Python I/O, shared by both implementations).

Two formats, each optionally compressed (chosen by the file name: ``.gz`` =
gzip, ``.xz`` = xz/lzma, anything else = uncompressed):

* **lines**: one non-negative integer per line, ASCII (LF or CRLF). Blank
  lines and lines holding only ``*`` (separators in the LIRS traces) are
  skipped; anything else that is not an integer is a ValueError naming the
  line. Used by the LIRS traces and libCacheSim's plain-text traces.
* **cache2k**: a sequence of big-endian 32-bit integers (the cache2k trace
  files). Each 4-byte word is read as *unsigned* (ids with the top bit set
  stay distinct and non-negative); a length not a multiple of 4 is a
  ValueError.

Every reader returns a 1-D ``numpy.uint64`` array, ready for
``LRUK.access_many``.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
from pathlib import Path
from typing import Union, cast

import numpy as np

__all__ = ["read_cache2k", "read_lines", "read_trace"]

PathLike = Union[str, "os.PathLike[str]"]
_KEY_LIMIT = 2**64


def _open(path: PathLike) -> io.BufferedIOBase:
    name = os.fspath(path)
    if name.endswith(".gz"):
        return cast(io.BufferedIOBase, gzip.open(name, "rb"))
    if name.endswith(".xz"):
        return cast(io.BufferedIOBase, lzma.open(name, "rb"))
    return cast(io.BufferedIOBase, open(name, "rb"))


def _parse_lines(data: bytes, name: str, limit: int | None) -> np.ndarray:
    keys: list[int] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        line = raw.strip()
        if not line or line == b"*":
            continue
        try:
            value = int(line)
        except ValueError:
            raise ValueError(f"{name}, line {number}: {line[:40]!r} is not an integer") from None
        if not 0 <= value < _KEY_LIMIT:
            raise ValueError(f"{name}, line {number}: {value} is outside 0..2**64-1")
        keys.append(value)
        if limit is not None and len(keys) >= limit:
            break
    return np.array(keys, dtype=np.uint64)


def read_lines(path: PathLike, limit: int | None = None) -> np.ndarray:
    """Keys of a one-integer-per-line trace (plain, .gz or .xz); at most `limit` keys."""
    with _open(path) as f:
        data = f.read()
    return _parse_lines(data, os.fspath(path), limit)


def read_cache2k(path: PathLike, limit: int | None = None) -> np.ndarray:
    """Keys of a cache2k trace: big-endian 32-bit words read as unsigned."""
    with _open(path) as f:
        data = f.read() if limit is None else f.read(4 * limit)
    if len(data) % 4:
        raise ValueError(f"{os.fspath(path)}: {len(data)} bytes is not a whole number of 32-bit keys")
    return np.frombuffer(data, dtype=">u4").astype(np.uint64)


def read_trace(path: PathLike, format: str = "auto", limit: int | None = None) -> np.ndarray:
    """Read a trace in `format` ``"lines"``, ``"cache2k"`` or ``"auto"``.

    ``auto``: cache2k if the first 4 KiB of the (decompressed) data hold a NUL
    byte, else lines. Text never holds NUL bytes; a cache2k file does as soon
    as one of its first 1024 ids is below 2**24 (true of every known trace).
    """
    if format == "lines":
        return read_lines(path, limit)
    if format == "cache2k":
        return read_cache2k(path, limit)
    if format != "auto":
        raise ValueError(f"format = {format!r}: expected 'auto', 'lines' or 'cache2k'")
    if not Path(path).is_file():
        raise FileNotFoundError(f"no trace file at {os.fspath(path)}")
    with _open(path) as f:
        head = f.read(4096)
    return read_cache2k(path, limit) if b"\0" in head else read_lines(path, limit)
