"""CONV_2D -> smcu_conv2d_s8_{dense,rle,simd,sparse} (per-channel int8, any kernel/stride/dilation/padding).

Candidates: the scalar reference kernel with dense or run-length sparse int8 weights, and the
16-bit SIMD kernel (im2col into planned scratch, one stream of doubled int16 weights and requantisation
parameters laid out offline, input zero point folded into the bias: export/layouts.py conv_simd_stream)
where its one-SMMLAR requantisation is exact for every channel (export/quant.py smmlar_requant_table), and
there too the zero-skipping sparse kernel (same column idea and folded bias, only the non-zero
weights, one packed word each, and the doubled accumulator's one-step requantisation per channel:
export/layouts.py sparse_conv_stream).
"""
from __future__ import annotations

import numpy as np

from .. import encoder, layouts
from ..quant import (activation_range, doubled_requant_table, fused_requant_table, per_channel_multipliers,
                     smmlar_requant_table)
from .base import PADDING_SAME, KernelCall, LoweringContext, nhwc, register, same_padding


def bias_values(ctx: LoweringContext, position: int, channels: int) -> np.ndarray:
    """The int32 bias at input `position`, or zeros when the op has none."""
    if not ctx.has_input(position):
        return np.zeros(channels, np.int32)
    b = ctx.tensor(position)
    if b.data is None or b.dtype != "int32":
        raise ctx.fail(f"the bias must be a constant int32 tensor (got {'constant' if b.is_const else 'activation'} "
                       f"{b.dtype})")
    if b.size != channels:
        raise ctx.fail(f"the bias has {b.size} values for {channels} output channels")
    return b.data.astype(np.int32).reshape(-1)


def const_weights(ctx: LoweringContext, rank: int, channel_dim: int):
    """The constant int8 filter (input 1), symmetric, with one scale or one per output channel."""
    w = ctx.tensor(1)
    if w.data is None:
        raise ctx.fail("weights are not constant")
    if w.dtype != "int8" or len(w.shape) != rank or w.size == 0:
        raise ctx.fail(f"weights are {w.dtype} {list(w.shape)}; a non-empty int8 rank-{rank} filter is required")
    if w.scale is None:
        raise ctx.fail("weights are not quantised")
    if len(w.scale) not in (1, w.shape[channel_dim]):
        raise ctx.fail(f"{len(w.scale)} weight scales for {w.shape[channel_dim]} output channels")
    if any(int(z) != 0 for z in w.zero_point):
        raise ctx.fail("asymmetric weights are not supported")
    return w


def out_size(in_size: int, k: int, stride: int, dilation: int, padding: int) -> int:
    """TFLite ComputeOutSize: the output length along one axis for SAME or VALID padding."""
    effective = (k - 1) * dilation + 1
    if padding == PADDING_SAME:
        return (in_size + stride - 1) // stride
    return (in_size + stride - effective) // stride


def check_out_size(ctx: LoweringContext, axis: str, got: int, expected: int) -> None:
    if got != expected or got < 1:
        raise ctx.fail(f"output {axis} {got} disagrees with the input, filter, stride and padding "
                       f"(expected {expected})")


def multipliers(ctx: LoweringContext, weight_scales: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray]:
    inp, out = ctx.tensor(0), ctx.out
    mult, shift = per_channel_multipliers(inp.per_tensor_scale, weight_scales, out.per_tensor_scale, channels)
    ctx.check_shifts(shift)
    return mult, shift


def quant_fields(ctx: LoweringContext) -> dict:
    """Zero points and activation range: fields every variant of a weighted op shares."""
    out = ctx.out
    act_min, act_max = activation_range(ctx.node.options.get("fused_activation_function", 0),
                                        out.per_tensor_scale, out.per_tensor_zero_point)
    return {"input_offset": -ctx.tensor(0).per_tensor_zero_point, "output_offset": out.per_tensor_zero_point,
            "act_min": act_min, "act_max": act_max}


def spatial(ctx: LoweringContext, k_h: int, k_w: int):
    o = ctx.node.options
    _, in_h, in_w, _ = nhwc(ctx.tensor(0))
    _, out_h, out_w, _ = nhwc(ctx.out)
    s_h, s_w = o.get("stride_h", 1), o.get("stride_w", 1)
    d_h, d_w = o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)
    padding = o.get("padding", PADDING_SAME)
    if "pad_top" in o:  # a PAD folded into this VALID convolution (export/fuse.py)
        pad_h, pad_w = o["pad_top"], o["pad_left"]
        check_out_size(ctx, "height", out_h, out_size(in_h + pad_h + o["pad_bottom"], k_h, s_h, d_h, padding))
        check_out_size(ctx, "width", out_w, out_size(in_w + pad_w + o["pad_right"], k_w, s_w, d_w, padding))
    else:
        check_out_size(ctx, "height", out_h, out_size(in_h, k_h, s_h, d_h, padding))
        check_out_size(ctx, "width", out_w, out_size(in_w, k_w, s_w, d_w, padding))
        if padding == PADDING_SAME:
            pad_h, pad_w = same_padding(in_h, k_h, s_h, d_h, out_h), same_padding(in_w, k_w, s_w, d_w, out_w)
        else:
            pad_h = pad_w = 0
    return {"in_h": in_h, "in_w": in_w, "out_h": out_h, "out_w": out_w, "k_h": k_h, "k_w": k_w,
            "stride_h": s_h, "stride_w": s_w, "dil_h": d_h, "dil_w": d_w, "pad_h": pad_h, "pad_w": pad_w}


def reference_candidates(ctx: LoweringContext, kernel_base: str, params_type: str, common: dict, rows: np.ndarray,
                         bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, uses_per_weight: int,
                         features: dict) -> list[KernelCall]:
    """The scalar reference kernel with dense and with run-length sparse int8 weights.
    `uses_per_weight` = output pixels each weight is used for."""
    consts = [ctx.const("bias", bias), ctx.const("mult", mult), ctx.const("shift", shift)]
    calls = []
    for fmt in encoder.FORMATS:
        enc = encoder.encode(ctx.prefix, rows, fmt)
        fields = {"c": common, **enc.fields, **{k: a.name for k, a in zip(("bias", "mult", "shift"), consts)}}
        calls.append(KernelCall(
            node=ctx.node.index, op=ctx.node.op, kernel=f"{kernel_base}_{fmt}", variant=fmt, params_type=params_type,
            fields=fields, inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=enc.consts + consts,
            macs=enc.dense_nbytes * uses_per_weight, nonzero_macs=enc.nonzeros * uses_per_weight,
            weight_encoding=fmt, weight_bytes=enc.nbytes, dense_weight_bytes=enc.dense_nbytes, sparsity=enc.sparsity,
            features={**features, "entries_x_uses": enc.entries * uses_per_weight}))
    return calls


def simd_requant(ctx: LoweringContext, common: dict, rows: np.ndarray, bias, mult, shift):
    """The smcu_requant_t table const, or None where the SIMD variants do not apply."""
    table = fused_requant_table(bias, rows, common["input_offset"], mult, shift, common["output_offset"])
    return None if table is None else ctx.const("requant", table, "smcu_requant_t")


@register("CONV_2D")
def lower_conv2d(ctx: LoweringContext) -> list[KernelCall]:
    inp = ctx.tensor(0)
    if nhwc(inp)[0] != 1 or nhwc(ctx.out)[0] != 1:
        raise ctx.fail(f"batch {nhwc(inp)[0]} -> {nhwc(ctx.out)[0]} not supported (batch 1 only)")
    w = const_weights(ctx, 4, 0)
    out_c, k_h, k_w, in_c = w.shape
    if in_c != nhwc(inp)[3]:
        raise ctx.fail("grouped convolution is not supported")
    if nhwc(ctx.out)[3] != out_c:
        raise ctx.fail(f"output has {nhwc(ctx.out)[3]} channels, the filter {out_c}")
    rows = w.data.reshape(out_c, -1)
    bias = bias_values(ctx, 2, out_c)
    mult, shift = multipliers(ctx, w.scale, out_c)
    sp = spatial(ctx, k_h, k_w)
    common = {**{k: sp[k] for k in ("in_h", "in_w")}, "in_c": in_c,
              **{k: sp[k] for k in ("out_h", "out_w")}, "out_c": out_c,
              **{k: sp[k] for k in ("k_h", "k_w", "stride_h", "stride_w", "dil_h", "dil_w", "pad_h", "pad_w")},
              **quant_fields(ctx)}
    pixels = sp["out_h"] * sp["out_w"]
    k = k_h * k_w * in_c
    k_pad = layouts.padded_length(k)
    fast_im2col = in_c % 4 == 0
    features = {"pixels": pixels, "outputs": pixels * out_c, "macs": pixels * out_c * k,
                "k_pad_macs": pixels * out_c * k_pad, "im2col_fast": pixels * k_pad if fast_im2col else 0,
                "im2col_slow": 0 if fast_im2col else pixels * k_pad}
    calls = reference_candidates(ctx, "smcu_conv2d_s8", "smcu_conv2d_ref_params_t", common, rows, bias, mult, shift,
                                 pixels, features)
    simd_table = smmlar_requant_table(bias, rows, common["input_offset"], mult, shift, common["output_offset"])
    if simd_table is not None:
        weights = ctx.const("stream_simd", layouts.conv_simd_stream(rows, simd_table))
        nonzeros = int(np.count_nonzero(rows))
        calls.append(KernelCall(
            node=ctx.node.index, op=ctx.node.op, kernel="smcu_conv2d_s8_simd", variant="simd",
            params_type="smcu_conv2d_simd_params_t",
            fields={"c": common, "stream": weights.name, "k_pad": k_pad},
            inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=[weights],
            macs=rows.size * pixels, nonzero_macs=nonzeros * pixels, weight_encoding="simd-int16",
            weight_bytes=weights.nbytes, dense_weight_bytes=rows.size, sparsity=1 - nonzeros / rows.size,
            scratch_bytes=4 * k_pad + (k_pad + layouts.padded_length(k_w * in_c) if in_c % 4 else 0),
            features={**features, **simd_work(sp, out_c, k_pad, common)}))
    for padded_copy in (True, False):  # the padded input copy is faster but costs scratch RAM
        sparse = sparse_candidate(ctx, common, sp, rows, bias, mult, shift, features, padded_copy)
        if sparse is not None and not any(c.variant == "sparse" and c.fields == sparse.fields for c in calls):
            calls.append(sparse)
    return calls


def simd_work(sp: dict, out_c: int, k_pad: int, common: dict) -> dict[str, int]:
    """What smcu_conv2d_s8_simd.c does per layer (cost-model features): per pixel pair and channel pair
    a tile ("simd_tiles": bias, requantisation, stores, loop), its groups of 4 taps ("simd_tile_groups":
    2 LDM + 8 SMLAD each) in passes of 4 ("simd_tile_passes"), an odd last channel's groups in C
    ("simd_odd_groups", "simd_odd_outputs"), the im2col's window rows ("im2col_rows"; a 1x1 conv without
    padding over in_c % 4 == 0 expands its input pixels directly: "simd_direct_pixels") and the clamp
    pass of a narrower activation range ("clamp_outputs")."""
    pixels = sp["out_h"] * sp["out_w"]
    pp, pairs, groups = -(-pixels // 2), out_c // 2, k_pad // 4
    narrow = common["act_min"] != -128 or common["act_max"] != 127
    direct = sp["k_h"] == sp["k_w"] == 1 and sp["pad_h"] == sp["pad_w"] == 0 and common["in_c"] % 4 == 0
    return {"simd_tiles": pp * pairs, "simd_tile_groups": pp * pairs * groups,
            "simd_tile_passes": pp * pairs * -(-groups // 4), "simd_odd_groups": pp * (out_c % 2) * groups,
            "simd_odd_outputs": pp * (out_c % 2), "im2col_rows": 0 if direct else pixels * sp["k_h"],
            "simd_direct_pixels": pixels if direct else 0, "clamp_outputs": pixels * out_c if narrow else 0}


def sparse_im2col_work(sp: dict, in_c: int, k: int) -> dict[str, int]:
    """What smcu_conv2d_s8_sparse.c's im2col does per layer (cost-model features): values (tap x pixel)
    it gathers for 4 pixels at once 4 taps at a time ("sp_quad_taps") or one tap at a time
    ("sp_quad_byte_taps"), the contiguous segments those come in ("sp_segments"), the bytes of window
    rows partly outside the image it first pads with zero points (word by word where in_c is a
    multiple of 4: "sp_pad_word_bytes", else "sp_pad_bytes"). With dil_w == 1 it takes whole window
    rows (4 taps at a time if k_w * in_c is a multiple of 4), else single taps' channels (4 at a time
    where in_c is a multiple of 4). Used where the windows are not read from the input or its padded
    copy (sparse_padded_input)."""
    n = layouts.SPARSE_PIXELS
    n_pix = sp["out_h"] * sp["out_w"]
    pix = np.minimum(np.arange(0, -(-n_pix // n) * n), n_pix - 1)
    values = k * len(pix)
    feats = {"sp_quad_taps": 0, "sp_quad_byte_taps": 0, "sp_segments": 0, "sp_pad_word_bytes": 0, "sp_pad_bytes": 0}
    if sp["dil_w"] == 1:
        row_len = sp["k_w"] * in_c
        x0 = (pix % sp["out_w"]) * sp["stride_w"] - sp["pad_w"]
        y0 = (pix // sp["out_w"]) * sp["stride_h"] - sp["pad_h"]
        partial = (x0 < 0) | (x0 + sp["k_w"] > sp["in_w"])
        y = y0[:, None] + np.arange(sp["k_h"])[None, :] * sp["dil_h"]
        rows_in = ((y >= 0) & (y < sp["in_h"])).sum(axis=1)
        # padding copies whole words where in_c is a multiple of 4, else bytes
        feats["sp_pad_word_bytes" if in_c % 4 == 0 else "sp_pad_bytes"] = int((rows_in * partial).sum()) * row_len
        feats["sp_quad_taps" if row_len % 4 == 0 else "sp_quad_byte_taps"] = values
        feats["sp_segments"] = sp["k_h"] * len(pix) // n
    else:
        feats["sp_quad_taps" if in_c % 4 == 0 else "sp_quad_byte_taps"] = values
        feats["sp_segments"] = sp["k_h"] * sp["k_w"] * len(pix) // n
    return feats


SPARSE_PADDED_MAX_BYTES = 4096  # largest zero-point padded input copy the sparse kernel makes in scratch


def sparse_padded_input(sp: dict, in_c: int, padded_copy: bool = True) -> tuple[int, int]:
    """(padded_row, padded_rows) of smcu_conv2d_sparse_params_t: with dil_w 1, the input itself where no
    window leaves it (in_w * in_c, 0), else (with `padded_copy`) its zero-point padded copy where that
    is at most SPARSE_PADDED_MAX_BYTES (row bytes, rows), else (0, 0)."""
    if sp["dil_w"] != 1:
        return 0, 0
    w = max(sp["in_w"] + sp["pad_w"], (sp["out_w"] - 1) * sp["stride_w"] + sp["k_w"])
    h = max(sp["in_h"] + sp["pad_h"], (sp["out_h"] - 1) * sp["stride_h"] + (sp["k_h"] - 1) * sp["dil_h"] + 1)
    if sp["pad_h"] == 0 and sp["pad_w"] == 0 and w == sp["in_w"] and h == sp["in_h"]:
        return sp["in_w"] * in_c, 0
    if padded_copy and w * h * in_c <= SPARSE_PADDED_MAX_BYTES:
        return w * in_c, h
    return 0, 0


def sparse_candidate(ctx: LoweringContext, common: dict, sp: dict, rows: np.ndarray, bias, mult, shift,
                     features: dict, padded_copy: bool = True) -> KernelCall | None:
    """The zero-skipping kernel (smcu_conv2d_s8_sparse): per output channel only its non-zero weights,
    one packed word each, and the exact one-step requantisation of the doubled accumulator; None where
    an offset does not fit its 16-bit field or that requantisation is not exact. Without
    `padded_copy` the windows leaving the image are gathered with bounds checks (no input copy in
    scratch: the balanced policy's choice when the board's RAM is short)."""
    out_c, k = rows.shape
    req = doubled_requant_table(bias, rows, common["input_offset"], mult, shift, common["output_offset"])
    stream = None if req is None else layouts.sparse_conv_stream(rows, req)
    if stream is None:
        return None
    entries = ctx.const("entries_sparse", stream)
    pixels = sp["out_h"] * sp["out_w"]
    groups = -(-pixels // layouts.SPARSE_PIXELS)
    nonzeros = int(np.count_nonzero(rows))
    row_len = sp["k_w"] * common["in_c"]
    full = common["act_min"] <= -128 and common["act_max"] >= 127
    padded_row, padded_rows = sparse_padded_input(sp, common["in_c"], padded_copy)
    if padded_row:
        im2col = {"sp_quad_taps" if row_len % 4 == 0 else "sp_quad_byte_taps": k * groups * layouts.SPARSE_PIXELS,
                  "sp_whole_segments": sp["k_h"] * groups,
                  "sp_padded_bytes": padded_row * padded_rows + sp["in_h"] * sp["in_w"] * common["in_c"]
                  if padded_rows else 0, "sp_padded_rows": sp["in_h"] if padded_rows else 0}
    else:
        im2col = sparse_im2col_work(sp, common["in_c"], k)
    return KernelCall(
        node=ctx.node.index, op=ctx.node.op, kernel="smcu_conv2d_s8_sparse", variant="sparse",
        params_type="smcu_conv2d_sparse_params_t",
        fields={"c": common, "entries": entries.name, "k": k, "padded_row": padded_row, "padded_rows": padded_rows},
        inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=[entries],
        macs=rows.size * pixels, nonzero_macs=nonzeros * pixels, weight_encoding="sparse-tap32",
        weight_bytes=entries.nbytes, dense_weight_bytes=rows.size, sparsity=1 - nonzeros / rows.size,
        scratch_bytes=layouts.sparse_column_bytes(k) + (1 + layouts.SPARSE_PIXELS) * layouts.padded_length(row_len)
        + layouts.SPARSE_PIXELS * out_c + padded_row * padded_rows,
        features={**features, "sp_groups": groups, "sp_entries_x_groups": nonzeros * groups,
                  "sp_channel_groups": out_c * groups, "sp_clamp_bytes": 0 if full else groups * 4 * out_c,
                  "sp_tail_bytes": (pixels % 4) * out_c, **im2col})
