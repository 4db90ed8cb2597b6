r"""EURNN: the efficient unitary RNN (Jing et al., ICML 2017, arXiv 1612.05231), tunable and FFT style.

h_t = modReLU(W h_{t−1} + V x_t) with W = F_L ⋯ F_1 · D: D = diag(e^{iω}) is applied first, then L layers of
disjoint 2x2 mixing units [[e^{iφ}cosθ, −e^{iφ}sinθ], [sinθ, cosθ]] (the paper's unit, phase on the output
side). The real variant uses rotations [[cosθ, −sinθ], [sinθ, cosθ]] and no D. Both are exact by construction.
The layer order, the pairs and which angle drives which unit are those of Jing et al.'s code (EUNN-TF); the
complex unit's phase side and D first are deliberate departures from that code (Note [Why D first]).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from urnn_zoo.activations import ModReLU
from urnn_zoo.arguments import boolean, check
from urnn_zoo.cells.contract import RecurrentCell
from urnn_zoo.cells.eurnn_layers import LayersMap, apply_layers, band_of_layers, unit_coefficients
from urnn_zoo.cells.execution import FusedActivation
from urnn_zoo.cells.shared import ComplexInput
from urnn_zoo.cells.sizes import InadmissibleSizeError
from urnn_zoo.engine import kernels
from urnn_zoo.engine.recurrence import DenseMap, LinearMap

# LayersMap, unit_coefficients and apply_layers (urnn_zoo.cells.eurnn_layers) keep this module's import path.
__all__ = ["EURNN", "EURNNFFT", "LayersMap", "unit_coefficients", "apply_layers"]

STRATEGIES = ("auto", "layers", "band", "dense")

# Note [EURNN compute strategy]
# The parametrisation (angles) and the compute strategy are independent. Per step, "layers" costs a gather
# and two multiply-adds per layer each way (Note [EURNN fused steps] in urnn_zoo.cells.eurnn_layers, with the
# layers' other Notes), "band" a fixed handful over 2L + 1
# shifted copies of h, "dense" one complex GEMM (N² per row). With the per-step autograd loop (one thread,
# B=32, T=100, forward + backward, N = 32..1024, L = 2..32) dense won up to N = 64 and while N <= 32·L
# (L = number of layers, log2 N for the FFT style), band for 4 <= L <= 8, layers beyond. "layers" and
# "dense" now run in the fused loop (urnn_zoo.engine.recurrence) and "band" does not, and fused layers beat the band
# loop at every measured (N, L) (2x and more), so "auto" no longer picks band. Re-measured with the fused
# loop (2 threads, ms, dense/layers): eurnn L=2 N=64 25.5/24.2, N=128 38.8/36.0; L=4 N=128 48.7/44.5,
# N=256 77.6/69.8; L=8 N=256 98.7/97.8; eurnn_fft N=128 37.2/52.0, 256 76.4/87.3, 512 218/222. The rule
# "dense while N <= max(64, 32·L)" stays within 10 % of the better of the two in all of them (run-to-run
# noise here is ±10 %). The GEMM is relatively cheaper on a GPU (unmeasured).
# With the layer kernel (urnn_zoo.engine.layers_kernel, CPU, fused) the crossover moves (2 threads, medians, ms,
# dense/layers): L=2 N=32 8.6/9.8, 64 11.4/10.0, 128 31.1/22.0; L=8 N=64 12.8/14.4, 128 36.1/28.8; L=16 N=64
# 23.0/27.9, 128 38.1/41.1, 256 94.3/68.7, 512 251/110; L=32 N=128 50.0/57.0, 256 106/84.7; eurnn_fft N=32 7.3/8.4,
# 64 12.0/11.9, 256 54.2/36.9. There "dense while N <= max(32, 4·L)" is within 12 % of the better in all measured
# (the old rule was 2.3x off at N = 512, L = 16).
AUTO_DENSE_MIN_N = 64
AUTO_DENSE_N_PER_LAYER = 32
KERNEL_DENSE_MIN_N = 32
KERNEL_DENSE_N_PER_LAYER = 4

# Note [Why D first]
# The phases of the units and D must sit on opposite sides. With the paper's unit (phase on the output side)
# and D applied last, the last layer's phases duplicate D's: the map angles -> W loses N−1 dimensions and
# capacity N does not span U(N) (Jacobian rank 13 of 16 at N = 4). With D first the rank is full
# (tests/test_eurnn.py). Jing et al.'s TF code is the mirror image: its unit [[cosθ, −e^{iφ}sinθ],
# [sinθ, e^{iφ}cosθ]] has the phase on the input side, and it applies D last, which also spans. The zoo keeps
# the paper's unit and therefore applies D first: for the same angles its complex W is not the code's (the two
# departures are pinned in tests/test_original_maps.py); the real variant (no phase, no D) is the code's map.


class _EUNNCell(RecurrentCell):
    r"""Layer machinery shared by :class:`EURNN` and :class:`EURNNFFT` (no ``name``: not registered).

    A subclass holds an (L, N) long buffer ``perm`` and implements :meth:`_coefficients`; ``prepare``,
    ``recur`` and ``recurrent_matrix`` live here. ``strategies`` lists the accepted ``strategy`` values.
    """

    constraint = "exact"
    strategies: tuple[str, ...] = STRATEGIES

    def _init_common(self, input_size: int, hidden_size: int, dtype, device, complex_weights: bool,
                     strategy: str, eps: float, h0: bool) -> None:
        if strategy not in self.strategies:
            raise ValueError(f"{self.name}: strategy must be one of {self.strategies}, got {strategy!r}")
        self.strategy = strategy
        self._factory = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        self.omega = self._angle(hidden_size) if complex_weights else None
        if complex_weights:
            self.input = ComplexInput(input_size, hidden_size, **self._factory)
        else:
            self.input = nn.Linear(input_size, hidden_size, bias=False, **self._factory)
        self.act = ModReLU(hidden_size, eps=eps, **self._factory)
        self.register_initial_state(h0)  # zeros when learned, as EUNN-TF's later code

    def _angle(self, *shape: int) -> nn.Parameter:
        # every angle (θ, φ, ω) is drawn from U(−π, π), as EUNN-TF's `phase_init` (±3.14)
        return nn.Parameter(torch.empty(*shape, **self._factory).uniform_(-math.pi, math.pi))

    def _coefficients(self) -> tuple[Tensor, Tensor]:
        r"""(a, b) of shape (L, N), one row per layer; subclasses also hold the (L, N) ``perm`` buffer."""
        raise NotImplementedError

    def _diag(self) -> Tensor | None:
        return None if self.omega is None else torch.polar(torch.ones_like(self.omega), self.omega)

    def _resolved_strategy(self) -> str:
        r"""The strategy this forward uses (Note [EURNN compute strategy])."""
        if self.strategy != "auto":
            return self.strategy
        n, layers = self.hidden_size, self.perm.shape[0]
        if self.fused and self.perm.device.type == "cpu" and kernels.available():  # the layer kernel runs
            return "dense" if n <= max(KERNEL_DENSE_MIN_N, KERNEL_DENSE_N_PER_LAYER * layers) else "layers"
        return "dense" if n <= max(AUTO_DENSE_MIN_N, AUTO_DENSE_N_PER_LAYER * layers) else "layers"

    def prepare(self) -> tuple[str, Tensor | list[tuple[Tensor, Tensor, Tensor]]]:
        a, b = self._coefficients()
        d, n = self._diag(), self.hidden_size
        kind = self._resolved_strategy()
        if kind == "dense":  # rows of apply_layers(I) are (W e_i)^T: W^T, for h @ W^T
            eye = torch.eye(n, dtype=a.dtype, device=a.device)
            return kind, apply_layers(eye, d, a, b, self.perm)
        if kind == "band":
            return kind, band_of_layers(a, b, d, self.perm)  # Note [Banded form of the tunable layers]
        if d is not None:  # Note [EURNN layers as coefficient vectors]: fold D into the first layer
            a = torch.cat([a[:1] * d, a[1:]])
            b = torch.cat([b[:1] * d[self.perm[0]], b[1:]])
        return kind, list(zip(a.unbind(0), b.unbind(0), self.perm.unbind(0)))

    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def recur(self, u: Tensor, h: Tensor, ctx) -> Tensor:
        kind, data = ctx
        if kind == "dense":
            return self.act(torch.addmm(u, h, data))
        if kind == "band":
            reach = (data.shape[0] - 1) // 2
            return self.act(u + (F.pad(h, (reach, reach)).unfold(-1, h.shape[-1], 1) * data).sum(-2))
        *first, (a, b, p) = data
        for a_l, b_l, p_l in first:
            h = torch.addcmul(a_l * h, b_l, h.index_select(-1, p_l))
        return self.act(torch.addcmul(torch.addcmul(u, a, h), b, h.index_select(-1, p)))

    def fused_activation(self) -> FusedActivation | None:
        return FusedActivation.of(self.act)  # the σ of recur: modReLU, complex or real

    def fused_map(self, ctx) -> tuple[LinearMap, tuple[Tensor, ...]] | None:
        kind, data = ctx
        if kind == "dense":
            return DenseMap(), (data,)
        if kind == "band":  # the banded form keeps the reference loop
            return None
        a, b, _ = zip(*data)
        return LayersMap(self.perm), (torch.stack(a), torch.stack(b))

    def recurrent_matrix(self) -> Tensor:
        a, b = self._coefficients()
        eye = torch.eye(self.hidden_size, dtype=a.dtype, device=a.device)
        return apply_layers(eye, self._diag(), a, b, self.perm).mT  # columns W e_i (no conjugation)

    def extra_repr(self) -> str:
        kind = "complex" if self.is_complex else "real"
        return f"{super().extra_repr()}, layers={self.perm.shape[0]} ({kind}), strategy={self.strategy!r}"


def _check_even(what: str, value, name: str, error: type[ValueError] = ValueError) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 2 or value % 2:
        raise error(f"{name}: {what} must be an even int >= 2 (disjoint 2x2 units), got {value!r}")


class EURNN(_EUNNCell):
    r"""Tunable-style EURNN (Jing et al., ICML 2017, arXiv 1612.05231): L layers alternating pairs
    (0,1),(2,3),… and (1,2),(3,4),…, the first kind first.

    The second kind leaves coordinates 0 and N−1 alone (non-periodic, as in the paper; torch-eunn wraps
    around instead). Layer 2l uses ``theta_a[l]`` (unit u on (2u, 2u+1)), layer 2l+1 ``theta_b[l]`` (unit u on
    (2u+1, 2u+2)), as in Jing et al.'s code. With capacity L = N and complex weights the map spans U(N)
    (real: SO(N)), Note [Why D first].

    Departures from Jing et al.'s code (EUNN-TF), all deliberate:

    - the complex unit is the paper's [[e^{iφ}cosθ, −e^{iφ}sinθ], [sinθ, cosθ]] (the code's has the phase on
      the other column, [[cosθ, −e^{iφ}sinθ], [sinθ, e^{iφ}cosθ]]), and D is applied first, W = F_L⋯F_1·D
      (the code applies it last), Note [Why D first];
    - modReLU: the code adds 0.01 to |z| in both the numerator and the denominator,
      ReLU(|z| + 0.01 + b)·z/(|z| + 0.01) (real form: sign(z)·ReLU(|z| + 0.01 + b)); the zoo's is
      ReLU(m + b)·z/(m + ε) with m = sqrt(|z|² + ε), whose ``eps`` cannot express the code's form (the real
      form can: it is the code's with b shifted by 0.01);
    - the output is [Re h; Im h], as for every complex cell of the zoo; the code reads out Re h only.

    Args:
        input_size: n_in.
        hidden_size: N, even.
        dtype, device: real precision and place of the parameters.
        capacity: L, even (default 2).
        complex_weights: complex units and D (default) or real rotations with a real state and real modReLU.
        strategy: ``"auto"``, ``"layers"`` (three elementwise operators per layer and step), ``"band"``
            (Note [Banded form of the tunable layers]) or ``"dense"`` (W once per forward, one GEMM per step).
        eps: modReLU's ε.
        learn_initial_state: learn h_0 (as EUNN-TF's later code does); off by default.

    Example:
        >>> cell = EURNN(3, 8, capacity=2)
        >>> cell.parameter_count().recurrent_dof  # 2·(4 + 3) units · (θ, φ) + 8 phases
        22
    """

    name = "eurnn"

    @classmethod
    def size_rule(cls, hidden_size: int, options: dict) -> None:
        r"""N even (>= 2): each layer is N/2 disjoint 2x2 units."""
        _check_even("hidden_size", hidden_size, cls.name, InadmissibleSizeError)

    def __init__(self, input_size: int, hidden_size: int, *, dtype=None, device=None, capacity: int = 2,
                 complex_weights: bool = True, strategy: str = "auto", eps: float = 1e-5,
                 learn_initial_state: bool = False) -> None:
        complex_weights = check(complex_weights, boolean, "complex_weights")
        super().__init__(input_size, hidden_size, is_complex=complex_weights)
        _check_even("capacity", capacity, self.name)
        self.capacity = capacity
        self._init_common(input_size, hidden_size, dtype, device, complex_weights, strategy, eps,
                          learn_initial_state)
        half, n = capacity // 2, hidden_size
        self.theta_a, self.theta_b = self._angle(half, n // 2), self._angle(half, n // 2 - 1)
        self.phi_a = self._angle(half, n // 2) if complex_weights else None
        self.phi_b = self._angle(half, n // 2 - 1) if complex_weights else None
        i = torch.arange(n, device=device)
        perm_b = torch.where(i % 2 == 1, i + 1, i - 1).clamp(0, n - 1)  # 0 and N−1 are in no B unit
        self.register_buffer("perm", torch.stack([i ^ 1, perm_b]).repeat(half, 1), persistent=False)

    def _coefficients(self) -> tuple[Tensor, Tensor]:
        half, n = self.capacity // 2, self.hidden_size
        a_a, b_a = unit_coefficients(self.theta_a, self.phi_a)
        a_b, b_b = unit_coefficients(self.theta_b, self.phi_b)
        one, zero = torch.ones_like(a_a[:, :1, 0]), torch.zeros_like(a_a[:, :1, 0])
        a_b = torch.cat([one, a_b.reshape(half, n - 2), one], -1)
        b_b = torch.cat([zero, b_b.reshape(half, n - 2), zero], -1)
        return (torch.stack([a_a.reshape(half, n), a_b], 1).reshape(2 * half, n),
                torch.stack([b_a.reshape(half, n), b_b], 1).reshape(2 * half, n))

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [p for p in (self.theta_a, self.theta_b, self.phi_a, self.phi_b, self.omega) if p is not None]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, capacity={self.capacity}"


class EURNNFFT(_EUNNCell):
    r"""FFT-style EURNN: log2 N butterfly layers, N/2 units each (Jing et al., ICML 2017, arXiv 1612.05231).

    Layer k (applied k-th, after D) pairs i with i + s, s = N/2^{k+1}, for every i whose bit s is clear, the
    stride order of Jing et al.'s code (first stride N/2, last 1). Writing i = hi·2s + lo (0 ≤ lo < s), the
    pair is unit u = lo·(N/2s) + hi of the layer's angles, the numbering of the code's ``generate_index_fft``
    (for N = 8, the stride-2 layer's units are (0, 2), (4, 6), (1, 3), (5, 7)). Recurrent dof
    N·log2 N + N (complex) or (N/2)·log2 N (real). Units, D and modReLU depart from the code as
    :class:`EURNN` says. The output is [Re h; Im h], as for every complex cell of the zoo; the original code
    reads out Re h only.

    Args:
        input_size: n_in.
        hidden_size: N, a power of two (>= 2).
        dtype, device, complex_weights, eps, learn_initial_state: as :class:`EURNN`.
        strategy: ``"auto"``, ``"layers"`` or ``"dense"``.

    Example:
        >>> EURNNFFT(3, 16).parameter_count().recurrent_dof  # 16·4 + 16
        80
    """

    name = "eurnn_fft"
    strategies = ("auto", "layers", "dense")

    @classmethod
    def size_rule(cls, hidden_size: int, options: dict) -> None:
        r"""N a power of two (>= 2): log2 N butterfly layers of strides N/2, ..., 1."""
        if hidden_size < 2 or hidden_size & (hidden_size - 1):
            raise InadmissibleSizeError(
                f"{cls.name}: hidden_size must be a power of two >= 2 (FFT style), got {hidden_size!r}")

    def __init__(self, input_size: int, hidden_size: int, *, dtype=None, device=None,
                 complex_weights: bool = True, strategy: str = "auto", eps: float = 1e-5,
                 learn_initial_state: bool = False) -> None:
        complex_weights = check(complex_weights, boolean, "complex_weights")
        super().__init__(input_size, hidden_size, is_complex=complex_weights)
        self._init_common(input_size, hidden_size, dtype, device, complex_weights, strategy, eps,
                          learn_initial_state)
        n, layers = hidden_size, hidden_size.bit_length() - 1
        self.theta = self._angle(layers, n // 2)
        self.phi = self._angle(layers, n // 2) if complex_weights else None
        i = torch.arange(n, device=device)
        self.register_buffer("perm", torch.stack([i ^ (n >> (k + 1)) for k in range(layers)]), persistent=False)

    def _coefficients(self) -> tuple[Tensor, Tensor]:
        n = self.hidden_size
        a, b = unit_coefficients(self.theta, self.phi)  # (layers, N/2, 2)
        a_rows, b_rows = [], []
        for k in range(self.theta.shape[0]):  # layer k: unit u = lo·(N/2s) + hi acts on hi·2s + lo and that + s
            s = n >> (k + 1)
            a_rows.append(a[k].reshape(s, -1, 2).permute(1, 2, 0).reshape(n))
            b_rows.append(b[k].reshape(s, -1, 2).permute(1, 2, 0).reshape(n))
        return torch.stack(a_rows), torch.stack(b_rows)

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [p for p in (self.theta, self.phi, self.omega) if p is not None]
