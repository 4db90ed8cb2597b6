r"""How a cell's recurrence runs over a sequence (docs/performance.md#the-fused-recurrence): the activation a cell
declares for the fused loop (:class:`FusedActivation`) and :func:`run_sequence`, the loop behind
:meth:`RecurrentCell.run <urnn_zoo.cells.contract.RecurrentCell.run>`.

A cell whose step is σ(L h + u) declares L through ``fused_map(ctx)`` and σ through ``fused_activation()``; with
both, the whole sequence runs through :func:`urnn_zoo.engine.recurrence.fused_recurrence` (autograd off inside the
loop, hand-written BPTT). Otherwise, or with ``cell.fused = False``, it runs the per-step autograd loop over the
cell's ``recur``: the reference the fused loop is tested against.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from urnn_zoo.activations import ModReLU
from urnn_zoo.engine.recurrence import fused_recurrence

if TYPE_CHECKING:
    from urnn_zoo.cells.contract import RecurrentCell

__all__ = ["FusedActivation", "run_sequence"]


class FusedActivation(NamedTuple):
    r"""The elementwise σ that follows a cell's linear map, as
    :func:`~urnn_zoo.engine.recurrence.fused_recurrence` takes it (docs/cell-contract.md#cellfused).

    Attributes:
        kind: ``"modrelu"`` (its complex or real form, by the dtype of the state) or ``"tanh"``.
        bias: modReLU's real per-unit bias b, shape (N,); None for tanh.
        eps: modReLU's ε (docs/conventions.md#modrelu); 0.0 for tanh.

    Example:
        >>> FusedActivation.of(torch.tanh), FusedActivation.of(nn.LeakyReLU())
        (FusedActivation(kind='tanh', bias=None, eps=0.0), None)
    """

    kind: str
    bias: Tensor | None = None
    eps: float = 0.0

    @classmethod
    def of(cls, act: Any) -> FusedActivation | None:
        r"""The declaration of a step activation ``act``: a :class:`~urnn_zoo.activations.ModReLU` module gives
        ``("modrelu", act.bias, act.eps)``, ``torch.tanh`` or ``nn.Tanh`` gives ``("tanh", None, 0.0)``, anything
        else None (the fused loop has no such σ; the per-step loop runs)."""
        if isinstance(act, ModReLU):
            return cls("modrelu", act.bias, act.eps)
        if act is torch.tanh or isinstance(act, nn.Tanh):
            return cls("tanh")
        return None


def _fused_activation(act: Any) -> str | None:
    r"""The :func:`fused_recurrence` activation kind that ``act`` is, or None (then the reference loop runs)."""
    declared = FusedActivation.of(act)
    return None if declared is None else declared.kind


def run_sequence(cell: RecurrentCell, x: Tensor, state: Any) -> tuple[Tensor, Any]:
    r"""Run ``cell`` over the whole sequence ``x`` from ``state``: the body of ``RecurrentCell.run``.

    Args:
        cell: the cell; its ``prepare``, ``project_input``, ``recur``, ``state_output``, ``emit``, ``fused_map``
            and ``fused_activation`` are called.
        x: real (T, B, input_size), already checked.
        state: the state before the first step.

    Returns:
        ``(out, state)``: real (T, B, output_size) outputs and the final state.
    """
    # Note [Parametrised weights once per forward]: `parametrize.cached()` makes every read of a
    # parametrised weight inside this block reuse one evaluation of its map; read per step, the map would be
    # evaluated again at every step (docs/performance.md#the-fused-recurrence).
    with parametrize.cached():
        ctx = cell.prepare()
        u = cell.project_input(x)
        activation = cell.fused_activation() if cell.fused else None
        fused = cell.fused_map(ctx) if activation is not None else None
        if fused is not None:  # the same maths with a hand-written BPTT (urnn_zoo.engine.recurrence)
            lmap, tensors = fused
            return fused_recurrence(lmap, tensors, u, state.to(u.dtype), activation.kind, activation.bias,
                                    activation.eps, emit=True)
        hs = []
        for u_t in u.unbind(0):  # unbind, never u[t]: each u[t]'s backward fills a zero (T, B, N) tensor
            state = cell.recur(u_t, state, ctx)
            hs.append(cell.state_output(state))
    return cell.emit(torch.stack(hs)), state
