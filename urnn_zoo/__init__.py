r"""urnn_zoo: unitary and orthogonal recurrent networks behind one interface.

Example:
    >>> import torch, urnn_zoo as uz
    >>> cell = uz.make_cell("kru", input_size=10, hidden_size=64)
    >>> out, h = cell(torch.randn(20, 4, 10))
    >>> cell.parameter_count().recurrent_dof
    544
"""
from urnn_zoo.cells.base import (
    InadmissibleSizeError,
    ParamCount,
    RecurrentCell,
    SequenceModel,
    cell_names,
    cell_options,
    make_cell,
)
from urnn_zoo.tasks.base import Task, make_task, task_names
from urnn_zoo.training import TrainResult, load_summary, train

__all__ = [
    "InadmissibleSizeError",
    "ParamCount",
    "RecurrentCell",
    "SequenceModel",
    "cell_names",
    "cell_options",
    "make_cell",
    "Task",
    "make_task",
    "task_names",
    "TrainResult",
    "load_summary",
    "train",
]
__version__ = "0.1.0"
