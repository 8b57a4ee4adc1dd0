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
``LRUK.access_many``. Readers stream: with ``limit`` they stop reading once
they have that many keys. A file named ``.gz``/``.xz`` that is not in that
format is a ValueError naming the file.
"""

from __future__ import annotations

import gzip
import lzma
import operator
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Union, cast

import numpy as np

__all__ = ["MAX_LINE_BYTES", "read_cache2k", "read_lines", "read_trace"]

PathLike = Union[str, "os.PathLike[str]"]
_KEY_LIMIT = 2**64
_CHUNK = 1 << 20  # bytes read (after decompression) per step
# The longest line a line trace may hold: a 20-digit key with generous
# padding. A longer line (a binary file, /dev/zero) is refused instead of
# being buffered whole.
MAX_LINE_BYTES = 4096
# What a damaged or mislabelled compressed file raises while it is read.
_DECODE_ERRORS = (lzma.LZMAError, EOFError, gzip.BadGzipFile, zlib.error)


def _check_limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool):
        raise TypeError("limit must be an integer or None, got bool")
    try:
        value = operator.index(limit)
    except TypeError:
        raise TypeError(f"limit must be an integer or None, got {type(limit).__name__}") from None
    if value < 0:
        raise ValueError(f"limit = {value}: limit must be >= 0 or None")
    return value


def _compression(name: str) -> str:
    return "gzip" if name.endswith(".gz") else "xz" if name.endswith(".xz") else ""


def _open(name: str) -> IO[bytes]:
    kind = _compression(name)
    if kind == "gzip":
        return cast(IO[bytes], gzip.open(name, "rb"))
    if kind == "xz":
        return cast(IO[bytes], lzma.open(name, "rb"))
    return open(name, "rb")


def _chunks(name: str, size: int = _CHUNK) -> Iterator[bytes]:
    """The (decompressed) bytes of `name`, `size` at a time; a ValueError naming
    the file if it is not the compressed format its name says."""
    with _open(name) as f:
        while True:
            try:
                block = f.read(size)
            except _DECODE_ERRORS as exc:
                raise ValueError(
                    f"{name}: not a valid {_compression(name)} file (named .{name.rsplit('.', 1)[-1]}): {exc}"
                ) from None
            if not block:
                return
            yield block


def _parse_line(raw: bytes, name: str, number: int) -> int | None:
    line = raw.strip()
    if not line or line == b"*":
        return None
    try:
        value = int(line)
    except ValueError:
        raise ValueError(f"{name}, line {number}: {line[:40]!r} is not an integer") from None
    if not 0 <= value < _KEY_LIMIT:
        raise ValueError(f"{name}, line {number}: {value} is outside 0..2**64-1")
    return value


def read_lines(path: PathLike, limit: int | None = None) -> np.ndarray:
    """Keys of a one-integer-per-line trace (plain, .gz or .xz); at most `limit` keys.

    Streams the file: it stops reading once `limit` keys are found, and a line
    longer than :data:`MAX_LINE_BYTES` is a ValueError (so a file that is not
    a line trace is never buffered whole). ``limit=0`` gives an empty array;
    a negative limit is a ValueError.
    """
    limit = _check_limit(limit)
    name = os.fspath(path)
    keys: list[int] = []
    if limit == 0:
        return np.array(keys, dtype=np.uint64)
    number = 0  # lines consumed so far
    pending = b""  # an incomplete last line carried to the next block
    for block in _chunks(name):
        lines = (pending + block).split(b"\n")
        pending = lines.pop()
        if len(pending) > MAX_LINE_BYTES:
            raise ValueError(
                f"{name}, line {number + len(lines) + 1}: longer than {MAX_LINE_BYTES} bytes "
                "(not a one-integer-per-line trace)"
            )
        for raw in lines:
            number += 1
            value = _parse_line(raw, name, number)
            if value is not None:
                keys.append(value)
                if len(keys) == limit:
                    return np.array(keys, dtype=np.uint64)
    if pending:
        value = _parse_line(pending, name, number + 1)
        if value is not None:
            keys.append(value)
    return np.array(keys, dtype=np.uint64)


def read_cache2k(path: PathLike, limit: int | None = None) -> np.ndarray:
    """Keys of a cache2k trace: big-endian 32-bit words read as unsigned; at most `limit` keys."""
    limit = _check_limit(limit)
    name = os.fspath(path)
    blocks: list[bytes] = []
    wanted = None if limit is None else 4 * limit
    got = 0
    if wanted != 0:
        for block in _chunks(name, _CHUNK if wanted is None else min(_CHUNK, wanted)):
            if wanted is not None:
                block = block[: wanted - got]
            blocks.append(block)
            got += len(block)
            if got == wanted:
                break
    data = b"".join(blocks)
    if len(data) % 4:
        raise ValueError(f"{name}: {len(data)} bytes is not a whole number of 32-bit keys")
    return np.frombuffer(data, dtype=">u4").astype(np.uint64)


def read_trace(path: PathLike, format: str = "auto", limit: int | None = None) -> np.ndarray:
    """Read a trace in `format` ``"lines"``, ``"cache2k"`` or ``"auto"``.

    ``auto``: cache2k if the first 4 KiB of the (decompressed) data hold a NUL
    byte, else lines. Text never holds NUL bytes; a cache2k file does as soon
    as one of its first 1024 ids is below 2**24 (true of every known trace).
    """
    _check_limit(limit)
    if format == "lines":
        return read_lines(path, limit)
    if format == "cache2k":
        return read_cache2k(path, limit)
    if format != "auto":
        raise ValueError(f"format = {format!r}: expected 'auto', 'lines' or 'cache2k'")
    name = os.fspath(path)
    if not Path(name).exists():
        raise FileNotFoundError(f"no trace file at {name}")
    head = next(_chunks(name, 4096), b"")
    return read_cache2k(path, limit) if b"\0" in head else read_lines(path, limit)
