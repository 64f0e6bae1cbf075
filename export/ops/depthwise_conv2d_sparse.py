"""DEPTHWISE_CONV_2D -> smcu_depthwise_conv2d_s8_sparse: the zero-skipping variant (any kernel size,
stride, dilation, padding and depth multiplier; layout in firmware_templates/kernels/smcu_depthwise_conv2d.h).

Channel by channel: a channel without non-zero taps is a constant (its requantised bias, clamped); a
channel with one tap reads the input directly where the tap lies inside the image (a rectangle of
outputs) and is that constant elsewhere; a channel with more taps reads a zero-point padded copy of
its input channel (a plane in scratch). Requantisation: the simd variant's exact one-step form on the
doubled accumulator (doubled_requant, the simd variant's form); the variant is proposed only where
that form is exact for every channel.
"""
from __future__ import annotations

import numpy as np

from ..quant import doubled_requant_table, multiply_by_quantized_multiplier
from .base import KernelCall, LoweringContext


def _s32(v: int) -> int:
    return (int(v) + 2**31) % 2**32 - 2**31


def tap_rect(c: dict, ky: int, kx: int) -> tuple[int, int, int, int]:
    """Outputs [y0, y1) x [x0, x1) whose tap (ky, kx) lies inside the image (empty: y0 == y1 or x0 == x1)."""
    def span(out_n, in_n, stride, d):
        lo = max(0, -(d // stride)) if d < 0 else 0  # smallest o with o * stride + d >= 0
        hi = min(out_n, (in_n - 1 - d) // stride + 1) if in_n - 1 - d >= 0 else 0
        return lo, max(lo, hi)
    dy, dx = ky * c["dil_h"] - c["pad_h"], kx * c["dil_w"] - c["pad_w"]
    y0, y1 = span(c["out_h"], c["in_h"], c["stride_h"], dy)
    x0, x1 = span(c["out_w"], c["in_w"], c["stride_w"], dx)
    return y0, y1, x0, x1


def plane_geometry(c: dict) -> tuple[int, int]:
    """(columns, rows) of the zero-point padded plane: every input pixel and every tap position."""
    w = c["pad_w"] + max(c["in_w"], (c["out_w"] - 1) * c["stride_w"] - c["pad_w"] + (c["k_w"] - 1) * c["dil_w"] + 1)
    h = c["pad_h"] + max(c["in_h"], (c["out_h"] - 1) * c["stride_h"] - c["pad_h"] + (c["k_h"] - 1) * c["dil_h"] + 1)
    return w, h


def sparse_stream(c: dict, rows: np.ndarray, bias, mult, shift) -> tuple[np.ndarray, np.ndarray, dict, int] | None:
    """The kernel's int32 stream, the channels' constant outputs (int8 [out_c]), its cost features and the
    plane width (0: no plane), or None where the one-step requantisation is not exact for some channel
    or a plane offset does not fit 16 bits."""
    req = doubled_requant_table(bias, rows, c["input_offset"], mult, shift, c["output_offset"])
    if req is None:
        return None
    k_w, out_h, out_w = c["k_w"], c["out_h"], c["out_w"]
    pix = out_h * out_w
    plane_w, plane_h = plane_geometry(c)
    words: list[int] = []
    consts = np.zeros(c["out_c"], np.int8)
    f = {"dws_channels": 0, "dws_fill_bytes": 0, "dws_one_px": 0, "dws_one_pairs": 0, "dws_one_runs": 0,
         "dws_plane_px": 0, "dws_plane_runs": 0, "dws_plane_taps": 0, "dws_extract_px": 0, "dws_extract_rows": 0,
         "dws_slow_px": 0}
    full = c["act_min"] <= -128 and c["act_max"] >= 127
    fill = False
    plane_ic = -1
    for oc, r in enumerate(np.asarray(rows, np.int64)):
        ic = oc // c["depth_mult"]
        f["dws_channels"] += 1
        k = multiply_by_quantized_multiplier(int(bias[oc]), int(mult[oc]), int(shift[oc])) + c["output_offset"]
        consts[oc] = min(max(k, c["act_min"]), c["act_max"])
        taps = np.flatnonzero(r)
        b2, m, rh, e = (int(v) for v in req[oc])
        if len(taps) == 1:
            ky, kx = divmod(int(taps[0]), k_w)
            y0, y1, x0, x1 = tap_rect(c, ky, kx)
            if y0 == y1 or x0 == x1:
                taps = taps[:0]  # the tap never inside the image: a constant channel
        n = len(taps)
        words.append(n | (e if n else 0) << 8)
        if n == 0:
            fill = True
            continue
        words += [b2, m, rh]
        if n == 1:
            dy, dx = ky * c["dil_h"] - c["pad_h"], kx * c["dil_w"] - c["pad_w"]
            runs, cols = y1 - y0, x1 - x0
            fill = fill or runs * cols < pix
            if cols == out_w and out_w * c["stride_w"] == c["in_w"] * c["stride_h"]:  # the rows are one run
                runs, cols = 1, runs * cols
            off = ((y0 * c["stride_h"] + dy) * c["in_w"] + x0 * c["stride_w"] + dx) * c["in_c"]
            words += [2 * int(r[taps[0]]), off, y0 * out_w + x0, runs | cols << 16]
            f["dws_one_px" if full else "dws_slow_px"] += runs * cols
            f["dws_one_pairs"] += runs * (cols // 2) if full else 0
            f["dws_one_runs"] += runs
            continue
        offs = [(t // k_w) * c["dil_h"] * plane_w + (t % k_w) * c["dil_w"] for t in taps]
        if max(offs) > 0xFFFF:
            return None
        words += [_s32((2 * int(r[t])) << 16 | o) for t, o in zip(taps, offs)]
        if ic != plane_ic:
            plane_ic = ic
            f["dws_extract_px"] += c["in_h"] * c["in_w"]
            f["dws_extract_rows"] += c["in_h"]
        f["dws_plane_px"] += pix
        f["dws_plane_runs"] += out_h
        f["dws_plane_taps"] += pix * (n - 2)
        if not (full and n == 2):
            f["dws_slow_px"] += pix
    f["dws_fill_bytes"] = pix * c["out_c"] if fill else 0
    uses_plane = f["dws_plane_px"] > 0
    f["dws_plane_bytes"] = plane_w * plane_h if uses_plane else 0
    stream = np.asarray([_s32(v) for v in words], np.int64).astype(np.int32)
    return stream, consts, f, (plane_w if uses_plane else 0)


def sparse_candidates(ctx: LoweringContext, common: dict, rows: np.ndarray, bias, mult, shift,
                      features: dict) -> list[KernelCall]:
    """[the sparse variant], or [] where it does not apply (see sparse_stream)."""
    got = sparse_stream(common, rows, bias, mult, shift)
    if got is None:
        return []
    stream, consts, feats, plane_w = got
    plane_bytes = feats["dws_plane_bytes"]
    words = ctx.const("stream_sparse", stream)
    k = ctx.const("consts_sparse", consts)
    nonzeros = int(np.count_nonzero(rows))
    pixels = common["out_h"] * common["out_w"]
    return [KernelCall(
        node=ctx.node.index, op=ctx.node.op, kernel="smcu_depthwise_conv2d_s8_sparse", variant="sparse",
        params_type="smcu_depthwise_conv2d_sparse_params_t",
        fields={"c": common, "stream": words.name, "consts": k.name, "fill": int(feats["dws_fill_bytes"] > 0),
                "plane_w": plane_w, "plane_bytes": plane_bytes},
        inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=[words, k],
        macs=rows.size * pixels, nonzero_macs=nonzeros * pixels, weight_encoding="sparse-dw32",
        weight_bytes=words.nbytes + k.nbytes, dense_weight_bytes=rows.size, sparsity=1 - nonzeros / rows.size,
        scratch_bytes=max(4, (plane_bytes + 3) & ~3), features={**features, **feats})]
