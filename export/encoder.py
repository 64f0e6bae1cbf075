"""Weight encoding: per layer, the smaller of dense int8 and run-length sparse, by exact bytes.

Weights are handed over as rows, one per output channel, in the order the kernel walks
them (conv: ky, kx, ic; depthwise: ky, kx; fully connected: ic).

Run-length format ("rle"): the rows laid end to end, as one stream of entries
    skip[e]   uint8  zeros skipped before entry e
    value[e]  int8   the weight at that position
Walking the stream: pos = 0; for each entry: pos += skip; weight[pos] = value; pos += 1,
where pos runs over the whole layer, so a kernel completes a row (an output channel) each
time pos crosses a row end: no per-row counts. A gap of more than 255 zeros is bridged by
escape entries (skip 255, value 0), which the kernel multiplies like any other weight (a
zero adds nothing). Bytes = 2 * entries; the entry count is a kernel parameter.
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
    fields: dict[str, int | str]  # kernel parameter fields: weights, rle_entries, rle_skip
    nbytes: int
    dense_nbytes: int
    nonzeros: int
    entries: int  # what a kernel iterates (dense: every weight; rle: entries incl. escapes)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzeros / self.dense_nbytes if self.dense_nbytes else 0.0


def rle_encode(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encode int8 rows -> (skip uint8[entries], value int8[entries]) over the flattened rows."""
    flat = np.ascontiguousarray(rows, dtype=np.int8).reshape(-1)
    nz = np.flatnonzero(flat)
    gaps = np.diff(np.concatenate(([-1], nz))) - 1
    skips, values = [], []
    for gap, idx in zip(gaps.tolist(), nz.tolist()):
        while gap > MAX_SKIP:
            skips.append(MAX_SKIP)
            values.append(0)
            gap -= MAX_SKIP + 1
        skips.append(gap)
        values.append(int(flat[idx]))
    return np.asarray(skips, np.uint8), np.asarray(values, np.int8)


def rle_decode(skips: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    flat = np.zeros(int(np.prod(shape)), np.int8)
    pos = 0
    for skip, value in zip(skips.tolist(), values.tolist()):
        pos += skip
        flat[pos] = value
        pos += 1
    return flat.reshape(shape)


def rle_entries(rows: np.ndarray) -> int:
    nz = np.flatnonzero(np.asarray(rows).reshape(-1))
    gaps = np.diff(np.concatenate(([-1], nz))) - 1
    return int(len(nz) + np.sum(gaps // (MAX_SKIP + 1)))


def rle_nbytes(rows: np.ndarray) -> int:
    """Exact rle byte count without building the arrays."""
    return 2 * rle_entries(rows)


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
        return EncodedWeights("dense", [arr], {"weights": arr.name, "rle_entries": 0, "rle_skip": "NULL"},
                              dense_nbytes, dense_nbytes, nonzeros, dense_nbytes)
    if choice == "rle":
        skips, values = rle_encode(rows)
        if len(values) == 0:  # C forbids empty arrays: one (never read) dummy entry, counted
            consts = [ConstArray(f"{prefix}_weights", np.zeros(1, np.int8)),
                      ConstArray(f"{prefix}_rle_skip", np.zeros(1, np.uint8))]
        else:
            consts = [ConstArray(f"{prefix}_weights", values), ConstArray(f"{prefix}_rle_skip", skips)]
        return EncodedWeights("rle", consts, {"weights": consts[0].name, "rle_entries": int(len(values)),
                                              "rle_skip": consts[1].name},
                              sum(c.nbytes for c in consts), dense_nbytes, nonzeros, int(len(values)))
    raise ValueError(f"unknown weight encoding {force!r}; choose from {FORMATS}")
