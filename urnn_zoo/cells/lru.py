r"""Linear Recurrent Unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu, De, "Resurrecting Recurrent Neural
Networks for Long Sequences", ICML 2023, PMLR 202; arXiv 2303.06349).

h_t = λ ⊙ h_{t−1} + γ ⊙ (B x_t), λ = exp(−exp(ν^log) + i·exp(θ^log)), γ = exp(γ^log): a diagonal, complex,
linear and contractive recurrence (|λ| < 1 for every finite ν^log), run over the whole sequence as a parallel
scan (:func:`urnn_zoo.engine.scan.diagonal_scan`). The paper's readout Re(C h_t) + D x_t and its residual GLU
block are Note [LRU readout] and the option ``block="glu"``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from urnn_zoo.arguments import check, float_in, one_of, positive_int, probability
from urnn_zoo.cells.base import ComplexInput, RecurrentCell, complex_dtype_of
from urnn_zoo.engine.scan import diagonal_scan

__all__ = ["LRU", "STRATEGIES", "BLOCKS", "ring_init"]

STRATEGIES = ("scan", "loop")
BLOCKS = ("none", "glu")

# Note [LRU parametrisation]
# The paper's §3.3–3.4 and its Appendix A code: λ_j = exp(−exp(ν_j^log) + i·exp(θ_j^log)) with ν^log, θ^log ∈ ℝ^N
# learned, so |λ_j| = exp(−exp(ν_j^log)) < 1 for every finite ν^log (the "stable exponential parametrisation"; in
# floating point |λ_j| rounds to 1 once exp(ν_j^log) is below half the unit roundoff, ν^log < −16.6 in float32
# and −36.7 in float64; the modulus never exceeds 1), and the phase θ_j = exp(θ_j^log) > 0. The input is scaled
# per unit by γ_j = exp(γ_j^log), a learned parameter initialised at √(1 − |λ_j|²) (§3.4, Eq. 7): under
# white-noise input E|h_∞,j|² = γ_j² E|(Bx)_j|² / (1 − |λ_j|²), so at initialisation every unit's state has the
# variance of its drive, however close |λ_j| is to 1.
# Every computation of |λ| goes through ν^log clamped at log(−log(tiny)) (tiny: the smallest normal number of
# the dtype): beyond it |λ| is below tiny anyway, and the clamp keeps exp(ν^log) from overflowing, where the
# gradient of exp(−exp(ν^log)) would be inf·0 = NaN (ν^log > 88.7 in float32), and λ from being subnormal.
#
# Note [LRU ring initialisation]
# The paper's Lemma 2: with u₁, u₂ ~ U[0, 1], |λ|² = u₁(r_max² − r_min²) + r_min² and θ = max_phase·u₂ make λ
# uniform on the ring r_min ≤ |λ| ≤ r_max (with phases in [0, max_phase)). We draw in float64 and form both
# a = |λ|² = r_min² + u₁(r_max² − r_min²) and s = 1 − |λ|² = (1 − r_max)(1 + r_max) + (1 − u₁)(r_max² − r_min²)
# directly, then ν = −½·log a where a < ½ and −½·log1p(−s) elsewhere, and γ^log = ½·log s: the same
# distribution, without cancellation. The Appendix A code forms |λ|² and then log(√(1 − |λ|²)) in float32: on
# [0, 1] its γ^log is off by up to 0.024 (a million draws), and near the circle it is not finite (on
# [0.99999, 1], 343 of 100 000 draws give γ^log = −∞ and 10 give ν^log = −∞, |λ|² having rounded to 1); near 0,
# r_max² underflows (r_max = 1e-30: ν^log = +∞ for every draw). Here ν^log, θ^log and γ^log are finite for every
# admissible ring: u₁ is kept ≥ 2⁻⁵² and u₂ > 0 (a draw u₁ = 0 with r_min = 0 gives |λ| = 0, ν^log = +∞; u₂ = 0 a
# phase 0, θ^log = −∞), and |λ|² and the phase are kept ≥ tiny (a ring of radius below 1.5e-154, such as
# r_max = 0, starts at that radius). r_min = 1 (the unit circle) is refused: |λ| = 1 is ν^log = −∞, outside
# the parametrisation.
#
# Note [LRU readout]
# The paper's layer reads out y_t = Re(C h_t) + D ⊙ x_t with C ∈ ℂ^{H×N} and D ∈ ℝ^H (H_in = H_out = H).
# Re(C h) = C_re·Re h − C_im·Im h is a real linear map of [Re h; Im h], the cell's output: so the plain cell
# (``block="none"``) emits [Re h; Im h] like every complex cell of the zoo, and the readout C is the zoo's
# head on it (``SequenceModel``'s ``nn.Linear(2N, n_out)`` holds exactly the 2·n_out·N reals of C, plus a bias).
# D x_t is a skip from the input to the output that a head reading the cell's output cannot see; it exists with
# ``block="glu"``, where the layer's output is the paper's block of §D.1 (Fig. 1): e_t = E x_t + b (the encoder
# into H features), z_t = LayerNorm(e_t), h_t = λ ⊙ h_{t−1} + γ ⊙ (B z_t), y_t = Re(C h_t) + D ⊙ z_t,
# a_t = GELU(y_t), out_t = e_t + (W₁a_t + b₁) ⊙ σ(W₂a_t + b₂) (a GLU with its two linear maps, residual).
#
# Note [LRU parameter count]
# The paper's LRU layer with H_in = H_out = H holds 3N (ν^log, θ^log, γ^log) + 2NH (B) + 2HN (C) + H (D) reals.
# Here, ``block="none"``: the cell stores 2N recurrent reals (ν^log, θ^log: ``recurrent_parameters()``,
# recurrent_stored = recurrent_dof = 2N), γ^log (N, on the input side like a bias) and B (2·N·n_in), stored =
# dof = 3N + 2N·n_in. ``SequenceModel(cell, n_out)`` adds 2N·n_out + n_out: with n_in = n_out = H that is the
# paper's 3N + 4NH + H, the head's bias standing where D was. ``block="glu"`` adds the encoder (H·n_in + H), the
# LayerNorm (2H), C (2HN), D (H) and the GLU (2H² + 2H), with B then 2NH.


def _nu_log_limit(dtype: torch.dtype) -> float:
    r"""log(−log(tiny)) of ``dtype``: above it |λ| = exp(−exp(ν^log)) is below the smallest normal number."""
    return math.log(-math.log(torch.finfo(dtype).tiny))


def ring_init(n: int, r_min: float, r_max: float, max_phase: float, generator: torch.Generator | None = None
              ) -> tuple[Tensor, Tensor, Tensor]:
    r"""The paper's ring initialisation (Lemma 2) of (ν^log, θ^log, γ^log), float64 (Note [LRU ring
    initialisation]).

    λ = exp(−exp(ν^log) + i·exp(θ^log)) is uniform on the ring r_min ≤ |λ| ≤ r_max with phase in (0, max_phase],
    and exp(γ^log) = √(1 − |λ|²) (the paper's §3.4).

    Args:
        n: N, the number of eigenvalues.
        r_min, r_max: the ring's radii, 0 ≤ r_min ≤ r_max ≤ 1 and r_min < 1.
        max_phase: the largest phase (radians), > 0.
        generator: for the draws (default: torch's global generator).

    Returns:
        ``(nu_log, theta_log, gamma_log)``, three finite float64 (n,) tensors.

    Raises:
        ValueError: radii or phase outside those ranges.

    Example:
        >>> nu_log, theta_log, gamma_log = ring_init(1000, 0.9, 0.999, math.pi / 10)
        >>> r = torch.exp(-torch.exp(nu_log))
        >>> bool(r.min() >= 0.9 and r.max() <= 0.999 and torch.exp(theta_log).max() <= math.pi / 10)
        True
    """
    if not (0.0 <= r_min <= r_max <= 1.0 and r_min < 1.0 and max_phase > 0.0):
        raise ValueError(f"expected 0 <= r_min <= r_max <= 1, r_min < 1 and max_phase > 0, got r_min={r_min!r}, "
                         f"r_max={r_max!r}, max_phase={max_phase!r}")
    f64 = torch.float64
    tiny = torch.finfo(f64).tiny
    u1 = torch.rand(n, dtype=f64, generator=generator).clamp_(min=torch.finfo(f64).eps)  # [2⁻⁵², 1)
    u2 = 1.0 - torch.rand(n, dtype=f64, generator=generator)  # (0, 1]
    width = r_max**2 - r_min**2
    squared = (r_min**2 + u1 * width).clamp_(min=tiny)  # |λ|²
    gap = (1.0 - r_max) * (1.0 + r_max) + (1.0 - u1) * width  # 1 − |λ|², in (0, 1]
    nu = torch.where(squared < 0.5, -0.5 * torch.log(squared), -0.5 * torch.log1p(-gap))
    return torch.log(nu), torch.log((max_phase * u2).clamp_(min=tiny)), 0.5 * torch.log(gap)


class LRU(RecurrentCell):
    r"""Linear Recurrent Unit (Orvieto et al., ICML 2023, arXiv 2303.06349): h_t = λ ⊙ h_{t−1} + γ ⊙ (B x_t),
    complex diagonal λ = exp(−exp(ν^log) + i·exp(θ^log)), no activation; output [Re h; Im h] (2N), or with
    ``block="glu"`` the paper's residual block around it (H outputs).

    Args:
        input_size: n_in.
        hidden_size: N, the number of complex eigenvalues (any N ≥ 1).
        dtype, device: real precision and place of the parameters.
        r_min, r_max: the ring of the initial |λ| (Note [LRU ring initialisation]); default [0.9, 0.999], the
            ring of the paper's best sCIFAR and Pathfinder runs (Tables 5(c) and 8). ``r_min=0, r_max=1`` is its
            Appendix A code's default, the spectrum of a Glorot-initialised dense RNN (its Theorem 1).
        max_phase: the initial phases are uniform in (0, max_phase]; default 2π, as the paper uses on every task
            but PathX, where it takes π/10 (§3.4).
        strategy: ``"scan"`` (default): the whole sequence as a parallel scan with its own backward
            (:func:`urnn_zoo.engine.scan.diagonal_scan`); ``"loop"``: T steps h ← λ ⊙ h + u_t with autograd
            through them, the reference the scan is tested against. The same numbers up to rounding.
        block: ``"none"`` (default): the linear recurrence alone; ``"glu"``: the paper's block (encoder,
            LayerNorm, recurrence, Re(C h) + D z, GELU, GLU, residual; Note [LRU readout]).
        block_size: H, the block's width (default None: H = N); only with ``block="glu"``.

    Init as the paper's Appendix A: (ν^log, θ^log, γ^log) by :func:`ring_init`; B's real and imaginary parts
    N(0, 1/(2·n_in)) (Glorot with the variance halved per part; n_in is H with the block); with the block, C's
    parts N(0, 1/N) and D N(0, 1). The block's encoder, LayerNorm and GLU maps keep torch's default init.

    Counts (Note [LRU parameter count]): recurrent_stored = recurrent_dof = 2N (ν^log, θ^log); the cell stores
    3N + 2N·n_in reals without the block. ``constraint`` is ``"none"``: |λ| < 1 by construction, so W = diag(λ)
    is contractive, not unitary, and :meth:`unitarity_error` measures that distance.

    Raises:
        ValueError: an option outside the ranges above (one line naming it).

    Example:
        >>> cell = LRU(3, 16)
        >>> cell.parameter_count()
        ParamCount(stored=144, dof=144, recurrent_stored=32, recurrent_dof=32)
        >>> out, h = cell(torch.randn(10, 2, 3))
        >>> out.shape, h.shape, h.dtype
        (torch.Size([10, 2, 32]), torch.Size([2, 16]), torch.complex64)
    """

    name = "lru"
    constraint = "none"
    step_via_run = True  # a step is the scan of a one-step sequence: the same numbers as forward

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype=None,
        device=None,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = 2 * math.pi,
        strategy: str = "scan",
        block: str = "none",
        block_size: int | None = None,
    ) -> None:
        r_min = check(r_min, float_in(0.0, 1.0, high_open=True), "r_min")
        r_max = check(r_max, probability, "r_max")
        if r_max < r_min:
            raise ValueError(f"r_max: expected a number in [r_min, 1] = [{r_min:g}, 1], got {r_max!r}")
        max_phase = check(max_phase, float_in(0.0, 2 * math.pi, low_open=True), "max_phase")
        strategy = check(strategy, one_of(STRATEGIES, "a strategy"), "strategy")
        block = check(block, one_of(BLOCKS, "a block"), "block")
        if block == "none" and block_size is not None:
            raise ValueError(f"block_size: expected None without a block (block='none'), got {block_size!r}")
        width = hidden_size if block_size is None else check(block_size, positive_int, "block_size")
        super().__init__(input_size, hidden_size, is_complex=True)
        dtype = dtype or torch.get_default_dtype()
        self.r_min, self.r_max, self.max_phase = r_min, r_max, max_phase
        self.strategy, self.block = strategy, block
        self.block_size = width if block == "glu" else None
        n = hidden_size

        nu_log, theta_log, gamma_log = ring_init(n, r_min, r_max, max_phase)
        self.nu_log = nn.Parameter(nu_log.to(device=device, dtype=dtype))
        self.theta_log = nn.Parameter(theta_log.to(device=device, dtype=dtype))
        self.gamma_log = nn.Parameter(gamma_log.to(device=device, dtype=dtype))
        drive_in = width if block == "glu" else input_size
        self.input = ComplexInput(drive_in, n, dtype=dtype, device=device)  # B
        with torch.no_grad():
            torch.view_as_real(self.input.weight).normal_(0.0, 1.0 / math.sqrt(2 * drive_in))
        if block == "glu":
            h = width
            self.encoder = nn.Linear(input_size, h, dtype=dtype, device=device)
            self.norm = nn.LayerNorm(h, dtype=dtype, device=device)
            c = torch.empty(h, n, dtype=complex_dtype_of(dtype), device=device)
            with torch.no_grad():
                torch.view_as_real(c).normal_(0.0, 1.0 / math.sqrt(n))
            self.C = nn.Parameter(c)
            self.D = nn.Parameter(torch.randn(h, dtype=dtype, device=device))
            self.glu_out = nn.Linear(h, h, dtype=dtype, device=device)
            self.glu_gate = nn.Linear(h, h, dtype=dtype, device=device)

    # ----------------------------------------------------------------- the maps
    def _decay_rate(self) -> Tensor:
        r"""exp(ν^log) with ν^log clamped (Note [LRU parametrisation]): |λ| = exp(−this)."""
        return torch.exp(self.nu_log.clamp(max=_nu_log_limit(self.nu_log.dtype)))

    def eigenvalues(self) -> Tensor:
        r"""λ = exp(−exp(ν^log) + i·exp(θ^log)), complex (N,), |λ| < 1 (Note [LRU parametrisation])."""
        return torch.polar(torch.exp(-self._decay_rate()), torch.exp(self.theta_log))

    def _features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""(e, z): the block's encoded input and its LayerNorm (both x without the block)."""
        if self.block == "none":
            return x, x
        e = self.encoder(x)
        return e, self.norm(e)

    def _drive(self, z: Tensor) -> Tensor:
        r"""γ ⊙ (B z), complex (..., N)."""
        return self.input(z) * torch.exp(self.gamma_log)

    def _output(self, h: Tensor, z: Tensor, e: Tensor) -> Tensor:
        r"""The real outputs of stacked states h (..., N): [Re h; Im h], or the block (Note [LRU readout])."""
        pairs = self.emit(h)
        if self.block == "none":
            return pairs
        c = torch.cat([self.C.real, -self.C.imag], dim=1)  # Re(C h) = [C_re, −C_im] [Re h; Im h]
        a = F.gelu(pairs @ c.mT + self.D * z)
        return e + self.glu_out(a) * torch.sigmoid(self.glu_gate(a))

    # ----------------------------------------------------------------- the contract
    @property
    def output_size(self) -> int:
        r"""2N ([Re h; Im h]), or H with ``block="glu"``."""
        return self.block_size if self.block == "glu" else 2 * self.hidden_size

    def prepare(self) -> Tensor:
        r"""λ, complex (N,)."""
        return self.eigenvalues()

    def project_input(self, x: Tensor) -> Tensor:
        r"""γ ⊙ (B x) (with the block: of LayerNorm(E x + b)), complex (..., N)."""
        return self._drive(self._features(x)[1])

    def recur(self, u: Tensor, h: Tensor, lam: Tensor) -> Tensor:
        r"""One step h ← λ ⊙ h + u."""
        return lam * h + u

    def run(self, x: Tensor, state: Tensor):
        r"""The whole sequence: λ once, γ ⊙ (B x_t) for all steps in one product, then the scan (or the loop of
        :meth:`recur` with ``strategy="loop"``), then the outputs of all steps at once."""
        lam = self.eigenvalues()
        e, z = self._features(x)
        u = self._drive(z)
        h0 = state.to(u.dtype)
        if self.strategy == "scan":
            h = diagonal_scan(lam, u, h0)
        else:
            states = []
            for u_t in u.unbind(0):  # unbind, never u[t]: each u[t]'s backward fills a zero (T, B, N) tensor
                h0 = self.recur(u_t, h0, lam)
                states.append(h0)
            h = torch.stack(states)
        return self._output(h, z, e), h[-1]

    def recurrent_matrix(self) -> Tensor:
        r"""diag(λ), complex N x N."""
        return torch.diag(self.eigenvalues())

    def recurrent_parameters(self) -> list[nn.Parameter]:
        r"""ν^log and θ^log (γ^log scales the input, B is the input matrix)."""
        return [self.nu_log, self.theta_log]

    def unitarity_error(self) -> Tensor:
        r"""‖diag(λ)^H diag(λ) − I‖_F = √(Σ_j (1 − |λ_j|²)²): how far the contractive diag(λ) is from unitary.

        Not an error of the cell: |λ| < 1 is the LRU's design (a stable, forgetting recurrence), so the number
        is large for short memories and small only when every |λ_j| is near 1. Computed in float64 from ν^log
        as 1 − |λ|² = −expm1(−2·exp(ν^log)), exact near |λ| = 1 where forming |λ|² would cancel, and returned
        in the cell's precision. ``constraint`` is ``"none"``, so the report's drift figure (cells with an
        exact or soft constraint) leaves it out.
        """
        with torch.no_grad():
            nu_log = self.nu_log.detach().to(torch.float64).clamp(max=_nu_log_limit(torch.float64))
            gap = -torch.expm1(-2.0 * torch.exp(nu_log))
            return torch.linalg.vector_norm(gap).to(self.real_dtype)

    def extra_repr(self) -> str:
        block = f", block={self.block!r}, block_size={self.block_size}" if self.block == "glu" else ""
        return (f"{super().extra_repr()}, r_min={self.r_min:g}, r_max={self.r_max:g}, "
                f"max_phase={self.max_phase:g}, strategy={self.strategy!r}{block}")
