"""Operator lowerings. Importing this package registers every module's lowering functions."""
import importlib
import pkgutil

from .base import REGISTRY, KernelCall, LoweringContext, register  # noqa: F401

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name != "base":
        importlib.import_module(f"{__name__}.{_mod.name}")

SUPPORTED_OPS = sorted(REGISTRY)
