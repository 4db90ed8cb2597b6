r"""modReLU, the activation of the unitary RNN family (Arjovsky, Shah, Bengio, ICML 2016, arXiv 1511.06464), in
its complex and real forms; docs/conventions.md#modrelu."""
from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

__all__ = ["modrelu", "ModReLU", "EPS_RANGE", "check_eps"]


# Note [modReLU without NaN gradients]
# modReLU(z) = ReLU(|z| + b) · z / |z| has an undefined phase at z = 0, and torch's backward of
# `abs`/`angle` on a complex tensor is NaN for tiny |z| (pytorch#96543, #98276). As Wisdom's code does,
# we take |z| = sqrt(Re² + Im² + ε) (never 0) and divide by |z| + ε, so the map and its gradient are finite
# everywhere, and it equals the textbook modReLU up to O(ε) away from 0.
# The real form sign(z) · ReLU(|z| + b) (expRNN, scoRNN, oRNN) is finite everywhere and 0 at z = 0 with
# gradient 0 there (sign(0) = sign'(0) = 0), so it needs no ε. It is continuous only for b <= 0: for b > 0 it
# jumps from −b to b across z = 0, as in the original codes.


# Note [modReLU at a zero state]
# Near z = 0 the smoothed map is z·(√ε + b)/(√ε + ε): its slope is about 1 + b/√ε (4.2 for b = 0.01 and
# ε = 1e-5). A complex cell fed zeros from a zero state (the first ~100 pixels of MNIST) multiplies its
# backward by that slope every step: with Wisdom's U(±0.01) bias init, 4^100 overflows and the first gradient
# is NaN (measured: kru, rcurnn, eurnn, eurnn_fft and fcurnn on sMNIST). With b = 0 at init (Arjovsky et al.'s
# paper, EUNN-TF, scoRNN) the slope is 1. Training can still grow b; EUNN-TF's later fix is ε = 1e-2 (slope
# 1 + 10·b), available as the cells' `eps` option. Training grows b at once: one RMSprop step at lr 1e-3 moves
# it by about ±3e-3, a slope of about 2 at ε = 1e-5, and 2^100 overflows float32 (measured: KRU, N = 512 with
# nine 2x2 factors, on the 28x28 sMNIST stand-in stops with a NaN gradient at its second step in float32; in
# float64 it trains). What Arjovsky's and Wisdom's codes do keeps the state off z = 0: a learned initial state
# drawn from U(±√(3/(2N))) (`learn_initial_state=True` on kru, fcurnn and rcurnn; eurnn's starts at zero, as
# EUNN-TF's, so its remedy is ε).


# Note [modReLU's kink on every path]
# The derivative of relu(m + b) jumps at m + b = 0 (∂s/∂b goes from 0 to 1/(m + ε)), so the paths that compute
# modReLU (autograd through this function, the fused step's torch operators, the C kernel) must decide that
# sign on the same numbers. m = √q, q = x·x + y·y + ε, is not such a number: torch's vectorised square root is
# not correctly rounded (measured on AVX512: 0.6% of float32 and float64 roots one ulp off, and which depends
# on an element's place in the tensor), the C kernel's is. So every path decides m + b > 0 as q > −b·|b|
# (the same statement: for b ≥ 0 both hold, for b < 0 it is m² > b²), from q and b·|b|, which every path
# rounds alike: each product and sum is one IEEE operation (the C kernel is built with -ffp-contract=off, the
# torch operators are a multiply and an add, never z·z̄, whose complex multiply may fuse). Then
# s = 1[q > −b·|b|]·(m + b)/(m + ε), which is relu(m + b)/(m + ε) up to the rounding of m.


# Note [modReLU's ε range]
# At z = 0 the smoothed map is 0·relu(√ε + b)/(√ε + ε): with ε = 0 it is 0/0, and the execution paths disagreed
# (the C kernel tests m + b > 0 before dividing and returned 0, torch operators returned NaN), so ε must be
# positive. Positive is not enough in finite precision. At z = 0 the backward multiplies Re(z̄ ḡ) = 0 by the
# saved factor c = (ε − b)/((√ε + ε)²·√ε) ≈ −b/ε^{3/2}, and autograd's reference divides by (m + ε)² ≈ ε:
# once c overflows, inf·0 = NaN in the fused backward where autograd's gives 0 (float32, ε = 1e-30: any
# |b| > 4e-7), and once 1/(m + ε) or (m + ε)² leave the normal range the paths' different operation orders
# round apart. With 1e-12 <= ε <= 1e12 every factor of the forward and backward (s, k, c, (m + ε)²) is a
# normal float32 for |b| < 1e20 (c <= |b|·1e18 at ε = 1e-12; (m + ε)² <= 1e24 at ε = 1e12), in float32, the
# smaller of the two precisions a cell can be converted to at any time; float64 has more room still.
EPS_RANGE = (1e-12, 1e12)


def check_eps(eps: float) -> float:
    r"""``eps`` as a float when it is an accepted ε of modReLU (Note [modReLU's ε range]).

    Raises:
        ValueError: ``eps`` is not a real number in :data:`EPS_RANGE` (ε = 0 makes modReLU(0) = 0/0).

    Example:
        >>> check_eps(1e-5)
        1e-05
    """
    low, high = EPS_RANGE
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not low <= eps <= high:
        raise ValueError(
            f"modReLU eps: expected a real number with {low:g} <= eps <= {high:g} (eps = 0 makes modReLU(0) = 0/0), "
            f"got {eps!r}"
        )
    return float(eps)


def modrelu(z: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    r"""Apply modReLU with one real bias per unit (the last axis).

    Args:
        z: complex (…, N) pre-activations, or real (…, N) for the real form.
        bias: real (N,) biases b; positive b lets small |z| through, negative b thresholds.
        eps: the ε of Note [modReLU without NaN gradients] (complex form only), in :data:`EPS_RANGE`.

    Returns:
        A tensor like ``z``: ReLU(|z| + b) · z / |z| (complex) or sign(z) · ReLU(|z| + b) (real).

    Raises:
        ValueError: ``eps`` outside :data:`EPS_RANGE` (Note [modReLU's ε range]).

    Example:
        >>> z = torch.tensor([3 + 4j, 0j])
        >>> modrelu(z, torch.tensor([-1.0, 0.5])).abs()
        tensor([4.0000, 0.0000])
    """
    check_eps(eps)
    if z.is_complex():
        squared = (z.real * z.real + z.imag * z.imag).add(eps)
        modulus = squared.sqrt()
        passes = squared > -bias * bias.abs()  # m + b > 0: Note [modReLU's kink on every path]
        return z * (passes * (modulus + bias) / (modulus + eps))
    return torch.sign(z) * torch.relu(z.abs() + bias)


class ModReLU(nn.Module):
    r"""modReLU as a module holding its per-unit bias b.

    Args:
        hidden_size: number of units N.
        eps: see :func:`modrelu`; checked here (Note [modReLU's ε range]).
        bias_init: b is drawn from U(−bias_init, bias_init); default 0 (Arjovsky et al., EUNN-TF, scoRNN),
            see Note [modReLU at a zero state].
        dtype, device: of the real bias.

    Raises:
        ValueError: ``eps`` outside :data:`EPS_RANGE`, or ``bias_init`` negative or not finite.

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
        self.eps = check_eps(eps)
        if isinstance(bias_init, bool) or not isinstance(bias_init, numbers.Real) or not 0 <= bias_init < math.inf:
            raise ValueError(f"modReLU bias_init: expected a finite real number >= 0, got {bias_init!r}")
        self.bias = nn.Parameter(torch.empty(hidden_size, dtype=dtype, device=device))
        with torch.no_grad():
            self.bias.uniform_(-bias_init, bias_init)

    def forward(self, z: Tensor) -> Tensor:
        return modrelu(z, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.bias.numel()}, eps={self.eps}"
