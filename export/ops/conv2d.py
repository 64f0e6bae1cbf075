"""CONV_2D -> smcu_conv2d_s8_{dense,rle,simd,sparse} (per-channel int8, any kernel/stride/dilation/padding).

Candidates: the scalar reference kernel with dense or run-length sparse int8 weights, and the
16-bit SIMD kernel (im2col into planned scratch, int16 weights re-laid out offline, input zero
point folded into the bias) where its one-step requantisation is exact for every channel, and
there too the zero-skipping sparse kernel (same column idea and folded bias, only the non-zero
weights, one packed word each: export/layouts.py sparse_tap_entries).
"""
from __future__ import annotations

import numpy as np

from .. import encoder, layouts
from ..quant import activation_range, fused_requant_table, per_channel_multipliers
from .base import PADDING_SAME, KernelCall, LoweringContext, nhwc, register, same_padding


def bias_values(ctx: LoweringContext, position: int, channels: int) -> np.ndarray:
    """The int32 bias at input `position`, or zeros when the op has none."""
    if ctx.has_input(position):
        return ctx.tensor(position).data.astype(np.int32).reshape(-1)
    return np.zeros(channels, np.int32)


def multipliers(ctx: LoweringContext, weight_scales: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray]:
    inp, out = ctx.tensor(0), ctx.out
    return per_channel_multipliers(inp.per_tensor_scale, weight_scales, out.per_tensor_scale, channels)


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
    if "pad_top" in o:  # a PAD folded into this VALID convolution (export/fuse.py)
        pad_h, pad_w = o["pad_top"], o["pad_left"]
    elif o.get("padding", PADDING_SAME) == PADDING_SAME:
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
    inp, w = ctx.tensor(0), ctx.tensor(1)
    if nhwc(inp)[0] != 1:
        raise ctx.fail(f"batch {nhwc(inp)[0]} not supported (batch 1 only)")
    if w.data is None:
        raise ctx.fail("weights are not constant")
    out_c, k_h, k_w, in_c = w.shape
    if in_c != nhwc(inp)[3]:
        raise ctx.fail("grouped convolution is not supported")
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
    requant = simd_requant(ctx, common, rows, bias, mult, shift)
    if requant is not None:
        weights = ctx.const("weights_simd", layouts.interleave_channel_pairs(layouts.sxtb16_words(rows)))
        nonzeros = int(np.count_nonzero(rows))
        calls.append(KernelCall(
            node=ctx.node.index, op=ctx.node.op, kernel="smcu_conv2d_s8_simd", variant="simd",
            params_type="smcu_conv2d_simd_params_t",
            fields={"c": common, "weights": weights.name, "requant": requant.name, "k_pad": k_pad},
            inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=[weights, requant],
            macs=rows.size * pixels, nonzero_macs=nonzeros * pixels, weight_encoding="simd-int16",
            weight_bytes=weights.nbytes, dense_weight_bytes=rows.size, sparsity=1 - nonzeros / rows.size,
            scratch_bytes=4 * k_pad + (k_pad if in_c % 4 else 0), features=features))
    if requant is not None:
        sparse = sparse_candidate(ctx, common, sp, rows, requant, features)
        if sparse is not None:
            calls.append(sparse)
    return calls


def sparse_im2col_work(sp: dict, in_c: int, k: int) -> dict[str, int]:
    """What smcu_conv2d_s8_sparse.c's im2col does per layer (cost-model features): values (tap x pixel)
    it gathers for 4 pixels at once 4 taps at a time ("sp_quad_taps") or one tap at a time
    ("sp_quad_byte_taps"), the contiguous segments those come in ("sp_segments"), the bytes of window
    rows partly outside the image it first pads with zero points (word by word where in_c is a
    multiple of 4: "sp_pad_word_bytes", else "sp_pad_bytes"), and values it
    gathers pixel by pixel ("sp_slot_taps"). With dil_w == 1 it takes whole window rows (4 taps at a
    time if k_w * in_c is a multiple of 4), else single taps' channels where in_c is a multiple of 4,
    else pixel by pixel."""
    n = layouts.SPARSE_PIXELS
    n_pix = sp["out_h"] * sp["out_w"]
    pix = np.minimum(np.arange(0, -(-n_pix // n) * n), n_pix - 1)
    values = k * len(pix)
    feats = {"sp_quad_taps": 0, "sp_quad_byte_taps": 0, "sp_segments": 0, "sp_pad_word_bytes": 0, "sp_pad_bytes": 0,
             "sp_slot_taps": 0}
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
    elif in_c % 4 == 0:
        feats["sp_quad_taps"] = values
        feats["sp_segments"] = sp["k_h"] * sp["k_w"] * len(pix) // n
    else:
        feats["sp_slot_taps"] = values
    return feats


def sparse_candidate(ctx: LoweringContext, common: dict, sp: dict, rows: np.ndarray, requant, features: dict
                     ) -> KernelCall | None:
    """The zero-skipping kernel (smcu_conv2d_s8_sparse): per output channel only its non-zero weights,
    one packed word each; None where an offset does not fit its 16-bit field."""
    out_c, k = rows.shape
    stream = layouts.sparse_tap_entries(rows)
    if stream is None:
        return None
    entries = ctx.const("entries_sparse", stream)
    pixels = sp["out_h"] * sp["out_w"]
    groups = -(-pixels // layouts.SPARSE_PIXELS)
    nonzeros = int(np.count_nonzero(rows))
    row_len = sp["k_w"] * common["in_c"]
    return KernelCall(
        node=ctx.node.index, op=ctx.node.op, kernel="smcu_conv2d_s8_sparse", variant="sparse",
        params_type="smcu_conv2d_sparse_params_t",
        fields={"c": common, "entries": entries.name, "requant": requant.name, "k": k},
        inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=[entries, requant],
        macs=rows.size * pixels, nonzero_macs=nonzeros * pixels, weight_encoding="sparse-tap32",
        weight_bytes=entries.nbytes, dense_weight_bytes=rows.size, sparsity=1 - nonzeros / rows.size,
        scratch_bytes=layouts.sparse_column_bytes(k) + (1 + layouts.SPARSE_PIXELS) * layouts.padded_length(row_len),
        features={**features, "sp_groups": groups, "sp_entries_x_groups": nonzeros * groups,
                  "sp_channel_groups": out_c * groups, **sparse_im2col_work(sp, common["in_c"], k)})
