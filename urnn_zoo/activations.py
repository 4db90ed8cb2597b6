r"""modReLU, the activation of the unitary RNN family, in its complex and real forms (DESIGN §3)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["modrelu", "ModReLU"]


# Note [modReLU without NaN gradients]
# modReLU(z) = ReLU(|z| + b) · z / |z| has an undefined phase at z = 0, and torch's backward of
# `abs`/`angle` on a complex tensor is NaN for tiny |z| (pytorch#96543, #98276). As Wisdom's code does,
# we take |z| = sqrt(Re² + Im² + ε) (never 0) and divide by |z| + ε, so the map and its gradient are finite
# everywhere, and it equals the textbook modReLU up to O(ε) away from 0.
# The real form sign(z) · ReLU(|z| + b) (expRNN, scoRNN, oRNN) is continuous with gradient 0 at z = 0
# (sign'(0) = 0), so it needs no ε.


# Note [modReLU at a zero state]
# Near z = 0 the smoothed map is z·(√ε + b)/(√ε + ε): its slope is about 1 + b/√ε (4.2 for b = 0.01 and
# ε = 1e-5). A complex cell fed zeros from a zero state (the first ~100 pixels of MNIST) multiplies its
# backward by that slope every step: with Wisdom's U(±0.01) bias init, 4^100 overflows and the first gradient
# is NaN (measured: kru, rcurnn, eurnn, eurnn_fft and fcurnn on sMNIST). With b = 0 at init (Arjovsky et al.'s
# paper, EUNN-TF, scoRNN) the slope is 1. Training can still grow b; EUNN-TF's later fix is ε = 1e-2 (slope
# 1 + 10·b), available as the cells' `eps` option.


def modrelu(z: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    r"""Apply modReLU with one real bias per unit (the last axis).

    Args:
        z: complex (…, N) pre-activations, or real (…, N) for the real form.
        bias: real (N,) biases b; positive b lets small |z| through, negative b thresholds.
        eps: the ε of Note [modReLU without NaN gradients] (complex form only).

    Returns:
        A tensor like ``z``: ReLU(|z| + b) · z / |z| (complex) or sign(z) · ReLU(|z| + b) (real).

    Example:
        >>> z = torch.tensor([3 + 4j, 0j])
        >>> modrelu(z, torch.tensor([-1.0, 0.5])).abs()
        tensor([4.0000, 0.0000])
    """
    if z.is_complex():
        modulus = torch.view_as_real(z).pow(2).sum(-1).add(eps).sqrt()
        return z * (torch.relu(modulus + bias) / (modulus + eps))
    return torch.sign(z) * torch.relu(z.abs() + bias)


class ModReLU(nn.Module):
    r"""modReLU as a module holding its per-unit bias b.

    Args:
        hidden_size: number of units N.
        eps: see :func:`modrelu`.
        bias_init: b is drawn from U(−bias_init, bias_init); default 0 (Arjovsky et al., EUNN-TF, scoRNN),
            see Note [modReLU at a zero state].
        dtype, device: of the real bias.

    Example:
        >>> act = ModReLU(4)
        >>> act(torch.randn(2, 4, dtype=torch.cfloat)).shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        hidden_size: int,
        eps: float = 1e-5,
        bias_init: float = 0.0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if eps < 0:
            raise ValueError(f"modReLU eps must be >= 0, got {eps}")
        self.eps = eps
        self.bias = nn.Parameter(torch.empty(hidden_size, dtype=dtype, device=device))
        with torch.no_grad():
            self.bias.uniform_(-bias_init, bias_init)

    def forward(self, z: Tensor) -> Tensor:
        return modrelu(z, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.bias.numel()}, eps={self.eps}"
