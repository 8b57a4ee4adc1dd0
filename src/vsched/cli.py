"""The ``vsched`` command line (also ``python -m vsched``).

Every bad option is refused before anything runs, with one line on stderr that
names the option, and exit status 2; Ctrl-C stops with one line and status 130.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from . import ESTIMATORS, __version__

MAX_HOURS = 168.0  # a week of five-minute ticks; longer days would not fit in memory at the default size


class _Parser(argparse.ArgumentParser):
    """Bad options: one clear line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _integer(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _number(low: float, high: float, low_open: bool, high_open: bool) -> Callable[[str], float]:
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        inside = math.isfinite(value) and (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high)
        if not inside:
            raise argparse.ArgumentTypeError(f"must be a number in {interval}, got {text!r}")
        return value

    parse.__name__ = f"number in {interval}"
    return parse


def _build_parser() -> argparse.ArgumentParser:
    from .simulate import DEFAULT_DEMAND_SCALE, DEFAULT_FRAMES, DEFAULT_PCPUS, DEFAULT_VMS

    parser = _Parser(
        prog="vsched",
        description="Resource management for one virtualization host (scheduler, memory, reallocation).",
    )
    parser.add_argument("--version", action="version", version=f"vsched {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    simulate = commands.add_parser(
        "simulate",
        help="simulate a day of one host on the built-in scenario or a trace",
        description="Admit VMs onto one host and replay a day: CPU with and without reallocation, memory sharing.",
    )
    fraction = _number(0.0, 1.0, False, False)
    add = simulate.add_argument
    add("--vms", type=_integer(1), default=None, help=f"VMs offered to the host (default {DEFAULT_VMS}, or all of a trace)")
    add("--pcpus", type=_integer(1), default=DEFAULT_PCPUS, help=f"physical CPUs (default {DEFAULT_PCPUS})")
    add("--memory", type=_integer(1), default=DEFAULT_FRAMES, help=f"host memory frames (default {DEFAULT_FRAMES})")
    add("--pages", type=_integer(1), default=1024, help="guest pages per VM (default 1024)")
    add("--max-vcpu-ratio", type=_number(0.0, math.inf, True, True), default=8.0,
        help="admission: most vCPUs per pCPU (default 8)")
    add("--memory-reserve", type=_number(0.0, 1.0, False, True), default=0.15,
        help="admission: fraction of the frames kept unreserved (default 0.15)")
    add("--min-guarantee", type=fraction, default=0.15,
        help="admission: reservation per vCPU of best-effort VMs, cores (default 0.15)")
    add("--critical", type=fraction, default=0.05, help="fraction of VMs in the critical class (default 0.05)")
    add("--critical-reservation", type=fraction, default=0.3,
        help="reservation per vCPU of critical VMs, cores (default 0.3)")
    add("--hours", type=_number(0.0, MAX_HOURS, True, False), default=24.0,
        help=f"simulated hours (default 24, at most {MAX_HOURS:g})")
    add("--demand-scale", type=_number(0.0, 100.0, True, False), default=DEFAULT_DEMAND_SCALE,
        help=f"synthetic demand multiplied by this, each VM at most its size (default {DEFAULT_DEMAND_SCALE:g})")
    add("--seed", type=_integer(0), default=1, help="random seed, >= 0 (default 1)")
    add("--trace", default=None, metavar="KIND:DIR", help="planetlab:DIR (a day folder) or gcd:DIR")
    add("--fidelity", choices=["fluid", "sliced"], default="fluid", help="CPU model (default fluid)")
    add("--estimator", choices=list(ESTIMATORS), default="max",
        help="reallocator's usage estimator (default max)")
    add("--domains", type=_integer(1), default=4, help="memory sharing domains (default 4)")
    add("--memory-policy", choices=["lruk", "lru", "clock"], default="lruk",
        help="frame eviction policy of the memory manager (default lruk)")
    add("--accesses", type=_integer(0), default=64, help="memory references per VM per tick (default 64)")
    from .simulate_net import add_arguments as add_network_arguments

    add_network_arguments(add, _number)
    add("--engines", choices=["native", "reference"], default="native",
        help="native core or the pure-Python reference (slow)")
    add("--json", action="store_true", help="print the machine-readable result instead")
    add("--plot", default=None, metavar="FILE.png", help="time series plot (needs matplotlib)")
    add("--progress", action=argparse.BooleanOptionalAction, default=True,
        help="progress on stderr: a bar on a terminal, plain lines otherwise (default on)")
    from .fleet.command import add_parser as add_fleet_parser

    add_fleet_parser(commands)
    return parser


def _check_plot(path: str) -> None:
    """Refuse a --plot that could not be written, before the run rather than after it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'vsched[plot]'") from None
    target = Path(path)
    existed = target.exists()
    try:
        with open(target, "ab"):
            pass
    except OSError as error:
        raise ValueError(f"--plot {path!r} cannot be written: {error.strerror or error}") from None
    if not existed:
        os.unlink(target)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "fleet":
        return _fleet(args)
    if args.command == "simulate":
        return _run_simulate(args)
    parser.error(f"unknown command {args.command!r}")


def _run_simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate
    from .simulate_report import print_summary
    from .workloads import TraceError

    try:
        if args.plot:
            _check_plot(args.plot)
        result = simulate(args)
    except KeyboardInterrupt:
        print("\nvsched simulate: interrupted" if sys.stderr.isatty() else "vsched simulate: interrupted",
              file=sys.stderr)
        return 130
    except (ValueError, OSError, TraceError) as error:
        print(f"vsched simulate: error: {error}", file=sys.stderr)
        return 2
    try:
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print_summary(result, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _fleet(args: argparse.Namespace) -> int:
    from .fleet.backends import ShardLostError
    from .fleet.command import run_fleet
    from .workloads import TraceError

    if args.progress is None:
        args.progress = sys.stderr.isatty() and not args.json
    try:
        return run_fleet(args)
    except KeyboardInterrupt:
        print("vsched fleet: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, TraceError, ImportError) as error:  # ImportError: a backend's extra is missing
        print(f"vsched fleet: error: {error}", file=sys.stderr)
        return 2
    except ShardLostError as error:
        print(f"vsched fleet: error: {error}", file=sys.stderr)
        return 1
