r"""nnRNN: the non-normal RNN (Kerg, Goyette, Puelma Touzel, Gidel, Vorontsov, Bengio, Lajoie, NeurIPS 2019,
arXiv 1905.12080).

h_t = modReLU(W h_{t−1} + V x_t), W = (P (Λ + T) Pᵀ)ᵀ with P = expm(A) orthogonal (A skew-symmetric, expRNN's
parametrisation), Λ block-diagonal with 2x2 blocks γ_i R(θ_i) (rotations by θ_i scaled by magnitudes γ_i) and T
strictly upper triangular (the non-normal part); real throughout. The original code forms P (Λ + T) Pᵀ and
multiplies row vectors by it (Note [nnRNN orientation]).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from urnn_zoo.activations import ModReLU
from urnn_zoo.arguments import check, nonnegative_float
from urnn_zoo.cells.shared import SKEW_INITS, RowMatrixCell, frobenius_unitarity_error, skew_init, skew_of
from urnn_zoo.cells.sizes import InadmissibleSizeError
from urnn_zoo.linalg import expm

__all__ = ["NnRNN", "rotation_blocks"]


# Note [nnRNN orientation]
# The paper writes the recurrent matrix in real Schur form, V = P(Λ + T)Pᵀ. The code (KyleGoyette/nnRNN,
# `RNN_Cell.OrthoRNNCell.calc_rec`) forms that same matrix, call it W_row = P (Λ + T) Pᵀ with T upper, and
# multiplies row vectors by it, `hidden @ rec`. We keep the code (Note [Row-convention cells] in
# urnn_zoo.cells.shared): the step applies W_row to row-batched states, and the map applied to column vectors,
# `recurrent_matrix()`, is W_rowᵀ = P (Λ + T)ᵀ Pᵀ. This is the
# same set of matrices as the paper's: with J the reversal permutation, W_rowᵀ = (PJ)·J(Λ + T)ᵀJ·(PJ)ᵀ, where PJ is
# orthogonal, JTᵀJ strictly upper triangular and JΛᵀJ block-diagonal with 2x2 rotation blocks. Same parameters,
# same initial W and the same trajectory under any optimizer (tests/test_nnrnn.py runs the original's step).

# Note [nnRNN's Schur factor]
# The code builds Λ + T as `alpha_block * D + UppT * M`: D holds the rotations R(θ_i) = [[cos, −sin], [sin, cos]]
# on the pairs (2i, 2i+1), alpha_block the magnitude γ_i on each whole block, and M the strictly upper mask of the
# free N x N matrix UppT. The mask is strictly upper over the whole matrix, so T also has the entry t_i at
# (2i, 2i+1) inside each block, which becomes [[γc, −γs + t_i], [γs, γc]] (c = cos θ_i, s = sin θ_i). Its
# eigenvalues are γc ± √((t_i − γs)·γs): with t_i = 0 they are γ_i e^{±iθ_i}, |λ| = γ_i, the paper's spectrum;
# a trained t_i moves them (|λ|² = γ² − γ·s·t_i while t_i·s < γ·s², else two real ones). We keep the code's mask,
# so W is any matrix the original reaches. The entries of T outside the blocks never touch the spectrum. The
# code needs an even N (its loop over blocks reads entry i + 1 for every even i); so does this cell.

# Note [nnRNN's penalty and learning rates]
# The original adds δ·Σ_i (γ_i − 1)² to the loss (`alpha_loss`, δ the flag `--alam`) and decays T by putting UppT in
# an optimizer group with `weight_decay = Tdecay`. torch's RMSprop and Adam add Tdecay·T to T's gradient, which
# is the gradient of (Tdecay/2)·‖T‖_F² in the loss: the same update. So `penalty()` is
#     Σ_i (γ_i − 1)² + (ρ/2)·‖T‖_F²,   ρ = `t_decay_ratio`,
# the cell is `constraint = "soft"`, and the trainer's λ·penalty() (`penalty_weight`) is the original's δ-term plus
# its T decay with Tdecay = λ·ρ. The penalty is zero exactly at γ = 1, T = 0, where W = P R Pᵀ is orthogonal.
# (One difference: the trainer clips the gradient of loss + λ·penalty, the original clips before adding Tdecay·T;
# they agree without clipping, as in every copy and sMNIST run of the paper.) The original trains P = expm(A)
# with its own optimizer at `--lr_orth` through expRNN's Fréchet-derivative step, which is the gradient of A
# that autograd through expm gives (tested), and θ, γ, T with the main optimizer at `--lr`. The cell returns A as
# its `constrained_parameters()`, so the zoo's trainer gives A `constrained_lr` (the original's lr_orth) and θ, γ,
# T `recurrent_lr` (None: `lr`, the original's lr): `constrained_lr = lr_orth`, `lr = --lr` is the original run.


def rotation_blocks(theta: Tensor, gamma: Tensor) -> Tensor:
    r"""Λ: the block-diagonal matrix of the 2x2 blocks γ_i·[[cos θ_i, −sin θ_i], [sin θ_i, cos θ_i]].

    Kerg et al. (NeurIPS 2019, arXiv 1905.12080), the normal part of the Schur form; code ``calc_D`` and
    ``calc_alpha_block`` (Note [nnRNN's Schur factor]). Built from three diagonals, vectorised over the blocks.

    Args:
        theta: (k,) angles θ_i (radians).
        gamma: (k,) magnitudes γ_i.

    Returns:
        The (2k, 2k) Λ, differentiable in both.

    Raises:
        ValueError: ``theta`` and ``gamma`` are not 1-D tensors of the same length.

    Example:
        >>> lam = rotation_blocks(torch.tensor([0.0, math.pi / 2]), torch.tensor([0.5, 2.0]))
        >>> expected = torch.tensor([[0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0, -2.0], [0, 0, 2.0, 0]])
        >>> (lam - expected).abs().max().item() < 1e-6  # cos(π/2) rounds to −4.4e-8 in float32
        True
    """
    if theta.dim() != 1 or theta.shape != gamma.shape:
        raise ValueError(f"rotation_blocks expects theta and gamma of one shape (k,), got shapes "
                         f"{tuple(theta.shape)} and {tuple(gamma.shape)}")
    c, s = gamma * torch.cos(theta), gamma * torch.sin(theta)
    zero = torch.zeros_like(s)
    upper = torch.stack([-s, zero], -1).flatten()[:-1]  # (2i, 2i+1) holds −γ sin θ, (2i+1, 2i+2) is 0
    lower = torch.stack([s, zero], -1).flatten()[:-1]
    return torch.diag(c.repeat_interleave(2)) + torch.diag(upper, 1) + torch.diag(lower, -1)


class NnRNN(RowMatrixCell):
    r"""nnRNN: a recurrent matrix in real Schur form, orthogonal basis P, rotations with learned magnitudes Λ and
    a strictly upper triangular non-normal part T.

    As in the original code the state is multiplied on the right by W_row = P (Λ + T) Pᵀ, so
    ``recurrent_matrix()`` (the column map) is W_rowᵀ (Note [nnRNN orientation]).

    Args:
        input_size: n_in.
        hidden_size: N, even (Λ's 2x2 blocks; the original's loop needs it too).
        dtype, device: of the parameters.
        init: ``"cayley"`` (default; the init of every nnRNN run the paper reports) or ``"henaff"``, the init of
            P's generator A (:func:`urnn_zoo.cells.base.skew_init`).
        t_decay_ratio: ρ >= 0, the weight of ½‖T‖_F² in :meth:`penalty` relative to Σ(γ_i − 1)² (default 0.01).
            The trainer's ``penalty_weight`` λ is the paper's δ and λ·ρ the original's T weight decay: the paper's
            copy task (δ = 1e-4, decay 1e-6) is ρ = 0.01, its psMNIST (δ = 0.1, decay 1e-4) ρ = 1e-3.

    Parameters: A's free N x N matrix (strictly upper part used; P = expm(A), A = S − Sᵀ), θ (N/2) and γ (N/2),
    T's free N x N matrix (strictly upper part used), V (N x n_in, Xavier-normal, no bias) and modReLU's bias
    (U(±0.01), the only bias). Init as the original: A from ``init``, θ_i ~ U(0, 2π), γ_i = 1, T = 0, so W starts
    orthogonal (here P and Λ commute: W = Λᵀ at init).

    Counts (docs/parameter-counting.md): recurrent ``stored`` 2N² + N, recurrent ``dof`` N² = N(N − 1)/2 (A) +
    N(N − 1)/2 (T) + N/2 (θ) + N/2 (γ). N² is the paper's count: its equal-budget PTB runs put nnRNN at N = 1024
    against expRNN at N = 1386, both "about 1.32M", which holds (1,315,650 and 1,317,741 with 200-wide embeddings
    and 50 characters) only with N² for nnRNN's recurrent map. (The original code stores 3N² + 3N/2: a copy of P as
    a parameter and N angles of which N/2 are used.)

    ``constraint`` is ``"soft"``: :meth:`penalty` is the paper's δ-penalty on the magnitudes plus T's decay (Note
    [nnRNN's penalty and learning rates], which also says what the trainer's learning rates reproduce).
    :meth:`unitarity_error` is ‖WᵀW − I‖_F, the distance of W from the orthogonal matrices that T and γ ≠ 1 open
    by design; :meth:`basis_error` measures P alone.

    Example:
        >>> cell = NnRNN(3, 6)
        >>> c = cell.parameter_count()
        >>> c.recurrent_stored, c.recurrent_dof
        (78, 36)
        >>> cell.penalty().item(), cell.unitarity_error().item() < 1e-6
        (0.0, True)
    """

    name = "nnrnn"
    constraint = "soft"

    @classmethod
    def size_rule(cls, hidden_size: int, options: dict) -> None:
        r"""N even (>= 2): Λ is N/2 blocks of size 2x2."""
        if hidden_size % 2:
            raise InadmissibleSizeError(
                f"{cls.name}: hidden_size must be an even int >= 2 (2x2 rotation blocks of Λ), got {hidden_size!r}")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype=None,
        device=None,
        init: str = "cayley",
        t_decay_ratio: float = 0.01,
    ) -> None:
        if not isinstance(init, str) or init not in SKEW_INITS:
            raise ValueError(f"init must be one of {SKEW_INITS}, got {init!r}")
        t_decay_ratio = check(t_decay_ratio, nonnegative_float, "t_decay_ratio")
        super().__init__(input_size, hidden_size, is_complex=False)
        dtype = dtype or torch.get_default_dtype()
        n, k = hidden_size, hidden_size // 2
        self.init, self.t_decay_ratio = init, t_decay_ratio
        self.raw_basis = nn.Parameter(skew_init(n, init).triu(1).to(dtype=dtype, device=device))
        self.theta = nn.Parameter((torch.rand(k, dtype=torch.float64) * (2 * math.pi)).to(dtype=dtype, device=device))
        self.gamma = nn.Parameter(torch.ones(k, dtype=dtype, device=device))
        self.raw_upper = nn.Parameter(torch.zeros(n, n, dtype=dtype, device=device))
        self.input = nn.Linear(input_size, n, bias=False, dtype=dtype, device=device)
        nn.init.xavier_normal_(self.input.weight)
        self.act = ModReLU(n, bias_init=0.01, dtype=dtype, device=device)

    # ----------------------------------------------------------------- the Schur form
    def skew(self) -> Tensor:
        r"""P's generator A = S − Sᵀ, S the strictly upper part of ``raw_basis``."""
        return skew_of(self.raw_basis)

    def basis(self) -> Tensor:
        r"""The orthogonal P = expm(A) (the original's ``_B``), through the zoo's :func:`urnn_zoo.linalg.expm`."""
        return expm(self.skew())

    def upper(self) -> Tensor:
        r"""T, the strictly upper triangular part of ``raw_upper`` (the original's ``UppT * M``)."""
        return self.raw_upper.triu(1)

    def schur_factor(self) -> Tensor:
        r"""Λ + T (Note [nnRNN's Schur factor]); the row map is P (Λ + T) Pᵀ."""
        return rotation_blocks(self.theta, self.gamma) + self.upper()

    def row_matrix(self) -> Tensor:
        r"""W_row = P (Λ + T) Pᵀ, the matrix the original multiplies its row-vector state by."""
        p = self.basis()
        return p @ self.schur_factor() @ p.mT

    # ----------------------------------------------------------------- the contract
    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [self.raw_basis, self.theta, self.gamma, self.raw_upper]

    def constrained_parameters(self) -> list[nn.Parameter]:
        r"""P's generator A, which the paper trains at its own rate (``lr_orth``; the trainer's ``constrained_lr``)."""
        return [self.raw_basis]

    def recurrent_dof(self) -> int:
        return self.hidden_size * self.hidden_size  # 2·N(N − 1)/2 + N/2 + N/2

    def penalty(self) -> Tensor:
        r"""Σ_i (γ_i − 1)² + (ρ/2)·‖T‖_F² (Note [nnRNN's penalty and learning rates]); a real scalar.

        The original's ``alpha_loss`` (summed squared errors of the magnitudes against 1) and its weight decay on
        T, in units of δ: the trainer multiplies the whole by ``penalty_weight`` = δ.
        """
        return (self.gamma - 1).pow(2).sum() + 0.5 * self.t_decay_ratio * self.upper().pow(2).sum()

    def unitarity_error(self) -> Tensor:
        r"""‖WᵀW − I‖_F, computed as ‖(Λ + T)ᵀ(Λ + T) − I‖_F in double precision.

        W = P (Λ + T)ᵀ Pᵀ with P orthogonal, so WᵀW − I = P (Λ + T)(Λ + T)ᵀ Pᵀ − I has the Frobenius norm of
        (Λ + T)(Λ + T)ᵀ − I, which equals that of (Λ + T)ᵀ(Λ + T) − I (both are Σ(σ_j² − 1)² under the root).
        It is the designed distance of W from the orthogonal matrices (0 at init, where γ = 1 and T = 0), not
        rounding: P's own error is :meth:`basis_error`. Returned in the cell's precision.
        """
        with torch.no_grad():
            return frobenius_unitarity_error(self.schur_factor().to(torch.float64)).to(self.real_dtype)

    def basis_error(self) -> Tensor:
        r"""‖PᵀP − I‖_F of the basis P = expm(A), evaluated in double precision from P in the cell's precision
        (rounding only: P is orthogonal for every A). Returned in the cell's precision."""
        with torch.no_grad():
            return frobenius_unitarity_error(self.basis().to(torch.float64)).to(self.real_dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, init={self.init!r}, t_decay_ratio={self.t_decay_ratio}"
