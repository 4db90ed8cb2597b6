r"""The diagonal linear recurrence h_t = λ ⊙ h_{t−1} + u_t over a whole sequence as a parallel scan: log depth,
O(T) work, and a backward that is the same scan run backwards in time.

A linear recurrence with a diagonal, time-invariant λ is an associative scan over the pairs (λ^k, h): combining
two adjacent stretches is (a₂a₁, a₂h₁ + h₂). :func:`diagonal_scan` evaluates it by recursive doubling (Note
[Odd-even scan]) instead of T dependent steps, so a sequence costs about 2·log₂T vectorised operations on
shrinking tensors rather than T small ones. torch has no public associative scan (only a private prototype,
``torch._higher_order_ops.associative_scan``, absent from the oldest torch this package supports), hence this
module.

Note [Odd-even scan]
Write the scan of u under λ as S(u; λ)_t = Σ_{s≤t} λ^{t−s} u_s (so S(u; λ)_0 = u_0). Pair each odd position with
the even one before it, v_k = u_{2k+1} + λ u_{2k}: then S(u; λ)_{2k+1} = S(v; λ²)_k, one scan of half the length
under λ², and the even positions follow in one step, S(u; λ)_{2k} = u_{2k} + λ S(u; λ)_{2k−1}. Recursing gives
depth 2·⌈log₂T⌉ and about 2T combine operations in all (the work-efficient Ladner–Fischer/Blelloch shape, not the
T·log₂T of Hillis–Steele), for any T (an odd T leaves its last, even, position to the fix-up step). The initial
state h_{−1} enters as u_0 + λ h_{−1}. Only the powers λ^{2^k} of the N eigenvalues are formed, never λ^t per
step: a power below the smallest normal number (1.2e-38 in float32) is set to 0, which keeps |λ|^t underflow from
producing subnormal numbers, whose arithmetic is many times slower on a CPU. The terms it drops are below the
resolution of a state, which always holds u_t with coefficient 1, unless the inputs span more than that range
in magnitude. With |λ| ≤ 1 every coefficient has modulus ≤ 1, so the rounding
error of a state is a few units of the sum's largest term per level, as for the step-by-step loop.

Note [Scan backward]
With ḡ_t the gradient reaching h_t from everywhere after it, ḡ_t = ∂ℓ/∂h_t + λ̄ ḡ_{t+1}: the adjoint of the
recurrence is the same recurrence backwards in time under the conjugate λ̄ (torch's convention for complex
gradients, ∂ℓ/∂Re + i ∂ℓ/∂Im, under which the vector-Jacobian product of z ↦ λz is g ↦ λ̄g). So
∂ℓ/∂u_t = ḡ_t (one reversed :func:`diagonal_scan`), ∂ℓ/∂h_{−1} = λ̄ ḡ_0 for the initial state h_{−1}, and
∂ℓ/∂λ = Σ_{t,b} conj(h_{t−1}) ḡ_t. The
forward saves only its output h; autograd through the scan's own operations would keep every level's tensors.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["diagonal_scan", "diagonal_loop"]


def _check(lam: Tensor, u: Tensor, h0: Tensor) -> None:
    if u.dim() < 2:
        raise ValueError(f"u: expected shape (T, ..., N) with T >= 1, got shape {tuple(u.shape)}")
    if u.shape[0] < 1:
        raise ValueError(f"u: expected at least one step (T >= 1), got shape {tuple(u.shape)}")
    if lam.dtype != u.dtype or h0.dtype != u.dtype:
        raise TypeError(f"expected lam, u and h0 of one dtype, got {lam.dtype}, {u.dtype} and {h0.dtype}")
    try:
        shape = torch.broadcast_shapes(lam.shape, h0.shape, u.shape[1:])
    except RuntimeError:
        shape = None
    if shape != u.shape[1:]:
        raise ValueError(f"expected lam {tuple(lam.shape)} and h0 {tuple(h0.shape)} to broadcast to one step of "
                         f"u, {tuple(u.shape[1:])}")


def _flush(p: Tensor) -> Tensor:
    r"""``p`` with entries below the smallest normal modulus set to 0 (Note [Odd-even scan])."""
    tiny = torch.finfo(p.real.dtype if p.is_complex() else p.dtype).tiny
    return torch.where(p.abs() < tiny, torch.zeros((), dtype=p.dtype, device=p.device), p)


def _scan(lam: Tensor, u: Tensor) -> Tensor:
    r"""S(u; λ)_t = Σ_{s≤t} λ^{t−s} u_s along dim 0, by recursive doubling (Note [Odd-even scan]); no autograd."""
    t = u.shape[0]
    if t == 1:
        return u.clone()
    half = t // 2
    even, odd = u[0:2 * half:2], u[1:2 * half:2]
    odd_states = _scan(_flush(lam * lam), odd + lam * even)
    h = torch.empty_like(u)
    h[1::2] = odd_states
    h[0] = u[0]
    rest = (t - 1) // 2  # even positions 2, 4, ... below t
    if rest:
        h[2::2] = u[2::2] + lam * odd_states[:rest]
    return h


class _DiagonalScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lam: Tensor, u: Tensor, h0: Tensor) -> Tensor:
        first = u[:1] + lam * h0
        h = _scan(lam, torch.cat([first, u[1:]]) if u.shape[0] > 1 else first)
        ctx.save_for_backward(lam, h0, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor):
        lam, h0, h = ctx.saved_tensors
        lam_bar = lam.conj()
        g = _scan(lam_bar, grad_h.flip(0)).flip(0)  # ḡ_t (Note [Scan backward])
        grad_lam = grad_h0 = None
        if ctx.needs_input_grad[0]:
            total = (h0.conj() * g[0]).sum_to_size(lam.shape)
            if h.shape[0] > 1:
                total = total + (h[:-1].conj() * g[1:]).sum(0).sum_to_size(lam.shape)
            grad_lam = total
        if ctx.needs_input_grad[2]:
            grad_h0 = (lam_bar * g[0]).sum_to_size(h0.shape)
        return grad_lam, g if ctx.needs_input_grad[1] else None, grad_h0


def diagonal_scan(lam: Tensor, u: Tensor, h0: Tensor) -> Tensor:
    r"""Every state of h_t = λ ⊙ h_{t−1} + u_t (t = 0 … T−1, from h_{−1} = ``h0``) by a parallel scan.

    Log depth (about 2·log₂T vectorised operations) and O(T) work (Note [Odd-even scan]); differentiable in all
    three arguments, the backward being the reversed scan under λ̄ (Note [Scan backward]). Equal to
    :func:`diagonal_loop` up to rounding.

    Args:
        lam: λ, time-invariant, broadcastable to one step of ``u`` (e.g. (N,)); real or complex. Nothing
            requires |λ| ≤ 1, but only then is every coefficient of the scan bounded by 1.
        u: (T, ..., N) inputs u_t, T >= 1, the dtype of ``lam``.
        h0: the state before the first step, broadcastable to one step of ``u``, the dtype of ``lam``.

    Returns:
        (T, ..., N) states h_0 … h_{T−1} (h_t after input u_t).

    Raises:
        ValueError: ``u`` has no time axis or no step, or ``lam``/``h0`` do not broadcast to one of its steps.
        TypeError: the three dtypes differ.

    Example:
        >>> lam, u = torch.tensor([0.5]), torch.ones(3, 1)
        >>> diagonal_scan(lam, u, torch.zeros(1)).flatten().tolist()
        [1.0, 1.5, 1.75]
    """
    _check(lam, u, h0)
    return _DiagonalScan.apply(lam, u, h0)


def diagonal_loop(lam: Tensor, u: Tensor, h0: Tensor) -> Tensor:
    r"""The same states as :func:`diagonal_scan` by T dependent steps h ← λ ⊙ h + u_t (autograd through the
    loop): the reference the scan is tested against.

    Args, Returns and Raises: as :func:`diagonal_scan`.
    """
    _check(lam, u, h0)
    h, states = h0, []
    for u_t in u.unbind(0):  # unbind, never u[t]: each u[t]'s backward fills a zero (T, ...) tensor
        h = lam * h + u_t
        states.append(h)
    return torch.stack(states)
