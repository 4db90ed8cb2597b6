r"""Full-capacity uRNN (Wisdom, Powers, Hershey, Le Roux, Atlas; NIPS 2016, arXiv 1611.00035).

h_t = modReLU(W h_{t−1} + V x_t) with W ∈ U(N) a dense complex unitary matrix (N² real degrees of freedom).
W is kept unitary either by a trivialisation W = base·φ(A) of a skew-Hermitian A (torch's Cayley map, or the
matrix exponential through :func:`urnn_zoo.linalg.expm`, read once per forward) or, as in the paper, by the
multiplicative Cayley step of :class:`urnn_zoo.optim.StiefelCayley` on a raw complex W
(``parametrization="none"``).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrizations, parametrize

from urnn_zoo.activations import ModReLU
from urnn_zoo.cells.base import ComplexInput, DenseStepCell, complex_dtype_of, real_dtype_of
from urnn_zoo.linalg import expm

__all__ = ["FCuRNN", "UnitaryExpm", "svd_unitary_init"]

PARAMETRIZATIONS = ("cayley", "matrix_exp", "none")
INITS = ("svd", "identity")

# Note [fcurnn parametrisations]
# "cayley" / "matrix_exp": the dynamic trivialisation of torch.nn.utils.parametrizations.orthogonal on the
# complex weight, W = B · φ(A), where B (buffer `base`) is the initial unitary, A = X − X^H is built from the
# lower triangle of the stored complex N x N `original` X (so A is skew-Hermitian: N(N−1)/2 complex entries
# below the diagonal + N imaginary diagonal entries = N² reals), and φ is the Cayley map (I + A/2)(I − A/2)⁻¹
# or expm. "cayley" is torch's module itself; "matrix_exp" is :class:`UnitaryExpm`, the same module with the
# zoo's expm (torch's exponentiates a single matrix, off by up to 1e-10 in float64 and 4e-5 in float32 at small
# generators: Note [matrix_exp of a single matrix] in urnn_zoo.linalg). Both register under the same names
# (`parametrizations.weight.original`, `parametrizations.weight.0.base`), so state dicts saved with torch's
# "matrix_exp" module load unchanged. W is unitary to rounding for any X, so Adam/RMSprop on X keep it unitary
# and the error does not accumulate over steps. Stored: 2N² reals; dof: N².
# "none": a raw complex parameter W initialised unitary, to be trained only by the paper's multiplicative
# Cayley step (urnn_zoo.optim.StiefelCayley, take `stiefel_parameters()`). Any other optimizer on it leaves
# U(N); the float32 drift of the Cayley step itself is what `unitarity_error()` then measures.
# Orientation: Wisdom et al.'s code multiplies the real row [Re h, Im h] by the stored block matrix
# [[Re Wᵀ, Im Wᵀ], [−Im Wᵀ, Re Wᵀ]] and its Cayley step reads W back from the transposed blocks, so its W is
# the column map, our `weight` (tests/test_original_maps.py).


class UnitaryExpm(nn.Module):
    r"""The unitary trivialisation W = base·exp(A), A = tril(X) − tril(X)ᴴ, with the zoo's accurate expm.

    The map of ``torch.nn.utils.parametrizations.orthogonal(module, name, orthogonal_map="matrix_exp")`` on a
    square weight (dynamic trivialisation, Lezcano-Casado, NeurIPS 2019, arXiv 1909.09501), with the same
    buffer ``base`` and the same free ``original`` X, so state dicts move between the two; only the matrix
    exponential differs (:func:`urnn_zoo.linalg.expm`). Register it with
    ``torch.nn.utils.parametrize.register_parametrization``.

    Shapes: X and W are (n, n), real or complex. Assigning a unitary W0 (registration does) stores
    base = W0 and X = −I, so A = 0 and W = W0.

    Raises:
        ValueError: on assignment, W0 is not square or not unitary to 10·n·eps (entrywise on W0ᴴW0 − I).

    Example:
        >>> from torch import nn
        >>> from torch.nn.utils import parametrize
        >>> layer = nn.Linear(3, 3, bias=False, dtype=torch.float64)
        >>> with torch.no_grad():
        ...     _ = layer.weight.copy_(torch.eye(3))
        >>> _ = parametrize.register_parametrization(layer, "weight", UnitaryExpm())
        >>> sorted(layer.state_dict())
        ['parametrizations.weight.0.base', 'parametrizations.weight.original']
    """

    base: Tensor | None

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:
        low = x.tril()
        return self.base @ expm(low - low.mH)

    @torch.no_grad()
    def right_inverse(self, w: Tensor) -> Tensor:
        if w.dim() != 2 or w.shape[0] != w.shape[1]:
            raise ValueError(f"UnitaryExpm expects a square (n, n) unitary matrix, got shape {tuple(w.shape)}")
        n = w.shape[-1]
        eye = torch.eye(n, dtype=w.dtype, device=w.device)
        error = (w.mH @ w - eye).abs().max().item() if n else 0.0
        tol = 10 * n * torch.finfo(real_dtype_of(w.dtype)).eps
        if error > tol:
            raise ValueError(f"UnitaryExpm expects a unitary matrix (max |WᴴW − I| <= {tol:.1e}), got {error:.1e}")
        self.base = w.clone()
        return -eye


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
    r"""Full-capacity unitary RNN (Wisdom et al. 2016): a dense unitary W, complex state, modReLU.

    Column-vector convention h_t = modReLU(W h_{t−1} + V x_t); Wisdom's code right-multiplies the real state
    row by a stored block matrix built from Wᵀ, which is the same map (Note [fcurnn parametrisations]).
    Readout is [Re h; Im h].

    Args:
        input_size: n_in.
        hidden_size: N.
        dtype, device: real precision and place of the parameters.
        parametrization: ``"cayley"`` (default), ``"matrix_exp"`` or ``"none"`` (Note [fcurnn parametrisations]).
        init: ``"svd"`` (default; Wisdom's Keras init U V^H of a complex Gaussian, Haar on U(N)) or
            ``"identity"``.
        eps: modReLU's ε.
        learn_initial_state: learn h_0 (2N reals, drawn U(±√(3/(2N))) per part as in the paper's code so that
            E‖h_0‖² = 1); off by default, matching the zoo's parameter-count template (no initial state).

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
        # right_inverse stores `base` = w0 (unitary, so kept as is) and `original` = −I, i.e. A = 0.
        if parametrization == "cayley":
            parametrizations.orthogonal(self, "weight", orthogonal_map="cayley")
        elif parametrization == "matrix_exp":
            parametrize.register_parametrization(self, "weight", UnitaryExpm())
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
