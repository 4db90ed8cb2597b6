r"""The default name of a run folder: cell, its non-default options, task, its sizes and non-default options,
hidden size and seed (``kru-copy-T100-N128-s0``).

The name is a folder name and a comparison's key for a run, so it must not change between versions: run
folders written by earlier versions are found, reused and resumed by it.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["run_name"]


def _token(key: str | None, value: Any) -> str:
    text = Path(value).stem if key == "data_path" else str(value)
    text = re.sub(r"[^A-Za-z0-9.+]+", "_", text).strip("_")
    return text if key is None else f"{key}{text}" if isinstance(value, (int, float)) else f"{key}={text}"


def run_name(cell: str, task: Any, hidden: int, seed: int, cell_opts: dict[str, Any] | None = None) -> str:
    r"""The default run folder name: cell, its non-default options, task, its size options (int defaults,
    e.g. ``T``, ``window``) and non-default options, ``N`` and the hidden size, ``s`` and the seed.

    Args:
        cell: a registered cell name. task: a :class:`urnn_zoo.tasks.base.Task`. hidden: the hidden size.
        seed: the run's seed. cell_opts: the cell options given (defaults are left out of the name).

    Example::

        >>> from urnn_zoo.tasks.base import make_task
        >>> run_name("kru", make_task("copy", T=100), 128, 0)
        'kru-copy-T100-N128-s0'
    """
    from urnn_zoo.cells.base import cell_options

    defaults = cell_options(cell)
    parts = [cell] + [_token(k, v) for k, v in (cell_opts or {}).items() if defaults.get(k, object()) != v]
    parts.append(task.name)
    for key, value in task.spec().items():
        default = type(task).options.get(key)
        if value is None or (value == default and not isinstance(default, int)):
            continue
        parts.append(value if key in ("digits", "form") and isinstance(value, str) else _token(key, value))
    return "-".join(parts + [f"N{hidden}", f"s{seed}"])
