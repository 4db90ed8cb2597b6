r"""A user cache folder for derived arrays (parsed corpora), written atomically and rebuilt when stale.

The folder is :func:`urnn_zoo.cache.cache_dir` (``$URNN_ZOO_CACHE``, else ``$XDG_CACHE_HOME/urnn_zoo``, else
``~/.cache/urnn_zoo``). Each entry is one ``.npz`` file holding the arrays plus two bookkeeping arrays:
``__format__`` (:data:`CACHE_FORMAT`) and ``__key__`` (a JSON string describing what the arrays were built
from: library versions, options, source file sizes). An entry whose format or key differs, or which cannot be
read at all (truncated, not a zip, missing arrays), is rebuilt and replaced; a failed rebuild never leaves a
half-written file behind, because writes go to a temporary file in the same folder and are moved into place
with :func:`os.replace`.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from urnn_zoo.cache import CACHE_ENV, cache_dir  # re-exported: the folder is shared with the C kernels

__all__ = ["CACHE_ENV", "CACHE_FORMAT", "cache_dir", "cached_arrays"]

CACHE_FORMAT = 1

_META = ("__format__", "__key__")


def _key_string(key: Mapping[str, object]) -> str:
    return json.dumps(dict(key), sort_keys=True, default=str)


def _read(path: Path, key: str) -> dict[str, np.ndarray] | None:
    r"""The arrays of a valid entry, or ``None`` when the file is absent, unreadable or stale."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as f:  # our handle: np.load leaks its own when the archive is damaged
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                return None
            with npz:
                if int(npz["__format__"]) != CACHE_FORMAT or str(npz["__key__"]) != key:
                    return None
                return {name: npz[name] for name in npz.files if name not in _META}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, TypeError):
        return None


def _write(path: Path, key: str, arrays: Mapping[str, np.ndarray]) -> None:
    r"""Write ``arrays`` to ``path`` atomically (temporary file in the same folder, then ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __format__=np.int64(CACHE_FORMAT), __key__=np.str_(key), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a cache entry is ordinary data
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def cached_arrays(
    name: str,
    key: Mapping[str, object],
    build: Callable[[], Mapping[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    r"""Arrays from the cache entry ``name``, built (and stored) when absent, stale or corrupt.

    Args:
        name: file stem of the entry, e.g. ``"bach_chorales"``; letters, digits, ``._-`` only.
        key: what the arrays depend on (JSON-serialisable); a different key means a stale entry.
        build: computes the arrays from the source data; called only when the entry is unusable.

    Returns:
        A dict of numpy arrays (the bookkeeping arrays removed). If the cache folder cannot be written, the
        built arrays are returned anyway and a warning says why.

    Example::

        >>> arrays = cached_arrays("squares", {"n": 4}, lambda: {"x": np.arange(4) ** 2})   # doctest: +SKIP
        >>> arrays["x"].tolist()   # doctest: +SKIP
        [0, 1, 4, 9]
    """
    if not name or any(not (c.isalnum() or c in "._-") for c in name):
        raise ValueError(f"cache entry name must be letters, digits and '._-' only, got {name!r}")
    path = cache_dir() / f"{name}.npz"
    key_s = _key_string(key)
    arrays = _read(path, key_s)
    if arrays is not None:
        return arrays
    built = {k: np.asarray(v) for k, v in build().items()}
    for k in built:
        if k in _META:
            raise ValueError(f"array name {k!r} is reserved by the cache")
    try:
        _write(path, key_s, built)
    except OSError as exc:
        warnings.warn(f"could not write the cache file {path} ({exc}); continuing without caching", stacklevel=2)
    return built
