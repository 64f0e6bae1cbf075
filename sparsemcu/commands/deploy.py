"""`sparsemcu deploy DIR --board B`: build, flash or start the board, check outputs against TFLM."""
from __future__ import annotations

import json

from sparsemcu.checks import int_at_least, positive_float, positive_int


def add_parser(subparsers):
    from sparsemcu.firmware import list_boards
    p = subparsers.add_parser(
        "deploy", help="build, flash/start a board and check its outputs against TFLM over the serial port",
        description="Build DIR for the board, flash it (nucleo_f746), start QEMU (qemu_*) or the native executable "
                    "(host), stream inputs over the serial protocol and compare every output with TFLM. "
                    "Writes DIR/deploy_report.json (also when it fails).")
    p.add_argument("dir", help="export directory (from `sparsemcu export`)")
    p.add_argument("--board", required=True, choices=list_boards(), help="target board")
    p.add_argument("--port", help="serial port (default: QEMU's pty, or the ST-LINK VCP found automatically)")
    p.add_argument("--inputs", metavar="X.npy", help="inputs: float (quantised with the model's input parameters; "
                                                     "every value finite and inside the model's input range) or int8; "
                                                     "shape (N, *input shape) or (N, input values)")
    p.add_argument("--outputs", metavar="Y.npy", help="save the board's int8 outputs here (one row per input; written "
                                                      "after deploy_report.json)")
    p.add_argument("--data", metavar="DATASET", help="dataset name/path: run its test split and report accuracy")
    p.add_argument("--limit", type=positive_int, metavar="N",
                   help="at most N samples, N >= 1 (default without --inputs/--data: 20 random inputs)")
    p.add_argument("--no-flash", action="store_true", help="real boards: do not flash, use the firmware already on it")
    p.add_argument("--no-verify", action="store_true",
                   help="run without checking the outputs against TFLM (needed when DIR has no model_int8.tflite); "
                        "the report then says verified: false")
    p.add_argument("--timeout", type=positive_float, default=5.0, help="serial timeout per command in seconds (default 5)")
    p.add_argument("--run-timeout", type=positive_float, default=120.0, help="timeout for one inference in seconds (default 120)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--profile", action="store_true",
                   help="profiling build: per-layer measured ticks next to the predicted instructions "
                        "(deploy_report.json `layers`, DIR/profile.png)")
    from .build import add_protocol_arguments
    add_protocol_arguments(p)
    p.add_argument("--iterations", type=positive_int, metavar="N",
                   help="--protocol mlperf: timed inferences per performance window (`infer N W`; default the "
                        "benchmark's performance script, ic01: 20)")
    p.add_argument("--warmups", type=int_at_least(0), metavar="W",
                   help="--protocol mlperf: warm-up inferences per performance window (default ic01: 5)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p



def run(args) -> int:
    from sparsemcu.deploy import deploy, profile_table, summary
    from sparsemcu.errors import SparsemcuError
    if args.inputs and args.data:
        raise SparsemcuError("give either --inputs or --data, not both")
    if args.protocol != "mlperf" and (args.iterations is not None or args.warmups is not None or args.mlperf_model):
        raise SparsemcuError("--iterations, --warmups and --mlperf-model need --protocol mlperf")
    if args.protocol == "mlperf" and args.profile:
        raise SparsemcuError("--profile needs the sparsemcu protocol (its PROFILE command); the mlperf firmware has none")
    rep = deploy(args.dir, args.board, profile=args.profile, port=args.port, inputs=args.inputs, outputs=args.outputs, data=args.data,
                 limit=args.limit, progress=not args.no_progress, timeout=args.timeout, run_timeout=args.run_timeout,
                 do_flash=not args.no_flash, check=not args.no_verify, protocol=args.protocol,
                 mlperf_model=args.mlperf_model, iterations=args.iterations, warmups=args.warmups)
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        if args.profile and rep.get("layers"):
            print(profile_table(rep))
        print(summary(rep))
        print(f"report: {args.dir}/deploy_report.json")
    return 0
