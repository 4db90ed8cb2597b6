r"""The user cache folder of urnn_zoo: parsed data (:mod:`urnn_zoo.data.cache`) and the built C kernels
(:mod:`urnn_zoo.engine.kernels`) live under it.

The folder is ``$URNN_ZOO_CACHE`` when that is set, else ``$XDG_CACHE_HOME/urnn_zoo``, else
``~/.cache/urnn_zoo`` (the XDG Base Directory convention). Nothing here creates it: each user of the folder
creates what it writes, with the mode it needs.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir"]

CACHE_ENV = "URNN_ZOO_CACHE"


def cache_dir() -> Path:
    r"""The cache folder (not created here).

    Returns:
        ``$URNN_ZOO_CACHE`` if set and non-empty, else ``$XDG_CACHE_HOME/urnn_zoo``, else
        ``~/.cache/urnn_zoo``.

    Example::

        >>> cache_dir()   # doctest: +SKIP
        PosixPath('/home/me/.cache/urnn_zoo')
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "urnn_zoo"
