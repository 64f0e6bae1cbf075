"""Datasets for search, pruning, calibration and benchmarks. Never downloads anything.

`load(spec)` accepts:
  - a name: ``digits`` (scikit-learn, 8x8x1, deterministic stratified split),
    ``fashion_mnist`` (Debian's dataset-fashion-mnist IDX files), ``mnist`` and
    ``cifar10`` (from Keras's cache ``~/.keras/datasets`` if present);
  - a name with a path, ``NAME:PATH`` (a directory of IDX files, a Keras-style .npz,
    or CIFAR-10's ``cifar-10-batches-py`` directory);
  - a binary variant ``NAME_binary`` (e.g. ``cifar10_binary``, as SpArSe and muNAS):
    labels below num_classes/2 become class 0, the rest class 1;
  - a path to any .npz holding x_train, y_train, x_test, y_test.

Images come back float32 NHWC in [0, 1]; labels int64.
"""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparsemcu.errors import SparsemcuError

FASHION_MNIST_DIRS = [Path("/usr/share/datasets/fashion-mnist")]
KERAS_CACHE = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
NAMES = ["digits", "fashion_mnist", "mnist", "cifar10", "cifar10_binary", "mnist_binary",
         "fashion_mnist_binary", "digits_binary"]


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def split_validation(self, fraction: float = 0.15, seed: int = 0):
        """Deterministic (x_tr, y_tr, x_val, y_val) split of the training set (search uses
        the validation part for its error objective; the test set stays untouched)."""
        n = len(self.x_train)
        idx = np.random.default_rng(seed).permutation(n)
        n_val = max(1, int(round(n * fraction)))
        val, tr = idx[:n_val], idx[n_val:]
        return self.x_train[tr], self.y_train[tr], self.x_train[val], self.y_train[val]

    def subset(self, max_train: int | None = None, max_test: int | None = None, seed: int = 0) -> "Dataset":
        """A deterministic random subset (for quick benchmarks)."""
        rng = np.random.default_rng(seed)

        def take(x, y, m):
            if m is None or m >= len(x):
                return x, y
            i = np.sort(rng.permutation(len(x))[:m])
            return x[i], y[i]

        xtr, ytr = take(self.x_train, self.y_train, max_train)
        xte, yte = take(self.x_test, self.y_test, max_test)
        return Dataset(self.name, xtr, ytr, xte, yte, self.num_classes)


# --------------------------------------------------------------------------- helpers
def _finish(name, x_train, y_train, x_test, y_test, num_classes=None) -> Dataset:
    x_train = _as_images(x_train, name)
    x_test = _as_images(x_test, name)
    y_train = np.asarray(y_train).reshape(-1).astype(np.int64)
    y_test = np.asarray(y_test).reshape(-1).astype(np.int64)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise SparsemcuError(f"dataset {name}: image and label counts differ "
                             f"({len(x_train)}/{len(y_train)} train, {len(x_test)}/{len(y_test)} test)")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise SparsemcuError(f"dataset {name}: train images {x_train.shape[1:]} and test images "
                             f"{x_test.shape[1:]} differ in shape")
    if num_classes is None:
        num_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    return Dataset(name, x_train, y_train, x_test, y_test, int(num_classes))


def _as_images(x, name="data") -> np.ndarray:
    """To float32 NHWC in [0, 1]: uint8 is divided by 255; floats with values above 1 are
    taken as 0..255 pixel values (divided by 255, or by their maximum if that exceeds 255)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim == 2:  # flat vectors of a square image
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise SparsemcuError(f"{name}: inputs have shape {x.shape}; expected N x H x W [x C]")
        x = x.reshape(-1, side, side, 1)
    if x.ndim != 4:
        raise SparsemcuError(f"{name}: inputs have shape {x.shape}; expected N x H x W [x C]")
    if x.dtype == np.uint8:
        return (x.astype(np.float32) / 255.0)
    x = x.astype(np.float32)
    mx = float(x.max()) if x.size else 0.0
    if mx > 1.0 + 1e-6:
        x = x / (255.0 if mx <= 255.0 else mx)
    return x


def _open(path: Path):
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) as used by (Fashion-)MNIST."""
    try:
        with _open(path) as f:
            data = f.read()
    except OSError as exc:
        raise SparsemcuError(f"cannot read IDX file {path}: {exc}") from None
    if len(data) < 4:
        raise SparsemcuError(f"{path}: not an IDX file (too short)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if zero != 0 or dtype_code not in dtypes:
        raise SparsemcuError(f"{path}: not an IDX file (bad magic number)")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=dtypes[dtype_code], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise SparsemcuError(f"{path}: truncated IDX file")
    return arr.reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for cand in (stem, stem.replace("-idx", ".idx")):
        for suffix in (".gz", ""):
            p = directory / (cand + suffix)
            if p.exists():
                return p
    return None


def _load_idx_dir(name: str, directory: Path) -> Dataset:
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = [_find_idx(directory, s) for s in stems]
    missing = [s for s, p in zip(stems, paths) if p is None]
    if missing:
        raise SparsemcuError(f"dataset {name}: {directory} lacks IDX file(s) {', '.join(missing)}[.gz]")
    arrays = [read_idx(p) for p in paths]
    return _finish(name, *arrays)


def _load_npz(name: str, path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            need = ["x_train", "y_train", "x_test", "y_test"]
            if not set(need) <= keys:
                raise SparsemcuError(f"{path}: an .npz dataset needs arrays {', '.join(need)} "
                                     f"(found {', '.join(sorted(keys)) or 'none'})")
            arrays = [z[k] for k in need]
            num_classes = int(z["num_classes"]) if "num_classes" in keys else None
    except SparsemcuError:
        raise
    except (OSError, ValueError) as exc:
        raise SparsemcuError(f"cannot read {path}: {exc}") from None
    return _finish(name, *arrays, num_classes=num_classes)


def _load_cifar_dir(name: str, directory: Path) -> Dataset:
    def batch(p):
        try:
            with open(p, "rb") as f:
                d = pickle.load(f, encoding="bytes")
        except OSError as exc:
            raise SparsemcuError(f"cannot read CIFAR-10 batch {p}: {exc}") from None
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        y = np.asarray(d[b"labels"])
        return x, y

    files = [directory / f"data_batch_{i}" for i in range(1, 6)] + [directory / "test_batch"]
    missing = [p.name for p in files if not p.exists()]
    if missing:
        raise SparsemcuError(f"dataset {name}: {directory} lacks CIFAR-10 batch file(s) {', '.join(missing)}")
    parts = [batch(p) for p in files]
    xtr = np.concatenate([p[0] for p in parts[:5]])
    ytr = np.concatenate([p[1] for p in parts[:5]])
    return _finish(name, xtr, ytr, parts[5][0], parts[5][1], num_classes=10)


def _load_from_path(name: str, path: Path) -> Dataset:
    if not path.exists():
        raise SparsemcuError(f"dataset {name}: path {path} does not exist")
    if path.is_file():
        if path.suffix == ".npz":
            return _load_npz(name, path)
        raise SparsemcuError(f"dataset {name}: {path} is not an .npz file or a dataset directory")
    if (path / "data_batch_1").exists():
        return _load_cifar_dir(name, path)
    if (path / "cifar-10-batches-py").is_dir():
        return _load_cifar_dir(name, path / "cifar-10-batches-py")
    if _find_idx(path, "train-images-idx3-ubyte") is not None:
        return _load_idx_dir(name, path)
    for npz in (f"{name}.npz", "mnist.npz", "data.npz"):
        if (path / npz).exists():
            return _load_npz(name, path / npz)
    raise SparsemcuError(f"dataset {name}: {path} holds no IDX files, CIFAR-10 batches or .npz")


# --------------------------------------------------------------------------- named datasets
def _digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return Dataset("digits", np.ascontiguousarray(xtr), ytr, np.ascontiguousarray(xte), yte, 10)


def _fashion_mnist(path: Path | None) -> Dataset:
    if path is not None:
        return _load_from_path("fashion_mnist", path)
    for d in FASHION_MNIST_DIRS + [KERAS_CACHE / "fashion-mnist"]:
        if d.is_dir() and _find_idx(d, "train-images-idx3-ubyte") is not None:
            return _load_idx_dir("fashion_mnist", d)
    raise SparsemcuError("dataset fashion_mnist: not found in /usr/share/datasets/fashion-mnist "
                         "(apt-get install dataset-fashion-mnist) or ~/.keras/datasets/fashion-mnist; "
                         "pass fashion_mnist:PATH")


def _mnist(path: Path | None) -> Dataset:
    if path is not None:
        return _load_from_path("mnist", path)
    for cand in (KERAS_CACHE / "mnist.npz", Path("/usr/share/datasets/mnist")):
        if cand.exists():
            return _load_from_path("mnist", cand)
    raise SparsemcuError(f"dataset mnist: not found in {KERAS_CACHE}/mnist.npz (sparsemcu never "
                         "downloads); pass mnist:PATH (IDX directory or Keras-style .npz)")


def _cifar10(path: Path | None) -> Dataset:
    if path is not None:
        return _load_from_path("cifar10", path)
    cand = KERAS_CACHE / "cifar-10-batches-py"
    if cand.is_dir():
        return _load_cifar_dir("cifar10", cand)
    raise SparsemcuError(f"dataset cifar10: not found in {cand} (sparsemcu never downloads); "
                         "pass cifar10:PATH (cifar-10-batches-py directory or .npz)")


_LOADERS = {
    "digits": lambda path: _digits() if path is None else _load_from_path("digits", path),
    "fashion_mnist": _fashion_mnist,
    "mnist": _mnist,
    "cifar10": _cifar10,
}
_ALIASES = {"fashion-mnist": "fashion_mnist", "fmnist": "fashion_mnist", "cifar-10": "cifar10",
            "cifar": "cifar10", "sklearn_digits": "digits"}


def _binary(ds: Dataset, name: str) -> Dataset:
    half = ds.num_classes // 2
    return Dataset(name, ds.x_train, (ds.y_train >= half).astype(np.int64),
                   ds.x_test, (ds.y_test >= half).astype(np.int64), 2)


def load(spec: str | os.PathLike) -> Dataset:
    """Load a dataset by name, NAME:PATH, or .npz path (see module docstring)."""
    text = os.fspath(spec).strip()
    if not text:
        raise SparsemcuError("empty dataset name")
    path: Path | None = None
    name = text
    if ":" in text and not Path(text).exists():
        name, _, p = text.partition(":")
        path = Path(p).expanduser()
    name = name.lower()
    base = _ALIASES.get(name, name)
    binary = False
    if base.endswith("_binary") or base.endswith("-binary"):
        base, binary = base[: -len("_binary")], True
        base = _ALIASES.get(base, base)
    if base in _LOADERS:
        ds = _LOADERS[base](path)
        ds.name = base
        return _binary(ds, f"{base}_binary") if binary else ds
    p = Path(text).expanduser()
    if p.exists():
        if p.is_file() and p.suffix != ".npz":
            raise SparsemcuError(f"{p}: a dataset file must be an .npz with x_train, y_train, x_test, y_test")
        return _load_from_path(p.stem, p)
    if p.suffix == ".npz" or os.sep in text:
        raise SparsemcuError(f"dataset file {p} does not exist")
    raise SparsemcuError(f"unknown dataset {text!r}: use one of {', '.join(NAMES)}, NAME:PATH, or an .npz path")


def load_calibration(spec: str | os.PathLike, n: int = 200, seed: int = 0) -> np.ndarray:
    """Representative inputs for int8 calibration: float32 NHWC in [0, 1].

    `spec` is a dataset (anything `load` accepts; n random training images, deterministic)
    or an .npy/.npz of inputs (.npz: array `x`, `x_calib`, `x_train` or its only array).
    """
    text = os.fspath(spec)
    p = Path(text).expanduser()
    if p.suffix in (".npy", ".npz") and p.is_file():
        try:
            if p.suffix == ".npy":
                x = np.load(p, allow_pickle=False)
            else:
                with np.load(p, allow_pickle=False) as z:
                    key = next((k for k in ("x", "x_calib", "calib", "x_train") if k in z.files), None)
                    if key is None:
                        if len(z.files) != 1:
                            raise SparsemcuError(f"{p}: calibration .npz needs an array named x "
                                                 f"(found {', '.join(z.files)})")
                        key = z.files[0]
                    x = z[key]
        except SparsemcuError:
            raise
        except (OSError, ValueError) as exc:
            raise SparsemcuError(f"cannot read calibration data {p}: {exc}") from None
        x = _as_images(x, str(p))
    elif p.suffix in (".npy", ".npz"):
        raise SparsemcuError(f"calibration file {p} does not exist")
    else:
        x = load(text).x_train
    if n and len(x) > n:
        idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:n])
        x = x[idx]
    return np.ascontiguousarray(x, dtype=np.float32)
