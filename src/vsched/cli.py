"""The ``vsched`` command line (also ``python -m vsched``)."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsched",
        description="Resource management for one virtualization host (scheduler, memory, reallocation).",
    )
    parser.add_argument("--version", action="version", version=f"vsched {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    simulate = commands.add_parser("simulate", help="simulate a host on a built-in scenario or a trace")
    simulate.add_argument("--vms", type=int, default=400, help="number of VMs (default 400)")
    simulate.add_argument("--pcpus", type=int, default=32, help="physical CPUs of the host (default 32)")
    simulate.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    simulate.add_argument("--json", action="store_true", help="print a machine-readable result")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "simulate":
        from .simulate import run_simulate

        try:
            return run_simulate(args)
        except (ValueError, OSError) as error:
            print(f"vsched simulate: error: {error}", file=sys.stderr)
            return 2
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects first
    return 2
