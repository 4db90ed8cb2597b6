r"""The activations of the fused recurrence one step at a time, with their hand-written derivatives.

urnn_zoo.engine.recurrence runs h_t = σ(L h_{t−1} + u_t) with autograd off; these classes give σ (complex or real modReLU,
tanh) for one step, the factors its backward needs (saved by the forward step) and the backward step. On the CPU
the complex modReLU step is one C loop (urnn_zoo.engine.kernels).

Note [modReLU Jacobian]
Complex modReLU (activations.py) is f(z) = z·s(m), m = √(|z|² + ε), s(m) = relu(m + b)/(m + ε). As a map of
(x, y) = (Re z, Im z) its Jacobian is s·I + (s'(m)/m)·(x, y)ᵀ(x, y), symmetric, so
  ġ = s·ḡ + (s'(m)/m)·z·Re(z̄ ḡ),   s'(m) = (1[m + b > 0]·(m + ε) − relu(m + b))/(m + ε)²,
and ∂f/∂b = z·1[m + b > 0]/(m + ε) gives ∂ℓ/∂b = Σ Re(z̄ ḡ)·1[m + b > 0]/(m + ε). Real modReLU
f(z) = sign(z)·relu(|z| + b) has f' = sign(z)²·1[|z| + b > 0] (autograd's sign' = 0 at 0) and
∂f/∂b = sign(z)·1[|z| + b > 0]. tanh has f' = 1 − h². Every path decides the complex 1[m + b > 0] as
1[|z|² + ε > −b·|b|] (Note [modReLU's kink on every path] in activations.py).
"""
from __future__ import annotations

import torch
from torch import Tensor

from urnn_zoo.engine import kernels

__all__ = ["StepActivation", "step_activation"]


class StepActivation:
    r"""σ with its hand-written derivative (Note [modReLU Jacobian]); one instance per forward or backward.

    The forward of a step may also write factors its backward needs into per-step slices of ``saved_count``
    ``saved`` buffers (the real modReLU saves one; the complex one recomputes its factors from z); the backward
    of a step returns ġ_t and adds the step's share of ∂ℓ/∂b into ``bias_grad_rows`` (B, N).
    """

    saved_count = 0

    def __init__(self, bias: Tensor | None, eps: float) -> None:
        self.bias, self.eps = bias, eps
        self.bias_grad_rows: Tensor | None = None

    def forward(self, z: Tensor, saved: tuple[Tensor, ...], out: Tensor, emit: Tensor | None = None) -> Tensor:
        r"""h = σ(z) into ``out``; with ``emit`` (complex states only) also [Re h; Im h] into that (B, 2N) row."""
        raise NotImplementedError

    def backward_step(self, g: Tensor, z: Tensor, h: Tensor, saved: tuple[Tensor, ...], out: Tensor,
                      rows: Tensor | None = None) -> Tensor:
        r"""ġ_t into ``out`` from ḡ_t = g, plus (complex states only) the (B, 2N) real rows [Re; Im] of the
        emitted output's gradient when given."""
        raise NotImplementedError

    def _accumulate_bias(self, value: Tensor, factor: Tensor) -> None:
        if self.bias_grad_rows is None:
            self.bias_grad_rows = value * factor
        else:
            self.bias_grad_rows.addcmul_(value, factor)


class _ComplexModReLU(StepActivation):
    # Per element: s = relu(m + b)/(m + ε), k = 1[m + b > 0]/(m + ε) (= ∂s/∂b) and c = s'(m)/m =
    # (ε − b)·k/((m + ε)·m) (where m + b > 0, relu(m + b) = m + b, so s' = (ε − b)/(m + ε)²), computed from z
    # by the forward (s, k) and again by the backward (s, k, c), by the same operations in the same order, so
    # nothing is saved but z (Note [Why a C kernel] in urnn_zoo.engine.kernels: the traffic of saved factors
    # cost more than recomputing them).
    # k = 1[q > −b·|b|]/(m + ε) with q = x·x + y·y + ε (Note [modReLU's kink on every path] in
    # urnn_zoo.activations): q is a multiply and two adds, not z·z̄, whose complex multiply may fuse
    # x·x − y·(−y) into one rounding (measured: 4 of 7,500 float32 values an ulp off), and torch's complex abs
    # is a hypot several times slower.

    def __init__(self, bias: Tensor | None, eps: float) -> None:
        super().__init__(bias, eps)
        self.eps_minus_bias = eps - bias
        self.kink = -bias * bias.abs()  # m + b > 0 ⟺ q > −b·|b|

    def _factors(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""(s, k, inv, m) of the comment above, in torch operators."""
        q = torch.mul(z.real, z.real).add_(torch.mul(z.imag, z.imag)).add_(self.eps)
        m = q.sqrt()
        inv = torch.add(m, self.eps).reciprocal_()
        k = torch.gt(q, self.kink).to(inv.dtype).mul_(inv)  # a float mask: 4x faster than multiplying by a bool
        return k * (m + self.bias), k, inv, m

    def forward(self, z, saved, out, emit=None):
        if not kernels.modrelu_forward(z, self.bias, self.eps, out, emit):  # one pass in C (Note [Why a C kernel])
            torch.mul(z, self._factors(z)[0], out=out)  # the same maths in torch operators
            if emit is not None:
                torch.cat([out.real, out.imag], -1, out=emit)
        return out

    def backward_step(self, g, z, h, saved, out, rows=None):
        g = g.contiguous()
        if self.bias_grad_rows is None:
            self.bias_grad_rows = torch.zeros(z.shape, dtype=self.bias.dtype, device=z.device)
        if kernels.modrelu_backward(g, rows, z, self.bias, self.eps_minus_bias, self.eps, out, self.bias_grad_rows):
            return out
        if rows is not None:
            n = z.shape[-1]
            g = g + torch.complex(rows[:, :n], rows[:, n:])
        s, k, inv, m = self._factors(z)
        c = torch.mul(k, self.eps_minus_bias).mul_(inv).div_(m)
        r = torch.mul(z.conj(), g).real.contiguous()  # Re(z̄ ḡ), read twice: contiguous pays off
        self._accumulate_bias(r, k)
        return torch.addcmul(s * g, z, c * r, out=out)


class _RealModReLU(StepActivation):
    # Saved per step: e = sign(z)·1[|z| + b > 0] = ∂f/∂b; f' = e² (sign'(0) = 0, as autograd has it).
    saved_count = 1

    def forward(self, z, saved, out, emit=None):
        shifted = z.abs() + self.bias
        sign = torch.sign(z)
        if saved:
            torch.mul(sign, shifted > 0, out=saved[0])
        return torch.mul(sign, shifted.clamp_min_(0), out=out)

    def backward_step(self, g, z, h, saved, out, rows=None):
        (e,) = saved
        self._accumulate_bias(g, e)
        return torch.mul(e * e, g, out=out)


class _Tanh(StepActivation):
    def forward(self, z, saved, out, emit=None):
        return torch.tanh(z, out=out)

    def backward_step(self, g, z, h, saved, out, rows=None):
        return torch.addcmul(g, g * h, h, value=-1, out=out)  # (1 − h²) ḡ


def step_activation(kind: str, z_is_complex: bool, bias: Tensor | None, eps: float) -> StepActivation:
    r"""The step form of σ for :func:`urnn_zoo.engine.recurrence.fused_recurrence`.

    Args:
        kind: ``"modrelu"`` or ``"tanh"``.
        z_is_complex: whether the pre-activations are complex (complex modReLU) or real.
        bias: modReLU's (N,) real bias (None for tanh).
        eps: modReLU's ε.

    Returns:
        An object with ``forward`` and ``backward_step``, used for one forward or one backward.

    Example:
        >>> act = step_activation("tanh", False, None, 0.0)
        >>> act.forward(torch.zeros(1, 2), (), torch.empty(1, 2))
        tensor([[0., 0.]])
    """
    if kind == "tanh":
        return _Tanh(None, eps)
    return (_ComplexModReLU if z_is_complex else _RealModReLU)(bias, eps)
