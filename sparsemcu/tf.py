"""Import TensorFlow quietly (its C++ start-up banner goes to fd 2 before any Python logging)."""
from __future__ import annotations

import contextlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


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
