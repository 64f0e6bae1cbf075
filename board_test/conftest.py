"""Options of the hardware-in-the-loop suite: `pytest board_test [--board B[,B2...]] [--port P]`.

Without --board the suite runs on every emulated board of the registry (kind "qemu" in board.json:
the mps2 Cortex-M7 and M4, the STM32F405 of netduinoplus2, the Cortex-M0 micro:bit); every test of
test_hil.py is parametrised by board.
"""
from __future__ import annotations

import pytest

import sparsemcu.tf  # noqa: E402,F401  (TensorFlow environment, before any test imports TensorFlow)

EMULATED = "emulated"


def pytest_addoption(parser):
    g = parser.getgroup("sparsemcu hil")
    g.addoption("--board", default=EMULATED,
                help="board(s) for the HIL suite, comma-separated (default 'emulated': every QEMU board; "
                     "nucleo_f746 on hardware)")
    g.addoption("--port", default=None, help="serial port of a real board (default: auto-detect the ST-LINK VCP)")
    g.addoption("--hil-samples", type=int, default=50, help="test samples per model and board (default 50)")
    g.addoption("--no-flash", action="store_true", help="real board: use the firmware already on it")


def hil_boards(config) -> list[str]:
    from sparsemcu.firmware.boards import get_board, list_boards

    spec = config.getoption("--board")
    names = [b.strip() for b in spec.split(",") if b.strip()]
    out: list[str] = []
    for n in names:
        if n == EMULATED:
            out += [b for b in list_boards() if get_board(b).is_qemu]
        else:
            try:
                get_board(n)
            except Exception as exc:  # noqa: BLE001 - an unknown name, said in one line
                raise pytest.UsageError(f"--board: {exc}") from None
            out.append(n)
    if not out:
        raise pytest.UsageError(f"--board {spec!r} names no board")
    return list(dict.fromkeys(out))


def pytest_configure(config):
    hil_boards(config)  # a bad --board is a one-line usage error before collection


def pytest_generate_tests(metafunc):
    if "hil_board" in metafunc.fixturenames:
        metafunc.parametrize("hil_board", hil_boards(metafunc.config), scope="session")


@pytest.fixture(scope="session")
def hil_port(request):
    return request.config.getoption("--port")


@pytest.fixture(scope="session")
def hil_samples(request) -> int:
    return request.config.getoption("--hil-samples")
