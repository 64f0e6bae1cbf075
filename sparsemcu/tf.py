"""Import TensorFlow quietly (its C++ start-up banner goes to fd 2 before any Python logging)."""
from __future__ import annotations

import contextlib
import os

# Set before TensorFlow is first imported, by importing this module (or passed to subprocesses):
# quiet C++ logs, Keras 2 (tf_keras, which tensorflow-model-optimization needs), CPU only.
TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1", "CUDA_VISIBLE_DEVICES": ""}
for _key, _value in TF_ENV.items():
    os.environ.setdefault(_key, _value)


@contextlib.contextmanager
def quiet_stderr():
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def tensorflow():
    """The tensorflow module, imported with the C++ banner silenced."""
    with quiet_stderr():
        import tensorflow as tf
        tf.get_logger().setLevel("ERROR")
    return tf


def keras():
    """tf_keras (Keras 2), which tensorflow-model-optimization needs."""
    tensorflow()
    import tf_keras
    return tf_keras
