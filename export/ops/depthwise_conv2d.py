"""DEPTHWISE_CONV_2D -> smcu_depthwise_conv2d_s8_{dense,rle,simd} (per-channel int8, depth multiplier >= 1).

TFLite stores the filter as [1, k_h, k_w, out_c] (out_c = in_c * depth_multiplier, output channel
ic * depth_multiplier + m reads input channel ic). The encoder and the reference kernels use the
transposed layout: one row of k_h * k_w weights (ky, kx order) per output channel.

Candidates: the scalar reference kernel (dense or run-length sparse int8 weights) and, for depth
multiplier 1 where the one-step requantisation is exact, the 16-bit SIMD kernel (input rows expanded
once to int16 in a planned ring of scratch rows, int16 tap-pair weights laid out offline,
firmware_templates/kernels/smcu_depthwise_conv2d.h).
"""
from __future__ import annotations

import numpy as np

from ..quant import doubled_requant_table
from .base import KernelCall, LoweringContext, nhwc, register
from .conv2d import bias_values, const_weights, multipliers, quant_fields, reference_candidates, spatial
from .depthwise_conv2d_sparse import sparse_candidates


# --- the simd variant's offline layouts (firmware_templates/kernels/smcu_depthwise_conv2d.h) ---

def _pack_lanes(lane0, lane1) -> np.ndarray:
    """int16 lanes -> int32 words (lane0 | lane1 << 16)."""
    words = (np.asarray(lane0, np.int64) & 0xFFFF) | ((np.asarray(lane1, np.int64) & 0xFFFF) << 16)
    return np.where(words >= 2**31, words - 2**32, words).astype(np.int64)


def simd_geometry(k_h: int, k_w: int, stride_w: int, dil_w: int, dil_h: int, full_range: bool = True) -> dict:
    """The simd kernel's path, words per (pair, channel), ring slots and slot interleave: a pair of
    output pixels reads, per kernel row, n_w words (halfword h = input column 2j * stride_w - pad_w + h;
    x0's taps are halfwords kx * dil_w, x1's stride_w + kx * dil_w). The ring holds the
    (k_h - 1) * dil_h + 1 input rows one output row spans. A slot keeps one word per grid pair and
    channel, q = 2 grid pairs interleaved per channel for stride_w 2 (else 1). The 3x3 paths (1, 2)
    saturate to int8 only: they need an activation range that is the whole int8 range (what RELU /
    RELU6 / none give when the output zero point is -128); anything else takes the generic path 0."""
    n_w = ((k_w - 1) * dil_w + 1 + stride_w + 1) // 2
    fixed = (k_h, k_w, dil_w) == (3, 3, 1) and stride_w in (1, 2) and full_range
    path = stride_w if fixed else 0
    return {"path": path, "n_w": n_w, "ring": (k_h - 1) * dil_h + 1, "q": 2 if stride_w == 2 else 1}


def simd_slot_words(out_w: int, ch: int, stride_w: int, geo: dict) -> int:
    """Words of one ring slot: the grid pairs (pairs - 1) * stride_w + n_w, rounded up to q, per channel."""
    grid = ((out_w + 1) // 2 - 1) * stride_w + geo["n_w"]
    return -(-grid // geo["q"]) * geo["q"] * ch


def simd_weights(rows: np.ndarray, k_h: int, k_w: int, stride_w: int, dil_w: int, geo: dict) -> np.ndarray:
    """int8 [channels, k_h * k_w] -> int32 [channels, words]: per kernel row, the weight words of the
    kernel's path (smcu_depthwise_conv2d.h), every weight doubled (2w fits int16)."""
    w = np.asarray(rows, np.int64).reshape(-1, k_h, k_w) * 2
    ch = w.shape[0]
    if geo["path"]:  # u = (w0, w1), v = (w2, w1) on both 3x3 paths
        return np.stack([_pack_lanes(w[..., 0], w[..., 1]), _pack_lanes(w[..., 2], w[..., 1])], -1).reshape(ch, -1)
    n_h = 2 * geo["n_w"]
    xa = np.zeros((ch, k_h, n_h), np.int64)
    xb = np.zeros((ch, k_h, n_h), np.int64)
    for kx in range(k_w):
        xa[..., kx * dil_w] = w[..., kx]
        xb[..., stride_w + kx * dil_w] = w[..., kx]
    wa = _pack_lanes(xa[..., 0::2], xa[..., 1::2])
    wb = _pack_lanes(xb[..., 0::2], xb[..., 1::2])
    return np.stack([wa, wb], axis=-1).reshape(ch, -1)  # per row, per word: wa, wb


def simd_requant_reference(acc: int, row) -> int:
    """What the simd kernel computes from one doubled_requant row (export/quant.py) and the (undoubled) accumulator acc =
    bias' + sum(x * w), before the activation clamp."""
    _, mult, rh, e = (int(v) for v in row)
    acc2 = 2 * acc
    t = ((rh << 32) + acc2 * mult + 2**31) >> 32
    return (t - (1 if acc2 < 0 else 0)) >> e


def simd_cost_features(c: dict, geo: dict) -> dict:
    """What the simd kernel's instruction count depends on, counted the way the kernel runs (cost model
    features): channel iterations of the 3x3 passes (pairs, single last pixels), channel iterations and
    word steps of the generic pass, row builds and their expansion work (grid pairs, 4-channel groups,
    channel tails), and per-row / per-pair / per-kernel-row overheads."""
    out_h, out_w, ch, k_h, nw, ring = c["out_h"], c["out_w"], c["in_c"], c["k_h"], geo["n_w"], geo["ring"]
    pairs, two, one = (out_w + 1) // 2, out_w // 2, out_w % 2
    f = {"out_rows": out_h, "out_pairs": out_h * pairs, "dw_zrow": ch, "dw_row_steps": out_h * k_h * nw}
    if geo["path"]:
        f.update(dw_pair_iters=out_h * two * ch, dw_single_iters=out_h * one * ch)
    else:
        f.update(dw_gen_iters=out_h * pairs * ch, dw_gen_words=out_h * pairs * ch * k_h * nw)
    tags, builds = [-1] * ring, 0  # every slot starts as an all-zero-point (outside) row
    for oy in range(out_h):
        for ky in range(k_h):
            a = oy * c["stride_h"] - c["pad_h"] + ky * c["dil_h"]
            tag = a if 0 <= a < c["in_h"] else -1
            if tags[a % ring] != tag:
                tags[a % ring], builds = tag, builds + 1
    q, grid = geo["q"], (pairs - 1) * c["stride_w"] + nw
    g0, g1 = c["pad_w"] >> 1, min(grid, (c["in_w"] + c["pad_w"] + 1) >> 1)
    span = max(0, -(-(g1 - (g0 & -q)) // q) * q)  # grid pairs one row build walks (q at a time)
    cols = builds * span + ring * -(-grid // q) * q  # and the all-zero-point fill of every slot
    f.update(dw_builds=builds + ring, dw_exp_cols=cols, dw_exp_groups=cols * (ch // 4), dw_exp_tail=cols * (ch % 4))
    return f


def simd_candidate(ctx: LoweringContext, common: dict, rows: np.ndarray, bias, mult, shift,
                   features: dict) -> KernelCall | None:
    """The simd variant, or None where it does not apply (depth multiplier != 1, or a channel whose
    requantisation the one-step form does not reproduce)."""
    if common["depth_mult"] != 1:
        return None
    requant = doubled_requant_table(bias, rows, common["input_offset"], mult, shift, common["output_offset"])
    if requant is None:
        return None
    k_h, k_w, ch = common["k_h"], common["k_w"], common["out_c"]
    full_range = common["act_min"] <= -128 and common["act_max"] >= 127
    geo = simd_geometry(k_h, k_w, common["stride_w"], common["dil_w"], common["dil_h"], full_range)
    words = simd_weights(rows, k_h, k_w, common["stride_w"], common["dil_w"], geo)
    stream = np.concatenate([requant[:, :1], words, requant[:, 1:]], axis=1).astype(np.int32)
    weights = ctx.const("weights_simd", stream.reshape(-1))
    slot = simd_slot_words(common["out_w"], ch, common["stride_w"], geo)
    scratch = 4 * (geo["ring"] + k_h * geo["n_w"] + (ch + 3) // 4 + geo["ring"] * slot)
    nonzeros = int(np.count_nonzero(rows))
    pixels = common["out_h"] * common["out_w"]
    feats = {**features, **simd_cost_features(common, geo)}
    return KernelCall(
        node=ctx.node.index, op=ctx.node.op, kernel="smcu_depthwise_conv2d_s8_simd", variant="simd",
        params_type="smcu_depthwise_conv2d_simd_params_t",
        fields={"c": common, "weights": weights.name, **{k: geo[k] for k in ("path", "n_w", "ring")}},
        inputs=[ctx.node.inputs[0]], output=ctx.node.outputs[0], consts=[weights],
        macs=rows.size * pixels, nonzero_macs=nonzeros * pixels, weight_encoding="simd-int16",
        weight_bytes=weights.nbytes, dense_weight_bytes=rows.size, sparsity=1 - nonzeros / rows.size,
        scratch_bytes=scratch, features=feats)


@register("DEPTHWISE_CONV_2D")
def lower_depthwise_conv2d(ctx: LoweringContext) -> list[KernelCall]:
    inp, w, out = ctx.tensor(0), ctx.tensor(1), ctx.out
    n, _, _, in_c = nhwc(inp)
    if n != 1 or nhwc(out)[0] != 1:
        raise ctx.fail(f"batch {n} -> {nhwc(out)[0]} not supported (batch 1 only)")
    w = const_weights(ctx, 4, 3)
    if w.shape[0] != 1:
        raise ctx.fail(f"unexpected depthwise filter shape {w.shape}")
    _, k_h, k_w, out_c = w.shape
    if out_c % in_c != 0 or nhwc(out)[3] != out_c:
        raise ctx.fail(f"{out_c} output channels is not a multiple of {in_c} input channels")
    depth_mult = out_c // in_c
    opt_mult = ctx.node.options.get("depth_multiplier", depth_mult)
    if opt_mult not in (0, depth_mult):  # some converters leave 0 / stale values; the shapes decide
        raise ctx.fail(f"depth_multiplier option {opt_mult} disagrees with the shapes ({depth_mult})")
    rows = w.data.reshape(k_h * k_w, out_c).T  # [out_c][k_h * k_w]
    sp = spatial(ctx, k_h, k_w)
    common = {**{k: sp[k] for k in ("in_h", "in_w")}, "in_c": in_c,
              **{k: sp[k] for k in ("out_h", "out_w")}, "out_c": out_c, "depth_mult": depth_mult,
              **{k: sp[k] for k in ("k_h", "k_w", "stride_h", "stride_w", "dil_h", "dil_w", "pad_h", "pad_w")},
              **quant_fields(ctx)}
    pixels = sp["out_h"] * sp["out_w"]
    features = {"pixels": pixels, "outputs": pixels * out_c, "macs": pixels * out_c * k_h * k_w}
    bias, (mult, shift) = bias_values(ctx, 2, out_c), multipliers(ctx, w.scale, out_c)
    calls = reference_candidates(ctx, "smcu_depthwise_conv2d_s8", "smcu_depthwise_conv2d_ref_params_t", common, rows,
                                 bias, mult, shift, pixels, features)
    simd = simd_candidate(ctx, common, rows, bias, mult, shift, features)
    calls += sparse_candidates(ctx, common, rows, bias, mult, shift, features)
    return calls + ([simd] if simd is not None else [])
