r"""The fused LSTM's elementwise gate step as one C loop each way: its source, its signatures and its cost.

urnn_zoo.engine.kernels compiles this source into the one kernel library (with the complex modReLU step), checks
and loads it (Notes [Why a C kernel] and [Trusting the kernel cache] there); urnn_zoo.engine.lstm_step calls it
once per step of the fused LSTM (urnn_zoo.engine.lstm_recurrence, Note [Fused LSTM BPTT]), or runs the same
maths in torch operators where the kernels cannot run.

Note [LSTM gate kernel]
Per step the torch operators make about 7 passes forward (σ over the 4N gates, tanh of the g block, f·c_{t−1},
+ i·g, tanh(c_t), o·τ_t) and 20 backward (Note [Fused LSTM BPTT]), each dispatched from Python with its views;
the loops below make one pass each way over the B·N units, reading a unit's four gates together. They
evaluate these formulas operation by operation, without fast-math and without contracting a·b + c into a
fused multiply-add (``-ffp-contract=off``):
  forward:  z = u + y (when u is given, in the tensors' precision, as torch adds them; else z = y),
            i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o),  σ(x) = 1/(1 + e^{−x}),
            c_t = f·c_{t−1} + i·g,  τ_t = tanh(c_t),  h_t = o·τ_t;
  backward: c̃ = c̄_t + (h̄·o)·(1 − τ·τ),  ż_o = ((h̄·τ)·o)·(1 − o),  ż_i = ((c̃·g)·i)·(1 − i),
            ż_f = ((c̃·c_{t−1})·f)·(1 − f),  ż_g = (c̃·i)·(1 − g·g),  c̄_{t−1} = c̃·f (written over c̄_t).
The arithmetic is float64 for both precisions: a float32 step widens what it reads, computes in float64 and
rounds each value it writes once (i, f, g, o, c_t, τ_t, h_t forward; ż and c̄_{t−1} backward). Why: torch's σ
and tanh (SLEEF's) are not callable from C and any σ of our own rounds differently; a float32 step rounded
at every operation with a different σ made the fused float32 LSTM's error up to 4x the per-step loop's on some
drawn cases (saturated gates, T = 16–20), while one rounding per stored value keeps it within the loop's
(tests/test_kru_lstm_fused.py). Everything but e^x is IEEE arithmetic in that order, so it rounds as those
operations written out one by one in float64 and rounded once to the tensors' precision
(tests/test_lstm_kernels.py checks this bit for bit against NumPy). e^x is Note [The kernels' exp]; the
kernel and the torch paths agree to rounding, not bit for bit.

Layouts. u, the saved activations (i, f, g, o) and ż are gate-minor rows (B, 4N), as u is; c, τ, h, h̄, c̄ are
rows (B, N). The map's product y is read at y[gate·yg + b·yb + p·yp + q] for unit j = p·Q + q (the loops run over
rows b, blocks p of Q units, units q): rows (B, 4N) are yg = N, yb = 4N, Q = N (one block); the Kronecker
gates' own gate-major layout (4, N/Q, B, Q) (urnn_zoo.engine.kronecker_gates, Note [KRU-LSTM gate maps] there,
Q = P_B) is yg = B·N, yb = Q, yp = B·Q, so the forward reads that GEMM's output and adds u itself, and the
backward can write ż a second time in that layout, which the map's adjoint reads without a copy. A
loop-invariant test inside a vectorised loop makes every load and store a masked one (measured 3.5x slower with
AVX-512, and no vectorisation at all with AVX2), so each variant is its own loop.

Note [The kernels' exp]
The loops need e^x for σ and tanh on every gate, 5·B·N per step. glibc's expf and tanhf are scalar calls the
compiler cannot vectorise without fast-math (measured in a C loop on the 2-core CPU class: 3.3 and 24 ns per
element, against 0.45 and 0.35 ns for torch's σ and tanh); glibc's vector variants (libmvec) exist only on
some targets and its tanhf took 3x torch's time; torch's SLEEF is not exported. So the loops carry their own
e^x, written to vectorise, in float64: Cody and Waite's reduction (W. J. Cody and W. Waite, Software Manual for
the Elementary Functions, Prentice-Hall 1980) x = k·ln 2 + r with k = round(x·log₂e) and |r| <= ln(2)/2, ln 2
split in a high part with trailing zero bits (k·ln2_hi is exact) and the rest; q = e^r − 1 by its Taylor series
to degree 13 in Horner form (the first term left out is below 1e-17 of q); 2^k built in the exponent bits.
Then e^x = 2^k·(1 + q) and e^x − 1 = (2^k − 1) + 2^k·q, and tanh(x) = sign(x)·(−m)/(2 + m) with
m = e^{−2|x|} − 1, accurate relative to tanh near 0 (1 − e^{−2|x|} would cancel). Measured over 4.8·10⁶ points
spread over [−100, 100] and ±e^{−90}..e^5, relative to SciPy's float64 σ and NumPy's tanh: within 2.3 (σ) and
2.2 (tanh) units of float64's ε (the references are themselves within about one unit), so rounded once to
float32 they are within one unit of float32's ε (tests/test_lstm_kernels.py).
x is clamped to [−708, 709], where 2^k stays a normal number; beyond, σ and tanh have already rounded to 1 or
±1, except σ(x) for x < −709, which is 0 here (below float64's smallest normal number; float32's subnormal σ
for x down to about −103 comes out as torch's does). NaN compares false and stays NaN; σ(±∞) is 1 or 0 and
tanh(±∞) = ±1.
"""
from __future__ import annotations

import ctypes

import torch

__all__ = ["SOURCE", "ARGTYPES", "DTYPES", "lstm_cost"]

SOURCE = r"""
#include <stdint.h>
#include <string.h>

/* Note [The kernels' exp]: returns 2^k and sets *q = e^r - 1, for x = k ln2 + r. */
static inline double lstm_split(double x, double *q) {
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    double shifted = x * 1.4426950408889634 + 6755399441055744.0;  /* 1.5 * 2^52 */
    double k = shifted - 6755399441055744.0;
    double r = (x - k * 0.693145751953125) - k * 1.4286068203094172321e-6;  /* ln2 = 11357/16384 + the rest */
    double poly = 1.0 / 6227020800.0;
    poly = poly * r + 1.0 / 479001600.0; poly = poly * r + 1.0 / 39916800.0; poly = poly * r + 1.0 / 3628800.0;
    poly = poly * r + 1.0 / 362880.0; poly = poly * r + 1.0 / 40320.0; poly = poly * r + 1.0 / 5040.0;
    poly = poly * r + 1.0 / 720.0; poly = poly * r + 1.0 / 120.0; poly = poly * r + 1.0 / 24.0;
    poly = poly * r + 1.0 / 6.0; poly = poly * r + 0.5; poly = poly * r + 1.0;
    *q = poly * r;
    uint64_t bits; memcpy(&bits, &shifted, sizeof bits);
    uint64_t e = (bits - 0x4338000000000000ull + 1023ull) << 52;
    double s; memcpy(&s, &e, sizeof s);
    return s;
}

/* sigma(x) = 1 / (1 + e^-x), 0 where e^-x passes the clamp HI; tanh(x) = sign(x) (-m) / (2 + m),
   m = e^(-2|x|) - 1 */
static inline double lstm_sigmoid(double x) {
    double q, s = lstm_split(-x, &q);
    double e = s * (1.0 + q);
    e = -x > 709.0 ? __builtin_inf() : e;
    return 1.0 / (1.0 + e);
}
static inline double lstm_tanh(double x) {
    double q, s = lstm_split(-2.0 * __builtin_fabs(x), &q);
    double m = (s - 1.0) + s * q;
    return __builtin_copysign(-m / (2.0 + m), x);
}

/* Rows b, blocks p of Q units, units q of a block (j = p*Q + q): Note [LSTM gate kernel], which also says why
   the variants with and without u (forward) and the gate-major dz (backward) are separate loops. */
#define LSTM_BLOCKS(...)                                                                                \
    for (long b = 0; b < B; ++b) {                                                                      \
        for (long p = 0; p < N / Q; ++p) {                                                              \
            __VA_ARGS__                                                                                 \
        }                                                                                               \
    }

/* One unit of the forward step, from its pre-activations zi, zf, zg, zo. */
#define LSTM_UNIT(T)                                                                                    \
    double i = lstm_sigmoid(zi), f = lstm_sigmoid(zf), g = lstm_tanh(zg), o = lstm_sigmoid(zo);          \
    double ct = f * (double)cpa[q] + i * g;                                                             \
    double tt = lstm_tanh(ct);                                                                          \
    aa[q] = (T)i; aa[N + q] = (T)f; aa[2 * N + q] = (T)g; aa[3 * N + q] = (T)o;                         \
    ca[q] = (T)ct; ta[q] = (T)tt; ha[q] = (T)(o * tt);

/* y: gate g of unit (b, p*Q + q) at y[g*yg + b*yb + p*yp + q]; u: rows B x 4N, or NULL (y is already z);
   cp = c_{t-1}; writes acts (rows B x 4N: sigma(z_i), sigma(z_f), tanh(z_g), sigma(z_o)), c, tau, h (B x N). */
#define LSTM_FORWARD(T, SUF)                                                                            \
void lstm_forward_##SUF(const T *y, long yg, long yb, long yp, long Q, const T *u, const T *cp, long B, \
                        long N, T *acts, T *c, T *tau, T *h) {                                          \
    if (u) {                                                                                            \
        LSTM_BLOCKS(                                                                                    \
            const T *ys = y + b * yb + p * yp, *ua = u + b * 4 * N + p * Q, *cpa = cp + b * N + p * Q;  \
            T *aa = acts + b * 4 * N + p * Q, *ca = c + b * N + p * Q, *ta = tau + b * N + p * Q;       \
            T *ha = h + b * N + p * Q;                                                                  \
            _Pragma("omp simd")                                                                         \
            for (long q = 0; q < Q; ++q) {                                                              \
                T zi = ua[q] + ys[q], zf = ua[N + q] + ys[yg + q];                                      \
                T zg = ua[2 * N + q] + ys[2 * yg + q], zo = ua[3 * N + q] + ys[3 * yg + q];             \
                LSTM_UNIT(T)                                                                            \
            })                                                                                          \
    } else {                                                                                            \
        LSTM_BLOCKS(                                                                                    \
            const T *ys = y + b * yb + p * yp, *cpa = cp + b * N + p * Q;                               \
            T *aa = acts + b * 4 * N + p * Q, *ca = c + b * N + p * Q, *ta = tau + b * N + p * Q;       \
            T *ha = h + b * N + p * Q;                                                                  \
            _Pragma("omp simd")                                                                         \
            for (long q = 0; q < Q; ++q) {                                                              \
                T zi = ys[q], zf = ys[yg + q], zg = ys[2 * yg + q], zo = ys[3 * yg + q];                \
                LSTM_UNIT(T)                                                                            \
            })                                                                                          \
    }                                                                                                   \
}

/* One unit of the backward step; dz_i, dz_f, dz_g, dz_o left in di, df, dg, do_. */
#define LSTM_UNIT_BACK(T)                                                                               \
    double i = aa[q], f = aa[N + q], g = aa[2 * N + q], o = aa[3 * N + q];                              \
    double hbar = gha[q], tt = ta[q];                                                                   \
    double ct = gca[q] + (hbar * o) * (1.0 - tt * tt);                                                  \
    T do_ = (T)(((hbar * tt) * o) * (1.0 - o));                                                         \
    T di = (T)(((ct * g) * i) * (1.0 - i));                                                             \
    T df = (T)(((ct * cpa[q]) * f) * (1.0 - f));                                                        \
    T dg = (T)((ct * i) * (1.0 - g * g));                                                               \
    da[q] = di; da[N + q] = df; da[2 * N + q] = dg; da[3 * N + q] = do_;                                \
    gca[q] = (T)(ct * f);

/* gh = h-bar_t, gc = c-bar_t (overwritten with c-bar_{t-1}), acts, cp = c_{t-1}, tau of the step; writes dz
   (rows B x 4N), the gradient of the step's gate pre-activations, and when dzm is not NULL the same numbers
   gate-major, gate g of unit (b, p*Q + q) at dzm[g*B*N + p*B*Q + b*Q + q]. */
#define LSTM_BACKWARD(T, SUF)                                                                           \
void lstm_backward_##SUF(const T *gh, T *gc, const T *acts, const T *cp, const T *tau, long B, long N, \
                         long Q, T *dz, T *dzm) {                                                       \
    LSTM_BLOCKS(                                                                                        \
        long e = b * N + p * Q;                                                                         \
        const T *aa = acts + 4 * b * N + p * Q, *gha = gh + e, *cpa = cp + e, *ta = tau + e;            \
        T *gca = gc + e, *da = dz + 4 * b * N + p * Q;                                                  \
        if (dzm) {                                                                                      \
            T *ma = dzm + p * B * Q + b * Q;                                                            \
            _Pragma("omp simd")                                                                         \
            for (long q = 0; q < Q; ++q) {                                                              \
                LSTM_UNIT_BACK(T)                                                                       \
                ma[q] = di; ma[B * N + q] = df; ma[2 * B * N + q] = dg; ma[3 * B * N + q] = do_;        \
            }                                                                                           \
        } else {                                                                                        \
            _Pragma("omp simd")                                                                         \
            for (long q = 0; q < Q; ++q) {                                                              \
                LSTM_UNIT_BACK(T)                                                                       \
            }                                                                                           \
        })                                                                                              \
}

LSTM_FORWARD(float, f32)
LSTM_FORWARD(double, f64)
LSTM_BACKWARD(float, f32)
LSTM_BACKWARD(double, f64)
"""

_P, _L = ctypes.c_void_p, ctypes.c_long
# The C functions' argument types (pointers and longs only, the same for both precisions): name -> argtypes;
# the library holds ``<name>_f32`` and ``<name>_f64``.
ARGTYPES = {
    "lstm_forward": (_P, _L, _L, _L, _L, _P, _P, _L, _L, _P, _P, _P, _P),
    "lstm_backward": (_P, _P, _P, _P, _P, _L, _L, _L, _P, _P),
}
DTYPES = {torch.float32: "f32", torch.float64: "f64"}


# Note [LSTM kernel cost]
# Counted as urnn_zoo.opcount counts the torch operators the loops replace (Note [Elementwise FLOPs] there: a
# transcendental function 1, one arithmetic operation 1), per unit (B·N of them), and bytes of the elements read
# plus written in the tensors' precision:
#   forward: u + y 4 (when u is given), σ three times and tanh twice 5, f·c_{t−1} + i·g 3, o·τ 1: 9 FLOPs, 13
#     with u; reads y (4), u (4) when given and c_{t−1} (1), writes i, f, g, o (4), c, τ, h (3);
#   backward: c̃ = c̄ + (h̄·o)·(1 − τ·τ) 5, ż_o, ż_i, ż_f, ż_g 4 each, c̄_{t−1} = c̃·f 1: 22 FLOPs; reads h̄, c̄,
#     the four activations, c_{t−1} and τ (8), writes ż (4), c̄_{t−1} (1) and, when asked, ż again gate-major (4).


def lstm_cost(direction: str, batch: int, n: int, dtype: torch.dtype, *, add: bool = False,
              major: bool = False) -> tuple[int, int]:
    r"""FLOPs and bytes moved by one call of the LSTM gate kernel on a (batch, n) step (Note [LSTM kernel cost]).

    Args:
        direction: ``"forward"`` or ``"backward"``.
        batch, n: B and N (the gates' pre-activations are (B, 4N)).
        dtype: float32 or float64.
        add: the forward adds u to the map's product itself.
        major: the backward also writes ż gate-major.

    Returns:
        ``(flops, bytes)`` of the call.

    Raises:
        ValueError: an unknown ``direction`` or a dtype the kernel does not take.

    Example:
        >>> lstm_cost("backward", 32, 512, torch.float32)  # 22·B·N, 4·13·B·N
        (360448, 851968)
    """
    if direction not in ("forward", "backward") or dtype not in DTYPES:
        raise ValueError(f"expected direction 'forward' or 'backward' and dtype float32 or float64, got "
                         f"{direction!r} and {dtype}")
    units, size = batch * n, torch.finfo(dtype).bits // 8
    if direction == "forward":
        return units * (9 + 4 * add), size * units * (12 + 4 * add)
    return units * 22, size * units * (13 + 4 * major)
