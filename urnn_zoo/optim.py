r"""The full-capacity uRNN's own update: the multiplicative Cayley step along the Stiefel manifold
(Wisdom, Powers, Hershey, Le Roux, Atlas, "Full-Capacity Unitary Recurrent Neural Networks", NIPS 2016,
arXiv 1611.00035, eqs. (8)–(9), after Tagare, "Notes on Optimization on Stiefel Manifolds", Yale University
2011; the update of their code, ``stwisdom/urnn``), as a ``torch.optim.Optimizer``.

Use it for the raw unitary weight of ``fcurnn`` with ``parametrization="none"`` (``cell.stiefel_parameters()``)
and an ordinary optimizer for every other parameter.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = ["StiefelCayley", "cayley_step", "project_unitary"]

# Note [The Cayley step and its sign]
# With G = ∂L/∂Re W + i·∂L/∂Im W (exactly torch's `.grad` of a complex leaf, with no factor 2;
# docs/conventions.md#complex-gradients), the first-order change of a real loss is dL = Re tr(G^H dW). Wisdom's
# update is the Cayley curve
#   W(λ) = (I + (λ/2)A)⁻¹ (I − (λ/2)A) W,   A = G W^H − W G^H  (skew-Hermitian),
# which stays in U(N) for every λ (the Cayley transform of a skew-Hermitian matrix is unitary, and
# I + (λ/2)A is always invertible: its eigenvalues are 1 + iℝ). Its derivative at λ = 0 is −A W, so with
# M = G^H W and W unitary
#   dL/dλ = −Re tr(G^H A W) = −(‖G‖_F² − Re tr(M²)) = −(‖M‖_F² − Re tr(M²)) ≤ 0
# (|tr(M²)| ≤ ‖M‖_F² by Cauchy–Schwarz), i.e. the step with this sign descends, and it is 0 only where the
# Riemannian gradient vanishes. In floating point the product is unitary only to rounding; the error of each
# step adds up (Wisdom et al.'s code has an SVD re-projection but leaves it switched off, so its drift is never
# corrected), which `reproject_every` bounds by snapping W back to the closest unitary.


def cayley_step(w: Tensor, grad: Tensor, lr: float) -> Tensor:
    r"""One multiplicative Cayley step W ← (I + (λ/2)A)⁻¹(I − (λ/2)A) W, A = G W^H − W G^H.

    Args:
        w: square (…, n, n) unitary (or orthogonal, when real) matrix.
        grad: G, the gradient of the loss with respect to ``w`` (torch's ``.grad`` as is).
        lr: λ.

    Returns:
        The new W (unitary to rounding).

    Example:
        >>> w = torch.eye(3, dtype=torch.complex128)
        >>> w2 = cayley_step(w, torch.randn(3, 3, dtype=torch.complex128), 0.1)
        >>> torch.allclose(w2.mH @ w2, w)
        True
    """
    # Note [Cayley step as a correction]: (I + X)⁻¹(I − X) = I − 2(I + X)⁻¹X, so W_new = W − 2(I + X)⁻¹ X W.
    # Solving for the small correction instead of for W_new itself makes the solver's error relative to
    # ‖X W‖ (≈ λ‖A‖), not to ‖W‖ = √N: at N=64 in float32 the drift per step drops from ≈1.5e-6 to rounding.
    x = (0.5 * lr) * (grad @ w.mH - w @ grad.mH)
    eye = torch.eye(w.shape[-1], dtype=w.dtype, device=w.device)
    return w - 2.0 * torch.linalg.solve(eye + x, x @ w)


def project_unitary(w: Tensor) -> Tensor:
    r"""The closest unitary (orthogonal when real) matrix to ``w`` in the Frobenius norm: U V^H from the SVD
    W = U Σ V^H (the unitary polar factor).

    Single precision is factored in double and rounded once, so a float32 result sits at rounding distance
    from U(N) (‖W^H W − I‖_F ≈ 3e-7 at N=64) rather than at the float32 SVD's accuracy (≈ 7e-6).

    Example:
        >>> q = project_unitary(torch.randn(4, 4, dtype=torch.complex128))
        >>> torch.allclose(q.mH @ q, torch.eye(4, dtype=torch.complex128))
        True
    """
    work = {torch.float32: torch.float64, torch.complex64: torch.complex128}.get(w.dtype, w.dtype)
    u, _, vh = torch.linalg.svd(w.to(work))
    return (u @ vh).to(w.dtype)


class StiefelCayley(Optimizer):
    r"""Wisdom et al.'s multiplicative Cayley step for square unitary (or orthogonal) parameters.

    Each step replaces W by (I + (λ/2)A)⁻¹(I − (λ/2)A) W with A = G W^H − W G^H and G = ``W.grad``
    (Note [The Cayley step and its sign]): W stays unitary up to rounding, and the step descends. Every
    ``reproject_every`` steps of a parameter (0: never, as in the paper's code, whose SVD re-projection is
    commented out), W is replaced by its closest unitary matrix, which bounds the float32 drift.

    Args:
        params: the square (…, n, n) complex (or real) parameters, e.g. ``cell.stiefel_parameters()``.
        lr: λ (default 1e-3; Wisdom's copy runs used the main learning rate, the MNIST runs 1e-6).
        reproject_every: K ≥ 0; re-project after every K-th step of a parameter (0 = never).

    Example:
        >>> import urnn_zoo as uz
        >>> cell = uz.make_cell("fcurnn", 2, 8, parametrization="none")
        >>> opt = StiefelCayley(cell.stiefel_parameters(), lr=1e-2, reproject_every=100)
        >>> cell(torch.randn(5, 3, 2))[0].pow(2).mean().backward()
        >>> opt.step()
        >>> float(cell.unitarity_error()) < 1e-4
        True
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, *, reproject_every: int = 0) -> None:
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr < 0:
            raise ValueError(f"lr must be a number >= 0, got {lr!r}")
        if isinstance(reproject_every, bool) or not isinstance(reproject_every, int) or reproject_every < 0:
            raise ValueError(f"reproject_every must be an int >= 0 (0 = never), got {reproject_every!r}")
        super().__init__(params, dict(lr=lr, reproject_every=reproject_every))
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() < 2 or p.shape[-1] != p.shape[-2]:
                    raise ValueError(f"StiefelCayley takes square (…, n, n) matrices, got shape {tuple(p.shape)}")
                if not (p.is_complex() or p.is_floating_point()):
                    raise ValueError(f"StiefelCayley takes floating or complex parameters, got dtype {p.dtype}")

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        r"""One Cayley step of every parameter that has a gradient.

        Args:
            closure: re-evaluates the model and returns the loss (optional).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            every = group["reproject_every"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("StiefelCayley does not support sparse gradients")
                state = self.state[p]
                state["step"] = state.get("step", 0) + 1
                w = cayley_step(p, p.grad, group["lr"])
                if every and state["step"] % every == 0:
                    w = project_unitary(w)
                p.copy_(w)
        return loss
