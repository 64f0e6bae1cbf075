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


def conv_simd_stream(rows: np.ndarray, table: np.ndarray) -> np.ndarray:
    """smcu_conv2d_s8_simd's one int32 stream (firmware_templates/kernels/smcu_conv2d.h): doubled weights
    as int16 pairs in SXTB16 lane order, with the requantisation (export/quant.py smmlar_requant_table
    rows: 2 * bias', mult, round_hi, shift) where the kernel reaches it. Per pair of channels (c, d):
        2b_c, 2b_c, 2b_d, 2b_d,   then per group g of 4 taps: c's two words, d's two words,
        m_c, round_hi_c, shift_c, m_d, round_hi_d, shift_d      (4 + 4 * groups + 6 words)
    and an odd last channel: 2b, its words (2 per group), m, round_hi, shift."""
    rows = np.asarray(rows, np.int64) * 2
    table = np.asarray(table, np.int64)
    ch, k = rows.shape
    padded = np.zeros((ch, padded_length(k)), np.int64)
    padded[:, :k] = rows
    g = padded.reshape(ch, -1, 4)
    words = np.stack([(g[..., 0] & 0xFFFF) | ((g[..., 2] & 0xFFFF) << 16),
                      (g[..., 1] & 0xFFFF) | ((g[..., 3] & 0xFFFF) << 16)], axis=-1)  # [ch, groups, 2]
    out = []
    for c in range(0, ch - 1, 2):
        b0, b1 = table[c, 0], table[c + 1, 0]
        out += [np.array([b0, b0, b1, b1]), np.stack([words[c], words[c + 1]], axis=1).reshape(-1),
                table[c, 1:], table[c + 1, 1:]]
    if ch % 2:
        out += [table[-1, :1], words[-1].reshape(-1), table[-1, 1:]]
    s = np.concatenate(out)
    return np.where(s >= 2**31, s - 2**32, s).astype(np.int32)



def fc_simd_stream(rows: np.ndarray, table: np.ndarray) -> np.ndarray:
    """smcu_fully_connected_s8_simd's one int32 stream (firmware_templates/kernels/smcu_fully_connected.h):
    doubled weights as int16 pairs in SXTB16 lane order, in_features zero-padded to G groups of 4, with
    the requantisation (export/quant.py smmlar_requant_table rows: 2 * bias', mult, round_hi, shift).
    Per quad of outputs (o0..o3):
        2b_o0, 2b_o1, 2b_o2, 2b_o3,   then per group g: each output's two words (o0's, o1's, o2's, o3's),
        m, round_hi, shift of o0, o1, o2, o3                    (4 + 8 * G + 12 words)
    then each of the last out_features % 4 outputs alone: 2b, its two words per group, m, round_hi, shift."""
    rows = np.asarray(rows, np.int64) * 2
    table = np.asarray(table, np.int64)
    out_f, k = rows.shape
    padded = np.zeros((out_f, padded_length(k)), np.int64)
    padded[:, :k] = rows
    g = padded.reshape(out_f, -1, 4)
    words = np.stack([(g[..., 0] & 0xFFFF) | ((g[..., 2] & 0xFFFF) << 16),
                      (g[..., 1] & 0xFFFF) | ((g[..., 3] & 0xFFFF) << 16)], axis=-1)  # [out_f, G, 2]
    out = []
    quads = out_f // 4 * 4
    for o in range(0, quads, 4):
        out += [table[o:o + 4, 0], words[o:o + 4].transpose(1, 0, 2).reshape(-1), table[o:o + 4, 1:].reshape(-1)]
    for o in range(quads, out_f):
        out += [table[o, :1], words[o].reshape(-1), table[o, 1:]]
    s = np.concatenate(out) if out else np.zeros(0, np.int64)
    return np.where(s >= 2**31, s - 2**32, s).astype(np.int32)

# ---- zero-skipping sparse CONV_2D (firmware_templates/kernels/smcu_conv2d_s8_sparse.c) ----
SPARSE_PIXELS = 4  # output pixels per im2col column
SPARSE_TAP_BYTES = 8  # one tap of the column: the words (p0 | p1 << 16), (p2 | p3 << 16)
SPARSE_MAX_OFFSET = 0xFFFF  # the entry's 16-bit offset field


def sparse_max_taps(unit_bytes: int = SPARSE_TAP_BYTES) -> int:
    """Largest K whose every offset (unit_bytes per position) fits the 16-bit field of an entry
    (conv taps: 8192; fully connected input indices, unit 1: 65536)."""
    return SPARSE_MAX_OFFSET // unit_bytes + 1


def sparse_column_bytes(k: int) -> int:
    """Bytes of the sparse kernel's im2col column (K rounded up to a multiple of 4 taps)."""
    return SPARSE_TAP_BYTES * padded_length(k)


def _sparse_words(rows: np.ndarray, unit_bytes: int) -> np.ndarray | None:
    """Per row its count n, then per non-zero weight (weight << 16) | (unit_bytes * position)."""
    rows = np.asarray(rows, np.int8)
    ch, k = rows.shape
    if k > sparse_max_taps(unit_bytes):
        return None
    out = []
    for r in rows.astype(np.int64):
        pos = np.flatnonzero(r)
        out.append(np.concatenate(([len(pos)], (r[pos] << 16) + pos * unit_bytes)))
    flat = np.concatenate(out) if out else np.zeros(1, np.int64)
    return ((flat + 2**31) % 2**32 - 2**31).astype(np.int32)


def sparse_tap_entries(rows: np.ndarray) -> np.ndarray | None:
    """int8 [channels, k] -> the int32 stream smcu_conv2d_s8_sparse walks: per channel its count n,
    then one word per non-zero weight in tap order, (weight << 16) | (8 * tap): the int16 weight in
    the top lane, the byte offset of the tap in the column in the low 16 bits. None when an offset
    does not fit (K > sparse_max_taps())."""
    return _sparse_words(rows, SPARSE_TAP_BYTES)


def sparse_conv_stream(rows: np.ndarray, requant: np.ndarray) -> np.ndarray | None:
    """int8 [channels, k] and the one-step requantisation of the doubled accumulator per channel
    (int [channels, 4]: bias2, mult, rh, e; export/quant.py doubled_requant) ->
    the int32 stream smcu_conv2d_s8_sparse walks: per channel bias2, its count n, one word per non-zero
    weight in tap order, (2 * weight << 16) | (8 * tap), then mult, rh, e. None when an offset does not
    fit (K > sparse_max_taps())."""
    rows = np.asarray(rows, np.int64)
    if rows.shape[1] > sparse_max_taps():
        return None
    out = []
    for r, (b2, m, rh, e) in zip(rows, np.asarray(requant, np.int64)):
        pos = np.flatnonzero(r)
        out.append(np.concatenate(([b2, len(pos)], (2 * r[pos] << 16) + pos * SPARSE_TAP_BYTES, [m, rh, e])))
    flat = np.concatenate(out) if out else np.zeros(1, np.int64)
    return ((flat + 2**31) % 2**32 - 2**31).astype(np.int32)


def sparse_index_entries(rows: np.ndarray) -> np.ndarray | None:
    """int8 [out_features, in_features] -> the stream smcu_fully_connected_s8_sparse walks: per output
    its count n, then (weight << 16) | input index per non-zero weight. None for in_features > 65536."""
    return _sparse_words(rows, 1)


def sparse_decode(stream: np.ndarray, channels: int, k: int, unit_bytes: int = SPARSE_TAP_BYTES) -> np.ndarray:
    """Inverse of sparse_tap_entries (unit 8) / sparse_index_entries (unit 1), for tests: int8 [channels, k]."""
    rows = np.zeros((channels, k), np.int8)
    s = np.asarray(stream, np.int64)
    pos = 0
    for c in range(channels):
        n = int(s[pos])
        for e in s[pos + 1:pos + 1 + n]:
            rows[c, (int(e) & 0xFFFF) // unit_bytes] = int(e) >> 16
        pos += 1 + n
    return rows
# ---- end of the sparse CONV_2D section ----

