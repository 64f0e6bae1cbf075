"""sparsemcu.datasets: every source loads to float32 NHWC in [0, 1] + int64 labels, no downloads."""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from sparsemcu import datasets as D
from sparsemcu.errors import SparsemcuError


def _check(ds, shape, classes):
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.x_train.shape[1:] == shape and ds.x_test.shape[1:] == shape
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert ds.num_classes == classes
    assert set(np.unique(ds.y_train)) <= set(range(classes))


def test_digits_deterministic():
    a, b = D.load("digits"), D.load("digits")
    _check(a, (8, 8, 1), 10)
    assert len(a.x_train) + len(a.x_test) == 1797
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    xtr, ytr, xv, yv = a.split_validation(0.2)
    assert len(xtr) + len(xv) == len(a.x_train)
    np.testing.assert_array_equal(xv, a.split_validation(0.2)[2])


def test_binary_variant():
    b = D.load("digits_binary")
    d = D.load("digits")
    _check(b, (8, 8, 1), 2)
    np.testing.assert_array_equal(b.y_train, (d.y_train >= 5).astype(np.int64))


def _write_idx(path: Path, arr: np.ndarray):
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_idx_directory(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 20))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (5, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(5))
    ds = D.load(f"mnist:{tmp_path}")
    _check(ds, (28, 28, 1), 10)
    assert len(ds.x_train) == 20 and list(ds.y_test) == [0, 1, 2, 3, 4]
    assert D.load(f"mnist_binary:{tmp_path}").num_classes == 2


@pytest.mark.skipif(not D.FASHION_MNIST_DIRS[0].is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_fashion_mnist_debian():
    ds = D.load("fashion_mnist")
    _check(ds, (28, 28, 1), 10)
    assert len(ds.x_train) == 60000 and len(ds.x_test) == 10000


def test_cifar_directory_and_binary(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(d / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8),
                         b"labels": [0, 4, 5, 9]}, f)
    ds = D.load(f"cifar10:{tmp_path}")
    _check(ds, (32, 32, 3), 10)
    assert len(ds.x_train) == 20
    b = D.load(f"cifar10_binary:{d}")
    _check(b, (32, 32, 3), 2)
    assert list(b.y_test) == [0, 0, 1, 1]


def test_user_npz(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "mine.npz"
    np.savez(p, x_train=rng.integers(0, 256, (10, 6, 6, 2)).astype(np.uint8), y_train=np.arange(10) % 3,
             x_test=rng.integers(0, 256, (4, 6, 6, 2)).astype(np.uint8), y_test=np.array([0, 1, 2, 0]))
    ds = D.load(str(p))
    _check(ds, (6, 6, 2), 3)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(SparsemcuError, match="x_train"):
        D.load(str(bad))


def test_missing_sources_raise_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "KERAS_CACHE", tmp_path / "nothing")
    for spec in ["mnist", "cifar10", "cifar10_binary", "no_such_dataset", str(tmp_path / "x.npz"),
                 f"mnist:{tmp_path / 'absent'}"]:
        with pytest.raises(SparsemcuError) as ei:
            D.load(spec)
        assert "\n" not in str(ei.value)


def test_calibration(tmp_path):
    x = D.load_calibration("digits", n=50)
    assert x.shape == (50, 8, 8, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x, D.load_calibration("digits", n=50))
    np.save(tmp_path / "c.npy", (np.ones((300, 8, 8)) * 255).astype(np.uint8))
    c = D.load_calibration(str(tmp_path / "c.npy"), n=200)
    assert c.shape == (200, 8, 8, 1) and c.max() == 1.0
    np.savez(tmp_path / "c.npz", x=np.zeros((7, 8, 8, 1), np.float32))
    assert D.load_calibration(str(tmp_path / "c.npz")).shape == (7, 8, 8, 1)
    with pytest.raises(SparsemcuError):
        D.load_calibration(str(tmp_path / "missing.npy"))
