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
