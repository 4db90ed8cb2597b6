r"""The EURNN layers of one fused step as one C call each way: its source, its signatures and its cost.

urnn_zoo.engine.kernels compiles this source into the one kernel library (with the complex modReLU step and the
LSTM gate step), checks and loads it (Notes [Why a C kernel] and [Trusting the kernel cache] there);
the EURNN layers' linear map calls it once per step of the fused recurrence (Note [EURNN fused steps] in
urnn_zoo.cells.eurnn_layers), or runs the same maths in torch operators where the kernels cannot run.

Note [EURNN layer kernel]
A layer of the efficient unitary RNN (Jing et al., ICML 2017, arXiv 1612.05231) is x ↦ a ⊙ x + b ⊙ x[perm]
(urnn_zoo.cells.eurnn_layers, Note [EURNN layers as coefficient vectors]); every perm the cells build is
    partner(i) = ((i − o) XOR s) + o  for o <= i < o + M,   partner(i) = i  elsewhere,
with s a power of two and M a multiple of 2s (tunable style: s = 1, o = 0 or 1; FFT style: o = 0, M = N, s = N/2
down to 1), so the units are the pairs (p, p + s), p = o + 2s·k + j, j < s: a layer is a loop over blocks of 2s
coordinates and, inside, over the s pairs, with no index array. The loops are specialised at compile time for
s = 1, 2 and 4 (the inner loop then unrolls and the loop over units vectorises with interleaved loads) and run
the inner loop over the s contiguous pairs for larger s (which vectorises on its own). The coordinates outside
[o, o + M) are their own partners. A general gather by index was tried first and was slower than torch's.

Row by row, a row's N numbers are split into a real and an imaginary plane of a scratch buffer (the
coefficients are planes too, (L, 4, N): Re a, Im a, Re b, Im b per layer; (L, 2, N) real), go through all L
layers there, in L1 and in place (a pair is written from the two values read first), and are written back.
  forward, layer l (add = u_t at the last layer only, as the torch operators add it; d below):
      y_i = (add_i + a_i·x_i) + b_i·x_partner(i);
  adjoint, layer l = L−1 .. 0 on the cotangent ḡ at the layer's output (add at layer 0 only):
      ḡ'_i = (conj(b_partner(i))·ḡ_partner(i) + add_i) + conj(a_i)·ḡ_i,
      and, when the gradients are wanted, with x the layer's input (recomputed per row from h_{t−1} into the
      scratch, L planes), ∂a_i += conj(x_i)·ḡ_i and ∂b_i += conj(x_partner(i))·ḡ_i straight into (L, N)
      accumulators (planes, like the coefficients), which are the gradients of a and b once all steps ran.
Every complex product is (ac − bd, ad + bc) as torch computes it, each sum in the order above, in the tensors'
own precision, without fast-math and without contracting a·b + c into a fused multiply-add
(``-ffp-contract=off``), so the forward rounds as the torch operators round; the gradients sum the same terms
over rows and steps in another order, so they agree with the torch path's to rounding.

Every layer adds a plane d, ``add``'s where it is added and zeros elsewhere: x + 0 = x, so the values are the
operators' (up to the sign of a zero), with one loop per s instead of one per variant (those took 8 s to compile,
not 3). The scratch holds (L + 3)·2·N reals (row, add, zeros, layer inputs): :func:`scratch_size`.
"""
from __future__ import annotations

import ctypes

import torch

__all__ = ["SOURCE", "ARGTYPES", "DTYPES", "layers_cost", "scratch_size"]

SOURCE = r"""
#include <stdint.h>
#include <string.h>

/* The units (p, q = p + s) of one layer: p = o + 2s k + j, j < s, over [o, o + M) (Note [EURNN layer kernel]).
   s = 1: one loop over the units; s = 2, 4: a loop over the blocks of 2s, the s units of a block written out; larger
   s: the loop over the s units of a block, contiguous. Every loop is a simd loop: its units are disjoint. */
#define LK_UNIT(P, S, ...) { const long p = (P), q = p + (S); __VA_ARGS__ }
#define LK_LAYER(...)                                                                                   \
    switch (s) {                                                                                        \
    case 1: _Pragma("omp simd") for (long u = 0; u < M / 2; ++u) LK_UNIT(o + 2 * u, 1, __VA_ARGS__)    \
        break;                                                                                          \
    case 2: _Pragma("omp simd") for (long k = o; k < o + M; k += 4) {                                   \
            LK_UNIT(k, 2, __VA_ARGS__) LK_UNIT(k + 1, 2, __VA_ARGS__) } break;                          \
    case 4: _Pragma("omp simd") for (long k = o; k < o + M; k += 8) {                                   \
            LK_UNIT(k, 4, __VA_ARGS__) LK_UNIT(k + 1, 4, __VA_ARGS__)                                   \
            LK_UNIT(k + 2, 4, __VA_ARGS__) LK_UNIT(k + 3, 4, __VA_ARGS__) } break;                      \
    default: for (long k = o; k < o + M; k += 2 * s) {                                                  \
            _Pragma("omp simd") for (long j = k; j < k + s; ++j) LK_UNIT(j, s, __VA_ARGS__) }           \
    }
/* The coordinates outside [o, o + M): their own partners. */
#define LK_FIXED(...)                                                                                   \
    for (long p = 0; p < o; ++p) { const long q = p; __VA_ARGS__ }                                     \
    for (long p = o + M; p < N; ++p) { const long q = p; __VA_ARGS__ }

/* YR + i YI = (d_i + a_i x_i) + b_i x_j, x_i = XR + i XI, x_j = SR + i SI; d: add, or zeros. */
#define LK_FWD_ONE(YR, YI, i, XR, XI, SR, SI)                                                           \
    T YR, YI;                                                                                           \
    {                                                                                                   \
        T tr = ar[i] * XR, ti = 0, ur = br[i] * SR, ui = 0;                                             \
        if (CPLX) { tr = tr - ai[i] * XI; ti = ar[i] * XI + ai[i] * XR; }                               \
        tr = dr[i] + tr; if (CPLX) ti = di[i] + ti;                                                     \
        if (CPLX) { ur = ur - bi[i] * SI; ui = br[i] * SI + bi[i] * SR; }                               \
        YR = tr + ur; YI = ti + ui;                                                                     \
    }

/* YR + i YI = (conj(b_j) g_j + d_i) + conj(a_i) g_i, g_i = GR + i GI, g_j = SR + i SI; d: add, or zeros. */
#define LK_ADJ_ONE(YR, YI, i, j, GR, GI, SR, SI)                                                        \
    T YR, YI;                                                                                           \
    {                                                                                                   \
        T sr = br[j] * SR, si = 0, tr = ar[i] * GR, ti = 0;                                             \
        if (CPLX) { sr = sr + bi[j] * SI; si = br[j] * SI - bi[j] * SR; }                               \
        sr = sr + dr[i]; if (CPLX) si = si + di[i];                                                     \
        if (CPLX) { tr = tr + ai[i] * GI; ti = ar[i] * GI - ai[i] * GR; }                               \
        YR = sr + tr; YI = si + ti;                                                                     \
    }

/* acc_i += conj(x) g for x = XR + i XI, g = GR + i GI (real: acc_i += x g). */
#define LK_ACC(AR, AI, i, XR, XI, GR, GI)                                                               \
    if (CPLX) { AR[i] = AR[i] + (XR * GR + XI * GI); AI[i] = AI[i] + (XR * GI - XI * GR); }             \
    else { AR[i] = AR[i] + XR * GR; }

/* The kernels of one state type: T the real type, CPLX 1 for a complex state (defined at each use). */
#define LK_DEFINE(SUF)                                                                                  \
/* One forward layer in place on the planes (xr, xi); c: the layer's coefficient planes; (dr, di): the planes \
   of add, or zeros. */                                                                                 \
static __attribute__((noinline)) void lk_forward_layer_##SUF(                                          \
        T *restrict xr, T *restrict xi, const T *restrict c, const T *restrict dr, const T *restrict di,\
        long o, long s, long M, long N) {                                                               \
    const T *restrict ar = c, *restrict ai = c + N, *restrict br = c + (CPLX ? 2 : 1) * N;              \
    const T *restrict bi = c + (CPLX ? 3 : 1) * N;                                                      \
    LK_LAYER(                                                                                           \
        T pr = xr[p], qr = xr[q], pim = CPLX ? xi[p] : 0, qim = CPLX ? xi[q] : 0;                       \
        LK_FWD_ONE(ypr, ypi, p, pr, pim, qr, qim)                                                       \
        LK_FWD_ONE(yqr, yqi, q, qr, qim, pr, pim)                                                       \
        xr[p] = ypr; xr[q] = yqr;                                                                       \
        if (CPLX) { xi[p] = ypi; xi[q] = yqi; })                                                        \
    LK_FIXED(                                                                                           \
        T pr = xr[p], pim = CPLX ? xi[p] : 0;                                                           \
        LK_FWD_ONE(ypr, ypi, p, pr, pim, pr, pim)                                                       \
        xr[p] = ypr; if (CPLX) xi[p] = ypi;)                                                            \
}                                                                                                       \
                                                                                                        \
/* One adjoint layer in place on the cotangent planes (gr, gi); (dr, di): add, or zeros; with grad (a constant \
   at every call, so each variant is its own loop), x: the layer's input planes and ga, gb (Re, Im): its   \
   accumulators. */                                                                                     \
static inline __attribute__((always_inline)) void lk_adjoint_layer_##SUF(                              \
        T *restrict gr, T *restrict gi, const T *restrict c, const T *restrict dr, const T *restrict di,\
        const T *restrict xr, const T *restrict xi, T *restrict gar, T *restrict gai, T *restrict gbr,  \
        T *restrict gbi, long o, long s, long M, long N, int grad) {                                    \
    const T *restrict ar = c, *restrict ai = c + N, *restrict br = c + (CPLX ? 2 : 1) * N;              \
    const T *restrict bi = c + (CPLX ? 3 : 1) * N;                                                      \
    LK_LAYER(                                                                                           \
        T pr = gr[p], qr = gr[q], pim = CPLX ? gi[p] : 0, qim = CPLX ? gi[q] : 0;                       \
        if (grad) {                                                                                     \
            T xpr = xr[p], xqr = xr[q], xpi = CPLX ? xi[p] : 0, xqi = CPLX ? xi[q] : 0;                 \
            LK_ACC(gar, gai, p, xpr, xpi, pr, pim)                                                      \
            LK_ACC(gar, gai, q, xqr, xqi, qr, qim)                                                      \
            LK_ACC(gbr, gbi, p, xqr, xqi, pr, pim)                                                      \
            LK_ACC(gbr, gbi, q, xpr, xpi, qr, qim)                                                      \
        }                                                                                               \
        LK_ADJ_ONE(ypr, ypi, p, q, pr, pim, qr, qim)                                                    \
        LK_ADJ_ONE(yqr, yqi, q, p, qr, qim, pr, pim)                                                    \
        gr[p] = ypr; gr[q] = yqr;                                                                       \
        if (CPLX) { gi[p] = ypi; gi[q] = yqi; })                                                        \
    LK_FIXED(                                                                                           \
        T pr = gr[p], pim = CPLX ? gi[p] : 0;                                                           \
        if (grad) {                                                                                     \
            T xpr = xr[p], xpi = CPLX ? xi[p] : 0;                                                      \
            LK_ACC(gar, gai, p, xpr, xpi, pr, pim)                                                      \
            LK_ACC(gbr, gbi, p, xpr, xpi, pr, pim)                                                      \
        }                                                                                               \
        LK_ADJ_ONE(ypr, ypi, p, p, pr, pim, pr, pim)                                                    \
        gr[p] = ypr; if (CPLX) gi[p] = ypi;)                                                            \
}                                                                                                       \
                                                                                                        \
/* Row b of v (B x N, interleaved (re, im) when complex) into the planes (pr, pi), and back. */          \
static inline void lk_split_##SUF(const T *restrict v, T *restrict pr, T *restrict pi, long N) {       \
    if (CPLX) { for (long j = 0; j < N; ++j) { pr[j] = v[2 * j]; pi[j] = v[2 * j + 1]; } }               \
    else memcpy(pr, v, N * sizeof(T));                                                                  \
}                                                                                                       \
static inline void lk_join_##SUF(const T *restrict pr, const T *restrict pi, T *restrict v, long N) {  \
    if (CPLX) { for (long j = 0; j < N; ++j) { v[2 * j] = pr[j]; v[2 * j + 1] = pi[j]; } }               \
    else memcpy(v, pr, N * sizeof(T));                                                                  \
}                                                                                                       \
                                                                                                        \
/* out = add + W x for the rows of x (B x N), W = layer L-1 ... layer 0; add: B x N or NULL; coef: (L, P, N) \
   planes (P = 4 complex, 2 real); geom: (L, 3) int64 = (o, s, M) per layer; scratch: (L + 2) 2N numbers. */   \
void layers_forward_##SUF(const T *x, const T *add, const T *coef, const int64_t *geom, long L, long B, long N,\
                          T *out, T *scratch) {                                                         \
    const long W = CPLX ? 2 : 1, P = CPLX ? 4 : 2;                                                      \
    T *xr = scratch, *xi = scratch + N, *dr = scratch + 2 * N, *di = scratch + 3 * N;                   \
    T *zr = scratch + 4 * N, *zi = scratch + 5 * N;                                                     \
    memset(zr, 0, 2 * N * sizeof(T));                                                                   \
    for (long b = 0; b < B; ++b) {                                                                      \
        lk_split_##SUF(x + b * W * N, xr, xi, N);                                                       \
        if (add) lk_split_##SUF(add + b * W * N, dr, di, N);                                            \
        for (long l = 0; l < L; ++l) {                                                                  \
            int last = add && l == L - 1;                                                               \
            lk_forward_layer_##SUF(xr, xi, coef + l * P * N, last ? dr : zr, last ? di : zi,            \
                                   (long)geom[3 * l], (long)geom[3 * l + 1], (long)geom[3 * l + 2], N); \
        }                                                                                               \
        lk_join_##SUF(xr, xi, out + b * W * N, N);                                                      \
    }                                                                                                   \
}                                                                                                       \
                                                                                                        \
/* out = add + W^H g for the rows of g (B x N); h: the rows W was applied to (B x N), or NULL (no gradients); \
   acc: (L, P, N) accumulators of the gradients of a and b (planes as coef), added to; scratch: (L + 2) 2N. */ \
void layers_adjoint_##SUF(const T *g, const T *add, const T *h, const T *coef, const int64_t *geom, long L,   \
                          long B, long N, T *out, T *acc, T *scratch) {                                 \
    const long W = CPLX ? 2 : 1, P = CPLX ? 4 : 2;                                                      \
    T *gr = scratch, *gi = scratch + N, *dr = scratch + 2 * N, *di = scratch + 3 * N;                   \
    T *zr = scratch + 4 * N, *zi = scratch + 5 * N;                                                     \
    T *xs = scratch + 6 * N; /* the layers' inputs, 2N numbers each */                                  \
    memset(zr, 0, 2 * N * sizeof(T));                                                                   \
    for (long b = 0; b < B; ++b) {                                                                      \
        if (h) {                                                                                        \
            lk_split_##SUF(h + b * W * N, xs, xs + N, N);                                               \
            for (long l = 0; l + 1 < L; ++l) {                                                          \
                T *next = xs + (l + 1) * 2 * N;                                                         \
                memcpy(next, xs + l * 2 * N, W * N * sizeof(T));                                        \
                lk_forward_layer_##SUF(next, next + N, coef + l * P * N, zr, zi, (long)geom[3 * l],     \
                                       (long)geom[3 * l + 1], (long)geom[3 * l + 2], N);                \
            }                                                                                           \
        }                                                                                               \
        lk_split_##SUF(g + b * W * N, gr, gi, N);                                                       \
        if (add) lk_split_##SUF(add + b * W * N, dr, di, N);                                            \
        for (long l = L - 1; l >= 0; --l) {                                                             \
            const T *c = coef + l * P * N, *x = xs + l * 2 * N;                                         \
            const T *d = add && l == 0 ? dr : zr, *e = add && l == 0 ? di : zi;                         \
            T *ga = h ? acc + l * P * N : zr, *gai = ga + N, *gb = ga + (P / 2) * N, *gbi = gb + N;      \
            long o = (long)geom[3 * l], s = (long)geom[3 * l + 1], M = (long)geom[3 * l + 2];           \
            if (h) lk_adjoint_layer_##SUF(gr, gi, c, d, e, x, x + N, ga, gai, gb, gbi, o, s, M, N, 1);  \
            else lk_adjoint_layer_##SUF(gr, gi, c, d, e, x, x + N, ga, gai, gb, gbi, o, s, M, N, 0);    \
        }                                                                                               \
        lk_join_##SUF(gr, gi, out + b * W * N, N);                                                      \
    }                                                                                                   \
}

#define T float
#define CPLX 1
LK_DEFINE(c64)
#undef T
#define T double
LK_DEFINE(c128)
#undef CPLX
#define CPLX 0
LK_DEFINE(f64)
#undef T
#define T float
LK_DEFINE(f32)
"""

_P, _L = ctypes.c_void_p, ctypes.c_long
# The C functions' argument types (pointers and longs only, the same for every dtype): name -> argtypes; the
# library holds ``<name>_<suffix>`` for each suffix of DTYPES.
ARGTYPES = {
    "layers_forward": (_P, _P, _P, _P, _L, _L, _L, _P, _P),
    "layers_adjoint": (_P, _P, _P, _P, _P, _L, _L, _L, _P, _P, _P),
}
# The state's dtype -> the suffix; the coefficients, accumulators and scratch are of its real precision.
DTYPES = {torch.complex64: "c64", torch.complex128: "c128", torch.float32: "f32", torch.float64: "f64"}


def scratch_size(layers: int, n: int) -> int:
    r"""Numbers (of the state's real precision) of the scratch buffer one call needs: (L + 3)·2·N.

    Example:
        >>> scratch_size(2, 512)
        5120
    """
    return (layers + 3) * 2 * n


# Note [EURNN layer kernel cost]
# Counted as the loops of SOURCE run, per element of a layer (B·N of them, L layers), in real operations (one
# per add or multiply; the loops work on real and imaginary planes, so no x4 rule applies), and bytes of the
# distinct elements read plus written outside the scratch buffer (which stays in cache), in the real precision;
# the (L, 3) geometry table is not counted:
#   forward: a·x and b·x_partner 6 each, + d and the sum 2 each (complex; real: 1 each): 16 (4) per layer, d
#     being add or zeros (Note [EURNN layer kernel]); reads x and add when given (W reals an element, W = 2
#     complex, 1 real) and the coefficients (2W reals per element of a layer), writes out (W);
#   adjoint: the same 16 (4) per layer; with the gradients, the recomputed layer inputs, 16 (4) per layer but
#     the last, and the four accumulations conj(x)·ḡ, each 6 + 2 (real 2) for two of them: 16 (4) per layer;
#     reads g, add, h (W each) and the coefficients (2W per layer element), reads and writes the accumulators
#     (2W per layer element each way), writes out (W).


def layers_cost(direction: str, batch: int, n: int, layers: int, dtype: torch.dtype, *, add: bool = False,
                grads: bool = False) -> tuple[int, int]:
    r"""FLOPs and bytes moved by one call of the EURNN layer kernel on a (batch, n) step of ``layers`` layers
    (Note [EURNN layer kernel cost]).

    Args:
        direction: ``"forward"`` or ``"adjoint"``.
        batch, n, layers: B, N and L.
        dtype: the state's dtype: complex64, complex128, float32 or float64.
        add: ``add`` is given (u_t forward, the outputs' gradient in the adjoint).
        grads: the adjoint recomputes the layer inputs and accumulates the gradients of a and b.

    Returns:
        ``(flops, bytes)`` of the call.

    Raises:
        ValueError: an unknown ``direction``, a dtype the kernel does not take, or negative sizes.

    Example:
        >>> layers_cost("forward", 32, 512, 2, torch.complex64)  # 16·2·B·N, 4·(2·2·B·N + 4·2·N)
        (524288, 294912)
    """
    if direction not in ("forward", "adjoint") or dtype not in DTYPES:
        raise ValueError(f"expected direction 'forward' or 'adjoint' and dtype one of "
                         f"{[str(d) for d in DTYPES]}, got {direction!r} and {dtype}")
    if min(batch, n, layers) < 0:
        raise ValueError(f"expected non-negative batch, n and layers, got {batch}, {n} and {layers}")
    cplx = dtype.is_complex
    w, size = (2 if cplx else 1), torch.finfo(dtype).bits // 8  # finfo of a complex dtype is its real part's
    per_layer, per_acc = (16, 16) if cplx else (4, 4)
    elements, coefficients = batch * n, 2 * w * layers * n
    flops = elements * per_layer * layers
    moved = w * elements * (2 + add) + coefficients
    if direction == "adjoint" and grads:
        flops += elements * (per_layer * max(layers - 1, 0) + per_acc * layers)
        moved += w * elements + 2 * coefficients
    return flops, size * moved
