"""`sparsemcu deploy`: build, flash (or start QEMU / the host executable), stream inputs over
the serial protocol, check every output against the host reference (TFLM), report.

DIR/deploy_report.json is written (atomically: temp file + os.replace) at every stage and always
ends with a final status: "ok", "failed" (the error, the samples done so far; the firmware stays in
DIR/build) or "interrupted" (Ctrl-C). Without a host reference (DIR/model_int8.tflite) the deploy
fails unless check=False (`--no-verify`); the report says whether the outputs were `verified`.
The report is written before --outputs, so a failure to save the outputs loses no result.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from sparsemcu.checks import check_input_dir, check_output_dir, check_output_file
from sparsemcu.errors import SparsemcuError
from sparsemcu.firmware import build as build_firmware
from sparsemcu.firmware.boards import Board, get_board

from sparsemcu.board_test import protocol as P
from sparsemcu.board_test.client import Client
from sparsemcu.board_test.reference import ModelMeta, load_reference, read_model_meta
from sparsemcu.board_test.transport import PipeTransport, QemuTransport, SerialTransport, Transport

REPORT_NAME = "deploy_report.json"


class MismatchError(SparsemcuError):
    pass


def check_sample(ref: Callable, x: np.ndarray, y: np.ndarray, i: int, board: Board, rep: dict) -> np.ndarray:
    """The reference's output for sample i; a board output that differs is a MismatchError naming the
    sample and the first differing index (also recorded in the report)."""
    r = np.asarray(ref(x), np.int8).reshape(-1)
    if not np.array_equal(r, y):
        j = int(np.flatnonzero(r != y)[0])
        rep["bit_exact"] = False
        rep["first_mismatch"] = {"sample": i, "index": j, "board": int(y[j]), "reference": int(r[j])}
        raise MismatchError(f"output mismatch on {board.name}: sample {i}, first differing output index {j} "
                            f"(board {int(y[j])}, reference {int(r[j])})")
    return r


def open_transport(board: Board, build_dir: Path, port: str | None = None, do_flash: bool = True) -> Transport:
    """Start or connect to the board. Real boards: flash (unless do_flash=False), find the port."""
    build_dir = Path(build_dir)
    if board.is_host:
        return PipeTransport(build_dir / "firmware")
    if board.is_qemu and not port:
        q = board.qemu or {}
        return QemuTransport(build_dir / "firmware.elf", q.get("machine", "mps2-an500"), q.get("args"),
                             q.get("binary", "qemu-system-arm"))
    if port:
        if not do_flash or board.is_qemu:
            return SerialTransport(port, baud=int(board.serial.get("baud", 115200)))
    from sparsemcu.board_test.flash import find_port, flash
    if do_flash:
        flash(board, build_dir / "firmware.elf", build_dir / "firmware.bin", build_dir / "firmware.hex")
        time.sleep(0.5)
    port = port or find_port(board)
    return SerialTransport(port, baud=int(board.serial.get("baud", 115200)))


def load_npy(path, flag: str = "--inputs") -> np.ndarray:
    """A numeric array from a .npy file; every way it can be unusable is one line naming the file."""
    p = Path(path)
    if not p.exists():
        raise SparsemcuError(f"{flag} {p} not found")
    if p.is_dir():
        raise SparsemcuError(f"{flag} {p} is a directory, not a .npy file")
    try:
        x = np.load(p, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise SparsemcuError(f"{flag} {p} holds Python objects (an object array), not numbers: save a float or "
                                 "int8 array (np.save(path, np.asarray(x, np.float32)))") from None
        raise SparsemcuError(f"{flag} {p} is not a readable .npy array ({' '.join(str(exc).split())}): "
                             "write it with numpy.save") from None
    except (OSError, EOFError) as exc:
        raise SparsemcuError(f"{flag} {p} is not a readable .npy array ({exc.__class__.__name__}: "
                             f"{' '.join(str(exc).split()) or 'truncated'}): write it with numpy.save") from None
    if isinstance(x, np.lib.npyio.NpzFile):
        names = ", ".join(x.files)
        x.close()
        raise SparsemcuError(f"{flag} {p} is an .npz archive ({names}), not a .npy array: save one array with numpy.save")
    return x


def prepare_inputs(meta: ModelMeta, inputs: str | Path | np.ndarray | None, data: str | None, limit: int | None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray | None, str]:
    """int8 inputs [N, input_bytes], labels or None, a description.

    Given inputs (a .npy path or an array) must be int8, or float: finite, and inside the range the
    model's int8 input represents (scale * (-128 - zp) .. scale * (127 - zp), half a step of slack
    for rounding); nothing is silently clipped or cast."""
    from sparsemcu.export.quant import quantize_input

    labels = None
    given = False
    if data is not None:
        from sparsemcu import datasets
        ds = datasets.load(data)
        x, labels, what = ds.x_test, np.asarray(ds.y_test).reshape(-1), f"{data} test split"
    elif inputs is not None:
        given = True
        x = load_npy(inputs) if not isinstance(inputs, np.ndarray) else inputs
        what = str(inputs) if not isinstance(inputs, np.ndarray) else "given inputs"
    else:
        n = limit or 20
        x = np.random.default_rng(seed).integers(-128, 128, size=(n, meta.input_bytes), dtype=np.int64).astype(np.int8)
        what = f"{n} random int8 inputs"
    x = np.asarray(x)
    if x.dtype == object:
        raise SparsemcuError(f"inputs ({what}) hold Python objects, not numbers: give a float or int8 array")
    if x.size == 0:
        raise SparsemcuError(f"inputs ({what}) hold no samples (shape {x.shape})")
    per_sample = x.size if x.ndim <= 1 else int(np.prod(x.shape[1:]))
    if per_sample != meta.input_bytes:
        shape = f" {list(meta.input_shape)}" if meta.input_shape else ""
        raise SparsemcuError(f"inputs of shape {x.shape} ({what}) do not match the model's input{shape} of "
                             f"{meta.input_bytes} values per sample: give shape (N, ...) with {meta.input_bytes} "
                             f"values per sample")
    if x.dtype != np.int8:
        if np.issubdtype(x.dtype, np.floating):
            bad = ~np.isfinite(x)
            if bad.any():
                i = int(np.flatnonzero(bad.reshape(-1))[0]) // meta.input_bytes
                kind = "NaN" if np.isnan(x).any() else "Inf"
                raise SparsemcuError(f"inputs ({what}) contain {kind} (first in sample {i}): every value must be finite")
            if given:
                lo = meta.input_scale * (-128 - meta.input_zero_point)
                hi = meta.input_scale * (127 - meta.input_zero_point)
                slack = 0.5 * meta.input_scale
                xmin, xmax = float(x.min()), float(x.max())
                if xmin < lo - slack or xmax > hi + slack:
                    raise SparsemcuError(
                        f"inputs ({what}) range from {xmin:g} to {xmax:g}, outside the model's input range "
                        f"{lo:g} .. {hi:g} (int8 scale {meta.input_scale:g}, zero point {meta.input_zero_point}): "
                        "preprocess them like the training data (e.g. scale to 0..1)")
            x = quantize_input(x, meta.input_scale, meta.input_zero_point)
        else:
            raise SparsemcuError(f"inputs ({what}) are {x.dtype}: give float values (quantised with the model's input "
                                 f"parameters) or int8 (already quantised)")
    x = x.reshape(-1, meta.input_bytes)
    if labels is not None and len(labels) != len(x):
        raise SparsemcuError(f"{what}: {len(labels)} labels for {len(x)} inputs")
    if limit is not None:
        x = x[:limit]
        labels = labels[:limit] if labels is not None else None
    if not len(x):
        raise SparsemcuError("no inputs to deploy")
    return x, labels, what


def _latency(ticks: list[int], unit: str, clock_hz: int) -> dict:
    if not ticks:
        return {"unit": unit, "median": None, "max": None}
    arr = np.asarray(ticks, dtype=np.float64)
    lat = {"unit": unit, "median": float(np.median(arr)), "max": int(arr.max()), "min": int(arr.min())}
    if unit == "cycles" and clock_hz:
        lat["ms"] = {"median": lat["median"] * 1e3 / clock_hz, "max": lat["max"] * 1e3 / clock_hz, "clock_hz": clock_hz}
    elif unit == "ns":
        lat["ms"] = {"median": lat["median"] / 1e6, "max": lat["max"] / 1e6}
    return lat


def deploy(model_dir, board: str | Board, port: str | None = None, inputs=None, outputs: str | Path | None = None,
           data: str | None = None, limit: int | None = None, progress: bool = True, timeout: float = 5.0,
           run_timeout: float = 120.0, do_flash: bool = True, reference: Callable | None = None,
           check: bool = True, profile: bool = False, protocol: str = "sparsemcu", mlperf_model: str | None = None,
           iterations: int | None = None, warmups: int | None = None) -> dict:
    """Run the deploy; returns the report dict (also in DIR/deploy_report.json). Raises SparsemcuError.
    `profile`: a profiling build; the report gains per-layer measured ticks next to the exporter's
    predicted instructions (`layers`) and DIR/profile.png.
    `protocol` "mlperf": firmware speaking the MLPerf Tiny benchmark's UART commands (`mlperf_model`
    the benchmark id, default ic01); the first 5 inputs are the performance windows (`infer N W`,
    `iterations`/`warmups`, default the benchmark's performance script), the rest run `infer 1 0`;
    every output is checked against TFLM and the report gains `mlperf` (the MLPerf Tiny median)."""
    model_dir = Path(model_dir)
    board = get_board(board) if isinstance(board, str) else board
    # checked before any work starts: the export directory (the report goes there) and --outputs
    check_input_dir(model_dir, "export directory")
    check_output_dir(model_dir, "the export directory")
    if outputs is not None:
        outputs = check_output_file(outputs, "--outputs", ".npy")
    report_path = model_dir / REPORT_NAME
    rep: dict = {"board": board.name, "protocol": protocol, "status": "preparing", "error": None, "model_dir": str(model_dir),
                 "verified": None, "bit_exact": None, "samples": 0, "accuracy": None, "latency": None, "ram": None,
                 "flash_bytes": None}

    def write() -> None:
        # atomic: a reader (or a crash) never sees half a report
        tmp = report_path.with_name(REPORT_NAME + ".tmp")
        tmp.write_text(json.dumps(rep, indent=2, default=_json_default) + "\n")
        os.replace(tmp, report_path)

    ticks: list[int] = []

    def finish(status: str, error: str) -> None:
        rep["status"], rep["error"] = status, error
        dev = rep.get("device")
        if ticks and dev:  # the latency of every sample done, not of the last periodic write
            rep["latency"] = _latency(ticks, dev["tick_unit"], dev["clock_hz"])
        try:
            write()
        except OSError:  # the original failure matters more than the report's
            pass

    report_path.unlink(missing_ok=True)
    firmware = model_dir / "build"
    try:
        meta = read_model_meta(model_dir)
        rep.update(model=meta.name, model_hash=meta.hash)
        write()
        ref = reference
        if ref is None and check:
            tflm = load_reference(model_dir)
            if tflm is None:
                raise SparsemcuError(f"{model_dir / 'model_int8.tflite'} not found: nothing to verify the board's "
                                     f"outputs against; export into {model_dir} again, or pass --no-verify to run "
                                     "without checking the outputs")

            def ref(x, _t=tflm):
                return _t(x, (meta.input_scale, meta.input_zero_point), (meta.output_scale, meta.output_zero_point))
            meta.input_shape, meta.output_shape = tflm.input_shape, tflm.output_shape
        x, labels, what = prepare_inputs(meta, inputs, data, limit)
        rep["inputs"] = what
        rep["samples_planned"] = int(len(x))
        rep["status"] = "building"
        write()

        res = build_firmware(model_dir, board, profile=profile, protocol=protocol, mlperf_model=mlperf_model)
        rep["firmware"] = res.elf
        rep["build"] = {k: v for k, v in res.to_dict().items() if k != "sections"}
        rep["flash_bytes"] = res.flash_bytes or None
        rep["ram"] = {"arena_bytes": meta.arena_bytes, "scratch_bytes": _planned_scratch(model_dir),
                      "stack_bytes": None, "static_bytes": res.static_bytes or None,
                      "stack_reserved_bytes": res.stack_bytes or None, "available_bytes": res.ram_available or None}
        rep["status"] = "running"
        write()

        if protocol == "mlperf":
            outs, ref_outs = _run_mlperf(board, firmware, port, do_flash, x, ref, meta, rep, write, res.mlperf_model,
                                         iterations, warmups, timeout, run_timeout, progress)
        else:
            outs, ref_outs, layer_ticks = [], [], []
            with open_transport(board, firmware, port, do_flash) as t:
                client = Client(t, timeout=timeout, run_timeout=run_timeout)
                fresh = board.is_host or (board.is_qemu and not port)
                info = client.connect(expect_boot=fresh, flush_bytes=0 if fresh else max(meta.input_bytes, P.RX_MAX) + 9)
                rep["device"] = {"board": info.board, "clock_hz": info.clock_hz, "tick_unit": info.tick_unit,
                                 "transport": t.describe()}
                if info.model_hash != meta.hash:
                    raise SparsemcuError(f"the board runs model {info.model_name} {info.model_hash}, expected {meta.hash} "
                                         f"(flashing failed or another firmware is on it)")
                if info.input_bytes != meta.input_bytes or info.output_bytes != meta.output_bytes:
                    raise SparsemcuError(f"board reports input/output {info.input_bytes}/{info.output_bytes} bytes, model.h says "
                                         f"{meta.input_bytes}/{meta.output_bytes}")
                from tqdm import tqdm
                bar = tqdm(total=len(x), desc=f"deploy {board.name}", unit="sample", disable=not progress, leave=False)
                try:
                    for i, xi in enumerate(x):
                        client.context = f"sample {i}"
                        y, tk = client.infer(xi)
                        outs.append(y)
                        ticks.append(tk)
                        if profile:
                            layer_ticks.append(client.profile())
                        rep["samples"] = i + 1
                        if ref is not None:
                            ref_outs.append(check_sample(ref, xi, y, i, board, rep))
                        bar.update(1)
                        if i % 16 == 0:
                            rep["latency"] = _latency(ticks, info.tick_unit, info.clock_hz)
                            write()
                finally:
                    bar.close()
                client.context = "stats"
                st = client.stats()
            rep["bit_exact"] = True if ref is not None else None
            rep["latency"] = _latency(ticks, info.tick_unit, info.clock_hz)
            rep["ram"]["stack_bytes"] = st.stack_used if st.stack_size else None
            if profile:
                rep["layers"] = profile_layers(model_dir, layer_ticks, info.tick_unit)
                plot_profile(rep, model_dir / "profile.png")
        if labels is not None:
            pred = np.stack(outs).argmax(axis=1)
            rep["accuracy"] = float(np.mean(pred == labels[: len(pred)]))
            if ref_outs:
                rep["accuracy_reference"] = float(np.mean(np.stack(ref_outs).argmax(axis=1) == labels[: len(pred)]))
        rep["verified"] = ref is not None
        rep["status"] = "ok"
        write()  # the measured results first: saving --outputs may still fail
        if outputs is not None:
            shape = tuple(meta.output_shape[1:]) if meta.output_shape and meta.output_shape[0] == 1 else (meta.output_bytes,)
            y = np.stack(outs).reshape(len(outs), *shape).astype(np.int8)
            tmp = outputs.with_name(outputs.name + ".tmp.npy")
            try:
                outputs.parent.mkdir(parents=True, exist_ok=True)
                np.save(tmp, y)
                os.replace(tmp, outputs)
            except OSError as exc:
                try:
                    tmp.unlink(missing_ok=True)
                except OSError:
                    pass
                raise SparsemcuError(f"could not save the outputs to {outputs} ({exc.strerror or exc}); the run itself "
                                     f"finished ({len(outs)} samples{', verified' if ref is not None else ''}) and its "
                                     "results are in the report") from None
            rep["outputs"] = str(outputs)
            write()
        return rep
    except SparsemcuError as exc:
        stage = rep["status"]
        finish("failed", str(exc))
        if stage == "preparing":  # a bad input: nothing was built or run, the message says it all
            raise
        raise _with_where(exc, str(exc), firmware, report_path) from None
    except OSError as exc:
        from sparsemcu.cli import os_error_line
        msg = os_error_line(exc)
        finish("failed", msg)
        raise _with_where(SparsemcuError(msg), msg, firmware, report_path) from None
    except KeyboardInterrupt:
        finish("interrupted", f"interrupted (Ctrl-C) after {rep['samples']} samples")
        raise
    except Exception as exc:
        finish("failed", f"internal error {type(exc).__name__}: {exc}")
        raise


def _run_mlperf(board: Board, firmware: Path, port, do_flash: bool, x: np.ndarray, ref, meta: ModelMeta, rep: dict,
                write: Callable, model: str, iterations: int | None, warmups: int | None, timeout: float,
                run_timeout: float, progress: bool) -> tuple[list, list]:
    """The MLPerf Tiny flow on firmware built with --protocol mlperf (board_test/mlperf.py): name and
    profile, then per input `db load` + `db` + `infer`; the outputs (int8, recovered exactly from the
    printed dequantised results) are checked against `ref`; the median latency by the MLPerf Tiny rules."""
    from sparsemcu.board_test import mlperf as M
    n, w = M.PERFORMANCE_INFER[model]
    n, w = iterations or n, w if warmups is None else warmups
    outs, ref_outs, windows = [], [], []
    with open_transport(board, firmware, port, do_flash) as t:
        client = M.MlperfClient(t, timeout=timeout, infer_timeout=run_timeout)
        if board.is_host or (board.is_qemu and not port):
            client.wait_boot(timeout=max(timeout, 5.0))
        else:
            client.sync()
        name = client.name()
        profile, bench = client.profile()
        rep["device"] = {"board": board.name, "name": name, "profile": profile, "model": bench, "transport": t.describe(),
                         "baud": M.BAUD}
        if name != f"{M.VENDOR} {meta.hash}":
            raise SparsemcuError(f"the board answers name [{name}], expected [{M.VENDOR} {meta.hash}] (flashing failed, "
                                 "or another firmware is on it)")
        if bench != model:
            raise SparsemcuError(f"the board reports MLPerf model {bench}, expected {model}")
        from tqdm import tqdm
        bar = tqdm(total=len(x), desc=f"deploy {board.name} (mlperf)", unit="sample", disable=not progress, leave=False)
        try:
            for i, xi in enumerate(x):
                perf = i < M.WINDOWS
                client.load(M.input_bytes(xi, model))
                r = client.infer(n, w) if perf else client.infer(1, 0)
                y = M.to_int8(r.results, meta.output_scale, meta.output_zero_point)
                if y.size != meta.output_bytes:
                    raise M.MlperfError(f"sample {i}: {y.size} results, the model has {meta.output_bytes} outputs")
                if perf:
                    windows.append((r.iterations, r.elapsed_us))
                outs.append(y)
                rep["samples"] = i + 1
                if ref is not None:
                    ref_outs.append(check_sample(ref, xi, y, i, board, rep))
                bar.update(1)
                if i % 16 == 0:
                    write()
        finally:
            bar.close()
    perf = M.median_latency(windows)
    lat = [row["latency_us"] for row in perf["windows"]]
    emulated = board.is_qemu
    rep["bit_exact"] = True if ref is not None else None
    rep["latency"] = {"unit": "emulated_us" if emulated else "us", "median": perf["median_latency_us"], "max": max(lat),
                      "min": min(lat), "method": f"MLPerf Tiny: 1 / median over {len(lat)} windows of `infer {n} {w}` "
                                                 "of N / (m-lap-us end - start)"}
    if not emulated:
        rep["latency"]["ms"] = {"median": perf["median_latency_us"] / 1e3, "max": max(lat) / 1e3}
    if M.MODELS[model]:  # image benchmarks: the runner's uint8 pixels p arrive as int8 p - 128
        same = abs(meta.input_scale * 255 - 1) < 1e-6 and meta.input_zero_point == -128
        runner_input = ("the runner's uint8 pixels p become p - 128, which is exactly this model's quantisation of p / 255 "
                        "(input scale 1/255, zero point -128)" if same else
                        f"the runner's uint8 pixels p become p - 128, but this model quantises its input with scale "
                        f"{meta.input_scale:g}, zero point {meta.input_zero_point}: feed it data prepared for that "
                        "(this deploy sends each int8 input exactly)")
    else:
        runner_input = "the runner's bytes are the model's int8 input as they are"
    rep["mlperf"] = {"benchmark": model, "infer": [n, w], **perf, "runner_input": runner_input,
                     "verified": "every output: the printed dequantised values mapped back to int8 "
                                 "(round(v / scale) + zero point, refused unless within the print's rounding) and "
                                 "compared bit-exactly with TFLM" if ref is not None else "not verified (--no-verify)",
                     "timer": (f"{board.name}: emulated microseconds of QEMU's virtual clock (-icount: "
                               f"{M.ticks_per_us(board)} emulated instructions per us), not a real-board latency"
                               if emulated else f"{board.name}: microseconds of the board's {board.tick_unit} counter")}
    return outs, ref_outs


def _with_where(exc: SparsemcuError, msg: str, firmware: Path, report_path: Path) -> SparsemcuError:
    """The error, with where the firmware and the (final) report are."""
    where = f"firmware kept in {firmware}" if firmware.exists() else "no firmware built"
    msg = f"{msg}; {where}, partial report {report_path}"
    try:
        return type(exc)(msg)
    except Exception:  # noqa: BLE001 - an error type with a different constructor
        return SparsemcuError(msg)


def profile_layers(model_dir: Path, layer_ticks: list[list[int]], unit: str) -> list[dict]:
    """Per kernel call: the exporter's prediction (report.json) and the median measured ticks."""
    export = json.loads((Path(model_dir) / "report.json").read_text())
    measured = np.median(np.asarray(layer_ticks, np.float64), axis=0) if layer_ticks and layer_ticks[0] else None
    if measured is not None and len(measured) != len(export["layers"]):
        raise SparsemcuError(f"the board profiled {len(measured)} calls, report.json lists {len(export['layers'])}: "
                             "rebuild the firmware from this export")
    rows = []
    for i, layer in enumerate(export["layers"]):
        rows.append({"index": layer["index"], "op": layer["op"], "kernel": layer["kernel"], "variant": layer["variant"],
                     "macs": layer["macs"], "predicted_instructions": layer["predicted_instructions"],
                     "measured": float(measured[i]) if measured is not None else None, "unit": unit})
    return rows


def profile_table(rep: dict) -> str:
    """The per-layer predicted vs measured table of a profiling deploy, as text."""
    rows = [("#", "op", "variant", "MACs", "predicted instr", f"measured ({rep['layers'][0]['unit']})", "ratio")]
    for la in rep["layers"]:
        if la["kernel"] == "in-place":
            continue
        m = la["measured"]
        rows.append((str(la["index"]), la["op"], la["variant"], f"{la['macs']:,}", f"{la['predicted_instructions']:,}",
                     f"{m:,.0f}" if m is not None else "-",
                     f"{m / la['predicted_instructions']:.2f}" if m and la["predicted_instructions"] else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.rjust(w) if i >= 3 else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_profile(rep: dict, path: Path) -> None:
    """Predicted instructions next to measured ticks per layer, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [la for la in rep["layers"] if la["kernel"] != "in-place"]
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(layers) + 2), 4))
    ax.bar(x - 0.2, [la["predicted_instructions"] for la in layers], width=0.4, label="predicted instructions")
    ax.bar(x + 0.2, [la["measured"] or 0 for la in layers], width=0.4, label=f"measured ({layers[0]['unit'] if layers else ''})")
    ax.set_xticks(list(x))
    ax.set_xticklabels([f"{la['index']}:{la['op'].replace('_2D', '').lower()}\n{la['variant']}" for la in layers],
                       rotation=45, ha="right", fontsize=7)
    ax.set_title(f"{rep.get('model', '')} on {rep['board']}: per-layer cost")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _planned_scratch(model_dir: Path) -> int | None:
    """The largest kernel scratch in the arena, from the export's report.json (None if absent)."""
    try:
        return json.loads((Path(model_dir) / "report.json").read_text())["memory"]["scratch_bytes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def summary(rep: dict) -> str:
    lat = rep.get("latency") or {}
    ms = lat.get("ms")
    ram = rep.get("ram") or {}
    parts = [f"{rep['board']}: {rep['samples']} samples",
             "bit-exact with TFLM" if rep.get("bit_exact") else ("NOT bit-exact" if rep.get("bit_exact") is False
                                                                 else "NOT VERIFIED (no reference, --no-verify)")]
    if rep.get("accuracy") is not None:
        parts.append(f"accuracy {rep['accuracy']:.4f}" + (f" (host {rep['accuracy_reference']:.4f})" if rep.get("accuracy_reference") is not None else ""))
    if lat.get("median") is not None:
        parts.append(f"latency median {lat['median']:,.0f} {lat['unit']} (max {lat['max']:,.0f})" + (f" = {ms['median']:.3f} ms" if ms else ""))
    if ram:
        r = [f"{k} {ram[k + '_bytes']:,} B" for k in ("arena", "stack", "static") if ram.get(k + "_bytes") is not None]
        if r and ram.get("scratch_bytes"):
            r[0] += f" (kernel scratch up to {ram['scratch_bytes']:,} B of it)"
        if r:
            parts.append("RAM " + ", ".join(r))
    if rep.get("flash_bytes"):
        parts.append(f"flash {rep['flash_bytes']:,} B")
    ml = rep.get("mlperf")
    if ml:
        rules = ml["rules"]
        parts.append(f"MLPerf Tiny {ml['benchmark']}: median throughput {ml['median_throughput_inf_per_s']:,.1f} inf/s "
                     f"over {rules['windows']} windows" + ("" if rules["five_windows"] and rules["each_window_at_least_10_s"]
                                                           else " (not a valid MLPerf run: the rules need 5 windows of "
                                                                f"at least 10 s, shortest {rules['shortest_window_s']:.3g} s)")
                     + (" [emulated time]" if rep["latency"]["unit"] == "emulated_us" else ""))
    return "; ".join(parts)
