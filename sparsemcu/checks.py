"""Input checks shared by the commands: numeric flags (argparse types), output paths (checked
before any work starts), C identifiers. Each failure is one line naming the problem and the fix."""
from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from pathlib import Path

from sparsemcu.errors import SparsemcuError


# ------------------------------------------------------------------ numeric flags (argparse types)
def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def int_at_least(low: int, high: int | None = None):
    """argparse type: an integer in [low, high]; anything else is refused, never clamped."""
    def parse(text: str) -> int:
        v = _int(text)
        if v < low or (high is not None and v > high):
            rng = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {rng}, got {v}")
        return v
    parse.__name__ = "integer"
    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return v


# ------------------------------------------------------------------ output paths
def _probe_writable(d: Path) -> str | None:
    """None if a file can be created in the existing directory d, else the reason."""
    try:
        fd, name = tempfile.mkstemp(prefix=".sparsemcu-probe-", dir=d)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(name)
    return None


def _nearest_existing(p: Path) -> Path:
    p = p.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _another(flag: str) -> str:
    return f"choose another {flag}" if flag.startswith("--") else "choose another place"


def check_output_dir(path, flag: str) -> Path:
    """`path` will be (or already is) a directory the command writes into: it must not be a file,
    and it (or the nearest existing parent, where it will be created) must be writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SparsemcuError(f"{flag} {p} is an existing file, not a directory: remove it or {_another(flag)}")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise SparsemcuError(f"{flag} {p} cannot be created: {base} is a file, not a directory; {_another(flag)}")
    why = _probe_writable(base)
    if why:
        where = "" if base == p.absolute() else f" (creating it in {base})"
        raise SparsemcuError(f"{flag} {p} is not writable{where}: cannot create a file in {base} ({why}); "
                             f"{_another(flag)} or fix the permissions")
    return p


def check_output_file(path, flag: str, suffix: str | None = None) -> Path:
    """`path` is a file the command writes: not a directory, in a writable directory (which may
    still have to be created)."""
    p = Path(path)
    if suffix and p.suffix != suffix:
        raise SparsemcuError(f"{flag} {p} must end in {suffix}")
    if p.is_dir():
        raise SparsemcuError(f"{flag} {p} is a directory: give a file name, e.g. {p / ('out' + (suffix or ''))}")
    base = _nearest_existing(p.parent)
    if not base.is_dir():
        raise SparsemcuError(f"{flag} {p} cannot be written: {base} is a file, not a directory; {_another(flag)}")
    why = _probe_writable(base)
    if why:
        raise SparsemcuError(f"{flag} {p} cannot be written: cannot create a file in {base} ({why}); "
                             f"{_another(flag)} or fix the permissions")
    return p


def check_input_dir(path, what: str, flag: str = "DIR") -> Path:
    p = Path(path)
    if not p.exists():
        raise SparsemcuError(f"{what} {p} not found")
    if not p.is_dir():
        raise SparsemcuError(f"{what} {p} is a file, not a directory: give the directory `sparsemcu export --out` wrote")
    return p


# ------------------------------------------------------------------ C identifiers
C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "_Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local "
    "asm bool true false alignas alignof static_assert thread_local typeof nullptr constexpr".split())
_C_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_NAME = 63


def c_identifier_problem(name: str) -> str | None:
    """Why `name` is not usable as a C identifier (None if it is)."""
    if not name:
        return "it is empty"
    if not _C_IDENT.match(name):
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c == "_"))})
        if bad:
            return "it contains " + ", ".join(repr(c) for c in bad)
        return "it starts with a digit"
    if name in C_KEYWORDS:
        return "it is a C keyword"
    if len(name) > MAX_NAME:
        return f"it is longer than {MAX_NAME} characters"
    return None


def sanitize_c_identifier(text: str) -> str:
    """A C identifier made from `text` (a file name): other characters become '_'."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", text)[:MAX_NAME] or "model"
    if s[0].isdigit():
        s = ("m_" + s)[:MAX_NAME]
    if s in C_KEYWORDS:
        s += "_model"
    return s
