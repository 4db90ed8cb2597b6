r"""The cell contract (docs/cell-contract.md): :class:`RecurrentCell` and the registry its subclasses join.

A family subclasses :class:`RecurrentCell` with a class attribute ``name``; defining the class registers it
(:mod:`urnn_zoo.cells.registry` builds cells by name). The whole-sequence ``forward`` is the main path: it
materialises anything parametrised once (:meth:`RecurrentCell.prepare`), projects the inputs of all steps in one
matmul (:meth:`RecurrentCell.project_input`) and then runs :meth:`RecurrentCell.recur` per step. ``step`` runs the
same three pieces for one step, so the two give the same numbers by construction.

The contract's parts live one concept a module and are re-exported here: the admissible sizes
(:mod:`urnn_zoo.cells.sizes`: :class:`InadmissibleSizeError`, ``check_size``), the counts
(:mod:`urnn_zoo.cells.counting`: :class:`ParamCount`) and how a sequence runs, fused or step by step
(:mod:`urnn_zoo.cells.execution`: :class:`FusedActivation`).
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from urnn_zoo.arguments import boolean, check
from urnn_zoo.cells.counting import ParamCount, ParameterGroups, stored_reals
from urnn_zoo.cells.execution import FusedActivation, _fused_activation, run_sequence  # noqa: F401
from urnn_zoo.cells.precision import PRECISIONS, _keep_complex, complex_dtype_of, real_dtype_of
from urnn_zoo.cells.sizes import (InadmissibleSizeError, SizeContract, _keyword_options,  # noqa: F401
                                  _positive_int, _reject_unknown, check_count)
from urnn_zoo.cells.unitarity import frobenius_unitarity_error
from urnn_zoo.cells.validation import check_input, check_state
from urnn_zoo.engine.recurrence import LinearMap

__all__ = ["InadmissibleSizeError", "ParamCount", "RecurrentCell", "check_count", "stored_reals", "CONSTRAINTS",
           "FusedActivation"]

_REGISTRY: dict[str, type["RecurrentCell"]] = {}
CONSTRAINTS = ("exact", "soft", "none")


class RecurrentCell(SizeContract, ParameterGroups, nn.Module):
    r"""Base class of every cell: one recurrence h_t = σ(W h_{t−1} + U x_t + b) behind one interface.

    Subclasses set the class attributes ``name`` (registry key) and ``constraint`` (``"exact"``,
    ``"soft"`` or ``"none"``), call ``super().__init__(input_size, hidden_size, is_complex, **size_options)``
    (which runs :meth:`check_size` before anything is built), override :meth:`size_rule` where not every N
    is admissible, and implement
    :meth:`prepare`, :meth:`project_input`, :meth:`recur`, :meth:`recurrent_matrix` and
    :meth:`recurrent_parameters` (and :meth:`recurrent_dof` where it differs from what is stored). Cells
    whose state is not one (B, N) tensor override :meth:`initial_state` and :meth:`state_output`; cells
    backed by a fused torch kernel override :meth:`run` and set ``step_via_run``.

    Plug-in points, each declared here with its default (docs/cell-contract.md#plug-in-points): cells whose step
    is σ(L h + u) return L from :meth:`fused_map` and σ from :meth:`fused_activation`; :meth:`run` then runs the
    whole sequence through :func:`urnn_zoo.engine.recurrence.fused_recurrence` (autograd off inside the loop,
    hand-written BPTT: the same numbers, fewer operators per step). Setting the attribute ``fused = False`` on a
    cell selects the per-step autograd loop over :meth:`recur` instead, the reference the fused path is tested
    against. A learned initial state is the attribute ``h0`` (None, the default, means zeros), set by
    :meth:`register_initial_state` and read by :meth:`initial_state`.

    Every torch conversion (``.double()``, ``.float()``, ``.to(dtype)``, ``.to(device, dtype)``, ``.to(tensor)``,
    ``.type(dtype)``) gives a cell of that precision holding the same numbers: real tensors take the dtype,
    complex ones its complex partner (complex128 for float64) under the same names, integer buffers keep theirs
    (Note [Precision conversion of complex cells]); ``load_state_dict`` copies across precisions. A conversion
    to another precision (``.half()``) raises ``ValueError`` before anything is converted.

    Args:
        input_size: width of x_t (n_in).
        hidden_size: N.
        is_complex: whether the hidden state is complex (then ``output_size`` is 2N: [Re h; Im h]).
        **size_options: the options :meth:`size_rule` reads (KRU's ``factors``, oRNN's ``m``, ...).

    Raises:
        ValueError: ``input_size`` is not a positive int.
        InadmissibleSizeError: :meth:`check_size` rejects ``hidden_size`` with ``size_options``.
    """

    name: ClassVar[str]
    constraint: ClassVar[str] = "none"
    step_via_run: ClassVar[bool] = False
    #: The names of the state's (B, N) parts: ``("h",)`` is one tensor, gated cells' ``("h", "c")`` a pair.
    state_parts: ClassVar[tuple[str, ...]] = ("h",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:
            return
        if cls.constraint not in CONSTRAINTS:
            raise TypeError(f"{cls.__name__}.constraint must be one of {CONSTRAINTS}, got {cls.constraint!r}")
        if name in _REGISTRY and _REGISTRY[name].__qualname__ != cls.__qualname__:
            raise TypeError(f"cell name {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        _REGISTRY[name] = cls

    def __init__(self, input_size: int, hidden_size: int, is_complex: bool, **size_options: Any) -> None:
        if not _positive_int(input_size):
            raise ValueError(f"input_size must be a positive int, got {input_size!r}")
        type(self).check_size(hidden_size, **size_options)
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.is_complex = is_complex
        self.fused = True  # the fused loop where the cell declares fused_map and fused_activation (False: per step)
        self.h0: nn.Parameter | None = None  # the learned initial state (register_initial_state); None: zeros

    # ----------------------------------------------------------------- sizes and dtypes
    @property
    def output_size(self) -> int:
        r"""Real width emitted per step: N, or 2N for complex cells ([Re h; Im h])."""
        return 2 * self.hidden_size if self.is_complex else self.hidden_size

    @property
    def real_dtype(self) -> torch.dtype:
        r"""Real precision of the cell (the parts of complex parameters)."""
        return real_dtype_of(next(self.parameters()).dtype)

    @property
    def state_dtype(self) -> torch.dtype:
        return complex_dtype_of(self.real_dtype) if self.is_complex else self.real_dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ----------------------------------------------------------------- the recurrence pieces
    def register_initial_state(self, learn: bool, bound: float = 0.0) -> None:
        r"""Register the learned initial state ``h0`` (None when ``learn`` is False).

        Args:
            learn: whether h_0 is a parameter (N reals, 2N for complex cells).
            bound: each real part is drawn from U(−bound, bound) (0: starts at zero).

        Raises:
            ValueError: ``learn`` is not a bool (the option is ``learn_initial_state``).
        """
        learn = check(learn, boolean, "learn_initial_state")
        self.h0 = None
        if learn:
            h0 = torch.zeros(self.hidden_size, dtype=self.state_dtype, device=self.device)
            with torch.no_grad():
                (torch.view_as_real(h0) if h0.is_complex() else h0).uniform_(-bound, bound)
            self.h0 = nn.Parameter(h0)

    def initial_state(self, batch_size: int, device=None, dtype=None):
        r"""The state before the first step, (B, N), complex for complex cells: zero, or the learned h_0.

        Args:
            batch_size: B.
            device: defaults to the cell's device.
            dtype: defaults to the cell's state dtype.
        """
        if self.h0 is not None:
            return self.h0.to(device=device, dtype=dtype).expand(batch_size, -1)
        return torch.zeros(
            batch_size, self.hidden_size, device=device or self.device, dtype=dtype or self.state_dtype
        )

    def prepare(self) -> Any:
        r"""Materialise what the recurrence needs once per forward (dense W, Cayley, expm, ...)."""
        raise NotImplementedError

    def project_input(self, x: Tensor) -> Tensor:
        r"""U x (+ b) for all leading dims at once: (..., n_in) -> (..., N)."""
        raise NotImplementedError

    def recur(self, u: Tensor, state, ctx: Any):
        r"""One step from the projected input ``u`` (B, N) and the previous state; returns the new state."""
        raise NotImplementedError

    def state_output(self, state) -> Tensor:
        r"""The (B, N) tensor of a state that is emitted (h; for gated cells, h of (h, c))."""
        return state

    def emit(self, h: Tensor) -> Tensor:
        r"""Real outputs from stacked hidden states: h for real cells, [Re h; Im h] for complex ones."""
        if not h.is_complex():
            return h
        # one copy each way; cat([h.real, h.imag]) would make its backward fill and copy a (…, N, 2) zero twice
        return torch.view_as_real(h).movedim(-1, -2).flatten(-2)

    # ----------------------------------------------------------------- public API
    def forward(self, x: Tensor, state=None):
        r"""Run the whole sequence.

        Args:
            x: real (T, B, input_size), time-major.
            state: the state before the first step; None means :meth:`initial_state` (B).

        Returns:
            ``(out, state)``: real (T, B, output_size) outputs and the final state.

        Raises:
            ValueError, TypeError: ``x`` is not (T, B, input_size) of the cell's dtype, or ``state`` is not the
                cell's state for B (:meth:`check_state`); before any work.
        """
        self._check_input(x, 3, "(T, B, input_size)")
        if state is None:
            state = self.initial_state(x.shape[1], device=x.device)
        else:
            self.check_state(state, x.shape[1])
        return self.run(x, state)

    def run(self, x: Tensor, state):
        r"""The sequence loop behind :meth:`forward` (inputs already checked, state given).

        Families backed by a fused torch kernel (``nn.LSTM``, ``nn.RNN``) override it and set
        ``step_via_run`` so that :meth:`step` reuses it on a length-1 sequence.
        """
        return run_sequence(self, x, state)  # urnn_zoo.cells.execution: fused, or the per-step loop

    def fused_map(self, ctx: Any) -> tuple[LinearMap, tuple[Tensor, ...]] | None:
        r"""The recurrence as a linear map for :func:`urnn_zoo.engine.recurrence.fused_recurrence`, or None.

        Cells whose step is σ(L h + u) return the map L and its tensors, built from what :meth:`prepare` returned,
        and declare σ by :meth:`fused_activation`; :meth:`run` then uses the fused loop unless ``fused`` is False
        (the per-step reference path, kept for tests and comparisons). Default: None (no linear map).
        """
        return None

    def fused_activation(self) -> FusedActivation | None:
        r"""The σ that :meth:`recur` applies after the linear map of :meth:`fused_map`, declared for the fused loop.

        A cell whose step is modReLU(L h + u) or tanh(L h + u) returns ``FusedActivation.of(its activation)``:
        ``("modrelu", bias, eps)`` or ``("tanh", None, 0.0)`` (:class:`~urnn_zoo.cells.execution.FusedActivation`).
        Default: None, which keeps the per-step loop whatever :meth:`fused_map` returns (a σ the fused loop does
        not have, such as leaky ReLU, or gates).
        """
        return None

    def step(self, x_t: Tensor, state=None):
        r"""One step; the same numbers as one step of :meth:`forward`.

        Args:
            x_t: real (B, input_size).
            state: previous state (None: :meth:`initial_state`).

        Returns:
            ``(y_t, state)`` with y_t real (B, output_size).

        Raises:
            ValueError, TypeError: as :meth:`forward`, before any work.
        """
        self._check_input(x_t, 2, "(B, input_size)")
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device)
        else:
            self.check_state(state, x_t.shape[0])
        if self.step_via_run:
            out, state = self.run(x_t.unsqueeze(0), state)
            return out.squeeze(0), state
        with parametrize.cached():
            state = self.recur(self.project_input(x_t), state, self.prepare())
        return self.emit(self.state_output(state)), state

    def recurrent_matrix(self) -> Tensor:
        r"""The dense N x N map applied to the hidden state (complex for complex cells)."""
        raise NotImplementedError

    def penalty(self) -> Tensor:
        r"""Soft-constraint term the trainer adds times λ; 0 for cells without one."""
        return torch.zeros((), dtype=self.real_dtype, device=self.device)

    def unitarity_error(self) -> Tensor:
        r"""‖W^H W − I‖_F of the recurrent matrix (families override it where W need not be formed).

        Evaluated in double precision and returned in the cell's precision, so float32 drift below the
        float32 rounding of the Gram matrix (~1e-6 at N=64) is still measured.
        """
        with torch.no_grad():
            w = self.recurrent_matrix()
            wide = torch.complex128 if w.is_complex() else torch.float64
            return frobenius_unitarity_error(w.to(wide)).to(self.real_dtype)

    def on_optimizer_step(self) -> None:
        r"""Called by the trainer after every optimizer step; does nothing by default (expRNN with ``rebase_every``
        re-bases there)."""

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"

    def _apply(self, fn, recurse=True):
        # Note [Precision conversion of complex cells]: what fn makes of a float32 scalar is the new precision.
        target = real_dtype_of(fn(torch.zeros(())).dtype)
        if target not in PRECISIONS:
            raise ValueError(
                f"{self.name}: a cell's precision must be torch.float32 or torch.float64 (complex parts follow), "
                f"got a conversion to {target}"
            )
        return super()._apply(_keep_complex(fn), recurse)

    # ----------------------------------------------------------------- validation
    def check_state(self, state: Any, batch: int) -> None:
        r"""Refuse, before any work, a state that is not one (``batch``, N) tensor of :attr:`state_dtype` (a tuple
        of them per :attr:`state_parts`): ``TypeError`` or ``ValueError`` (:func:`.validation.check_state`)."""
        check_state(self, state, batch)

    def _check_input(self, x: Tensor, ndim: int, shape: str) -> None:
        check_input(self, x, ndim, shape)
