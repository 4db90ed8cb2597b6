r"""The layers of the efficient unitary RNN (Jing et al., ICML 2017, arXiv 1612.05231) as the EURNN cells run
them: each layer of disjoint 2x2 units as two coefficient vectors (:func:`unit_coefficients`,
:func:`apply_layers`), the banded form of the tunable layers (:func:`band_of_layers`) and the layers as a linear
map of the fused recurrence (:class:`LayersMap`, whose steps run in one C call each way on the CPU,
urnn_zoo.engine.layers_kernel). The cells themselves (parameters, unit pairing, strategy) are
in :mod:`urnn_zoo.cells.eurnn`.
"""
from __future__ import annotations

import torch
from torch import Tensor

from urnn_zoo.engine import kernels
from urnn_zoo.engine.layers_kernel import layers_cost, scratch_size
from urnn_zoo.engine.recurrence import LinearMap
from urnn_zoo.opcount import counting, record_external

__all__ = ["unit_coefficients", "apply_layers", "band_of_layers", "layer_geometry", "LayersMap"]

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


def _fits(dtype: torch.dtype, n: int, *rows: Tensor | None) -> bool:
    r"""Whether ``rows`` (None skipped) are (B, n) CPU tensors of ``dtype`` (the kernel's, once contiguous)."""
    for r in rows:  # a plain loop: this runs every step
        if r is not None and (r.dtype != dtype or r.device.type != "cpu" or r.dim() != 2 or r.shape[1] != n):
            return False
    return True


def layer_geometry(perm: Tensor) -> Tensor | None:
    r"""The (o, s, M) of every layer when each row of ``perm`` is partner(i) = ((i − o) XOR s) + o on
    o <= i < o + M and i elsewhere, s a power of two and M a multiple of 2s (Note [EURNN layer kernel] in
    urnn_zoo.engine.layers_kernel); None for any other perm.

    Args:
        perm: (L, N) long, the unit partner of each coordinate.

    Returns:
        (L, 3) int64 on the CPU, one (o, s, M) per layer ((0, 1, 0) moves nothing), checked exactly; or None.

    Example:
        >>> layer_geometry(torch.tensor([[1, 0, 3, 2, 4], [0, 2, 1, 4, 3]])).tolist()
        [[0, 1, 4], [1, 1, 4]]
    """
    n = perm.shape[-1]
    idx = torch.arange(n, device=perm.device)
    moved = perm != idx
    some = moved.any(-1)
    first = moved.to(torch.uint8).argmax(-1)
    last = n - 1 - moved.flip(-1).to(torch.uint8).argmax(-1)
    o = torch.where(some, first, 0)
    s = torch.where(some, perm.gather(-1, o[:, None])[:, 0] - o, 1)
    m = torch.where(some, last + 1 - o, 0)
    if not bool((s >= 1).all()) or not bool((((s & (s - 1)) == 0) & (m % (2 * s) == 0)).all()):
        return None
    inside = (idx >= o[:, None]) & (idx < (o + m)[:, None])
    if not torch.equal(torch.where(inside, ((idx - o[:, None]) ^ s[:, None]) + o[:, None], idx), perm):
        return None
    return torch.stack([o, s, m], -1).to(device="cpu", dtype=torch.int64).contiguous()


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
    Those are ~3L operators a step forward and 5L–7L in the adjoint, each ~20 µs of dispatch and a pass over
    (B, N): ~55 ms of the 130–150 ms of a forward + backward at N = 512, capacity 2, B = 32, T = 100 (profiled).
    So on the CPU (complex64/128, float32/64; perms of Note [EURNN layer kernel] in urnn_zoo.engine.layers_kernel,
    as every cell's is, checked once per forward by :func:`layer_geometry`) a step is one C call each way: row
    by row, all L layers in L1, the torch operators' operations in their order; the adjoint recomputes the layer
    inputs per row and adds conj(x_l)·ḡ_l, conj(x_l[perm])·ḡ_l straight into (L, N) accumulators, ∂a and ∂b.
    Indicative (one process, 2-core CPU class shared with other work, torch 2.13, that workload in complex64,
    best/median of 9): 61–80 / 84–106 ms with it, 116–133 / 149–152 ms with the layers in torch operators; a
    step alone 25 µs forward, 59 µs adjoint; torch_eunn.EURNN / zoo (benchmarks/bench_eurnn.py) 13.2 best, 10.8
    median. Elsewhere (another device or dtype, other perms, ``URNN_ZOO_KERNELS=0``) the operators below run.

    Example:
        >>> a, b = torch.ones(1, 2), torch.zeros(1, 2)
        >>> LayersMap(torch.tensor([[1, 0]])).forward_fn([a, b], ())(torch.tensor([[3.0, 4.0]]), None, None, 0)
        tensor([[3., 4.]])
    """

    adjoint_every_step = True

    def __init__(self, perm: Tensor) -> None:
        self.perm = perm
        self._accumulators: tuple[str, object] | None = None
        self._geometry: Tensor | None | bool = False  # False: not yet looked at

    def _index(self, rows: int, cache: dict[int, list[Tensor]]) -> list[Tensor]:
        if rows not in cache:
            cache[rows] = [p.expand(rows, -1) for p in self.perm]
        return cache[rows]

    def _kernel(self, name: str, tensors) -> tuple | None:
        r"""(C function, coefficient planes, geometry, scratch) for ``tensors`` (a, b); None: torch operators."""
        a, b = tensors
        fn = kernels.kernel(name, a.dtype, a, b)
        if fn is None or b.dtype != a.dtype or a.shape != self.perm.shape or b.shape != a.shape:
            return None
        if self._geometry is False:
            self._geometry = layer_geometry(self.perm)
        if self._geometry is None:
            return None
        planes = torch.stack([a.real, a.imag, b.real, b.imag] if a.is_complex() else [a, b], 1).contiguous()
        scratch = planes.new_empty(scratch_size(*a.shape))
        return fn, planes, self._geometry, scratch

    def forward_fn(self, tensors, saved):
        torch_step = self._torch_forward(tensors)
        setup = self._kernel("layers_forward", tensors)
        if setup is None:
            return torch_step
        fn, planes, geometry, scratch = setup
        dtype, (layers, n) = tensors[0].dtype, tensors[0].shape
        coef_p, geom_p, scratch_p = planes.data_ptr(), geometry.data_ptr(), scratch.data_ptr()

        def apply(x, add, out, t):
            if not _fits(dtype, n, x, add, out) or (out is not None and not out.is_contiguous()):
                return torch_step(x, add, out, t)
            x = x.contiguous()  # h_0 may be expanded rows
            add = None if add is None else add.contiguous()
            out = torch.empty_like(x) if out is None else out
            rows = x.shape[0]
            fn(x.data_ptr(), None if add is None else add.data_ptr(), coef_p, geom_p, layers, rows, n,
               out.data_ptr(), scratch_p)
            if counting():  # Note [EURNN layer kernel cost] in urnn_zoo.engine.layers_kernel
                record_external("urnn_zoo.kernels.layers_forward", *layers_cost("forward", rows, n, layers, dtype,
                                                                                add=add is not None))
            return out

        apply.buffers = (planes, geometry, scratch)  # the calls use their addresses
        return apply

    def adjoint_fn(self, tensors, record):
        setup = self._kernel("layers_adjoint", tensors)
        if setup is None or (record is not None and not _fits(tensors[0].dtype, tensors[0].shape[1], record.h0)):
            return self._torch_adjoint(tensors, record)
        fn, planes, geometry, scratch = setup
        dtype, (layers, n) = tensors[0].dtype, tensors[0].shape
        acc = None if record is None else torch.zeros_like(planes)  # ∂a, ∂b as planes (L, P, N)
        self._accumulators = ("kernel", acc) if record is not None else self._accumulators
        coef_p, geom_p, scratch_p = planes.data_ptr(), geometry.data_ptr(), scratch.data_ptr()
        acc_p = None if acc is None else acc.data_ptr()
        torch_step = self._torch_adjoint(tensors, None) if record is None else None

        def apply(g, add, out, t):
            if not _fits(dtype, n, g, add, out) or (out is not None and not out.is_contiguous()):
                if record is None:
                    return torch_step(g, add, out, t)
                raise ValueError(f"expected rows of {dtype} on the CPU with {n} columns, got {g.dtype} "
                                 f"{tuple(g.shape)} on {g.device}")
            g, add = g.contiguous(), None if add is None else add.contiguous()
            h = None if record is None else record.previous(t).contiguous()
            out = torch.empty_like(g) if out is None else out
            rows = g.shape[0]
            fn(g.data_ptr(), None if add is None else add.data_ptr(), None if h is None else h.data_ptr(),
               coef_p, geom_p, layers, rows, n, out.data_ptr(), acc_p, scratch_p)
            if counting():  # Note [EURNN layer kernel cost] in urnn_zoo.engine.layers_kernel
                record_external("urnn_zoo.kernels.layers_adjoint", *layers_cost(
                    "adjoint", rows, n, layers, dtype, add=add is not None, grads=h is not None))
            return out

        apply.buffers = (planes, geometry, scratch, acc)
        return apply

    def _torch_forward(self, tensors):
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

    def _torch_adjoint(self, tensors, record):
        a, b = (t.unbind(0) for t in tensors)
        ac, bc = (t.conj().resolve_conj().unbind(0) for t in tensors)
        last, cache = len(a) - 1, {}
        accumulators = None
        if record is not None:
            shape = (len(a), *record.h0.shape)
            accumulators = (record.h0.new_zeros(shape), record.h0.new_zeros(shape))
            self._accumulators = ("torch", accumulators)

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
                    accumulators[0][l].addcmul_(inputs[l], gc)
                    accumulators[1][l].addcmul_(partners[l], gc)
                sw = torch.gather(bc[l] * g, -1, index[l])
                g = torch.addcmul(sw if l > 0 or add is None else sw.add_(add), ac[l], g, out=out if l == 0 else None)
            return g

        return apply

    def tensor_grads(self, tensors, wanted, record, g_z):
        kind, acc = self._accumulators  # filled by the adjoint steps, t = T−1 .. 0
        self._accumulators = None
        if kind == "kernel":  # ∂a, ∂b themselves, as planes (L, P, N): Re a, Im a, Re b, Im b or a, b
            grads = list((torch.complex(acc[:, 0::2], acc[:, 1::2]) if tensors[0].is_complex() else acc).unbind(1))
        else:  # conj(∂a), conj(∂b) per row
            grads = [acc[0].sum(1).conj(), acc[1].sum(1).conj()]
        return [grad if want else None for grad, want in zip(grads, wanted)]
