"""The ``vsched`` command line (also ``python -m vsched``)."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn, Sequence

from . import ESTIMATORS, __version__


class _Parser(argparse.ArgumentParser):
    """Bad options: one clear line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
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
    simulate.add_argument("--vms", type=int, default=None, help="VMs offered to the host (default 300, or all of a trace)")
    simulate.add_argument("--pcpus", type=int, default=64, help="physical CPUs (default 64)")
    simulate.add_argument("--memory", type=int, default=None, help="host memory frames (default 40%% of all guest pages)")
    simulate.add_argument("--max-vcpu-ratio", type=float, default=4.0,
                          help="admission: most vCPUs per pCPU (default 4)")
    simulate.add_argument("--min-guarantee", type=float, default=0.05,
                          help="admission: default reservation per vCPU, cores (default 0.05)")
    simulate.add_argument("--pages", type=int, default=1024, help="guest pages per VM (default 1024)")
    simulate.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    simulate.add_argument("--trace", default=None, metavar="KIND:DIR", help="planetlab:DIR (a day folder) or gcd:DIR")
    simulate.add_argument("--fidelity", choices=["fluid", "sliced"], default="fluid", help="CPU model (default fluid)")
    simulate.add_argument("--estimator", choices=list(ESTIMATORS), default="max",
                          help="reallocator's usage estimator (default max)")
    simulate.add_argument("--domains", type=int, default=4, help="memory sharing domains (default 4)")
    simulate.add_argument("--accesses", type=int, default=64, help="memory references per VM per tick (default 64)")
    simulate.add_argument("--engines", choices=["native", "reference"], default="native",
                          help="native core or the pure-Python reference (slow)")
    simulate.add_argument("--json", action="store_true", help="print the machine-readable result instead")
    simulate.add_argument("--plot", default=None, metavar="FILE.png", help="time series plot (needs matplotlib)")
    simulate.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                          help="progress bar on stderr (default: when stderr is a terminal)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "simulate":
        from .simulate import run_simulate
        from .workloads import TraceError

        if args.progress is None:
            args.progress = sys.stderr.isatty() and not args.json
        try:
            return run_simulate(args)
        except (ValueError, OSError, TraceError) as error:
            print(f"vsched simulate: error: {error}", file=sys.stderr)
            return 2
    parser.error(f"unknown command {args.command!r}")
