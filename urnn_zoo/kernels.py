r"""One-pass CPU kernels for the complex modReLU step of the fused recurrence, built at first use.

Note [Why a C kernel]
The complex modReLU step (urnn_zoo.recurrence, Note [modReLU Jacobian]) is about 15 elementwise torch
operators forward (|z|², the square root, two divisions, the saved factors s, k, c, h = z·s and the [Re h; Im h]
output) and 5 backward, each a full pass over the B·N complex numbers: at B=32 it took 100 µs per step at
N=512 and 230 µs at N=1024 on the 2-core CPU class, half of a KRU step. torch has no fused kernel for it,
inductor generates no code for complex operators (DESIGN §11) and a compiled real-view version costs more per
call than it saves; numba's loop did not vectorise over complex numbers. One C loop over the elements that the
compiler vectorises does the same work in one pass (10 µs at N=512, 19 µs at N=1024). It is compiled with the
system C compiler (``$CC``, default ``cc``; gcc is part of the machine class) into ``kernels/`` of the user
cache folder (urnn_zoo.data.cache) the first time it is needed, in a fraction of a second, and loaded with ctypes. Without a compiler, on another
device, for non-contiguous tensors, or with ``URNN_ZOO_KERNELS=0``, the caller falls back to torch operators
with the same maths (tests/test_kernels.py checks the two agree).

The kernels follow the eager code operation by operation (m = √(x² + y² + ε), inv = 1/(m + ε), k = inv where
m + b > 0, s = k·(m + b), c = k·(ε − b)·inv/m, h = z·s), in the tensors' own precision, without fast-math.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from urnn_zoo.data.cache import cache_dir

__all__ = ["available", "modrelu_forward", "modrelu_backward", "DISABLE_ENV"]

DISABLE_ENV = "URNN_ZOO_KERNELS"

SOURCE = r"""
#include <math.h>
#include <stddef.h>

/* z, h: B x N complex as interleaved (re, im); out: B x 2N real rows [Re h; Im h] or NULL;
   s, k, c: B x N real or NULL (no backward follows). */
#define FORWARD(NAME, T, SQRT)                                                                          \
void NAME(const T *z, const T *bias, const T *emb, T eps, long B, long N, T *h, T *out, T *s, T *k, T *c) { \
    for (long i = 0; i < B; ++i) {                                                                      \
        const T *zi = z + 2 * i * N; T *hi = h + 2 * i * N; T *oi = out ? out + 2 * i * N : NULL;        \
        _Pragma("omp simd")                                                                             \
        for (long j = 0; j < N; ++j) {                                                                  \
            T x = zi[2 * j], y = zi[2 * j + 1];                                                         \
            T m = SQRT(x * x + y * y + eps);                                                            \
            T inv = (T)1 / (m + eps);                                                                   \
            T shifted = m + bias[j];                                                                    \
            T kj = shifted > 0 ? inv : (T)0;                                                            \
            T sj = kj * shifted;                                                                        \
            if (s) { s[i * N + j] = sj; k[i * N + j] = kj; c[i * N + j] = kj * emb[j] * inv / m; }      \
            T hx = x * sj, hy = y * sj;                                                                 \
            hi[2 * j] = hx; hi[2 * j + 1] = hy;                                                         \
            if (oi) { oi[j] = hx; oi[N + j] = hy; }                                                     \
        }                                                                                               \
    }                                                                                                   \
}

/* g: the gradient at h (complex), plus the rows gout (B x 2N real [Re; Im] gradient of the emitted output) when
   not NULL; gz: the gradient at z (complex); acc += Re(conj(z) g) * k (real). */
#define BACKWARD(NAME, T)                                                                               \
void NAME(const T *g, const T *gout, const T *z, const T *s, const T *k, const T *c, long B, long N, T *gz,  \
          T *acc) {                                                                                     \
    for (long i = 0; i < B; ++i) {                                                                      \
        const T *oi = gout ? gout + 2 * i * N : NULL;                                                   \
        _Pragma("omp simd")                                                                             \
        for (long j = 0; j < N; ++j) {                                                                  \
            long e = i * N + j;                                                                         \
            T x = z[2 * e], y = z[2 * e + 1], gx = g[2 * e], gy = g[2 * e + 1];                         \
            if (oi) { gx = oi[j] + gx; gy = oi[N + j] + gy; }                                           \
            T r = x * gx + y * gy;                                                                      \
            acc[e] += r * k[e];                                                                         \
            T t = c[e] * r;                                                                             \
            gz[2 * e] = s[e] * gx + x * t;                                                              \
            gz[2 * e + 1] = s[e] * gy + y * t;                                                          \
        }                                                                                               \
    }                                                                                                   \
}

FORWARD(modrelu_forward_f32, float, sqrtf)
FORWARD(modrelu_forward_f64, double, sqrt)
BACKWARD(modrelu_backward_f32, float)
BACKWARD(modrelu_backward_f64, double)
"""

FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fopenmp-simd", "-shared", "-fPIC")
_SUFFIX = {torch.complex64: "f32", torch.complex128: "f64"}


def _cpu_fingerprint() -> str:
    # -march=native code is only valid on this CPU: a shared cache directory keys the library by its flags.
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    return platform.machine() + flags


def _compile(compiler: str, target: Path) -> bool:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src, lib = Path(tmp) / "kernels.c", Path(tmp) / target.name
        src.write_text(SOURCE)
        for flags in (FLAGS, tuple(f for f in FLAGS if f != "-march=native")):
            done = subprocess.run([compiler, *flags, str(src), "-o", str(lib), "-lm"], capture_output=True)
            if done.returncode == 0:
                os.replace(lib, target)  # atomic: concurrent first uses (pytest-xdist) each write their own
                return True
    return False


@functools.lru_cache(maxsize=None)
def _library() -> ctypes.CDLL | None:
    if os.environ.get(DISABLE_ENV, "1") == "0":
        return None
    compiler = os.environ.get("CC", "cc")
    key = hashlib.sha1("\0".join((SOURCE, compiler, *FLAGS, _cpu_fingerprint())).encode()).hexdigest()[:16]
    for directory in (cache_dir() / "kernels", Path(tempfile.gettempdir()) / "urnn_zoo"):
        target = directory / f"modrelu-{key}.so"
        try:
            if target.exists() or _compile(compiler, target):
                lib = ctypes.CDLL(str(target))
                break
        except OSError:  # no compiler, an unwritable directory, a library that does not load
            continue
    else:
        return None
    pointers = [ctypes.c_void_p] * 3
    lib.functions = {}  # (name, complex dtype) -> the C function, looked up once
    for dtype, real in ((torch.complex64, ctypes.c_float), (torch.complex128, ctypes.c_double)):
        suffix = _SUFFIX[dtype]
        fwd, bwd = getattr(lib, f"modrelu_forward_{suffix}"), getattr(lib, f"modrelu_backward_{suffix}")
        fwd.argtypes = [*pointers, real, ctypes.c_long, ctypes.c_long, *[ctypes.c_void_p] * 5]
        fwd.restype = None
        bwd.argtypes = [*[ctypes.c_void_p] * 6, ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        bwd.restype = None
        lib.functions["modrelu_forward", dtype], lib.functions["modrelu_backward", dtype] = fwd, bwd
    return lib


def available() -> bool:
    r"""Whether the kernels are built and loaded (False: callers use torch operators).

    Example:
        >>> isinstance(available(), bool)
        True
    """
    return _library() is not None


def _usable(*tensors: Tensor | None) -> bool:
    for t in tensors:  # a plain loop: this runs twice per step, a generator costs several µs more
        if t is not None and not (t.is_contiguous() and not t.is_cuda and t.device.type == "cpu"):
            return False
    return True


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def modrelu_forward(z: Tensor, bias: Tensor, eps_minus_bias: Tensor, eps: float, h: Tensor,
                    out: Tensor | None, saved: tuple[Tensor, ...]) -> bool:
    r"""One step of complex modReLU in one pass: h = modReLU(z), the emitted row [Re h; Im h] and s, k, c.

    Args:
        z: (B, N) complex pre-activations.
        bias, eps_minus_bias: (N,) real b and ε − b.
        eps: ε.
        h: (B, N) complex destination.
        out: (B, 2N) real destination of [Re h; Im h], or None.
        saved: ``(s, k, c)`` (B, N) real destinations (urnn_zoo.recurrence), or ``()``.

    Returns:
        True when done; False when the kernels cannot run here (nothing is written; use torch operators).

    Example:
        >>> z, h = torch.tensor([[3 + 4j]]), torch.empty(1, 1, dtype=torch.complex64)
        >>> done = modrelu_forward(z, torch.zeros(1), torch.full((1,), 1e-5), 1e-5, h, None, ())
        >>> (not done) or torch.allclose(h, z, atol=1e-4)
        True
    """
    lib = _library()
    if lib is None or z.dtype not in _SUFFIX or not _usable(z, bias, eps_minus_bias, h, out, *saved):
        return False
    s, k, c = saved or (None, None, None)
    lib.functions["modrelu_forward", z.dtype](z.data_ptr(), bias.data_ptr(), eps_minus_bias.data_ptr(), eps,
                                              z.shape[0], z.shape[1], h.data_ptr(), _ptr(out), _ptr(s), _ptr(k),
                                              _ptr(c))
    return True


def modrelu_backward(g: Tensor, rows: Tensor | None, z: Tensor, saved: tuple[Tensor, ...], gz: Tensor,
                     acc: Tensor) -> bool:
    r"""The backward of one step in one pass: with ḡ = g (+ rows as complex), gz = s·ḡ + c·z·Re(z̄ ḡ) and
    acc += Re(z̄ ḡ)·k.

    Args:
        g: (B, N) complex gradient at h; rows: (B, 2N) real [Re; Im] gradient of the emitted output to add, or
            None; z: (B, N) complex pre-activations.
        saved: ``(s, k, c)`` from :func:`modrelu_forward`.
        gz: (B, N) complex destination; acc: (B, N) real accumulator of the bias gradient.

    Returns:
        True when done; False when the kernels cannot run here (nothing is written).
    """
    lib = _library()
    if lib is None or z.dtype not in _SUFFIX or not _usable(g, rows, z, gz, acc, *saved):
        return False
    s, k, c = saved
    lib.functions["modrelu_backward", z.dtype](g.data_ptr(), _ptr(rows), z.data_ptr(), s.data_ptr(), k.data_ptr(),
                                               c.data_ptr(), z.shape[0], z.shape[1], gz.data_ptr(), acc.data_ptr())
    return True
