"""Options of the hardware-in-the-loop suite: `pytest board_test --board B [--port P]`."""
from __future__ import annotations

import pytest

import sparsemcu.tf  # noqa: E402,F401  (TensorFlow environment, before any test imports TensorFlow)


def pytest_addoption(parser):
    g = parser.getgroup("sparsemcu hil")
    g.addoption("--board", default="qemu_mps2_an500",
                help="board for the HIL suite (default qemu_mps2_an500; nucleo_f746 on hardware)")
    g.addoption("--port", default=None, help="serial port of a real board (default: auto-detect the ST-LINK VCP)")
    g.addoption("--hil-samples", type=int, default=50, help="test samples per model (default 50)")
    g.addoption("--no-flash", action="store_true", help="real board: use the firmware already on it")


@pytest.fixture(scope="session")
def hil_board(request) -> str:
    return request.config.getoption("--board")


@pytest.fixture(scope="session")
def hil_port(request):
    return request.config.getoption("--port")


@pytest.fixture(scope="session")
def hil_samples(request) -> int:
    return request.config.getoption("--hil-samples")
