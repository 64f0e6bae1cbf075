"""The memory optimisations on the emulated cores: one model whose plan uses all of them (a PAD
folded into a VALID convolution, a conv + max-pool fused band by band, outputs written over the
inputs they consume, a residual block whose shortcut the order search moves first, and with
fusion forced, convolutions + ADD streamed row by row), exported for speed and for size, run on
the Cortex-M7 and M4 and checked bit-exactly against TFLM."""
import pytest

from harness import to_int8_tflite
from sparsemcu.board_test import ci
from sparsemcu.deploy import deploy
from sparsemcu.export.pipeline import Options, export_model, lower
from sparsemcu.tf import keras

BOARDS = ["qemu_mps2_an500", "qemu_mps2_an386"]
EXPORTS = {"speed": Options(optimize="speed"), "size": Options(optimize="size"),
           "fused": Options(optimize="speed", fusion="always"), "unfused": Options(optimize="speed", fusion="never")}


def _model():
    k = keras()
    L = k.layers
    x_in = L.Input((16, 16, 3))
    x = L.ZeroPadding2D(1)(x_in)
    x = L.Conv2D(16, 3, padding="valid", activation="relu")(x)
    x = L.MaxPool2D(2)(x)  # 8x8x16
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)  # the block input, 8x8x32 = 2 KB
    y = L.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)  # 4x4x64, then its 3x3 conv's
    y = L.Conv2D(24, 3, padding="same")(y)  # im2col: x had better be dead by then
    s = L.Conv2D(24, 1, strides=2)(x)  # the shortcut, after the main branch in TFLite order
    x = L.ReLU()(L.Add()([y, s]))
    x = L.GlobalAveragePooling2D()(x)
    return k.Model(x_in, L.Dense(5)(x))


@pytest.fixture(scope="module")
def tflite_bytes():
    return to_int8_tflite(_model(), seed=11)


@pytest.mark.parametrize("export", list(EXPORTS))
def test_plan_uses_every_optimisation(tflite_bytes, export):
    m = lower(tflite_bytes, EXPORTS[export])
    ops = [c.op for c in m.calls]
    assert "PAD" not in ops and (export == "unfused" or any(c.band for c in m.calls)), ops
    assert m.plan.overlap_used and m.plan.optimal
    assert m.plan.arena_bytes < m.plan_without_overlaps().arena_bytes
    if export == "fused":
        assert any(c.stream and c.stream["add"] for c in m.calls), ops
    if export == "unfused":  # the residual block as separate calls: the shortcut runs first,
        # whichever order the converter wrote the two branches in (it varies between runs)
        block_in = m.calls[2].output
        branches = [i for i, c in enumerate(m.calls) if c.op == "CONV_2D" and block_in in c.inputs]
        shortcut = min(branches, key=lambda i: m.calls[i].macs)
        assert len(branches) == 2 and shortcut == branches[0], [c.node for c in m.calls]


@pytest.mark.hil
@ci.needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("export", list(EXPORTS))
def test_optimised_plan_bit_exact_on_the_emulated_cores(tflite_bytes, board, export, tmp_path):
    d = tmp_path / export
    export_model(tflite_bytes, d, name=f"memory_{export}", options=EXPORTS[export])
    run = deploy(d, board, limit=8, progress=False)
    assert run["bit_exact"] is True and run["samples"] == 8
