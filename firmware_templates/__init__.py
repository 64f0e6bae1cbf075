"""C templates: int8 kernels, firmware runtime, board support, generated-model templates.

`root()` is the one place that says where they are; everything else asks it."""
from __future__ import annotations

from pathlib import Path


def root() -> Path:
    """This folder, installed or in a source checkout (kernels/, runtime/, boards/, model/)."""
    return Path(__file__).resolve().parent
