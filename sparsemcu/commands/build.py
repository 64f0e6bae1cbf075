"""`sparsemcu build DIR --board B`: compile an exported model with a board's firmware."""
from __future__ import annotations

import json


def add_parser(subparsers):
    from sparsemcu.firmware import list_boards
    p = subparsers.add_parser("build", help="build firmware (ELF/BIN/HEX in DIR/build) for a board",
                              description="Compile DIR/src (from `sparsemcu export`) with the firmware runtime and a "
                                          "board into DIR/build; print flash and RAM use (and the model's share). "
                                          "Fails if the model does not fit the board.")
    p.add_argument("dir", help="export directory (holds src/model.c, src/model.h)")
    p.add_argument("--board", required=True, choices=list_boards(), help="target board")
    p.add_argument("--profile", action="store_true", help="time every kernel call (read with the PROFILE command)")
    add_protocol_arguments(p)
    p.add_argument("--json", action="store_true", help="print the build result as JSON")
    return p


def add_protocol_arguments(p) -> None:
    """--protocol and --mlperf-model, shared by `build` and `deploy`."""
    from sparsemcu.board_test.mlperf import DEFAULT_MODEL, MODELS
    from sparsemcu.firmware.build import PROTOCOLS
    p.add_argument("--protocol", choices=PROTOCOLS, default="sparsemcu",
                   help="serial protocol of the firmware: sparsemcu (default; framed, CRC-32) or mlperf (the MLPerf Tiny "
                        "benchmark's UART commands at 115200 baud, for its runners; see board_test/mlperf.py)")
    p.add_argument("--mlperf-model", choices=sorted(MODELS), default=None,
                   help=f"--protocol mlperf: the benchmark id the firmware reports (m-model-[...]); it also sets how the "
                        f"loaded bytes become the int8 input (ic01/vww01: byte - 128, kws01: as is); default {DEFAULT_MODEL}")


def run(args) -> int:
    from pathlib import Path

    from sparsemcu.checks import check_input_dir, check_output_dir
    check_input_dir(args.dir, "export directory")
    check_output_dir(Path(args.dir) / "build", "the build directory")
    from sparsemcu.firmware import build
    res = build(args.dir, args.board, profile=args.profile, protocol=args.protocol, mlperf_model=args.mlperf_model)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(res.summary())
        if res.protocol == "mlperf":
            print(f"  protocol: MLPerf Tiny benchmark UART commands, model id {res.mlperf_model}, 115200 baud "
                  "(performance mode); drive it with the MLPerf Tiny runner or `sparsemcu deploy --protocol mlperf`")
        for f in (res.elf, res.bin, res.hex):
            if f:
                print(f"  {f}")
    return 0
