r"""The checks of :func:`urnn_zoo.compare.compare`'s arguments that need more than a validator of
:mod:`urnn_zoo.arguments`: the jobs, the cells, the device for an executor (and for the timing pass), and the
plug-in modules the worker processes and jobs must import.
"""
from __future__ import annotations

import argparse
import os
import re
from typing import Any, Sequence

from urnn_zoo import arguments as A

__all__ = ["cells_of", "device_for", "jobs_count", "plugin_modules", "timing_device"]


def jobs_count(value: Any) -> int:
    r"""``--jobs``: a positive integer, or ``auto`` (or 0) for one process per core.

    Raises:
        argparse.ArgumentTypeError: anything else (``expected ..., got ...``).
    """
    if value in ("auto", 0, "0"):
        return max(1, os.cpu_count() or 1)
    try:
        return A.positive_int(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer > 0 or 'auto', got {value!r}") from None


def cells_of(cells: Sequence[str] | None) -> list[str]:
    r"""``cells``: registered names (``None``: every registered cell).

    Raises:
        ValueError: not a non-empty list of registered names.
    """
    import urnn_zoo as uz

    registered = uz.cell_names()
    if cells is None:
        return list(registered)
    if isinstance(cells, str) or not cells:
        raise ValueError(f"cells: expected a non-empty list of cell names, got {cells!r}")
    check = A.one_of(registered, "a registered cell")
    return [A.check(c, check, "cells") for c in cells]


def device_for(executor: str, value: Any) -> str:
    r"""``--device`` for an executor: checked here for the local pool; for cluster jobs only its form is
    checked (a login node without a GPU sends runs to GPU nodes; ``auto`` is resolved where each run trains).

    Raises:
        ValueError: not a device name (for the local pool: not one this machine has).
    """

    if executor != "local" and isinstance(value, str) and re.fullmatch(r"cpu|auto|cuda(:(0|[1-9][0-9]*))?", value):
        return value
    return A.check(value, A.device, "device")


def timing_device(device: str) -> str:
    r"""The device of the timing pass of a cluster comparison: ``device`` as this machine resolves it (the cells
    are timed here, on one machine, so that their times compare).

    Raises:
        ValueError: this machine lacks the device (say ``--no-timing``, and how to time later).
    """
    try:
        return A.device(device)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"device: expected a device this machine has, for the timing pass (the cells are timed "
                         f"here, on one machine), got {device!r} ({exc}); give --no-timing (no-timing=True), and "
                         f"time the cells later on a machine with it by running the same comparison there with "
                         f"--executor local (its finished runs are reused)") from None


def plugin_modules(cells: list[str], tasks: list[str], executor: str) -> None:
    r"""Make the worker processes and jobs import the modules of the grid's cells and tasks that are not the
    zoo's (Note [Plug-ins] of :mod:`urnn_zoo.plugins`): those imported by ``--import`` already are, and those a
    Python caller imported itself are remembered here.

    Raises:
        ValueError: a cell or task defined in ``__main__`` for cluster jobs, which cannot import it.
    """
    from urnn_zoo.cells.registry import cell_class
    from urnn_zoo.plugins import remember
    from urnn_zoo.tasks.base import _REGISTRY as TASKS

    classes = [cell_class(c) for c in cells] + [TASKS[t] for t in tasks]
    modules = [c.__module__ for c in classes if c.__module__.split(".")[0] != "urnn_zoo"]
    if executor != "local" and "__main__" in modules:
        where = [c.name for c in classes if c.__module__ == "__main__"]
        raise ValueError(f"cells/tasks {where}: expected classes of an importable module (a cluster job cannot "
                         f"import the script that defines them), got classes defined in __main__; move them into "
                         f"a module and pass it with --import, or register them through an entry point")
    remember([m for m in modules if m != "__main__"])
