r"""Full-capacity uRNN (Wisdom, Powers, Hershey, Le Roux, Atlas; NIPS 2016; reference §2).

h_t = modReLU(W h_{t−1} + V x_t) with W ∈ U(N) a dense complex unitary matrix (N² real degrees of freedom).
W is kept unitary either by a torch parametrisation (Cayley map or matrix exponential of a skew-Hermitian
matrix, read once per forward) or, as in the paper, by the multiplicative Cayley step of
:class:`urnn_zoo.optim.StiefelCayley` on a raw complex W (``parametrization="none"``).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrizations

from urnn_zoo.activations import ModReLU
from urnn_zoo.cells.base import ComplexInput, DenseStepCell, complex_dtype_of

__all__ = ["FCuRNN", "svd_unitary_init"]

PARAMETRIZATIONS = ("cayley", "matrix_exp", "none")
INITS = ("svd", "identity")

# Note [fcurnn parametrisations]
# "cayley" / "matrix_exp": torch.nn.utils.parametrizations.orthogonal on the complex weight. With its default
# dynamic trivialisation, W = B · φ(A) where B (buffer `base`) is the initial unitary, A = X − X^H is built
# from the lower triangle of the stored complex N x N `original` X (so A is skew-Hermitian: N(N−1)/2 complex
# entries below the diagonal + N imaginary diagonal entries = N² reals), and φ is the Cayley map
# (I + A/2)(I − A/2)⁻¹ or expm. W is unitary to rounding for any X, so Adam/RMSprop on X keep it unitary and
# the error does not accumulate over steps. Stored: 2N² reals; dof: N² (DESIGN §3).
# "none": a raw complex parameter W initialised unitary, to be trained only by the paper's multiplicative
# Cayley step (urnn_zoo.optim.StiefelCayley, take `stiefel_parameters()`). Any other optimizer on it leaves
# U(N); the float32 drift of the Cayley step itself is what `unitarity_error()` then measures.


def svd_unitary_init(n: int, dtype: torch.dtype, device=None, generator: torch.Generator | None = None) -> Tensor:
    r"""Wisdom et al.'s ``'svd'`` init: W = U V^H from the SVD X = U Σ V^H of a complex Gaussian X.

    U V^H is the unitary polar factor of X; the complex Ginibre law is invariant under X -> QX, so the result
    is Haar-distributed on U(N).

    Args:
        n: N.
        dtype: complex dtype of the result.
        device: where it lives.
        generator: random source (torch's global one if None).

    Returns:
        An (n, n) unitary matrix.

    Example:
        >>> w = svd_unitary_init(4, torch.complex128)
        >>> torch.allclose(w.mH @ w, torch.eye(4, dtype=torch.complex128))
        True
    """
    # Drawn and factored in complex128, then rounded once: a float32 W starts at rounding distance from U(N).
    x = torch.randn(n, n, dtype=torch.complex128, generator=generator)
    u, _, vh = torch.linalg.svd(x)
    return (u @ vh).to(device=device, dtype=dtype)


class FCuRNN(DenseStepCell):
    r"""Full-capacity unitary RNN (reference §2): a dense unitary W, complex state, modReLU.

    Column-vector convention h_t = modReLU(W h_{t−1} + V x_t); Wisdom's code right-multiplies the state by the
    stored matrix (row vectors), i.e. stores W^T (reference §12.5). Readout is [Re h; Im h].

    Args:
        input_size: n_in.
        hidden_size: N.
        dtype, device: real precision and place of the parameters.
        parametrization: ``"cayley"`` (default), ``"matrix_exp"`` or ``"none"`` (Note [fcurnn parametrisations]).
        init: ``"svd"`` (default; Wisdom's Keras init U V^H of a complex Gaussian, Haar on U(N)) or
            ``"identity"``.
        eps: modReLU's ε.
        learn_initial_state: learn h_0 (2N reals, drawn U(±√(3/(2N))) per part as in the paper's code so that
            E‖h_0‖² = 1); off by default, matching the zoo's parameter-count template (DESIGN §3).

    Example:
        >>> cell = FCuRNN(3, 16)
        >>> cell.parameter_count().recurrent_dof, cell.parameter_count().recurrent_stored
        (256, 512)
        >>> cell.unitarity_error() < 1e-5
        tensor(True)
    """

    name = "fcurnn"
    constraint = "exact"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype=None,
        device=None,
        parametrization: str = "cayley",
        init: str = "svd",
        eps: float = 1e-5,
        learn_initial_state: bool = False,
    ) -> None:
        super().__init__(input_size, hidden_size, is_complex=True)
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}, got {parametrization!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        dtype = dtype or torch.get_default_dtype()
        cdtype = complex_dtype_of(dtype)
        self.parametrization, self.init = parametrization, init
        if init == "svd":
            w0 = svd_unitary_init(hidden_size, cdtype, device)
        else:
            w0 = torch.eye(hidden_size, dtype=cdtype, device=device)
        self.weight = nn.Parameter(w0)
        if parametrization != "none":
            # right_inverse stores `base` = w0 (unitary, so kept as is) and `original` = −I, i.e. A = 0.
            parametrizations.orthogonal(self, "weight", orthogonal_map=parametrization)
        self.input = ComplexInput(input_size, hidden_size, dtype=dtype, device=device)
        self.act = ModReLU(hidden_size, eps=eps, dtype=dtype, device=device)
        self.register_initial_state(learn_initial_state, bound=math.sqrt(3.0 / (2 * hidden_size)))

    def prepare(self) -> Tensor:
        # Row-batched states: (W h)^T = h^T W^T, so each step is one addmm with W^T (a view, no copy).
        return self.weight.mT

    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def recurrent_matrix(self) -> Tensor:
        return self.weight

    def recurrent_parameters(self) -> list[nn.Parameter]:
        if self.parametrization == "none":
            return [self.weight]
        return [self.parametrizations.weight.original]

    def stiefel_parameters(self) -> list[nn.Parameter]:
        r"""The parameters the trainer must give to :class:`urnn_zoo.optim.StiefelCayley` (and to no other
        optimizer): the raw W when ``parametrization="none"``, else none (an empty list).

        Example:
            >>> [p.shape for p in FCuRNN(2, 4, parametrization="none").stiefel_parameters()]
            [torch.Size([4, 4])]
        """
        return [self.weight] if self.parametrization == "none" else []

    def recurrent_dof(self) -> int:
        return self.hidden_size**2

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, parametrization={self.parametrization!r}, init={self.init!r}"
