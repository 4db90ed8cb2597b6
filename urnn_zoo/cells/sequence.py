r"""The model of a task: a cell plus a linear head on its real outputs (:class:`SequenceModel`)."""
from __future__ import annotations

from torch import Tensor, nn

from urnn_zoo.cells.contract import ParamCount, RecurrentCell, stored_reals

__all__ = ["SequenceModel"]


class SequenceModel(nn.Module):
    r"""A cell plus a linear head on its real outputs: the model of a task.

    Args:
        cell: any :class:`RecurrentCell`.
        output_size: width of the prediction.
        readout: ``"last"`` (head on the last step: (B, output_size)) or ``"all"`` (every step:
            (T, B, output_size)).

    Example:
        >>> import torch
        >>> from urnn_zoo.cells.registry import make_cell
        >>> model = SequenceModel(make_cell("lstm", 2, 16), 1, readout="last")
        >>> model(torch.randn(7, 3, 2)).shape
        torch.Size([3, 1])
    """

    def __init__(self, cell: RecurrentCell, output_size: int, readout: str = "last") -> None:
        super().__init__()
        if readout not in ("last", "all"):
            raise ValueError(f"readout must be 'last' or 'all', got {readout!r}")
        if not isinstance(cell, RecurrentCell):
            raise TypeError(f"cell must be a RecurrentCell, got {type(cell).__name__}")
        self.cell = cell
        self.readout = readout
        self.head = nn.Linear(cell.output_size, output_size, dtype=cell.real_dtype, device=cell.device)

    def forward(self, x: Tensor, state=None) -> Tensor:
        out, _ = self.cell(x, state)
        return self.head(out[-1] if self.readout == "last" else out)

    def parameter_count(self) -> ParamCount:
        r"""The cell's counts plus the head's weights and biases (in both conventions)."""
        c = self.cell.parameter_count()
        head = stored_reals(self.head.parameters())
        return ParamCount(c.stored + head, c.dof + head, c.recurrent_stored, c.recurrent_dof)
