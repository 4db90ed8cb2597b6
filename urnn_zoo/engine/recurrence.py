r"""The fused whole-sequence recurrence h_t = σ(L h_{t−1} + u_t) with a hand-written BPTT backward
(docs/performance.md#the-fused-recurrence).

Every cell of the unitary/orthogonal family is one linear map L (dense W, two Kronecker groups, EURNN layers)
followed by an elementwise σ (complex or real modReLU, tanh). Autograd through a Python loop over steps builds a
graph of ~10 nodes per step and pays 6–10 µs per operator (measured on a 2-core CPU with torch 2.13;
docs/performance.md); :func:`fused_recurrence` runs the loop with autograd off and computes BPTT itself, so a
step costs only the operators of its maths. torch has no fused kernel for a user-given linear map and modReLU,
hence this module; σ and its derivative one step at a time are in urnn_zoo.engine.step_activations (Note [modReLU
Jacobian]); on the CPU the complex modReLU step itself is one C loop (urnn_zoo.engine.kernels, Note [Why a C kernel]).

Note [Fused BPTT]
Forward: z_t = L h_{t−1} + u_t, h_t = σ(z_t), writing z_t and h_t into preallocated (T, B, N) buffers.
Backward, with ḡ_t the gradient reaching h_t (from the outputs and from step t + 1):
  ḡ_{T−1} = ∂ℓ/∂h_{T−1},   ḡ_{t} = ∂ℓ/∂h_t + L^H ġ_{t+1},   ġ_t = σ'(z_t)^T ḡ_t.
ġ_t is the gradient of u_t, L^H ġ_0 that of h_0, and the gradient of L's tensors θ is Σ_t ⟨ġ_t, L_θ h_{t−1}⟩
differentiated in θ, which each map computes by hand: a few large GEMMs (dense W: Σ h^H ġ), or each step's
share added while its tensors are in cache (Kronecker groups, EURNN layers). The gradient of the activation's bias b
adds each step's per-element derivative against ḡ_t into a (B, N) accumulator, summed over rows at the end.
Elementwise work on (T, B, N) tensors after the loop costs several times more per element than the same work
per step (the step's (B, N) slices are in cache, the whole tensors are not), so the loops do it per step.
torch's convention for a complex x is ∂ℓ/∂Re x + i ∂ℓ/∂Im x, under which the vector-Jacobian product of a
complex-linear L is L^H (the conjugate transpose), and that of an elementwise map ℂ → ℂ is its 2x2 real
Jacobian transposed, applied to (Re ḡ, Im ḡ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from urnn_zoo.activations import check_eps
from urnn_zoo.engine.step_activations import step_activation

__all__ = ["LinearMap", "StepRecord", "DenseMap", "fused_recurrence", "previous_state_products", "ACTIVATIONS"]

ACTIVATIONS = ("modrelu", "tanh")

# fn(x, add, out, t) -> add + L x for rows of x at step t (add None: L x; out a buffer or None).
MapFn = Callable[[Tensor, "Tensor | None", "Tensor | None", int], Tensor]


@dataclass
class StepRecord:
    r"""What the fused loop keeps for a map's adjoint steps and gradients.

    Attributes:
        h0: (B, N) state before step 0.
        h: (T, B, N) states h_1..h_T (step t maps h_{t−1} = :meth:`previous` (t)).
        forward: the (T, B, N) buffers the map's forward steps filled.
    """

    h0: Tensor
    h: Tensor
    forward: Sequence[Tensor]

    def __post_init__(self) -> None:
        self._states = (self.h0, *self.h.unbind(0)[:-1])

    def previous(self, t: int) -> Tensor:
        r"""h_{t−1}, the state step t maps."""
        return self._states[t]


class LinearMap:
    r"""A linear map L on row states (B, N), given by tensors, for :func:`fused_recurrence`.

    A subclass implements :meth:`forward_fn` (L) and :meth:`adjoint_fn` (L^H) for the same tensors. The
    functions they return are called once per step t; the forward ones may write intermediates into per-step
    slices of ``forward_saved`` buffers of shape (T, B, N) and the state's dtype, which the adjoint steps read
    from the :class:`StepRecord`, and :meth:`tensor_grads` (a few large GEMMs, or gradient terms its adjoint
    steps gathered while their tensors were in cache; Note [Fused BPTT]). A map whose adjoint steps gather
    gradient terms sets ``adjoint_every_step`` so the loop also runs the adjoint of step 0.
    """

    forward_saved = 0
    adjoint_every_step = False

    def forward_fn(self, tensors: Sequence[Tensor], saved: Sequence[Tensor]) -> MapFn:
        r"""A function (x, add, out, t) -> add + L x on rows of x (add None: L x)."""
        raise NotImplementedError

    def adjoint_fn(self, tensors: Sequence[Tensor], record: StepRecord | None) -> MapFn:
        r"""A function (g, add, out, t) -> add + L^H g on rows of g (``record`` None: no gradient of the tensors)."""
        raise NotImplementedError

    def tensor_grads(self, tensors: Sequence[Tensor], wanted: Sequence[bool], record: StepRecord,
                     g_z: Tensor) -> list:
        r"""Gradients of the tensors (None where not ``wanted``) from Σ_t ⟨ġ_t, L h_{t−1}⟩.

        Args:
            tensors: as given to :func:`fused_recurrence`.
            wanted: which gradients to compute.
            record: the states and buffers of the loop.
            g_z: (T, B, N) cotangents ġ_t.
        """
        raise NotImplementedError


def previous_state_products(h0: Tensor, h: Tensor, g: Tensor) -> Tensor:
    r"""Σ_t h_{t−1}^H g_t over steps and rows: (N, M) for h (T, B, N) and g (T, B, M), two GEMMs, no copy of h.

    Example:
        >>> h0, h, g = torch.ones(1, 2), torch.ones(3, 1, 2), torch.ones(3, 1, 2)
        >>> previous_state_products(h0, h, g)
        tensor([[3., 3.],
                [3., 3.]])
    """
    total = torch.mm(h0.mH, g[0])
    if h.shape[0] > 1:
        total = torch.addmm(total, h[:-1].flatten(0, 1).mH, g[1:].flatten(0, 1))
    return total


class DenseMap(LinearMap):
    r"""L h = h @ wt for rows h: the one tensor is Wᵀ (N, N) (rows convention, h_t = h_{t−1} Wᵀ).

    A step is one ``addmm`` each way; the gradient of Wᵀ is Σ_t h_{t−1}^H ġ_t (:func:`previous_state_products`).

    Example:
        >>> wt = torch.randn(3, 3, dtype=torch.float64)
        >>> f = DenseMap().forward_fn([wt], ())
        >>> torch.allclose(f(torch.ones(1, 3, dtype=torch.float64), None, None, 0), wt.sum(0, keepdim=True))
        True
    """

    def forward_fn(self, tensors, saved):
        (wt,) = tensors
        return lambda x, add, out, t: torch.mm(x, wt, out=out) if add is None else torch.addmm(add, x, wt, out=out)

    def adjoint_fn(self, tensors, record):
        (wt,) = tensors
        wa = wt.mH.resolve_conj()  # L^H on rows is g @ conj(Wᵀ)ᵀ; materialised once per backward
        return lambda g, add, out, t: torch.mm(g, wa, out=out) if add is None else torch.addmm(add, g, wa, out=out)

    def tensor_grads(self, tensors, wanted, record, g_z):
        return [previous_state_products(record.h0, record.h, g_z) if wanted[0] else None]


def _buffers(count: int, like: Tensor, dtype=None) -> list[Tensor]:
    return [torch.empty(like.shape, dtype=dtype or like.dtype, device=like.device) for _ in range(count)]


class _FusedRecurrence(torch.autograd.Function):
    # Note [Fused BPTT]. `spec` = (linear map, activation kind, eps, emit) carries no tensors. With `emit`, the
    # outputs are the cell contract's real outputs ([Re h; Im h] per step for a complex state, written per
    # step while h_t is in cache) and the final state; without, all states.

    @staticmethod
    def forward(ctx, spec, u: Tensor, h0: Tensor, bias: Tensor | None, *tensors: Tensor):
        lmap, kind, eps, emit = spec
        act = step_activation(kind, u.is_complex(), bias, eps)
        z, h = torch.empty_like(u), torch.empty_like(u)
        training = any(ctx.needs_input_grad)  # without a backward, no step saves anything
        map_saved = _buffers(lmap.forward_saved if any(ctx.needs_input_grad[4:]) else 0, u)
        act_saved = _buffers(act.saved_count if training else 0, u, u.real.dtype if u.is_complex() else u.dtype)
        step = lmap.forward_fn(tensors, map_saved)
        act_steps = list(zip(*[b.unbind(0) for b in act_saved])) or [()] * u.shape[0]
        split = emit and u.is_complex()
        if split:
            T, B, N = u.shape
            out = torch.empty(T, B, 2 * N, dtype=u.real.dtype, device=u.device)
            out_steps = out.unbind(0)
        prev = h0
        for t, (u_t, z_t, h_t) in enumerate(zip(u.unbind(0), z.unbind(0), h.unbind(0))):
            act.forward(step(prev, u_t, z_t, t), act_steps[t], h_t, out_steps[t] if split else None)
            prev = h_t
        ctx.spec, ctx.counts = spec, (len(map_saved), len(act_saved))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(h0, bias, z, h, *map_saved, *act_saved, *tensors)
        if not emit:
            return h
        return (out if split else h), h[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        lmap, kind, eps, emit = ctx.spec
        h0, bias, z, h, *rest = ctx.saved_tensors
        n_map, n_act = ctx.counts
        map_saved, act_saved, tensors = rest[:n_map], rest[n_map : n_map + n_act], rest[n_map + n_act :]
        act = step_activation(kind, z.is_complex(), bias, eps)
        need_u, need_h0, need_bias, *need_tensors = ctx.needs_input_grad[1:]
        record = None
        if any(need_tensors):
            record = StepRecord(h0, h, map_saved)
        adjoint = lmap.adjoint_fn(tensors, record)
        act_steps = list(zip(*[b.unbind(0) for b in act_saved])) or [()] * z.shape[0]
        grads_h, rows = _state_grads(grads, z, emit)
        g_z = torch.empty_like(z)  # ġ_t of Note [Fused BPTT]
        g_zs, zs, hs = g_z.unbind(0), z.unbind(0), h.unbind(0)
        g_h = grads_h(z.shape[0] - 1)
        for t in range(z.shape[0] - 1, -1, -1):
            if t < z.shape[0] - 1:
                g_h = adjoint(g_zs[t + 1], grads_h(t), None, t + 1)
            act.backward_step(g_h, zs[t], hs[t], act_steps[t], g_zs[t], rows[t] if rows else None)
        run_first = need_h0 or (record is not None and lmap.adjoint_every_step)
        grad_h0 = adjoint(g_zs[0], None, None, 0) if run_first else None
        grad_bias = act.bias_grad_rows.sum(0) if need_bias and act.bias_grad_rows is not None else None
        grad_tensors = [None] * len(tensors)
        if record is not None:
            grad_tensors = lmap.tensor_grads(tensors, need_tensors, record, g_z)
        return (None, g_z if need_u else None, grad_h0 if need_h0 else None, grad_bias, *grad_tensors)


def _state_grads(grads: tuple, z: Tensor, emit: bool) -> tuple[Callable[[int], Tensor | None], list | None]:
    r"""The outputs' gradients (None where an output was unused) per step: t ↦ what to add to L^H ġ_{t+1} for
    ∂ℓ/∂h_t (None: nothing), and, for the emitted [Re h; Im h] of a complex state, its (B, 2N) real rows, which
    the activation's backward adds itself (in its C kernel: no complex tensor is built per step)."""
    T, B, N = z.shape
    zero = z.new_zeros(B, N)
    if not emit:
        (grad_h,) = grads
        return ((lambda t: zero) if grad_h is None else grad_h.unbind(0).__getitem__), None
    grad_out, grad_last = grads
    last = zero if grad_last is None else grad_last
    if grad_out is None:
        return (lambda t: last if t == T - 1 else None), None
    if z.is_complex():
        return (lambda t: last if t == T - 1 else None), list(grad_out.unbind(0))
    steps = grad_out.unbind(0)
    return (lambda t: steps[t] + last if t == T - 1 else steps[t]), None


def fused_recurrence(
    lmap: LinearMap,
    tensors: Sequence[Tensor],
    u: Tensor,
    h0: Tensor,
    activation: str = "modrelu",
    bias: Tensor | None = None,
    eps: float = 1e-5,
    emit: bool = False,
):
    r"""All states of h_t = σ(L h_{t−1} + u_t) for t = 1..T, with the BPTT of Note [Fused BPTT].

    Args:
        lmap: the linear map L (e.g. :class:`DenseMap`).
        tensors: the tensors L is built from (gradients flow to them).
        u: (T, B, N) projected inputs (complex for a complex state).
        h0: (B, N) state before the first step, same dtype as ``u``.
        activation: ``"modrelu"`` (complex or real form, by the dtype of ``u``) or ``"tanh"``.
        bias: modReLU's (N,) real bias (ignored by tanh).
        eps: modReLU's ε (complex form), in :data:`urnn_zoo.activations.EPS_RANGE`.
        emit: return the cell contract's outputs instead of the states (below).

    Returns:
        (T, B, N) states h_1..h_T; with ``emit``, the pair (outputs, h_T) where the outputs are the real
        (T, B, 2N) [Re h_t; Im h_t] of a complex state (the states themselves for a real one).

    Raises:
        ValueError: an unknown activation, shapes that do not match, no steps, a modReLU bias of another shape
            or dtype, or a modReLU ``eps`` outside :data:`urnn_zoo.activations.EPS_RANGE`.
        TypeError: ``h0`` of another dtype than ``u``, or tanh on a complex state.

    Example:
        >>> wt, u = torch.eye(2, dtype=torch.float64), torch.ones(3, 1, 2, dtype=torch.float64)
        >>> fused_recurrence(DenseMap(), [wt], u, torch.zeros(1, 2, dtype=torch.float64), "tanh")[-1, 0, 0].item() > 0.9
        True
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if u.dim() != 3 or h0.shape != u.shape[1:]:
        raise ValueError(f"expected u (T, B, N) and h0 (B, N), got u {tuple(u.shape)} and h0 {tuple(h0.shape)}")
    if h0.dtype != u.dtype:
        raise TypeError(f"h0 must have the dtype of u ({u.dtype}), got {h0.dtype}")
    if u.shape[0] == 0:
        raise ValueError(f"u must have at least one step, got u of shape {tuple(u.shape)}")
    if activation == "tanh" and u.is_complex():
        raise TypeError(f"activation='tanh' needs a real state (its fused backward is the real derivative), got u of dtype {u.dtype}")
    real = u.real.dtype if u.is_complex() else u.dtype
    if activation == "modrelu" and (bias is None or bias.shape != u.shape[2:] or bias.dtype != real):
        got = "None" if bias is None else f"shape {tuple(bias.shape)} and dtype {bias.dtype}"
        raise ValueError(f"activation='modrelu' needs its bias of shape ({u.shape[2]},) and dtype {real}, got {got}")
    if activation == "modrelu":
        eps = check_eps(eps)  # Note [modReLU's ε range]: outside it the C kernel, torch and autograd disagree
    return _FusedRecurrence.apply((lmap, activation, eps, emit), u, h0, bias if activation == "modrelu" else None,
                                  *tensors)
