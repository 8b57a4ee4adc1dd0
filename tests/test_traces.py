"""vsched.traces: the line and cache2k readers, on made-up files and on the shared traces."""

from __future__ import annotations

import gzip
import lzma
import struct

import numpy as np
import pytest

from vsched import traces


def write(path, data: bytes):
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    elif path.name.endswith(".xz"):
        path.write_bytes(lzma.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz"])
def test_lines_plain_and_compressed(tmp_path, suffix):
    text = b"3\r\n*\n\n17\n  42 \n18446744073709551615\n0"
    path = write(tmp_path / f"t.trace{suffix}", text)
    expected = [3, 17, 42, 2**64 - 1, 0]
    for keys in (traces.read_lines(path), traces.read_trace(path), traces.read_trace(path, "lines")):
        assert keys.dtype == np.uint64 and keys.tolist() == expected
    assert traces.read_lines(path, limit=2).tolist() == [3, 17]


@pytest.mark.parametrize(
    ("text", "bad_line"),
    [(b"1\n2\nx\n", 3), (b"1\n-4\n", 2), (b"1.5\n", 1), (b"99999999999999999999999\n", 1)],
)
def test_lines_refuse_what_is_not_a_key(tmp_path, text, bad_line):
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(ValueError, match=f"line {bad_line}"):
        traces.read_lines(path)


@pytest.mark.parametrize("suffix", ["", ".xz", ".gz"])
def test_cache2k_big_endian_unsigned(tmp_path, suffix):
    values = [0, 1, 7, 2**31 - 1, 2**31, 2**32 - 1, 258]
    path = write(tmp_path / f"c.trace{suffix}", struct.pack(f">{len(values)}I", *values))
    assert traces.read_cache2k(path).tolist() == values
    assert traces.read_trace(path).tolist() == values  # auto: binary
    assert traces.read_cache2k(path, limit=3).tolist() == values[:3]


def test_cache2k_refuses_a_partial_word(tmp_path):
    path = write(tmp_path / "c.trace", b"\0\0\0\1\0\0")
    with pytest.raises(ValueError, match="32-bit"):
        traces.read_cache2k(path)


def test_bad_format_and_missing_file(tmp_path):
    path = write(tmp_path / "t", b"1\n")
    with pytest.raises(ValueError, match="format"):
        traces.read_trace(path, "csv")
    with pytest.raises(FileNotFoundError):
        traces.read_trace(tmp_path / "missing.gz")


def test_shared_lirs_traces(shared_data):
    lirs = shared_data / "cache" / "lirs"
    for path in sorted(lirs.glob("*.trace.gz")):
        with gzip.open(path, "rt") as f:
            expected = [int(line) for line in f.read().split() if line != "*"]
        keys = traces.read_trace(path)
        assert keys.tolist() == expected, path.name
    # sprite has 133,996 lines, all integers (counted with zcat | wc -l)
    assert len(traces.read_lines(lirs / "sprite.trace.gz")) == 133996


def test_shared_cache2k_and_cloudphysics(shared_data):
    cache = shared_data / "cache"
    for path in sorted((cache / "cache2k").glob("*.trace.xz")):
        raw = lzma.decompress(path.read_bytes())
        expected = struct.unpack(f">{len(raw) // 4}I", raw)
        keys = traces.read_trace(path)
        assert keys.size == len(expected) and keys[:1000].tolist() == list(expected[:1000]), path.name
        assert int(keys.max()) == max(expected)
    blocks = traces.read_trace(cache / "cloudPhysicsIO.txt.gz")
    # figures from the data README: 113,872 requests over 48,974 blocks
    assert blocks.size == 113_872 and np.unique(blocks).size == 48_974


# -- limits, streaming and mislabelled files ------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz"])
def test_limits(tmp_path, suffix):
    path = write(tmp_path / f"t.trace{suffix}", b"5\n6\n*\n7\n")
    bin_path = write(tmp_path / f"c.bin{suffix}", struct.pack(">3I", 5, 6, 7))
    for reader, p in ((traces.read_lines, path), (traces.read_cache2k, bin_path)):
        assert reader(p, limit=0).tolist() == [] and reader(p, limit=0).dtype == np.uint64
        assert reader(p, limit=1).tolist() == [5]
        assert reader(p, limit=3).tolist() == [5, 6, 7]
        assert reader(p, limit=99).tolist() == [5, 6, 7]
        for bad in (-1, -5):
            with pytest.raises(ValueError, match="limit"):
                reader(p, limit=bad)
        with pytest.raises(TypeError, match="limit"):
            reader(p, limit=1.5)
    with pytest.raises(ValueError, match="limit"):
        traces.read_trace(path, limit=-1)


def test_lines_stream_and_stop_at_the_limit(tmp_path):
    # Many blocks of keys followed by garbage: a reader that stops at the
    # limit never reaches the garbage.
    keys = b"".join(b"%d\n" % i for i in range(300_000))
    path = write(tmp_path / "long.trace", keys + b"not a key\n")
    assert traces.read_lines(path, limit=250_000).tolist() == list(range(250_000))
    with pytest.raises(ValueError, match="line 300001"):
        traces.read_lines(path)


def test_lines_from_an_endless_file_with_a_limit_fail_promptly():
    # /dev/zero has no line ends: refused once a line exceeds MAX_LINE_BYTES,
    # after reading one block (not the 24 GB the unbounded read took).
    with pytest.raises(ValueError, match="longer than"):
        traces.read_lines("/dev/zero", limit=3)
    assert traces.read_trace("/dev/zero", limit=3).tolist() == [0, 0, 0]  # auto: binary (NUL bytes)


def test_a_line_longer_than_the_bound_is_refused(tmp_path):
    path = write(tmp_path / "wide.trace", b"1\n" + b"7" * (traces.MAX_LINE_BYTES + 10) + b"\n")
    with pytest.raises(ValueError, match="line 2"):
        traces.read_lines(path)


@pytest.mark.parametrize("suffix", [".xz", ".gz"])
@pytest.mark.parametrize("data", [b"", b"1\n2\n3\n", b"\xfd7zXZ\0garbage"])
def test_mislabelled_compressed_files_name_the_file(tmp_path, suffix, data):
    path = tmp_path / f"plain{suffix}"
    path.write_bytes(data)
    if not data and suffix == ".gz":  # an empty file is an empty gzip stream (an error for xz)
        assert traces.read_lines(path).tolist() == []
        return
    for reader in (traces.read_lines, traces.read_cache2k, traces.read_trace):
        with pytest.raises(ValueError, match=f"plain\\{suffix}"):
            reader(path)


def test_a_truncated_compressed_file_is_a_value_error(tmp_path):
    path = tmp_path / "cut.trace.xz"
    path.write_bytes(lzma.compress(b"".join(b"%d\n" % i for i in range(10_000)))[:-20])
    with pytest.raises(ValueError, match="cut.trace.xz"):
        traces.read_lines(path)
