"""Keras model -> full-integer int8 TFLite (int8 input and output, per-channel weights)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sparsemcu.errors import SparsemcuError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _tf():
    from sparsemcu.tf import tensorflow
    return tensorflow()


def load_keras_model(path: str | Path):
    """Load a .keras / .h5 file or a SavedModel directory with tf_keras (Keras 2)."""
    path = Path(path)
    if not path.exists():
        raise SparsemcuError(f"model not found: {path}")
    _tf()
    import tf_keras as keras
    try:
        import tensorflow_model_optimization as tfmot
        with tfmot.sparsity.keras.prune_scope():
            return keras.models.load_model(path, compile=False)
    except SparsemcuError:
        raise
    except Exception as exc:
        raise SparsemcuError(f"cannot load Keras model {path}: {str(exc).splitlines()[0]}") from None


def keras_to_int8_tflite(model, calib_x: np.ndarray, max_samples: int = 200) -> bytes:
    """Full-integer quantisation with a representative dataset drawn from `calib_x`."""
    tf = _tf()
    calib_x = np.asarray(calib_x, dtype=np.float32)
    expected = tuple(d for d in model.inputs[0].shape[1:])
    if tuple(calib_x.shape[1:]) != expected and calib_x[0].size == int(np.prod(expected)):
        calib_x = calib_x.reshape(len(calib_x), *expected)  # e.g. (N, 8, 8, 1) images for a (64,) input
    if tuple(calib_x.shape[1:]) != expected:
        raise SparsemcuError(f"calibration data has shape {calib_x.shape[1:]}, the model expects {expected}")
    # A batch-1 signature: with a dynamic batch a Keras Reshape/Flatten becomes SHAPE/STRIDED_SLICE ops.
    spec = tf.TensorSpec((1, *expected), tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return concrete_to_int8_tflite(concrete, model, calib_x[:max_samples])


def concrete_to_int8_tflite(concrete, trackable, calib_x: np.ndarray) -> bytes:
    """Full-integer int8 conversion of a batch-1 tf.function; calib_x holds single samples."""
    tf = _tf()

    def representative():
        for x in calib_x:
            yield [np.asarray(x, np.float32)[None, ...]]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], trackable)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    from sparsemcu.tf import quiet_stderr
    try:
        with quiet_stderr():  # the converter's C++ progress lines
            return bytes(converter.convert())
    except Exception as exc:
        raise SparsemcuError(f"int8 conversion failed: {str(exc).splitlines()[0]}") from None
