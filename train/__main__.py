"""Entry point: `python -m train <command> ...`."""

from __future__ import annotations

import argparse
import importlib
import sys

from train.common import run_command, setup_logging

#: Each module exposes add_parser(subparsers) (setting `run`) and run(args) -> int.
COMMANDS = ("prepare", "compare", "finetune", "evaluate", "publish", "robustness", "map")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"train.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run_command(lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
