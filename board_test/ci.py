"""Tests that need a real component (Arm toolchain, QEMU, PostgreSQL, g++): skipped on a developer
machine that lacks it, but under CI (CI=true) a missing component FAILS the test: CI must never turn
a missing toolchain into a green skip."""
from __future__ import annotations

import functools
import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def missing_tools(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def unavailable(reason: str) -> None:
    """Skip (developer machine) or fail (CI=true) the running test because `reason`."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}: install it (make setup); CI does not skip this test")
    pytest.skip(reason)


def require_tools(*tools: str) -> None:
    """Inside a test or fixture: skip/fail unless every tool is on PATH."""
    missing = missing_tools(*tools)
    if missing:
        unavailable(f"{', '.join(missing)} not installed")


def needs(*tools: str, reason: str | None = None):
    """Decorator for a test: skip (locally) or fail (CI=true) when one of `tools` is missing."""
    missing = missing_tools(*tools)

    def deco(fn):
        if not missing:
            return fn

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            unavailable(reason or f"{', '.join(missing)} not installed")
        return wrapper
    return deco
