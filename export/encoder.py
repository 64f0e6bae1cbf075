"""Weight encoding: per layer, the smaller of dense int8 and run-length sparse, by exact bytes.

Weights are handed over as rows, one per output channel, in the order the kernel walks
them (conv: ky, kx, ic; depthwise: ky, kx; fully connected: ic).

Run-length format ("rle"), per row:
    count[row]  uint16  number of entries in the row
    skip[e]     uint8   zeros skipped before entry e
    value[e]    int8    the weight at that position
Walking a row: pos = 0; for each entry: pos += skip; weight[pos] = value; pos += 1.
A gap of more than 255 zeros is bridged by escape entries (skip 255, value 0), which the
kernel multiplies like any other weight (a zero adds nothing). Bytes = 2 * rows + 2 * entries.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ops.base import ConstArray

FORMATS = ("dense", "rle")
MAX_SKIP = 255


@dataclass
class EncodedWeights:
    format: str
    consts: list[ConstArray]
    fields: dict[str, str]  # kernel parameter fields: weights, rle_count, rle_skip
    nbytes: int
    dense_nbytes: int
    nonzeros: int
    entries: int  # what a kernel iterates (dense: every weight; rle: entries incl. escapes)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzeros / self.dense_nbytes if self.dense_nbytes else 0.0


def rle_encode(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode int8 rows -> (count uint16[rows], skip uint8[entries], value int8[entries])."""
    counts, skips, values = [], [], []
    for row in rows:
        n = 0
        pos = 0
        for idx in np.flatnonzero(row):
            gap = int(idx) - pos
            while gap > MAX_SKIP:
                skips.append(MAX_SKIP)
                values.append(0)
                n += 1
                gap -= MAX_SKIP + 1
            skips.append(gap)
            values.append(int(row[idx]))
            n += 1
            pos = int(idx) + 1
        if n > 0xFFFF:
            raise ValueError("row too long for a uint16 entry count")
        counts.append(n)
    return (np.asarray(counts, np.uint16), np.asarray(skips, np.uint8), np.asarray(values, np.int8))


def rle_decode(counts: np.ndarray, skips: np.ndarray, values: np.ndarray, row_length: int) -> np.ndarray:
    rows = np.zeros((len(counts), row_length), np.int8)
    e = 0
    for r, n in enumerate(counts):
        pos = 0
        for _ in range(int(n)):
            pos += int(skips[e])
            rows[r, pos] = values[e]
            pos += 1
            e += 1
    return rows


def rle_nbytes(rows: np.ndarray) -> int:
    """Exact rle byte count without building the arrays (the search calls this often)."""
    total_entries = 0
    for row in rows:
        nz = np.flatnonzero(row)
        if len(nz) == 0:
            continue
        gaps = np.diff(np.concatenate(([-1], nz))) - 1
        total_entries += len(nz) + int(np.sum(gaps // (MAX_SKIP + 1)))
    return 2 * len(rows) + 2 * total_entries


def encode(prefix: str, rows: np.ndarray, force: str | None = None) -> EncodedWeights:
    """Encode `rows` (int8, shape [channels, row_length]) in the smallest format (or `force`)."""
    rows = np.ascontiguousarray(rows, dtype=np.int8)
    assert rows.ndim == 2
    dense_nbytes = int(rows.size)
    nonzeros = int(np.count_nonzero(rows))
    choice = force
    if choice is None:
        choice = "rle" if rle_nbytes(rows) < dense_nbytes else "dense"
    if choice == "dense":
        arr = ConstArray(f"{prefix}_weights", rows.reshape(-1))
        return EncodedWeights("dense", [arr], {"weights": arr.name, "rle_count": "NULL", "rle_skip": "NULL"},
                              dense_nbytes, dense_nbytes, nonzeros, dense_nbytes)
    if choice == "rle":
        counts, skips, values = rle_encode(rows)
        consts = [ConstArray(f"{prefix}_weights", values), ConstArray(f"{prefix}_rle_count", counts),
                  ConstArray(f"{prefix}_rle_skip", skips)]
        if len(values) == 0:  # C forbids empty arrays: keep one dummy byte each, counted
            consts = [ConstArray(f"{prefix}_weights", np.zeros(1, np.int8)),
                      ConstArray(f"{prefix}_rle_count", counts),
                      ConstArray(f"{prefix}_rle_skip", np.zeros(1, np.uint8))]
        nbytes = sum(c.nbytes for c in consts)
        return EncodedWeights("rle", consts, {"weights": consts[0].name, "rle_count": consts[1].name,
                                              "rle_skip": consts[2].name},
                              nbytes, dense_nbytes, nonzeros, int(len(values)))
    raise ValueError(f"unknown weight encoding {force!r}; choose from {FORMATS}")
