"""Build the C++ extension ``vsched._core``; all metadata lives in pyproject.toml.

``VSCHED_BUILD`` picks the build mode:

* ``release`` (default): ``-O3 -DNDEBUG``.
* ``debug``: ``-O0 -g`` with assertions on.
* ``asan``: AddressSanitizer + UndefinedBehaviorSanitizer (``-O1 -g``); run the
  tests with libasan preloaded, see ``.ci/asan``.

Flags are set here and nowhere else (never through CFLAGS).
"""

import os
import re
from glob import glob

MODES = {
    "release": (["-O3", "-DNDEBUG"], []),
    "debug": (["-O0", "-g", "-UNDEBUG"], []),
    "asan": (
        ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"],
        ["-fsanitize=address,undefined"],
    ),
}

mode = os.environ.get("VSCHED_BUILD", "release")
if mode not in MODES:
    raise SystemExit(f"VSCHED_BUILD={mode!r}: expected one of {', '.join(MODES)}")
compile_flags, link_flags = MODES[mode]

# Native and reference must agree bit for bit where they do the same float
# arithmetic: forbid fused multiply-add contraction (GCC contracts by default on
# some targets) and any fast-math reassociation.
compile_flags = [*compile_flags, "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra"]

# The C++ standard and include path, shared with the container tests
# (tests/test_containers_cpp.py reads them, and the flags above, from here).
CXX_STD = 17
INCLUDE_DIRS = ["csrc/include"]

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def project_includes(path: str, seen: "set[str] | None" = None) -> "set[str]":
    """Every project header ``path`` includes, directly or through other headers.

    Quoted includes are resolved beside the including file, then in
    ``INCLUDE_DIRS``; system and pybind11 headers (angle brackets) are not
    followed: they change only with the toolchain, which rebuilds from clean.
    """
    seen = set() if seen is None else seen
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for name in _INCLUDE.findall(text):
        for base in [os.path.dirname(path), *INCLUDE_DIRS]:
            candidate = os.path.normpath(os.path.join(base, name))
            if os.path.exists(candidate):
                if candidate not in seen:
                    seen.add(candidate)
                    project_includes(candidate, seen)
                break
    return seen


def needs_recompile(obj: str, src: str) -> bool:
    """Recompile when the object is older than its source or than a header it includes.

    (pybind11's naive check ignores headers, and a stale object compiled against
    an old struct layout crashes at run time; following the includes of each
    source, rather than comparing with every header, rebuilds only what a
    header change can affect.)
    """
    if not os.path.exists(obj):
        return True
    built = os.stat(obj).st_mtime
    return any(os.stat(path).st_mtime >= built for path in [src, *project_includes(src)])


if __name__ == "__main__":  # (the tests read the flags without building)
    from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext
    from setuptools import setup

    # Compile the translation units in parallel, and only those that changed
    # (useful for in-place development builds).
    ParallelCompile("VSCHED_BUILD_JOBS", default=2, needs_recompile=needs_recompile).install()

    sources = (
        sorted(glob("csrc/core/*.cpp"))
        + sorted(glob("csrc/core/eviction/*.cpp"))
        + sorted(glob("csrc/core/scheduler/*.cpp"))
        + sorted(glob("csrc/bindings/*.cpp"))
    )

    # Every project header, so that setuptools does not skip the build when
    # only a header changed; needs_recompile then picks the objects it affects.
    headers = sorted(glob("csrc/include/vsched/**/*.hpp", recursive=True) + glob("csrc/bindings/*.hpp"))

    ext = Pybind11Extension(
        "vsched._core",
        sources,
        depends=headers,
        include_dirs=INCLUDE_DIRS,
        cxx_std=CXX_STD,
        extra_compile_args=compile_flags,
        extra_link_args=link_flags,
    )

    setup(ext_modules=[ext], cmdclass={"build_ext": build_ext})
