"""Hand-written stand-in models (model.h/model.c with the generated-model API) for tests of the
firmware, the protocol and the fault handling, independent of the exporter.

`kind`:
  ok     output[i] = int8(sum of input[j] for j % OUT == i) (wrapping), see `reference`
  trap   model_invoke() executes an undefined instruction (__builtin_trap): HardFault / SIGILL
  reset  model_invoke() resets the board (Arm: AIRCR.SYSRESETREQ; host: re-exec itself)
  hang   model_invoke() never returns
  big    a 2 MB arena: does not fit any microcontroller board
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

IN_BYTES, OUT_BYTES = 64, 10
IN_SCALE, OUT_SCALE = 1 / 255, 1 / 256
_HASH = {k: "00112233445566" + v for k, v in {"ok": "77", "trap": "88", "reset": "99", "hang": "aa", "big": "bb"}.items()}

_BODY = {
    "ok": "",
    "trap": "  if (arena[0] != 0x7f) __builtin_trap();\n",
    "reset": """#if defined(__arm__)
  *(volatile uint32_t *)0xE000ED0Cu = 0x05FA0004u; /* AIRCR: SYSRESETREQ */
  for (;;) {}
#else
  { char *argv[] = {(char *)"firmware", 0};
    execv("/proc/self/exe", argv); }
#endif
""",
    "hang": "  for (;;) { __asm__ volatile(\"\"); }\n",
    "big": "",
}


def write_dummy_model(out_dir: str | Path, kind: str = "ok") -> Path:
    out = Path(out_dir)
    src = out / "src"
    src.mkdir(parents=True, exist_ok=True)
    arena = 2 * 1024 * 1024 if kind == "big" else 128
    (src / "model.h").write_text(f"""/* dummy model ({kind}) for firmware tests */
#ifndef MODEL_H
#define MODEL_H
#include <stdint.h>
#define MODEL_NAME "dummy_{kind}"
#define MODEL_HASH "{_HASH[kind]}"
#define MODEL_INPUT_BYTES {IN_BYTES}
#define MODEL_OUTPUT_BYTES {OUT_BYTES}
#define MODEL_ARENA_BYTES {arena}
#define MODEL_INPUT_SCALE {IN_SCALE!r}f
#define MODEL_INPUT_ZERO_POINT (-128)
#define MODEL_OUTPUT_SCALE {OUT_SCALE!r}f
#define MODEL_OUTPUT_ZERO_POINT (-128)
int8_t *model_input(void);
int8_t *model_output(void);
void model_invoke(void);
#endif
""")
    (src / "model.c").write_text(f"""/* dummy model ({kind}) */
#if !defined(__arm__)
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>
#endif
#include "model.h"

static int8_t arena[MODEL_ARENA_BYTES];

int8_t *model_input(void) {{ return arena; }}
int8_t *model_output(void) {{ return arena + MODEL_INPUT_BYTES; }}

void model_invoke(void) {{
  int32_t acc[MODEL_OUTPUT_BYTES] = {{0}};
  int32_t i;
{_BODY[kind]}  for (i = 0; i < MODEL_INPUT_BYTES; i++) acc[i % MODEL_OUTPUT_BYTES] += arena[i];
  for (i = 0; i < MODEL_OUTPUT_BYTES; i++) arena[MODEL_INPUT_BYTES + i] = (int8_t)(uint8_t)(acc[i] & 0xff);
}}
""")
    # the export report's fields the host reads (sparsemcu.board_test.reference.read_model_meta)
    (out / "report.json").write_text(json.dumps({
        "model": f"dummy_{kind}", "model_hash": _HASH[kind], "flash_bytes": 0, "arena_bytes": arena, "dummy": kind,
        "input": {"shape": [1, IN_BYTES], "dtype": "int8", "scale": IN_SCALE, "zero_point": -128},
        "output": {"shape": [1, OUT_BYTES], "dtype": "int8", "scale": OUT_SCALE, "zero_point": -128}}))
    return out


def reference(x: np.ndarray) -> np.ndarray:
    """What the `ok` dummy computes, for int8 inputs of shape (IN_BYTES,)."""
    x = np.asarray(x, np.int8).reshape(-1).astype(np.int32)
    acc = np.zeros(OUT_BYTES, np.int32)
    for i, v in enumerate(x):
        acc[i % OUT_BYTES] += v
    return (acc & 0xFF).astype(np.uint8).view(np.int8)
