"""`sparsemcu` command line: one subcommand per pipeline stage (sparsemcu/commands/<name>.py).

Each command module defines `add_parser(subparsers)` and `run(args) -> int`. A
SparsemcuError (or a KeyboardInterrupt) ends the program with one line on stderr,
never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from sparsemcu import __version__
import sparsemcu.tf  # noqa: F401  (TensorFlow environment, before any command imports it)
from sparsemcu.errors import SparsemcuError

COMMAND_ORDER = ["search", "export", "build", "deploy"]


def _command_modules():
    from sparsemcu import commands
    names = [m.name for m in pkgutil.iter_modules(commands.__path__)]
    names.sort(key=lambda n: (COMMAND_ORDER.index(n) if n in COMMAND_ORDER else len(COMMAND_ORDER), n))
    return [importlib.import_module(f"sparsemcu.commands.{n}") for n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparsemcu", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sparsemcu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in _command_modules():
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SparsemcuError as exc:
        print(f"sparsemcu {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sparsemcu {args.command}: interrupted (results written so far are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
