"""The flashing tools of nucleo_f746, offline: each installed tool starts, the OpenOCD board
configuration of the Nucleo-F746ZG exists and parses, and the exact command lines `sparsemcu deploy`
runs (board.json `flash_tools`, on a real firmware build) are accepted: each gets past its argument
and script parsing and stops only because no probe is connected. A negative control per tool shows
that a typo would be caught. Under CI=true a missing tool fails instead of skipping (board_test/ci.py).
Never run with an ST-LINK plugged in (the tests would flash it): they skip then."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from sparsemcu.board_test import ci, dummy
from sparsemcu.board_test.flash import FlashError, find_flasher, flash, flash_commands, tool_path
from sparsemcu.firmware import build
from sparsemcu.firmware.boards import get_board

BOARD = get_board("nucleo_f746")
ST_VID = "0483"


def _stlink_plugged() -> bool:
    return any(p.read_text().strip() == ST_VID for p in Path("/sys/bus/usb/devices").glob("*/idVendor"))


def _require(tool: str) -> str:
    path = tool_path(tool)
    if path is None:
        ci.unavailable(f"{tool} not installed")
    return path


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    """A real nucleo_f746 build (ELF/BIN/HEX) in a folder whose name has a space, as a user's may."""
    if missing := ci.missing_tools("arm-none-eabi-gcc"):
        ci.unavailable(f"{', '.join(missing)} not installed")
    d = dummy.write_dummy_model(tmp_path_factory.mktemp("flash") / "my model", "ok")
    res = build(d, BOARD)
    return Path(res.elf), Path(res.bin), Path(res.hex)


@pytest.fixture
def commands(firmware):
    if _stlink_plugged():
        pytest.skip("an ST-LINK is plugged in: these offline checks would flash it")
    return dict(flash_commands(BOARD, *firmware))


def test_board_json_lists_the_three_tools_in_preference_order():
    assert list(BOARD.flash_tools) == ["st-flash", "openocd", "pyocd"]


def test_find_flasher_takes_the_first_installed_in_board_json_order(firmware):
    tools = {"no-such-flasher": ["no-such-flasher", "{bin}"], **BOARD.flash_tools}
    b = dataclasses.replace(BOARD, flash_tools=tools)
    expected = next((t for t in tools if tool_path(tools[t][0])), None)
    if expected is None:
        ci.unavailable("no flashing tool installed")
    tool, argv = find_flasher(b, *firmware)
    assert tool == expected and argv[0] == tool_path(tools[tool][0]) and Path(argv[0]).is_absolute()
    none = dataclasses.replace(BOARD, flash_tools={"no-such-flasher": ["no-such-flasher", "{bin}"]})
    with pytest.raises(FlashError, match=r"^no flashing tool installed for nucleo_f746 \(tried no-such-flasher;"):
        find_flasher(none, *firmware)


# ------------------------------------------------------------------ st-flash (Debian stlink-tools)
def test_st_flash_command_line_is_accepted(commands, firmware):
    st = _require("st-flash")
    assert _run([st, "--version"]).stdout.startswith("v")
    argv = commands["st-flash"]
    assert argv == ["st-flash", "--reset", "write", str(firmware[1]), "0x08000000"]
    p = _run([st, *argv[1:]])
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "Couldn't find any ST-Link devices" in out and "invalid command line" not in out
    # negative control: a misspelled option is rejected before any USB access
    bad = _run([st, "--rest", *argv[2:]])
    assert bad.returncode != 0 and "invalid command line" in bad.stdout + bad.stderr


# ------------------------------------------------------------------ OpenOCD (Debian openocd)
def test_openocd_has_the_nucleo_f746zg_board_config():
    oo = _require("openocd")
    assert "Open On-Chip Debugger 0.1" in _run([oo, "--version"]).stderr
    p = _run([oo, "-c", "echo [find board/st_nucleo_f7.cfg]; shutdown"])
    path = Path([ln for ln in p.stderr.splitlines() if ln.endswith("st_nucleo_f7.cfg")][-1].strip())
    assert path.is_file() and "NUCLEO-F746ZG" in path.read_text()
    # every file it sources parses, with no adapter attached
    assert _run([oo, "-f", "board/st_nucleo_f7.cfg", "-c", "shutdown"]).returncode == 0


def test_openocd_command_line_is_accepted(commands, firmware):
    oo = _require("openocd")
    argv = commands["openocd"]
    assert argv == ["openocd", "-f", "board/st_nucleo_f7.cfg", "-c", f"program {{{firmware[0]}}} verify reset exit"]
    p = _run([oo, *argv[1:]])
    out = p.stdout + p.stderr
    # the configs parsed and `program` ran up to the adapter: only the missing ST-LINK stops it
    assert p.returncode != 0 and "Error: open failed" in out and "in procedure 'program'" in out
    assert "invalid command name" not in out and "Can't find" not in out
    # negative controls: a misspelled command, a wrong config name
    bad = _run([oo, *argv[1:-1], argv[-1].replace("program", "progam")])
    assert "invalid command name \"progam\"" in bad.stdout + bad.stderr
    bad = _run([oo, "-f", "board/st_nucleo_f74.cfg", "-c", "shutdown"])
    assert bad.returncode != 0 and "Can't find board/st_nucleo_f74.cfg" in bad.stdout + bad.stderr


# ------------------------------------------------------------------ pyOCD (PyPI pyocd, in the venv)
def test_pyocd_command_line_is_accepted(commands, firmware):
    po = _require("pyocd")
    assert _run([po, "--version"]).stdout.strip()[0].isdigit()
    helptext = _run([po, "flash", "--help"]).stdout
    argv = commands["pyocd"]
    assert argv == ["pyocd", "flash", "--no-wait", "--target", "stm32f746zgtx", str(firmware[2])]
    assert all(opt in helptext for opt in argv if opt.startswith("--"))
    p = _run([po, *argv[1:]])
    out = p.stdout + p.stderr
    # parsed; --no-wait: fails at once for want of a probe instead of waiting for one
    assert p.returncode != 0 and "No connected debug probes" in out and "usage:" not in out
    bad = _run([po, "flash", "--no-wiat", *argv[2:]])
    assert bad.returncode == 2 and "unrecognized arguments: --no-wiat" in bad.stderr


def test_pyocd_target_is_built_in_or_its_pack_install_is_documented():
    """stm32f746zgtx comes from a CMSIS pack (network, once); without it a flash fails naming the fix."""
    po = _require("pyocd")
    p = _run([po, "list", "--targets"])
    names = {ln.split()[0].lower() for ln in p.stdout.splitlines()[2:] if ln.strip()}
    assert p.returncode == 0 and "stm32f767zi" in names  # the listing works (the F7 pyOCD ships)
    target = BOARD.flash_tools["pyocd"][BOARD.flash_tools["pyocd"].index("--target") + 1]
    assert target in names or f"pyocd pack install {target}" in BOARD.raw["flash_notes"]


def test_flash_failure_is_one_line(firmware):
    """With no board attached, deploy's flash step fails with one line naming the tool and the cause."""
    if _stlink_plugged():
        pytest.skip("an ST-LINK is plugged in")
    try:
        tool, _ = find_flasher(BOARD, *firmware)
    except FlashError:
        ci.unavailable("no flashing tool installed")
    with pytest.raises(FlashError) as e:
        flash(BOARD, *firmware)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{tool} failed to flash nucleo_f746: ") and "board connected?" in msg
    cause = {"st-flash": "Couldn't find any ST-Link devices", "openocd": "Error: open failed",
             "pyocd": "No connected debug probes"}[tool]
    assert cause in msg  # the tool's own reason, not its banner


# ------------------------------------------------------------------ deploy --board nucleo_f746 with no board
@pytest.mark.parametrize("protocol", ["sparsemcu", "mlperf"])
def test_deploy_without_a_board_fails_in_one_line(tmp_path, protocol):
    """`sparsemcu deploy --board nucleo_f746` picks the first installed tool; with no board attached the
    deploy stops at flashing with one line (the tool's own cause), the firmware kept, the report failed."""
    import json

    from sparsemcu.deploy import deploy
    if missing := ci.missing_tools("arm-none-eabi-gcc"):
        ci.unavailable(f"{', '.join(missing)} not installed")
    if _stlink_plugged():
        pytest.skip("an ST-LINK is plugged in")
    installed = [t for t, argv in BOARD.flash_tools.items() if tool_path(argv[0])]
    if not installed:
        ci.unavailable("no flashing tool installed")
    d = dummy.write_dummy_model(tmp_path / "m", "ok")
    with pytest.raises(FlashError) as e:
        deploy(d, BOARD, protocol=protocol, progress=False, check=False)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{installed[0]} failed to flash nucleo_f746: ")
    assert "firmware kept in" in msg and "partial report" in msg
    rep = json.loads((d / "deploy_report.json").read_text())
    assert rep["status"] == "failed" and rep["protocol"] == protocol and (d / "build" / "firmware.bin").is_file()
    # and with none of the tools installed: the message names what to install
    none = dataclasses.replace(BOARD, flash_tools={t: [f"no-such-{t}", *a[1:]] for t, a in BOARD.flash_tools.items()})
    with pytest.raises(FlashError, match=r"^no flashing tool installed for nucleo_f746 \(tried st-flash, openocd, pyocd; "
                                         r"Debian: stlink-tools or openocd, PyPI: pyocd; `make setup` installs them\)"):
        deploy(d, none, protocol=protocol, progress=False, check=False)
