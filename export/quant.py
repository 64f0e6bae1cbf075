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
