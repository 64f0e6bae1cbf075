"""How far a kernel's output may overlap its input: what the memory planner may exploit.

A kernel that walks its output pixels in raster order (NHWC) and, for pixel p, reads only input
at or after the first byte p's window touches, may write its output over input it has already
consumed: output byte offsets up to `lag` past the input's start are safe, where

    lag = min over pixels p of (first input byte read for p) - (end of p's output bytes).

Every output byte written by the time the kernel reads for pixel p lies below `input + first(p)`
when `output <= input + lag`. A negative lag means the output must start that many bytes before
the input (a 3x3 convolution: about one row plus a pixel); a pointwise kernel of equal sizes has
lag 0 (fully in place). The planner allows this overlap only where the call is the input's last
reader and the output's writer (export/planner.py), and its checker proves every plan against it.

Which kernels walk this way is a fact of each kernel's C code, recorded here per kernel name:
- "window": pixel-major, each pixel reads its own window (and later pixels' windows only after);
- "rows": pixel-major, but reads whole input rows of the window (row caches, e.g. the depthwise
  SIMD kernel's ring of expanded rows): first(p) is the start of the window's first row;
- "row_cache": per output row, every window row not yet cached is copied (expanded) into a ring of
  `fields["ring"]` row slots in scratch (a row r in slot r % ring) before any of the row's output is
  written, and the input is never read otherwise: after output row oy is written only the rows the
  next output rows bring in are read, so the output may run ahead of its input (a 3x3 stride-1
  depthwise convolution works fully in place);
- "elementwise": element i of the output is written after element i (and everything before it)
  of the input was read, and nothing below i is read again;
- absent: no overlap (channel-major kernels, kernels that revisit their input, new kernels until
  their order is checked and recorded here).
"""
from __future__ import annotations

TRAVERSAL = {
    "smcu_conv2d_s8_dense": "window",
    "smcu_conv2d_s8_rle": "window",
    "smcu_conv2d_s8_simd": "window",  # pairs of pixels: both windows read (im2col) before either is written
    "smcu_conv2d_s8_sparse": "window",  # groups of 4 pixels: im2col of the group, then its writes
    "smcu_depthwise_conv2d_s8_dense": "window",
    "smcu_depthwise_conv2d_s8_rle": "window",
    "smcu_depthwise_conv2d_s8_simd": "row_cache",
    "smcu_max_pool2d_s8_generic": "window",
    "smcu_avg_pool2d_s8_generic": "window",
    "smcu_max_pool2d_s8_fast": "window",
    "smcu_avg_pool2d_s8_fast": "window",
    "smcu_add_s8_elementwise": "elementwise",
    "smcu_add_s8_fast": "elementwise",  # word by word: a word's inputs are read before it is written
    "smcu_requantize_s8_generic": "elementwise",
}


def _spatial(fields: dict) -> dict:
    c = fields.get("c")
    return c if isinstance(c, dict) else fields


def window_lag(f: dict, rows: bool = False) -> int:
    """The lag (bytes) of a raster kernel over an NHWC input and output (conv, depthwise, pool)."""
    in_w = f["in_w"]
    in_c = f.get("in_c", f.get("channels"))
    out_c = f.get("out_c", f.get("channels"))
    out_h, out_w = f["out_h"], f["out_w"]
    s_h, s_w = f.get("stride_h", 1), f.get("stride_w", 1)
    p_h, p_w = f.get("pad_h", 0), f.get("pad_w", 0)
    lag = None
    for oy in range(out_h):
        y0 = max(oy * s_h - p_h, 0)
        for ox in range(out_w):
            x0 = 0 if rows else max(ox * s_w - p_w, 0)
            first = (y0 * in_w + min(x0, in_w - 1)) * in_c
            end = (oy * out_w + ox + 1) * out_c
            lag = first - end if lag is None else min(lag, first - end)
    return lag if lag is not None else 0


def row_cache_lag(f: dict, ring: int) -> int:
    """The lag of a "row_cache" kernel: the C loop's slot bookkeeping replayed row by row."""
    s_h, p_h, d_h, k_h = f.get("stride_h", 1), f.get("pad_h", 0), f.get("dil_h", 1), f["k_h"]
    in_h, row_in = f["in_h"], f["in_w"] * f.get("in_c", f.get("channels"))
    row_out = f["out_w"] * f.get("out_c", f.get("channels"))
    tags: list = [None] * ring  # None: the slot holds an all-zero-point row (outside the image)
    first_read = []  # per output row: the lowest input row expanded for it, or None
    for oy in range(f["out_h"]):
        low = None
        for ky in range(k_h):
            a = oy * s_h - p_h + ky * d_h
            tag = a if 0 <= a < in_h else None
            if tags[a % ring] != tag:
                tags[a % ring] = tag
                if tag is not None:
                    low = a if low is None else min(low, a)
        first_read.append(low)
    lag, later = None, None
    for oy in range(f["out_h"] - 1, -1, -1):  # `later`: the lowest row read after output row oy is written
        if later is not None:
            gap = later * row_in - (oy + 1) * row_out
            lag = gap if lag is None else min(lag, gap)
        if first_read[oy] is not None:
            later = first_read[oy] if later is None else min(later, first_read[oy])
    return lag if lag is not None else 0


def stream_lag(call) -> int:
    """The lag of two streamed convolutions (+ ADD): output row r is written once every read for it
    is done; what is read afterwards from input 0 is the first convolution's next rows, the ADD's
    next row where its other operand is input 0 too (an identity shortcut), and the streamed
    shortcut convolution's next window."""
    from .fuse import stream_rows
    s, p, c = call.stream, _spatial(call.fields), _spatial(call.stream["second"].fields)
    row_in, row_out = s["x_row_bytes"], s["z_row_bytes"]
    reads = {r: first for r, first in stream_rows(s, p["stride_h"], p["pad_h"], c["stride_h"], c["pad_h"])}
    lag = None
    for r in range(s["out_h"]):
        later = [reads[q] * row_in for q in range(r + 1, s["out_h"]) if reads[q] is not None]
        if s["add"] is not None and s["skip_index"] == 0 and r + 1 < s["out_h"]:
            later.append((r + 1) * row_out)
        if s["shortcut"] is not None and r + 1 < s["out_h"]:  # its next row's window
            sc = _spatial(s["shortcut"].fields)
            later.append(max((r + 1) * sc["stride_h"] - sc["pad_h"], 0) * row_in)
        if not later:
            continue
        gap = min(later) - (r + 1) * row_out
        lag = gap if lag is None else min(lag, gap)
    return lag if lag is not None else 0


def output_lag(call, input_index: int, sizes: dict[int, int]) -> int | None:
    """The bytes call's output may start past its input `input_index`'s start, or None (no overlap)."""
    kind = TRAVERSAL.get(call.kernel or "")
    if kind is None:
        return None
    if kind == "elementwise":
        t = call.inputs[input_index]
        return 0 if sizes.get(t) == sizes.get(call.output) else None
    if input_index != 0:
        return None
    if call.stream:
        return stream_lag(call) if input_index == 0 else None
    if call.band:  # conv + pool fused: all of a band's reads happen before its pooled row is written
        c, p = _spatial(call.fields), call.band["pool"].fields
        composite = {**c, "out_h": call.band["pooled_rows"], "out_w": p["out_w"], "out_c": p["channels"],
                     "stride_h": call.band["row_step"], "stride_w": c["stride_w"] * p["stride_w"]}
        return window_lag(composite, rows=True)
    if kind == "row_cache":
        ring = call.fields.get("ring")
        if isinstance(ring, int) and ring >= 1:
            return row_cache_lag(_spatial(call.fields), ring)
        kind = "rows"
    return window_lag(_spatial(call.fields), rows=kind == "rows")
