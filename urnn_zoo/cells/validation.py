r"""What a cell checks of its arguments before any work: the input sequence or step, and a given state.

Each error is one line that names the cell, what was expected and what was given.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:
    from urnn_zoo.cells.contract import RecurrentCell

__all__ = ["check_input", "check_state"]


def check_state(cell: RecurrentCell, state: Any, batch: int) -> None:
    r"""Refuse a state that is not the cell's: one (B, N) tensor of :attr:`state_dtype` on the cell's device
    (complex for complex cells), or for gated cells a tuple of one such tensor per :attr:`state_parts`.

    A wrong state would otherwise broadcast silently (a (1, N) state over B sequences) or fail deep inside a
    kernel with a message about its internals.

    Raises:
        TypeError: not a tensor (a tuple of them), or the wrong dtype or device.
        ValueError: a part's shape is not (``batch``, N).
    """
    parts = cell.state_parts
    kind = f"({batch}, {cell.hidden_size}) {cell.state_dtype}"
    expected = f"a state of shape {kind}" if len(parts) == 1 else \
        f"a state ({', '.join(parts)}), each of shape {kind}"
    given = (state,) if len(parts) == 1 else state
    if not isinstance(given, (tuple, list)) or len(given) != len(parts) or \
            not all(isinstance(s, Tensor) for s in given):
        got = type(state).__name__
        if isinstance(state, (tuple, list)):
            got += f" of ({', '.join(type(s).__name__ for s in state)}{',' if len(state) == 1 else ''})"
        raise TypeError(f"{cell.name}: expected {expected}, got {got}")
    for part, s in zip(parts, given):
        if s.shape != (batch, cell.hidden_size):
            raise ValueError(f"{cell.name}: expected {expected}, got {part} of shape {tuple(s.shape)}")
        if s.dtype != cell.state_dtype or s.device != cell.device:
            raise TypeError(f"{cell.name}: expected {expected} on {cell.device}, got {part} of dtype {s.dtype} "
                            f"on {s.device}")


def check_input(cell: RecurrentCell, x: Tensor, ndim: int, shape: str) -> None:
    r"""Refuse an input that is not a real (``shape``) tensor of the cell's precision with its input_size.

    Raises:
        TypeError: not a tensor, complex or integer, or another precision.
        ValueError: not ``ndim`` dimensions, or the last is not input_size.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{cell.name}: expected a tensor of shape {shape}, got {type(x).__name__}")
    if x.dim() != ndim or x.shape[-1] != cell.input_size:
        raise ValueError(
            f"{cell.name}: expected input of shape {shape} with input_size={cell.input_size}, "
            f"got shape {tuple(x.shape)}"
        )
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{cell.name}: expected a real floating input, got dtype {x.dtype}")
    if x.dtype != cell.real_dtype:
        raise TypeError(
            f"{cell.name}: expected input dtype {cell.real_dtype} (the cell's precision), got {x.dtype}; "
            f"convert the input or build the cell with dtype={x.dtype}"
        )
