r"""A cell's parameter groups and their counts in the two conventions of docs/parameter-counting.md:
:class:`ParamCount`, :func:`stored_reals` (shared with :class:`~urnn_zoo.cells.sequence.SequenceModel`) and
:class:`ParameterGroups`, the part of the cell contract that says which parameters are the recurrent map's, which
the trainer treats apart, and how many free reals they hold."""
from __future__ import annotations

from typing import ClassVar, NamedTuple

from torch import nn

__all__ = ["ParamCount", "ParameterGroups", "stored_reals"]


class ParamCount(NamedTuple):
    r"""Parameter counts in both conventions of docs/parameter-counting.md (real numbers).

    ``stored``: reals held in parameters (a complex entry counts 2). ``dof``: the free reals of the family's
    own parametrisation. ``recurrent_*``: the same for the recurrent map alone (no biases, input matrix,
    initial state or readout).
    """

    stored: int
    dof: int
    recurrent_stored: int
    recurrent_dof: int


def stored_reals(params) -> int:
    r"""Number of real numbers held by an iterable of tensors (a complex entry counts 2).

    Example:
        >>> import torch
        >>> stored_reals([torch.zeros(2, 3), torch.zeros(4, dtype=torch.complex64)])
        14
    """
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in params)


class ParameterGroups:
    r"""The parameter groups of :class:`~urnn_zoo.cells.contract.RecurrentCell` (which inherits them): a family
    implements :meth:`recurrent_parameters`, and overrides :meth:`recurrent_dof`, :meth:`constrained_parameters`
    or :meth:`stiefel_parameters` where its paper counts or trains them otherwise than the defaults."""

    constraint: ClassVar[str]

    def recurrent_parameters(self) -> list[nn.Parameter]:
        r"""The parameters of the recurrent map alone (no biases, input matrix, initial state or readout).

        For an exact cell these are the parameters behind the constraint, which the trainer may give their
        own learning rate (``constrained_lr``; docs/cell-contract.md#the-constraint-attribute).
        """
        raise NotImplementedError

    def constrained_parameters(self) -> list[nn.Parameter]:
        r"""The parameters the trainer gives their own learning rate, ``constrained_lr`` (Note [Learning rates]
        of :mod:`urnn_zoo.training`): by default the recurrent parameters of an exact cell and none of any other.
        A family whose paper trains part of its recurrent map at a separate rate (nnRNN's orthogonal basis P)
        returns that part.
        """
        return list(self.recurrent_parameters()) if self.constraint == "exact" else []

    def stiefel_parameters(self) -> list[nn.Parameter]:
        r"""Raw unitary matrices that only a multiplicative step on the Stiefel manifold may update
        (:class:`urnn_zoo.optim.StiefelCayley`; fcurnn with ``parametrization="none"``); none by default."""
        return []

    def recurrent_dof(self) -> int:
        r"""Free reals of the recurrent map in the family's parametrisation.

        Default: what is stored; families that store more than their parametrisation needs override it
        (docs/parameter-counting.md#per-family).
        """
        return stored_reals(self.recurrent_parameters())

    def parameter_count(self) -> ParamCount:
        r"""Counts in both conventions; ``dof`` differs from ``stored`` only inside the recurrent map."""
        stored = stored_reals(self.parameters())
        rec_stored, rec_dof = stored_reals(self.recurrent_parameters()), self.recurrent_dof()
        return ParamCount(stored, stored - rec_stored + rec_dof, rec_stored, rec_dof)
