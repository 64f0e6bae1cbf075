"""`sparsemcu` command line: one subcommand per pipeline stage (sparsemcu/commands/<name>.py).

Each command module defines `add_parser(subparsers)` and `run(args) -> int`. A
SparsemcuError, a file-system error (OSError), a bad flag or a KeyboardInterrupt ends the
program with one line on stderr, never a traceback (SPARSEMCU_DEBUG=1 re-raises).
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
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


class _Parser(argparse.ArgumentParser):
    """A bad flag is one line on stderr (the problem and where to read more), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_OS_HINTS = {
    errno.ENOENT: "check the path",
    errno.EACCES: "check its permissions or choose another place",
    errno.EPERM: "check its permissions or choose another place",
    errno.EROFS: "the file system is read-only: choose another place",
    errno.ENOSPC: "the disk is full: free some space",
    errno.EISDIR: "a directory is in the way: give a file name",
    errno.ENOTDIR: "a file is in the way where a directory is expected: remove it or choose another path",
    errno.EEXIST: "something is in the way: remove it or choose another path",
}


def os_error_line(exc: OSError) -> str:
    """One line for a file-system error: what failed, on which file, and the fix."""
    what = exc.strerror or str(exc)
    files = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    hint = _OS_HINTS.get(exc.errno)
    line = f"{what}: {files}" if files else what
    return line + (f" ({hint})" if hint else "")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sparsemcu", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sparsemcu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in _command_modules():
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = os.environ.get("SPARSEMCU_DEBUG") not in (None, "", "0")
    try:
        return int(args._run(args) or 0)
    except SparsemcuError as exc:
        if debug:
            raise
        _one_line(args.command, str(exc))
        return 2
    except OSError as exc:
        if debug:
            raise
        _one_line(args.command, os_error_line(exc))
        return 2
    except KeyboardInterrupt:
        print(f"sparsemcu {args.command}: interrupted (results written so far are kept)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, the traceback on request
        if debug:
            raise
        _one_line(args.command, f"internal error {type(exc).__name__}: {exc} (a bug in sparsemcu; "
                                f"SPARSEMCU_DEBUG=1 shows the traceback)")
        return 1


def _one_line(command: str, message: str) -> None:
    text = " ".join(message.split()) if "\n" in message else message
    print(f"sparsemcu {command}: error: {text}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
