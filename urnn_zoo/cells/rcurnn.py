r"""Restricted-capacity uRNN (Arjovsky, Shah, Bengio; ICML 2016, arXiv 1511.06464).

h_t = modReLU(W h_{t−1} + V x_t), W = D₃ R₂ F⁻¹ D₂ Π R₁ F D₁ with 7N real parameters and O(N log N) per
step, each factor as the authors' code applies it to the state (Note [RC-uRNN factors]).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from urnn_zoo.activations import ModReLU
from urnn_zoo.cells.base import ComplexInput, RecurrentCell, complex_dtype_of
from urnn_zoo.cells.execution import FusedActivation
from urnn_zoo.engine.recurrence import DenseMap, LinearMap

__all__ = ["RCuRNN", "restricted_unitary_apply", "AUTO_DENSE_MAX_N"]

STRATEGIES = ("auto", "fft", "dense")

# Note [RC-uRNN factors]
# Column convention, applied right to left to each state h, each factor as Arjovsky et al.'s code
# (amarshah/complex_RNN, `models.py`) applies it to its state:
#   D₁ = diag(e^{iθ₁})                       (phases, `phases[0]`; `times_diag`)
#   F  = the unitary DFT, torch.fft.fft(·, norm="ortho") (`do_fft`: cufft divided by √N)
#   R₁ = I − 2 v̄₁ v₁ᵀ / ‖v₁‖²                (`reflections[0]`; `times_reflection`, below)
#   Π  : (Π h)_i = h_{perm[i]}               (fixed permutation, buffer `perm`; `vec_permutation`)
#   D₂, F⁻¹ (torch.fft.ifft(·, norm="ortho"); `do_ifft`), R₂, D₃.
# The paper writes the reflection R = I − 2 v v*/‖v‖². The code keeps the state as a real row [Re h, Im h] and
# its `times_reflection` computes h − 2 (vᵀh) v̄ /‖v‖² (no conjugate in the inner product): that is the row
# form h·R of the paper's R, so the map its state sees is Rᵀ = I − 2 v̄ vᵀ/‖v‖², the reflection along v̄.
# We apply that one, so the same stored v gives the same W, initialisation and trajectory as the code
# (tests/test_original_maps.py); along v instead, the run would be the code's run on v̄.
# Every factor is unitary, so W is unitary for any parameter values: Adam or RMSprop keep it exact, and the
# float32 error is rounding of one forward, not accumulated drift. Parameters: 3N phases + 2 complex vectors
# of N (2·2N reals) = 7N; a reflection depends on v only up to scale, which is not subtracted.
# The code's optional per-unit `scale` (non-unitary, with a penalty) is not part of the paper's model and is
# omitted.
#
# Note [RC-uRNN compute strategy]
# "fft" applies the eight factors per step (about ten torch operators: O(N log N) arithmetic). "dense" forms
# W^T once per forward by applying the map to the identity (O(N² log N), once) and runs one addmm per step:
# below N ≈ 1024 the per-operator overhead dominates, so dense is faster for small N. "auto"
# picks dense up to AUTO_DENSE_MAX_N. Measured on the 2-core CPU class, one thread, forward+backward, T=50,
# B=50 (fft vs dense, ms): N=64 97/50, 128 126/107, 256 209/256, 512 304/666, 1024 727/3099.
AUTO_DENSE_MAX_N = 128


def restricted_unitary_apply(h: Tensor, ctx: tuple[Tensor, ...]) -> Tensor:
    r"""Apply W = D₃ R₂ F⁻¹ D₂ Π R₁ F D₁ to each row of ``h`` (Note [RC-uRNN factors]).

    Args:
        h: complex (B, N); row b is the column vector h_b.
        ctx: ``(d, vt, nw, perm)`` from :meth:`RCuRNN.factors`: d (3, N) unit phases, vt (2, N, 1) v,
            nw (2, 1, N) −2v̄/‖v‖², perm (N,) indices.

    Returns:
        complex (B, N) whose row b is W h_b.
    """
    d, vt, nw, perm = ctx
    h = torch.fft.fft(h * d[0], norm="ortho")
    h = torch.addmm(h, h @ vt[0], nw[0])  # h − (vᵀh) · 2v̄/‖v‖² (Note [RC-uRNN factors])
    h = h.index_select(-1, perm) * d[1]
    h = torch.fft.ifft(h, norm="ortho")
    h = torch.addmm(h, h @ vt[1], nw[1])
    return h * d[2]


class RCuRNN(RecurrentCell):
    r"""Restricted-capacity unitary RNN (Arjovsky et al. 2016): a product of diagonal, reflection, DFT and
    permutation factors, complex state, modReLU, [Re h; Im h] readout.

    Args:
        input_size: n_in.
        hidden_size: N (any N ≥ 1; the FFT needs no power of two).
        dtype, device: real precision and place of the parameters.
        permutation_seed: Π is ``numpy.random.RandomState(permutation_seed).permutation(N)``; the default
            1234 reproduces Arjovsky's code (``np.random.seed(1234)`` then ``np.random.permutation``). None
            draws Π from torch's global RNG instead (so ``torch.manual_seed`` sets it). Π is a buffer and is
            saved in the state dict.
        strategy: ``"auto"`` (default), ``"fft"`` or ``"dense"`` (Note [RC-uRNN compute strategy]).
        eps: modReLU's ε.
        learn_initial_state: learn h_0 (2N reals, U(±√(3/(2N))) per part as in the paper, E‖h_0‖² = 1);
            off by default (the zoo's parameter-count template has no initial state).

    Init: phases U(−π, π), as the paper and both original codes (Arjovsky's ``models.py``, Wisdom's
    ``initialize_unitary``) draw them. Reflection vectors: real and imaginary parts U(−1, 1) as the paper
    says; both codes draw them Glorot-uniform instead, U(±√(6/(2 + 2N))) per real (a reflection does not
    depend on the scale of v, but the size of an optimizer's steps relative to v does). modReLU bias 0 as the paper says
    (the codes draw U(±0.01); Note [modReLU at a zero state] in ``activations``).

    Example:
        >>> cell = RCuRNN(3, 16)
        >>> cell.parameter_count().recurrent_dof
        112
    """

    name = "rcurnn"
    constraint = "exact"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype=None,
        device=None,
        permutation_seed: int | None = 1234,
        strategy: str = "auto",
        eps: float = 1e-5,
        learn_initial_state: bool = False,
    ) -> None:
        super().__init__(input_size, hidden_size, is_complex=True)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if permutation_seed is not None and (isinstance(permutation_seed, bool) or not isinstance(permutation_seed, int)
                                             or not 0 <= permutation_seed < 2**32):  # numpy RandomState's seeds
            raise ValueError(f"permutation_seed: expected None or an integer in [0, 2**32), got {permutation_seed!r}")
        dtype = dtype or torch.get_default_dtype()
        cdtype = complex_dtype_of(dtype)
        n = hidden_size
        self.strategy, self.permutation_seed = strategy, permutation_seed
        if permutation_seed is None:
            perm = torch.randperm(n)
        else:
            perm = torch.from_numpy(np.random.RandomState(permutation_seed).permutation(n))
        self.register_buffer("perm", perm.to(device=device, dtype=torch.long))
        self.phases = nn.Parameter(torch.empty(3, n, dtype=dtype, device=device).uniform_(-math.pi, math.pi))
        reflections = torch.empty(2, n, dtype=cdtype, device=device)
        torch.view_as_real(reflections).uniform_(-1.0, 1.0)
        self.reflections = nn.Parameter(reflections)
        self.input = ComplexInput(input_size, hidden_size, dtype=dtype, device=device)
        self.act = ModReLU(hidden_size, eps=eps, dtype=dtype, device=device)
        self.register_initial_state(learn_initial_state, bound=math.sqrt(3.0 / (2 * n)))

    @property
    def uses_dense(self) -> bool:
        r"""Whether a forward forms W once and applies it densely (Note [RC-uRNN compute strategy])."""
        if self.strategy == "auto":
            return self.hidden_size <= AUTO_DENSE_MAX_N
        return self.strategy == "dense"

    def factors(self) -> tuple[Tensor, ...]:
        r"""The per-forward tensors of :func:`restricted_unitary_apply`: (d, vt, nw, perm)."""
        d = torch.polar(torch.ones_like(self.phases), self.phases)
        v = self.reflections
        sq_norm = torch.view_as_real(v).pow(2).sum((-1, -2))  # ‖v‖², real (2,)
        nw = (v.conj() * (-2.0 / sq_norm).unsqueeze(-1)).unsqueeze(-2)
        return d, v.unsqueeze(-1), nw, self.perm

    def prepare(self):
        ctx = self.factors()
        if self.uses_dense:
            # Rows of the result are W e_j = column j of W, so this is W^T (what a row-batched step needs).
            return restricted_unitary_apply(self._eye(), ctx)
        return ctx

    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def recur(self, u: Tensor, h: Tensor, ctx) -> Tensor:
        if isinstance(ctx, Tensor):
            return self.act(torch.addmm(u, h, ctx))
        return self.act(u + restricted_unitary_apply(h, ctx))

    def fused_activation(self) -> FusedActivation | None:
        return FusedActivation.of(self.act)  # the σ of recur: modReLU

    def fused_map(self, ctx) -> tuple[LinearMap, tuple[Tensor, ...]] | None:
        # The fft form keeps the per-step loop: a fused version (adjoint factors in reverse order, parameter
        # gradient by one batched vector-Jacobian product) was 10-25 % slower at N = 512..1024, since autograd's
        # loop saves the FFT intermediates that the batched product recomputes.
        return (DenseMap(), (ctx,)) if isinstance(ctx, Tensor) else None

    def recurrent_matrix(self) -> Tensor:
        r"""W as a dense complex N x N matrix: the map applied to the identity, transposed (column j = W e_j)."""
        return restricted_unitary_apply(self._eye(), self.factors()).mT

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [self.phases, self.reflections]

    def _eye(self) -> Tensor:
        return torch.eye(self.hidden_size, dtype=self.reflections.dtype, device=self.reflections.device)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, permutation_seed={self.permutation_seed!r}, strategy={self.strategy!r}"
