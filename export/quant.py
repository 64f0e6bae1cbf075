"""Fixed-point parameters exactly as TFLite's int8 reference kernels derive them.

All requantisation constants are computed here, at export time, in double precision
from the float32 scales in the flatbuffer, the same way TFLite/TFLM do in Prepare().
"""
from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127

# TFLite ActivationFunctionType
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3
ACT_NAMES = {ACT_NONE: "NONE", ACT_RELU: "RELU", ACT_RELU_N1_TO_1: "RELU_N1_TO_1", ACT_RELU6: "RELU6"}


def round_half_away(x: float) -> int:
    """std::round / TfLiteRound: halves go away from zero (numpy's round goes to even)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real = q * 2^(shift - 31), q a Q31 in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q = round_half_away(fraction * (1 << 31))
    assert q <= (1 << 31)
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        shift, q = 0, 0
    return int(q), int(shift)


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplierSmallerThanOneExp (used by ADD): shift <= 0."""
    assert 0.0 < real < 1.0, real
    q, shift = quantize_multiplier(real)
    assert shift <= 0
    return q, shift


def per_channel_multipliers(input_scale: float, weight_scales: np.ndarray, output_scale: float,
                            channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel (multiplier, shift) for CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED.

    effective = double(input_scale) * double(weight_scale[c]) / double(output_scale); a per-tensor
    weight scale is broadcast to every channel (same result as TFLM's single multiplier).
    """
    ws = np.broadcast_to(np.asarray(weight_scales, dtype=np.float32), (channels,))
    mults, shifts = np.zeros(channels, np.int32), np.zeros(channels, np.int32)
    for c in range(channels):
        real = float(np.float32(input_scale)) * float(ws[c]) / float(np.float32(output_scale))
        mults[c], shifts[c] = quantize_multiplier(real)
    return mults, shifts


def activation_range(act: int, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for int8 (f / scale in float32, std::round)."""
    def q(f: float) -> int:
        return int(zero_point) + round_half_away(float(np.float32(f) / np.float32(scale)))

    if act == ACT_NONE:
        return INT8_MIN, INT8_MAX
    if act == ACT_RELU:
        return max(INT8_MIN, q(0.0)), INT8_MAX
    if act == ACT_RELU6:
        return max(INT8_MIN, q(0.0)), min(INT8_MAX, q(6.0))
    if act == ACT_RELU_N1_TO_1:
        return max(INT8_MIN, q(-1.0)), min(INT8_MAX, q(1.0))
    raise ValueError(f"unsupported fused activation {act}")


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 as TFLite's QUANTIZE does it: round(x / scale) half away from zero, + zp, clamp."""
    x = np.asarray(x, dtype=np.float32)
    scaled = x / np.float32(scale)
    rounded = np.where(scaled >= 0, np.floor(scaled + 0.5), -np.floor(-scaled + 0.5))
    return np.clip(rounded + zero_point, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


# ---- bit-exact Python models of the fixed-point primitives (used by tests of the C helpers) ----
def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    v = ab + nudge
    # C++ integer division truncates toward zero
    q = abs(v) // (1 << 31)
    return q if v >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x * (1 << left), multiplier), right)


def fused_requant_table(bias: np.ndarray, weight_rows: np.ndarray, input_offset: int, mult: np.ndarray,
                        shift: np.ndarray, output_offset: int) -> np.ndarray | None:
    """smcu_requant_t[channels] (firmware_templates/kernels/smcu_simd.h) as int32 [channels, 5], or None
    when a channel's requantisation is outside what the one-step form reproduces exactly (a
    multiplier >= 0.5, or a 64-bit intermediate that could overflow for some int8 input).

    bias' = bias + input_offset * sum(row): the input zero point folded in (int32 wrap-around, as the
    accumulator); round = 2^30 + 2^(30+e) + output_offset * 2^(31+e) for right shift e. A channel
    whose weights are all zero outputs a constant and is stored as one (multiplier 0).
    """
    rows = np.asarray(weight_rows, np.int64).reshape(len(mult), -1)
    table = []
    for c in range(len(mult)):
        b = int(bias[c]) + int(input_offset) * int(rows[c].sum())
        b = (b + 2**31) % 2**32 - 2**31
        m, e = int(mult[c]), -int(shift[c])
        if not rows[c].any():  # acc == bias: out = MBQM(bias) + offset, whatever the input
            const = multiply_by_quantized_multiplier(int(bias[c]), m, int(shift[c])) + int(output_offset)
            if not -2**31 <= const < 2**31:
                return None
            b, m, e, rnd = 0, 0, 1, (1 << 30) + (1 << 31) + (const << 32)
        else:
            if e < 1:
                return None
            rnd = (1 << 30) + (1 << (30 + e)) + int(output_offset) * (1 << (31 + e))
            acc_bound = abs(b) + 128 * int(np.abs(rows[c]).sum())  # |acc| for any int8 input
            if acc_bound >= 2**31 or acc_bound * m + abs(rnd) + 2**31 >= 2**63:
                return None
        table.append([b, m, _s32(rnd & 0xFFFFFFFF), rnd >> 32, e - 1])
    return np.asarray(table, np.int64).astype(np.int32)


def _s32(v: int) -> int:
    return v - 2**32 if v >= 2**31 else v
def fused_requant_reference(acc: int, row: np.ndarray) -> int:
    """What smcu_requant_fused computes for one table row (before the activation clamp)."""
    _, mult, lo, hi, sh = (int(v) for v in row)
    z = (hi << 32) + (lo & 0xFFFFFFFF) + acc * mult - ((1 << 31) if acc < 0 else 0)
    return (z >> 32) >> sh


def doubled_requant_table(bias: np.ndarray, rows: np.ndarray, input_offset: int, mult: np.ndarray,
                          shift: np.ndarray, output_offset: int) -> np.ndarray | None:
    """fused_requant_table then doubled_requant: the depthwise kernels' and the sparse conv's
    requantisation rows, or None where either form is not exact for some channel."""
    table = fused_requant_table(bias, rows, input_offset, mult, shift, output_offset)
    return None if table is None else doubled_requant(table, rows)


def doubled_requant(table: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """The fused requantisation table (export/quant.py fused_requant_table: bias', mult, round, rshift - 1)
    -> int32 [channels, 4] (bias2, mult, rh, e) for the doubled accumulator acc2 = 2 * acc:
    out = (SMMLAR(acc2, mult, rh) - (acc2 < 0)) >> e = floor((acc2 * mult + 2 * round) / 2^(32 + e)),
    2 * round = rh * 2^32 + 2^31 (smcu_smmlar in smcu_simd.h; the depthwise kernels and the sparse conv
    requantise this way). None where acc2 or SMMLAR's result could leave int32."""
    rows = np.asarray(rows, np.int64).reshape(len(table), -1)
    out = []
    for (b, m, lo, hi, sh), row in zip(np.asarray(table, np.int64), rows):
        r2 = ((int(hi) << 32) + (int(lo) & 0xFFFFFFFF)) * 2
        if r2 & 0xFFFFFFFF != 2**31:
            return None
        rh = r2 >> 32
        acc_bound = abs(int(b)) + 128 * int(np.abs(row).sum())  # |acc| for any int8 input
        if 2 * acc_bound >= 2**31 or acc_bound + abs(rh) + 2 >= 2**31:
            return None
        out.append([2 * int(b), int(m), rh, int(sh) + 1])
    return np.asarray(out, np.int64)


def smmlar_requant_table(bias: np.ndarray, weight_rows: np.ndarray, input_offset: int, mult: np.ndarray,
                         shift: np.ndarray, output_offset: int) -> np.ndarray | None:
    """int32 [channels, 4] (2 * bias', mult, round_hi, rshift): smcu_conv2d_s8_simd's requantisation of a
    doubled accumulator a2 = 2 * acc in one SMMLAR (smcu_requant_smmlar in smcu_simd.h), or None where a
    channel is outside what it reproduces exactly (the cases fused_requant_table declines, or |acc|
    possibly >= 2^30 so that 2 * acc could overflow int32).

    The one-step form of fused_requant_table, z = acc * m + round - 2^31 * (acc < 0) with
    round = 2^30 + 2^(30+e) + output_offset * 2^(31+e), doubled: 2z = a2 * m + 2^31 + 2^32 * (round_hi -
    (acc < 0)) with round_hi = 2^(e-1) + output_offset * 2^e (e >= 1), so
        floor(2z / 2^32) = SMMLAR(a2, m, round_hi + (a2 >> 31))        (exact: SMMLAR rounds by 2^31)
        out = floor(z / 2^(31+e)) = SMMLAR(...) >> e.
    The kernel gets a2 by doubled weights (int16 [-256, 254]) and the doubled bias' below. An all-zero
    channel is the constant MBQM(bias) + output_offset: (0, 0, constant, 0).
    """
    table = fused_requant_table(bias, weight_rows, input_offset, mult, shift, output_offset)
    if table is None:
        return None
    rows = np.asarray(weight_rows, np.int64).reshape(len(mult), -1)
    out = []
    for c in range(len(mult)):
        b, m, lo, hi, sh = (int(v) for v in table[c])
        if m == 0:  # constant channel: hi is the output
            if not -2**30 < hi < 2**30:
                return None
            out.append([0, 0, hi, 0])
            continue
        e = sh + 1
        round_hi = (1 << (e - 1)) + int(output_offset) * (1 << e)
        if abs(b) + 128 * int(np.abs(rows[c]).sum()) >= 2**30 or abs(round_hi) + 2 >= 2**30:
            return None
        out.append([2 * b, m, round_hi, e])
    return np.asarray(out, np.int64).astype(np.int32)


def smmlar_requant_reference(acc2: int, row: np.ndarray) -> int:
    """What smcu_requant_smmlar computes for one smmlar_requant_table row and a doubled accumulator
    (before saturation and the activation clamp)."""
    _, mult, round_hi, sh = (int(v) for v in row)
    t = round_hi + (-1 if acc2 < 0 else 0)
    v = ((t << 32) + acc2 * mult + (1 << 31)) >> 32
    assert -2**31 <= v < 2**31
    return v >> sh


# ---- ADD, variant "fast" (firmware_templates/kernels/smcu_add_s8_fast.c) ----------------------
# An elementwise int8 ADD's output depends only on the pair (input1, input2): 65536 cases, so every
# table the fast kernel uses is checked against TFLite's recipe on all of them before it is proposed.
ADD_FAST_FRAC_BITS = 12  # SMCU_ADD_FAST_FRAC_BITS in smcu_add_s8_fast.c
ADD_FAST_TABLE, ADD_FAST_EXACT = 0, 1  # smcu_add_fast_params_t.mode
_BIG = 1 << 60
_TABLE_BOUND = (1 << 30) - 1  # |table entry|: a sum of two never overflows int32


def srdhm_vec(a: np.ndarray, b: int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul on int64 arrays (|a * b| < 2^62; a == b == INT32_MIN excluded):
    (a * b + nudge) / 2^31 truncating equals floor((a * b + 2^30) / 2^31) for either sign."""
    return (np.asarray(a, np.int64) * int(b) + (1 << 30)) >> 31


def rdbpot_vec(x: np.ndarray, exponent: int) -> np.ndarray:
    """RoundingDivideByPOT on int64 arrays (ties away from zero)."""
    x = np.asarray(x, np.int64)
    mask = (1 << exponent) - 1
    return (x >> exponent) + ((x & mask) > ((mask >> 1) + (x < 0))).astype(np.int64)


def add_input_terms(offset: int, mult: int, shift: int, left_shift: int = 20) -> np.ndarray:
    """int64[256]: one ADD input's rescaled value (TFLite's scaled_input_val) for every int8 input,
    indexed by the input's byte (uint8) value."""
    x = np.arange(256, dtype=np.int64).astype(np.uint8).astype(np.int8).astype(np.int64)
    return rdbpot_vec(srdhm_vec((x + offset) << left_shift, mult), -shift)


def add_reference_outputs(p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(terms1, terms2, out[256, 256]): TFLite's int8 ADD for every input pair (by byte value),
    p = the smcu_add_params_t fields (export/ops/add.py)."""
    t1 = add_input_terms(p["input1_offset"], p["input1_mult"], p["input1_shift"], p["left_shift"])
    t2 = add_input_terms(p["input2_offset"], p["input2_mult"], p["input2_shift"], p["left_shift"])
    acc = t1[:, None] + t2[None, :]
    out = rdbpot_vec(srdhm_vec(acc, p["output_mult"]), -p["output_shift"]) + p["output_offset"]
    return t1, t2, np.clip(out, p["act_min"], p["act_max"])


def add_fast_simulate(params: dict, table1: np.ndarray, table2: np.ndarray) -> np.ndarray | None:
    """out[256, 256] as smcu_add_s8_fast computes it (None where an int32 step would overflow)."""
    a = np.asarray(table1, np.int64)[:, None] + np.asarray(table2, np.int64)[None, :]
    if np.abs(a).max() >= 2**31:
        return None
    if params["mode"] == ADD_FAST_TABLE:
        out = a >> ADD_FAST_FRAC_BITS
    else:  # SMMLAR(acc, mult, round), minus 1 for a negative accumulator, >> shift
        t = ((a * params["mult"] + (1 << 31)) >> 32) + params["round"] + (a >> 31)
        if np.abs(t).max() >= 2**31:
            return None
        out = t >> params["shift"]
    return np.clip(np.clip(out, INT8_MIN, INT8_MAX), params["act_min"], params["act_max"])


def _repair_pair_tables(a: np.ndarray, b: np.ndarray, ref: np.ndarray, act_min: int, act_max: int,
                        k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer tables with clamp(floor((a[i] + b[j]) / 2^k)) == ref[i, j] for every pair, |entries| <=
    _TABLE_BOUND, or None when there are none. The conditions are difference constraints on (a, -b);
    Bellman-Ford relaxation from the given tables converges to a solution when one exists (a negative
    cycle = none)."""
    o = ref.astype(np.int64)
    lo = np.where(o > act_min, o << k, -_BIG)  # a - B >= lo, B = -b
    hi = np.where(o < act_max, ((o + 1) << k) - 1, _BIG)  # a - B <= hi
    a, B, z = a.astype(np.int64), (-b).astype(np.int64), 0
    for _ in range(2 * (2 * 256 + 1)):
        na = np.minimum(np.minimum(a, (B[None, :] + hi).min(axis=1)), z + _TABLE_BOUND)
        nB = np.minimum(np.minimum(B, (na[:, None] - lo).min(axis=0)), z + _TABLE_BOUND)
        nz = min(z, int(na.min()) + _TABLE_BOUND, int(nB.min()) + _TABLE_BOUND)
        if nz == z and np.array_equal(na, a) and np.array_equal(nB, B):
            return a - z, -(B - z)
        a, B, z = na, nB, nz
    return None


def add_fast_tables(p: dict) -> dict | None:
    """The smcu_add_s8_fast parameters for an elementwise ADD with smcu_add_params_t fields p, or None.

    Mode ADD_FAST_TABLE: out = clamp(SSAT8((table1[x1] + table2[x2]) >> 12)): each input's term of
    TFLite's linear map scaled to the output in Q12, the constant (rounding, zero point) in table1,
    entries beyond what can still reach the output range clipped, then corrected pair by pair where
    TFLite's two roundings differ from one floor (difference constraints, solved exactly).
    Mode ADD_FAST_EXACT (where no such tables exist, e.g. exact ties rounded away from zero on both
    sides): table_i = 2 * scaled_input_i, and TFLite's output rescale in one SMMLAR:
      y = SaturatingRoundingDoublingHighMul(acc, m) = floor((2 acc m + 2^31) / 2^32)
      out = (y + 2^(e-1) + zp * 2^e - (acc < 0)) >> e   (= RoundingDivideByPOT(y, e) + zp)
    Either is proposed only when it reproduces all 65536 input pairs bit for bit.
    """
    t1, t2, ref = add_reference_outputs(p)
    act_min, act_max = int(p["act_min"]), int(p["act_max"])
    m, e, zo = int(p["output_mult"]), -int(p["output_shift"]), int(p["output_offset"])
    k = ADD_FAST_FRAC_BITS
    base = {"act_min": act_min, "act_max": act_max}
    # mode TABLE: floor of the exact linear map, then clipped, then repaired
    d = 1 << (32 + e)
    const = (1 << 31) + ((1 << (31 + e)) if e >= 1 else 0) + zo * d
    a = np.array([((2 * int(t) * m + const) << k) // d for t in t1], dtype=object)
    b = np.array([((2 * int(t) * m) << k) // d for t in t2], dtype=object)
    h_sat, l_sat = act_max << k, (act_min + 1) << k
    a = np.clip(a, l_sat - b.max() - 1, h_sat - b.min())
    b = np.clip(b, l_sat - a.max() - 1, h_sat - a.min())
    if max(abs(a.min()), a.max(), abs(b.min()), b.max()) <= _TABLE_BOUND:
        a, b = a.astype(np.int64), b.astype(np.int64)
        params = {"mode": ADD_FAST_TABLE, "mult": 0, "round": 0, "shift": k, **base}
        got = add_fast_simulate(params, a, b)
        if got is None or not np.array_equal(got, ref):
            fixed = _repair_pair_tables(a, b, ref, act_min, act_max, k)
            a, b = fixed if fixed is not None else (None, None)
        if a is not None and np.array_equal(add_fast_simulate(params, a, b), ref):
            return {**params, "table1": a.astype(np.int32), "table2": b.astype(np.int32)}
    # mode EXACT
    if not 1 <= e <= 31:
        return None
    params = {"mode": ADD_FAST_EXACT, "mult": m, "round": (1 << (e - 1)) + zo * (1 << e), "shift": e, **base}
    if not -2**30 < params["round"] < 2**30:  # round * 2^32 + acc * m stays within int64 (portable C path)
        return None
    got = add_fast_simulate(params, 2 * t1, 2 * t2)
    if got is None or not np.array_equal(got, ref):
        return None
    return {**params, "table1": (2 * t1).astype(np.int32), "table2": (2 * t2).astype(np.int32)}
