r"""oRNN: the orthogonal RNN of m Householder reflections (Mhammedi et al., ICML 2017, arXiv 1612.00188).

h_t = f(W h_{t−1} + V x_t + b), W = H_1 H_2 ⋯ H_m, each H_k = I − τ_k v_k v_kᵀ a reflection, real throughout,
applied to column vectors as the original code does (Note [oRNN reflectors in LAPACK form]).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from urnn_zoo.activations import ModReLU
from urnn_zoo.cells.base import DenseStepCell
from urnn_zoo.cells.contract import check_count

__all__ = ["ORNN", "reflector_taus", "reflector_product", "init_reflectors", "INITS", "METHODS", "ACTIVATIONS"]

INITS = ("qr", "uniform")
METHODS = ("wy", "householder_product")
ACTIVATIONS = ("leaky_relu", "tanh", "modrelu")
LEAKY_SLOPE = 0.1  # the original's leaky_relu (`RNN_models.py`)

# Note [oRNN reflectors in LAPACK form]
# Reflector k is v_k = e_k + (free entries strictly below row k), the LAPACK convention of
# `torch.linalg.householder_product`: an implicit 1 on the diagonal, zeros above it. A true reflection needs
# τ_k = 2/‖v_k‖² = 2/(1 + ‖v_k below‖²), so τ is a function of v, not a parameter, and W = H_1⋯H_m is
# orthogonal for every value of the parameters: exact under any optimizer, nothing to project. Reflector k has
# n − k free entries, so m reflectors have n·m − m(m+1)/2. The paper counts one more per reflector (an
# unnormalised u_k: n·m − m(m−1)/2); that entry only sets the scale of u_k, which a reflection ignores.
# Orientation: the original (zmhammedi/Orthogonal_RNN, `C_fun.F`) applies H(U) to the column-vector state,
# the last column of U first: H(U) h = H_1(H_2(⋯H_m h)) with H_k = I − 2 u_k u_kᵀ, u_k the unit-norm column k
# of its lower-triangular U. That is our W = H_1⋯H_m with v_k = u_k/u_kk, no transposition. With m = n the
# original's last column has one entry, ±1, and it multiplies the last coordinate by it (before the other
# n − 1 reflections); our last reflector has no free entry and is H_n = diag(1, …, 1, −1), the original with
# U[−1, −1] = −1, so det W = (−1)^m always. The original draws that sign at random at init and keeps it: its
# runs with U[−1, −1] = +1 (det (−1)^(n−1)) are ours with m = n − 1 (tests/test_original_maps.py).
# We store an (n, m) matrix and read its strictly lower part; the unused entries get no gradient.

# Note [oRNN compact WY]
# torch.linalg.householder_product(A, τ) returns the n x n product of the m reflectors when A is padded to
# n x n with zero columns (LAPACK's orgqr ignores columns beyond len(τ)). Its backward applies the reflectors
# one at a time: measured 1.7 s per call at n = m = 512 on the 2-core CPU, against 0.05 s for the same W
# from the compact WY form (Joffrain et al. 2006, "UT transform"; the docstring of the original
# `tensor_ops.py`): with V = [v_1 … v_m] and T = striu(VᵀV) + diag(1/τ) = striu(VᵀV) + ½·diag(VᵀV),
#     H_1⋯H_m = I − V T⁻¹ Vᵀ,
# three dense operators (Gram matrix, triangular solve, GEMM) whose autograd is fast. Both give W to rounding
# (tests/test_ornn.py); ``method`` picks one, "wy" by default.


def reflector_taus(below: Tensor) -> Tensor:
    r"""τ_k = 2/(1 + ‖v_k below‖²) of the reflectors whose free entries are the strictly lower part of ``below``.

    Args:
        below: (n, m); only the entries strictly below the diagonal are read.

    Returns:
        (m,) the τ that make each H_k = I − τ_k v_k v_kᵀ a reflection.

    Example:
        >>> reflector_taus(torch.zeros(3, 2))
        tensor([2., 2.])
    """
    return 2.0 / (1.0 + below.tril(-1).pow(2).sum(0))


def reflector_product(below: Tensor, method: str = "wy") -> Tensor:
    r"""W = H_1 ⋯ H_m (n x n) of the m LAPACK-form reflectors held in the strictly lower part of ``below``.

    Args:
        below: (n, m) with m ≤ n (Note [oRNN reflectors in LAPACK form]).
        method: ``"wy"`` (compact WY, Note [oRNN compact WY]) or ``"householder_product"`` (LAPACK orgqr).

    Returns:
        The orthogonal (n, n) product, differentiable in ``below``.

    Example:
        >>> w = reflector_product(torch.randn(5, 3, dtype=torch.float64))
        >>> torch.allclose(w.T @ w, torch.eye(5, dtype=torch.float64))
        True
    """
    n, m = below.shape
    lower = below.tril(-1)
    if method == "householder_product":
        return torch.linalg.householder_product(F.pad(lower, (0, n - m)), reflector_taus(lower))
    if method != "wy":
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    v = lower + torch.eye(n, m, dtype=below.dtype, device=below.device)
    gram = v.mT @ v
    t = gram.triu(1) + torch.diag_embed(0.5 * gram.diagonal())
    eye = torch.eye(n, dtype=below.dtype, device=below.device)
    return eye - v @ torch.linalg.solve_triangular(t, v.mT, upper=True)


def init_reflectors(n: int, m: int, init: str = "qr", generator: torch.Generator | None = None) -> Tensor:
    r"""Initial free entries (n, m), float64, zero on and above the diagonal.

    ``"qr"``: the reflectors of a Householder QR of an n x m Gaussian matrix (``torch.geqrf``): a random
    orthogonal W whose reflectors all have ‖v_k below‖ ≤ 1, well scaled for the LAPACK chart.
    ``"uniform"``: the original's init (tril of N(0, 0.01²), unit columns), each reflector's direction
    uniform on its sub-sphere, written in LAPACK form v = u/u_k. The ratio is heavy-tailed (median ‖v‖ ≈ 21,
    max ≈ 9e3 measured at n = 512): such reflectors barely move under Adam, whose steps are lr per entry.

    Example:
        >>> init_reflectors(4, 2).triu().abs().sum().item()
        0.0
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    gauss = torch.randn(n, m, dtype=torch.float64, generator=generator)
    if init == "qr":
        return torch.geqrf(gauss)[0].tril(-1)
    u = gauss.tril()
    return (u / u.diagonal()).tril(-1)


class ORNN(DenseStepCell):
    r"""Orthogonal RNN with m Householder reflections (Mhammedi et al., ICML 2017, arXiv 1612.00188).

    h_t = f(W h_{t−1} + V x_t + b) with W = H_1⋯H_m (Note [oRNN reflectors in LAPACK form]); W is applied to
    column vectors as written, the original's orientation (H(U) h).

    Args:
        input_size: n_in.
        hidden_size: N = n.
        dtype, device: of the parameters.
        m: number of reflections, 1 ≤ m ≤ N (default N: all of O(N) with det (−1)^N).
        init: ``"qr"`` (default) or ``"uniform"`` (the original's distribution), see :func:`init_reflectors`.
        method: ``"wy"`` (default) or ``"householder_product"``, the same W (Note [oRNN compact WY]).
        activation: ``"leaky_relu"`` (default, slope 0.1, the original's default in ``loop_jobs.sh``),
            ``"tanh"``, or ``"modrelu"`` (the real form sign(z)·ReLU(|z| + b); the original's modReLU instead pairs
            coordinates as complex numbers). leaky_relu and tanh have their own bias b (0 at init, as the
            original); with modrelu, its per-unit bias is the recurrence's only bias (0 at init).
        learn_initial_state: learn h_0, initialised U(±√(3/(2N))) as the original (default True; adds N reals).

    Example:
        >>> cell = ORNN(3, 8, m=4)
        >>> cell.parameter_count().recurrent_dof  # 8·4 − 4·5/2
        22
    """

    name = "ornn"
    constraint = "exact"

    @classmethod
    def size_rule(cls, hidden_size: int, options: dict) -> None:
        r"""m reflections, 1 <= m <= N (None: m = N)."""
        check_count("m", "number of reflections", options["m"], 1, hidden_size)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype=None,
        device=None,
        m: int | None = None,
        init: str = "qr",
        method: str = "wy",
        activation: str = "leaky_relu",
        learn_initial_state: bool = True,
    ) -> None:
        super().__init__(input_size, hidden_size, is_complex=False, m=m)
        n = hidden_size
        m = n if m is None else m
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        dtype = dtype or torch.get_default_dtype()
        self.m, self.init, self.method, self.activation_name = m, init, method, activation
        self.reflectors = nn.Parameter(init_reflectors(n, m, init).to(dtype=dtype, device=device))
        self.input = nn.Linear(input_size, n, bias=False, dtype=dtype, device=device)
        nn.init.xavier_uniform_(self.input.weight)  # Glorot uniform, as the original
        if activation == "modrelu":
            self.act = ModReLU(n, bias_init=0.0, dtype=dtype, device=device)
            self.bias = None
        else:
            self.act = nn.Tanh() if activation == "tanh" else nn.LeakyReLU(LEAKY_SLOPE)
            self.bias = nn.Parameter(torch.zeros(n, dtype=dtype, device=device))
        self.register_initial_state(learn_initial_state, bound=math.sqrt(3.0 / (2.0 * n)))

    def prepare(self) -> Tensor:
        return self.recurrent_matrix().mT  # row-major states: h_t = h_{t−1} Wᵀ

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.input.weight, self.bias)  # b folded in once for all steps (not modReLU's)

    def recurrent_matrix(self) -> Tensor:
        return reflector_product(self.reflectors, self.method)

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [self.reflectors]

    def recurrent_dof(self) -> int:
        n, m = self.hidden_size, self.m
        return n * m - m * (m + 1) // 2

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, m={self.m}, init={self.init!r}, method={self.method!r}, "
            f"activation={self.activation_name!r}"
        )
