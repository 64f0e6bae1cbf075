"""Exact hypervolume of a small point set (minimisation), by slicing along the first objective."""
from __future__ import annotations

import numpy as np


def pareto_mask(Y: np.ndarray) -> np.ndarray:
    """Non-dominated rows of Y (all objectives minimised)."""
    Y = np.asarray(Y, float)
    keep = np.ones(len(Y), bool)
    for i in range(len(Y)):
        dom = np.all(Y <= Y[i], axis=1) & np.any(Y < Y[i], axis=1)
        if dom.any():
            keep[i] = False
    return keep


def hypervolume(points, ref) -> float:
    """Volume dominated by `points` and bounded by `ref` (points not strictly better than ref on
    every axis contribute nothing)."""
    pts = np.asarray(points, float).reshape(-1, len(ref))
    ref = np.asarray(ref, float)
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    return float(_hv(pts[pareto_mask(pts)], ref))


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    if pts.shape[1] == 1:
        return float(ref[0] - pts[:, 0].min())
    order = np.argsort(pts[:, 0])
    pts = pts[order]
    total = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, 0] if i + 1 < len(pts) else ref[0]
        width = upper - pts[i, 0]
        if width <= 0:
            continue
        sl = pts[: i + 1, 1:]
        total += width * _hv(sl[pareto_mask(sl)], ref[1:])
    return total
