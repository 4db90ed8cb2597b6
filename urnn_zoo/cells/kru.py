r"""KRU: the Kronecker Recurrent Unit (Jose, Cissé, Fleuret, "Kronecker Recurrent Units", ICML 2018,
arXiv 1705.10142); docs/families.md#kru.

h_t = modReLU(W h_{t−1} + V x_t), W = W_0 ⊗ … ⊗ W_{F−1} with square (complex) factors W_f ∈ ℂ^{P_f×P_f}, kept
near unitary by the soft penalty Σ_f ‖W_f^H W_f − I‖_F² that the trainer adds times λ.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from urnn_zoo.activations import ModReLU, check_eps
from urnn_zoo.arguments import boolean, check
from urnn_zoo.cells.base import ComplexInput, RecurrentCell, complex_dtype_of
from urnn_zoo.cells.execution import FusedActivation
from urnn_zoo.engine.recurrence import DenseMap, LinearMap
from urnn_zoo.kron import (
    AUTO_DENSE_MAX_N,
    FACTOR_INITS,
    IDENTITY_NOISE_STD,
    STRATEGIES,
    forms_dense,
    init_factor,
    kron_apply,
    kron_dense,
    kron_penalty,
    kron_unitarity_error,
    split_in_two,
    square_factor_sizes,
)

__all__ = ["KRU", "KroneckerPairMap", "square_factor_sizes", "init_factor", "forms_dense", "split_in_two", "AUTO_DENSE_MAX_N"]

# The factor helpers both KRU families use (sizes, init, strategy, IDENTITY_NOISE_STD) live in urnn_zoo.kron and
# are re-exported here under their old names.
INITS = FACTOR_INITS


class KroneckerPairMap(LinearMap):
    r"""L = A ⊗ B on row states for the fused loop: h viewed as X (B, P_A, P_B) maps to A X Bᵀ (kron_apply's order).

    The tensors are ``(A, B)``. Forward step: V = X Bᵀ (one GEMM over all B·P_A rows) then A V + u (one batched
    product whose add folds in u); conj(V) is saved. Adjoint step: Ŵ = A^H G (batched) then Ŵ conj(B) + add
    (one GEMM), and the step's shares of both gradients are added while its tensors are in cache (Note [KRU
    fused gradients]).

    Example:
        >>> a, b = torch.randn(2, 2, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
        >>> x = torch.randn(4, 6, dtype=torch.float64)
        >>> torch.allclose(KroneckerPairMap().forward_fn([a, b], ())(x, None, None, 0), x @ torch.kron(a, b).T)
        True
    """

    forward_saved = 1
    adjoint_every_step = True

    # Note [KRU fused gradients]
    # Y = A X Bᵀ per row. In torch's complex convention (∂ℓ/∂Re + i ∂ℓ/∂Im) a linear Y = A V has ∂A = G V^H,
    # and Y = Z Bᵀ has ∂B = Gᵀ conj(Z) with Z = A X, i.e. ∂Bᵀ = X^H Ŵ with Ŵ = A^H G. Both are sums over
    # steps and rows of small (P x P) products of tensors the steps form anyway (V forward, Ŵ backward), so
    # each adjoint step adds its share into (B, P_A, P_A) and (P_B, P_B) accumulators: one batched and one
    # plain GEMM on data in cache, about 2x the rate of the same FLOPs done once over all T·B rows afterwards
    # (measured at N = 1024, [32, 32]). The forward saves conj(V) so the batched product needs no conjugate
    # transpose (torch's bmm would copy a conjugated operand; mm takes X^H as is).

    def __init__(self) -> None:
        self._accumulators: tuple[Tensor, Tensor] | None = None

    @staticmethod
    def _expanded(left: Tensor, rows: int, cache: dict[int, Tensor]) -> Tensor:
        if rows not in cache:  # `left` expanded to the batch, one view per batch size
            cache[rows] = left.expand(rows, *left.shape)
        return cache[rows]

    def forward_fn(self, tensors, saved):
        a, b = tensors
        bt, p, q = b.mT, a.shape[0], b.shape[0]
        conj_v = saved[0].unbind(0) if saved else None
        cache: dict[int, Tensor] = {}

        def apply(x, add, out, t):
            rows = x.shape[0]
            v = torch.mm(x.reshape(rows * p, q), bt).view(rows, p, q)
            if conj_v is not None:
                torch.conj_physical(v, out=conj_v[t].view(rows, p, q))
            out3 = None if out is None else out.view(rows, p, q)
            left = self._expanded(a, rows, cache)
            y = torch.bmm(left, v, out=out3) if add is None else torch.baddbmm(add.reshape(rows, p, q), left, v, out=out3)
            return y.view(rows, p * q)

        return apply

    def adjoint_fn(self, tensors, record):
        a, b = tensors  # (A ⊗ B)^H = A^H ⊗ B^H: X ↦ A^H X conj(B)
        ah, bc, p, q = a.mH.resolve_conj(), b.conj().resolve_conj(), a.shape[0], b.shape[0]
        cache: dict[int, Tensor] = {}
        if record is not None:
            conj_v = record.forward[0].unbind(0)
            grad_a = a.new_zeros(record.h0.shape[0], p, p)
            grad_bt = b.new_zeros(q, q)
            self._accumulators = (grad_a, grad_bt)

        def apply(g, add, out, t):
            rows = g.shape[0]
            g3 = g.reshape(rows, p, q)
            w = torch.bmm(self._expanded(ah, rows, cache), g3).view(rows * p, q)
            if record is not None:  # this step's shares of ∂A = Σ G V^H and ∂Bᵀ = Σ X^H Ŵ
                grad_a.baddbmm_(g3, conj_v[t].view(rows, p, q).mT)
                grad_bt.addmm_(record.previous(t).reshape(rows * p, q).mH, w)
            out2 = None if out is None else out.view(rows * p, q)
            y = torch.mm(w, bc, out=out2) if add is None else torch.addmm(add.reshape(rows * p, q), w, bc, out=out2)
            return y.view(rows, p * q)

        return apply

    def tensor_grads(self, tensors, wanted, record, g_z):
        grad_a, grad_bt = self._accumulators  # filled by the adjoint steps, t = T−1 .. 0
        self._accumulators = None
        return [grad_a.sum(0) if wanted[0] else None, grad_bt.mT if wanted[1] else None]


class KRU(RecurrentCell):
    r"""Kronecker Recurrent Unit (Jose, Cissé, Fleuret, ICML 2018, arXiv 1705.10142; docs/families.md#kru).

    Args:
        input_size: n_in.
        hidden_size: N = ∏P_f.
        dtype, device: real precision and place of the parameters.
        factors: explicit square factor sizes (``[k, ...]`` or ``[(P, P), ...]``); default from ``num_factors``.
        num_factors: maximum number of factors for the Cervnet rule (default 2: N=128 -> [8, 16]).
        complex_factors: complex factors and state (default) or real ones.
        init: ``"unitary"`` (Haar per factor, default), ``"identity"`` or ``"identity_noise"``.
        strategy: ``"auto"``, ``"factored"`` or ``"dense"`` (Note [KRU compute strategy] in urnn_zoo.cells.kru_factors).
        activation: ``"modrelu"`` (default; its per-unit bias is the recurrence's only bias) or ``"tanh"``
            (real factors only, with its own bias).
        eps: modReLU's ε.
        learn_initial_state: learn h_0 (adds N reals, 2N when complex), drawn U(±√(3/(2N))) per real part as
            the uRNN codes KRU is compared with draw theirs (Arjovsky et al. 2016, Wisdom et al. 2016), so that
            the state does not start at modReLU's zero (Note [modReLU at a zero state]); off by default.

    Example:
        >>> cell = KRU(10, 512, factors=[2] * 9)
        >>> cell.parameter_count().recurrent_dof
        72
    """

    name = "kru"
    constraint = "soft"

    @classmethod
    def size_rule(cls, hidden_size: int, options: dict) -> None:
        r"""Square factors with ∏P_f = N (:func:`square_factor_sizes`; the default rule fits every N)."""
        square_factor_sizes(hidden_size, options["factors"], options["num_factors"])

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype=None,
        device=None,
        factors: Sequence | None = None,
        num_factors: int = 2,
        complex_factors: bool = True,
        init: str = "unitary",
        strategy: str = "auto",
        activation: str = "modrelu",
        eps: float = 1e-5,
        learn_initial_state: bool = False,
    ) -> None:
        complex_factors = check(complex_factors, boolean, "complex_factors")
        super().__init__(input_size, hidden_size, is_complex=complex_factors, factors=factors,
                         num_factors=num_factors)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if activation not in ("modrelu", "tanh"):
            raise ValueError(f"activation must be 'modrelu' or 'tanh', got {activation!r}")
        eps = check_eps(eps)  # checked with either activation, so a bad eps is named the same way
        learn_initial_state = check(learn_initial_state, boolean, "learn_initial_state")
        if activation == "tanh" and complex_factors:
            raise ValueError("activation='tanh' needs a real state: pass complex_factors=False")
        dtype = dtype or torch.get_default_dtype()
        self.sizes = square_factor_sizes(hidden_size, factors, num_factors)
        self.init, self.strategy, self.activation_name = init, strategy, activation
        fdtype = complex_dtype_of(dtype) if complex_factors else dtype
        self.factors = nn.ParameterList(
            [nn.Parameter(init_factor(p, init, fdtype).to(device)) for p in self.sizes]
        )
        if complex_factors:
            self.input = ComplexInput(input_size, hidden_size, dtype=dtype, device=device)
        else:
            self.input = nn.Linear(input_size, hidden_size, bias=activation == "tanh", dtype=dtype, device=device)
        self.act = ModReLU(hidden_size, eps=eps, dtype=dtype, device=device) if activation == "modrelu" else torch.tanh
        self.register_initial_state(learn_initial_state, bound=math.sqrt(3.0 / (2 * hidden_size)))

    @property
    def uses_dense(self) -> bool:
        r"""Whether this forward forms W densely (Note [KRU compute strategy] in urnn_zoo.cells.kru_factors)."""
        return forms_dense(self.strategy, self.sizes)

    def prepare(self) -> list[Tensor]:
        if self.uses_dense:
            return [kron_dense(list(self.factors)).mT]
        k = split_in_two(self.sizes)
        return [kron_dense(list(self.factors[:k])), kron_dense(list(self.factors[k:]))]

    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def recur(self, u: Tensor, h: Tensor, ctx: list[Tensor]) -> Tensor:
        wh = h @ ctx[0] if len(ctx) == 1 else kron_apply(ctx, h)
        return self.act(u + wh)

    def fused_activation(self) -> FusedActivation | None:
        return FusedActivation.of(self.act)  # the σ of recur: modReLU, or tanh (kru with activation="tanh")

    def fused_map(self, ctx: list[Tensor]) -> tuple[LinearMap, tuple[Tensor, ...]]:
        return (DenseMap() if len(ctx) == 1 else KroneckerPairMap()), tuple(ctx)

    def recurrent_matrix(self) -> Tensor:
        return kron_dense(list(self.factors))

    def penalty(self) -> Tensor:
        return kron_penalty(list(self.factors))

    def unitarity_error(self) -> Tensor:
        with torch.no_grad():
            return kron_unitarity_error(list(self.factors))

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return list(self.factors)

    def extra_repr(self) -> str:
        kind = "complex" if self.is_complex else "real"
        return f"{super().extra_repr()}, factors={self.sizes} ({kind}), init={self.init!r}, strategy={self.strategy!r}"
