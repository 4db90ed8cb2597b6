r"""expRNN and its dynamic trivialization (Lezcano-Casado & Martínez-Rubio, ICML 2019, arXiv 1901.08428;
Lezcano-Casado, NeurIPS 2019, arXiv 1909.09501), through geotorch.

h_t = modReLU(W h_{t−1} + V x_t), W = (B·φ(A))ᵀ with A skew-symmetric, φ = expm or the Cayley map
(I + A)⁻¹(I − A), B a fixed orthogonal base (I unless re-based), real throughout: the original code applies
B·φ(A) to row vectors (Note [expRNN orientation]).
"""
from __future__ import annotations

import geotorch
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from urnn_zoo.activations import ModReLU
from urnn_zoo.cells.shared import SKEW_INITS as INITS, RowMatrixCell, skew_init, skew_of
from urnn_zoo.linalg import expm  # re-exported: the zoo's one accurate matrix exponential

__all__ = ["ExpRNN", "expm", "cayley_map", "MAPS"]


# Note [expRNN orientation]
# expRNN's code (Lezcano/expRNN, `orthogonal.py`) stores a raw N x N matrix R, takes A = triu(R, 1) − triu(R, 1)ᵀ,
# forms B_row = base·φ(A) and applies it to row vectors, h·B_row. Its φ are `expm` and `cayley_map`, the latter
# `torch.solve(I − A, I + A)`, which solves (I + A)·Y = I − A: φ(A) = (I + A)⁻¹(I − A). We keep exactly that:
# geotorch's `SO` manifold with `lower=False` reads the strictly upper part of its free matrix and returns
# base @ φ(A) (the same order); `row_matrix()` returns it, and the step computes h @ B_row
# (Note [Row-convention cells] in urnn_zoo.cells.shared). The map applied to column vectors,
# `recurrent_matrix()`, is therefore W = B_rowᵀ: with base I, W = φ(A)ᵀ = expm(A)ᵀ = expm(−A), or
# ((I + A)⁻¹(I − A))ᵀ = (I − A)⁻¹(I + A). For A = [[0, 0.5], [−0.5, 0]] the Cayley map gives
# B_row = [[0.6, −0.8], [0.8, 0.6]] and W = [[0.6, 0.8], [−0.8, 0.6]]. Same parameter, same base, same re-basing
# as the original, so every optimizer follows the same trajectory (tests/test_original_maps.py). (A Cayley map
# written the other way round, (I − A)⁻¹(I + A), would run the original on −A: mirrored initialisation and
# trajectory. geotorch.orthogonal would instead put the base on the other side of the column map.)

# Note [expRNN dynamic trivialization]
# With `rebase_every = K > 0` the cell re-bases after every K optimizer steps (`on_optimizer_step`): the
# current W becomes the new base and A restarts at 0, so W does not change. geotorch does the move itself:
# assigning the weight calls `SO.right_inverse`, which copies it into the base buffer and returns A = 0
# (`geotorch.update_base` does the same). The original also re-projects the base onto O(N) by SVD every
# 30–100 base changes so rounding cannot accumulate; we project at every re-base (U Vᵀ of the SVD, QR with the
# signs of R's diagonal as the fallback), one O(N³) factorisation per K optimizer steps. The step counter is a
# buffer, so a resumed run keeps its phase. K = 0 (default) is static expRNN: base I for ever.


def cayley_map(a: Tensor) -> Tensor:
    r"""expRNN's Cayley map φ(A) = (I + A)⁻¹(I − A), by one dense solve.

    Lezcano-Casado & Martínez-Rubio (ICML 2019, arXiv 1901.08428), ``trivializations.py``: ``torch.solve(I − A,
    I + A)`` solves (I + A)·Y = I − A. geotorch's own "cayley" is a different map, (I + A/2)(I − A/2)⁻¹.

    Args:
        a: (..., n, n) skew-symmetric (then I + A is invertible: its eigenvalues are 1 + iλ).

    Returns:
        The orthogonal (..., n, n) φ(A), differentiable in ``a``.

    Example:
        >>> a = torch.tensor([[0.0, 0.5], [-0.5, 0.0]])
        >>> cayley_map(a)
        tensor([[ 0.6000, -0.8000],
                [ 0.8000,  0.6000]])
    """
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    return torch.linalg.solve(eye + a, eye - a)


MAPS = {"expm": expm, "cayley": cayley_map}


class ExpRNN(RowMatrixCell):
    r"""expRNN: an orthogonal recurrent kernel through the exponential (or Cayley) map, via geotorch.

    Args:
        input_size: n_in.
        hidden_size: N.
        dtype, device: of the parameters.
        map: ``"expm"`` (default; :func:`urnn_zoo.linalg.expm`) or ``"cayley"`` (expRNN's (I + A)⁻¹(I − A),
            :func:`cayley_map`), the trivialization φ; W = (base·φ(A))ᵀ (Note [expRNN orientation]).
        init: ``"henaff"`` (default) or ``"cayley"``, the init of A (:func:`skew_init`).
        rebase_every: K > 0 re-bases every K optimizer steps (dtriv, Note [expRNN dynamic trivialization]);
            0 (default) is static.

    The free parameter is geotorch's unconstrained original (N² stored, N(N−1)/2 used); modReLU
    sign(z)·ReLU(|z| + b) with b ~ U(±0.01) carries the only bias; V has no bias, Kaiming-normal (ReLU gain).

    Example:
        >>> cell = ExpRNN(3, 6)
        >>> c = cell.parameter_count()
        >>> c.recurrent_stored, c.recurrent_dof
        (36, 15)
    """

    name = "exprnn"
    constraint = "exact"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype=None,
        device=None,
        map: str = "expm",
        init: str = "henaff",
        rebase_every: int = 0,
    ) -> None:
        super().__init__(input_size, hidden_size, is_complex=False)
        if not isinstance(map, str) or map not in MAPS:
            raise ValueError(f"map must be one of {tuple(MAPS)}, got {map!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if isinstance(rebase_every, bool) or not isinstance(rebase_every, int) or rebase_every < 0:
            raise ValueError(f"rebase_every must be an int >= 0 (0: static), got {rebase_every!r}")
        dtype = dtype or torch.get_default_dtype()
        n = hidden_size
        self.map_name, self.init, self.rebase_every = map, init, rebase_every
        # Registering on the identity sets geotorch's base to I and its original to 0 (SO.right_inverse).
        self.recurrent_kernel = nn.Module()
        self.recurrent_kernel.weight = nn.Parameter(torch.eye(n, dtype=dtype, device=device))
        so = geotorch.SO((n, n), triv=MAPS[map], lower=False).to(device=device, dtype=dtype)
        parametrize.register_parametrization(self.recurrent_kernel, "weight", so, unsafe=True)
        with torch.no_grad():
            self.raw_skew.copy_(skew_init(n, init))
        self.input = nn.Linear(input_size, n, bias=False, dtype=dtype, device=device)
        nn.init.kaiming_normal_(self.input.weight, nonlinearity="relu")
        self.act = ModReLU(n, bias_init=0.01, dtype=dtype, device=device)
        self.register_buffer("optimizer_steps", torch.zeros((), dtype=torch.long, device=device))

    @property
    def raw_skew(self) -> nn.Parameter:
        r"""geotorch's unconstrained N x N original; A is its strictly upper part minus its transpose."""
        return self.recurrent_kernel.parametrizations.weight.original

    @property
    def base(self) -> Tensor:
        r"""The orthogonal base (geotorch's buffer): I for static expRNN, the last re-based W otherwise."""
        return self.recurrent_kernel.parametrizations.weight[0].base

    def skew(self) -> Tensor:
        r"""The generator A = triu(R, 1) − triu(R, 1)ᵀ."""
        return skew_of(self.raw_skew)

    def row_matrix(self) -> Tensor:
        r"""B_row = base·φ(A), the (N, N) matrix the original multiplies its row-vector state by; the column map
        ``recurrent_matrix()`` is B_rowᵀ (Note [expRNN orientation], Note [Row-convention cells])."""
        return self.recurrent_kernel.weight

    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [self.raw_skew]

    def recurrent_dof(self) -> int:
        return self.hidden_size * (self.hidden_size - 1) // 2

    def on_optimizer_step(self) -> None:
        if self.rebase_every:
            self.optimizer_steps += 1
            if int(self.optimizer_steps) % self.rebase_every == 0:
                self.rebase()

    def rebase(self) -> None:
        r"""Move the base to the current (projected) W and restart A at 0 (Note [expRNN dynamic trivialization])."""
        with torch.no_grad():
            b_row = self.recurrent_kernel.weight
            try:
                u, _, vh = torch.linalg.svd(b_row)
                b_row = u @ vh
            except torch.linalg.LinAlgError:
                q, r = torch.linalg.qr(b_row)
                b_row = q * torch.sign(r.diagonal())
            self.recurrent_kernel.weight = b_row  # geotorch: base <- b_row, original <- 0

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, map={self.map_name!r}, init={self.init!r}, rebase_every={self.rebase_every}"
