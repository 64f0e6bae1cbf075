"""Offline weight re-layouts for the SIMD kernel variants (what an interpreter would repack at
run time, done once at export).

SXTB16 splits an input word (x0, x1, x2, x3) into the int16 pairs (x0, x2) and (x1, x3), so a group
of 4 weights is stored as the words (w0 | w2 << 16) and (w1 | w3 << 16): SMLAD then multiplies
matching lanes. Rows are zero-padded to a multiple of 4.
"""
from __future__ import annotations

import numpy as np


def padded_length(k: int, multiple: int = 4) -> int:
    return (k + multiple - 1) // multiple * multiple


def sxtb16_words(rows: np.ndarray) -> np.ndarray:
    """int8 [channels, k] -> int32 [channels, k_pad / 2]: two words per group of 4 weights."""
    rows = np.asarray(rows, np.int8)
    ch, k = rows.shape
    padded = np.zeros((ch, padded_length(k)), np.int64)
    padded[:, :k] = rows
    g = padded.reshape(ch, -1, 4)
    lo = np.stack([g[..., 0], g[..., 1]], axis=-1)  # lane 0 of word 0 / word 1
    hi = np.stack([g[..., 2], g[..., 3]], axis=-1)  # lane 1
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
    words = np.where(words >= 2**31, words - 2**32, words)
    return words.reshape(ch, -1).astype(np.int32)


def interleave_channel_pairs(words: np.ndarray, group_words: int = 2) -> np.ndarray:
    """[channels, n] -> flat: channels 2j and 2j+1 alternate `group_words` words at a time; an odd
    last channel follows alone (the order smcu_conv2d_s8_simd walks them)."""
    ch, n = words.shape
    pairs = ch // 2
    out = [words[:2 * pairs].reshape(pairs, 2, n // group_words, group_words).transpose(0, 2, 1, 3).reshape(-1)]
    if ch % 2:
        out.append(words[-1])
    return np.concatenate(out).astype(np.int32)
