r"""The layers of the efficient unitary RNN (Jing et al., ICML 2017, arXiv 1612.05231) as the EURNN cells run
them: each layer of disjoint 2x2 units as two coefficient vectors (:func:`unit_coefficients`,
:func:`apply_layers`), the banded form of the tunable layers (:func:`band_of_layers`) and the layers as a linear
map of the fused recurrence (:class:`LayersMap`). The cells themselves (parameters, unit pairing, strategy) are
in :mod:`urnn_zoo.cells.eurnn`.
"""
from __future__ import annotations

import torch
from torch import Tensor

from urnn_zoo.engine.recurrence import LinearMap

__all__ = ["unit_coefficients", "apply_layers", "band_of_layers", "LayersMap"]

# Note [EURNN layers as coefficient vectors]
# A layer of disjoint 2x2 units maps h to y = a ⊙ h + b ⊙ h[perm], where perm swaps the two coordinates of
# every unit and fixes coordinates that are in no unit (there a = 1, b = 0). The unit
# [[e^{iφ}cosθ, −e^{iφ}sinθ], [sinθ, cosθ]] on (h_p, h_q) gives a_p = e^{iφ}cosθ, b_p = −e^{iφ}sinθ,
# a_q = cosθ, b_q = sinθ. The cells' `prepare` computes cos/sin/e^{iφ} once per forward and turns the L layers into
# (L, N) coefficient tensors, so a step costs a few elementwise operators per layer and no Python loop over
# units. D folds into the first layer: F_1 D h = (a_1 ⊙ d) ⊙ h + (b_1 ⊙ d[perm_1]) ⊙ h[perm_1].


def unit_coefficients(theta: Tensor, phi: Tensor | None) -> tuple[Tensor, Tensor]:
    r"""The (a, b) coefficients of units (Note [EURNN layers as coefficient vectors]).

    Args:
        theta: (..., U) rotation angles.
        phi: (..., U) output-side phases, or None for real rotation units.

    Returns:
        ``(a, b)`` of shape (..., U, 2): the values at the unit's first and second coordinate.

    Example:
        >>> a, b = unit_coefficients(torch.tensor([0.5]), None)
        >>> torch.allclose(a[0], torch.cos(torch.tensor(0.5)).expand(2))
        True
    """
    c, s = torch.cos(theta), torch.sin(theta)
    if phi is None:
        return torch.stack([c, c], -1), torch.stack([-s, s], -1)
    e = torch.polar(torch.ones_like(phi), phi)
    return torch.stack([e * c, c.to(e.dtype)], -1), torch.stack([-e * s, s.to(e.dtype)], -1)


def apply_layers(h: Tensor, d: Tensor | None, a: Tensor, b: Tensor, perm: Tensor) -> Tensor:
    r"""W h for row vectors h (..., N): D first, then layer l as a[l] ⊙ h + b[l] ⊙ h[perm[l]].

    Args:
        h: (..., N) states (rows).
        d: (N,) diagonal applied first, or None.
        a, b: (L, N) layer coefficients.
        perm: (L, N) long, the unit partner of each coordinate (itself when in no unit).

    Returns:
        (..., N): h W^T, i.e. W applied to every row.
    """
    if d is not None:
        h = h * d
    for a_l, b_l, p_l in zip(a, b, perm):
        h = a_l * h + b_l * h.index_select(-1, p_l)
    return h


# Note [Banded form of the tunable layers]
# Each tunable layer moves a coordinate by at most one place, so W = F_L ⋯ F_1 D is banded:
# W[j, i] = 0 for |i − j| > L. With C[s, j] = W[j, j + s − L] (s = 0..2L) a step is one sum over the 2L + 1
# shifted copies of h, which `unfold` gives as a view of the zero-padded h. C is read off by probing: feed
# the 2L + 1 vectors p_c = Σ_{i ≡ c mod 2L+1} e_i through the layers; the coordinates i within one band row
# are distinct mod 2L + 1, so (W p_c)_j is the one band entry of row j in colour c.
def band_of_layers(a: Tensor, b: Tensor, d: Tensor | None, perm: Tensor) -> Tensor:
    r"""The band C of W = F_L ⋯ F_1 D for L tunable layers, C[s, j] = W[j, j + s − L]
    (Note [Banded form of the tunable layers]).

    Args:
        a, b: (L, N) layer coefficients whose units each pair neighbouring coordinates.
        d: (N,) diagonal applied first, or None.
        perm: (L, N) long, the unit partner of each coordinate.

    Returns:
        (2L + 1, N): row s holds the entries of W at offset s − L from the diagonal (0 where j + s − L is
        outside 0..N−1).
    """
    n, m = a.shape[-1], 2 * len(a) + 1
    idx = torch.arange(n, device=a.device)
    probes = (idx % m == torch.arange(m, device=a.device)[:, None]).to(a.dtype)
    response = apply_layers(probes, d, a, b, perm)  # (m, N): response[c, j]
    colour = (idx + torch.arange(m, device=a.device)[:, None] - len(a)) % m  # colour of j + s − L
    return response.gather(0, colour)


class LayersMap(LinearMap):
    r"""The EURNN layers as a :class:`~urnn_zoo.engine.recurrence.LinearMap`: tensors ``(a, b)`` of shape (L, N),
    D folded into the first layer, ``perm`` (L, N) fixed (Note [EURNN layers as coefficient vectors]).

    Note [EURNN fused steps]
    A layer is x ↦ a ⊙ x + b ⊙ x[perm]: a gather (3x faster than index_select for complex here) and two
    multiply-adds. Its adjoint is g ↦ conj(a) ⊙ g + (conj(b) ⊙ g)[perm]: every perm is an involution (it swaps
    the two coordinates of each unit), so it is its own transpose. The adjoint step of step t recomputes the
    layer inputs x_l from h_{t−1} (three operators a layer, in cache; saving them in the forward wrote and read
    back two (T, B, N) buffers a layer, which was slower) and, while the cotangent ḡ_l at layer l's output is in
    cache, adds x_l ⊙ conj(ḡ_l) and x_l[perm_l] ⊙ conj(ḡ_l) into (B, N) accumulators whose row sums are
    conj(∂a_l) and conj(∂b_l).

    Example:
        >>> a, b = torch.ones(1, 2), torch.zeros(1, 2)
        >>> LayersMap(torch.tensor([[1, 0]])).forward_fn([a, b], ())(torch.tensor([[3.0, 4.0]]), None, None, 0)
        tensor([[3., 4.]])
    """

    adjoint_every_step = True

    def __init__(self, perm: Tensor) -> None:
        self.perm = perm
        self._accumulators: tuple[Tensor, Tensor] | None = None

    def _index(self, rows: int, cache: dict[int, list[Tensor]]) -> list[Tensor]:
        if rows not in cache:
            cache[rows] = [p.expand(rows, -1) for p in self.perm]
        return cache[rows]

    def forward_fn(self, tensors, saved):
        a, b = (t.unbind(0) for t in tensors)
        last, cache = len(a) - 1, {}

        def apply(x, add, out, t):
            index = self._index(x.shape[0], cache)
            for l in range(last + 1):
                sw = torch.gather(x, -1, index[l])
                base = a[l] * x if l < last or add is None else torch.addcmul(add, a[l], x)
                x = torch.addcmul(base, b[l], sw, out=out if l == last else None)
            return x

        return apply

    def adjoint_fn(self, tensors, record):
        a, b = (t.unbind(0) for t in tensors)
        ac, bc = (t.conj().resolve_conj().unbind(0) for t in tensors)
        last, cache = len(a) - 1, {}
        if record is not None:
            shape = (len(a), *record.h0.shape)
            self._accumulators = (record.h0.new_zeros(shape), record.h0.new_zeros(shape))

        def apply(g, add, out, t):
            index = self._index(g.shape[0], cache)
            if record is not None:  # the layer inputs of step t and their partners
                inputs, partners = [record.previous(t)], []
                for l in range(last + 1):
                    partners.append(torch.gather(inputs[l], -1, index[l]))
                    if l < last:
                        inputs.append(torch.addcmul(a[l] * inputs[l], b[l], partners[l]))
            for l in range(last, -1, -1):
                if record is not None:
                    gc = torch.conj_physical(g) if g.is_complex() else g
                    self._accumulators[0][l].addcmul_(inputs[l], gc)
                    self._accumulators[1][l].addcmul_(partners[l], gc)
                sw = torch.gather(bc[l] * g, -1, index[l])
                g = torch.addcmul(sw if l > 0 or add is None else sw.add_(add), ac[l], g, out=out if l == 0 else None)
            return g

        return apply

    def tensor_grads(self, tensors, wanted, record, g_z):
        acc_a, acc_b = self._accumulators  # filled by the adjoint steps, t = T−1 .. 0
        self._accumulators = None
        return [acc_a.sum(1).conj() if wanted[0] else None, acc_b.sum(1).conj() if wanted[1] else None]
