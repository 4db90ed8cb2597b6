r"""One-pass CPU kernels for the fused loops' steps, built at first use: the complex modReLU step of the fused
recurrence, the LSTM gate step of the fused LSTM (urnn_zoo.engine.lstm_kernel) and the EURNN layers of a fused
step, all L layers of a row in one pass each way (urnn_zoo.engine.layers_kernel).

Note [Why a C kernel]
The complex modReLU step (urnn_zoo.engine.step_activations, Note [modReLU Jacobian]) is about 15 elementwise torch
operators forward (|z|², the square root, two divisions, the factors s and k, h = z·s and the [Re h; Im h]
output) and 5 backward, each a full pass over the B·N complex numbers: at B=32 it took 100 µs per step at
N=512 and 230 µs at N=1024 on the 2-core CPU class, half of a KRU step. torch has no fused kernel for it,
inductor (torch 2.13) generates no code for complex operators and a compiled real-view version costs more per
call than it saves; numba's loop did not vectorise over complex numbers. One C loop over the elements that the
compiler vectorises does the same work in one pass (10 µs at N=512, 19 µs at N=1024). It is compiled with the
system C compiler (``$CC``, default ``cc``; gcc is part of the machine class) into ``kernels/`` of the user
cache folder (urnn_zoo.cache) the first time it is needed, in a few seconds (about 4.5 s on the 2-core CPU class), and loaded with
ctypes once it is checked (Note [Trusting the kernel cache]). On another device, for non-contiguous tensors, or
with ``URNN_ZOO_KERNELS=0``, the caller uses torch operators with the same maths (tests/test_kernels.py checks
the two agree); when the kernels cannot be built or loaded it does too, after one :class:`KernelWarning`.

The kernels follow the eager code operation by operation (q = x² + y² + ε, m = √q, inv = 1/(m + ε), k = inv
where q > −b·|b|, s = k·(m + b), c = k·(ε − b)·inv/m, h = z·s), in the tensors' own precision, without
fast-math and without contracting a·b + c into one fused multiply-add (``-ffp-contract=off``; GNU C contracts by
default), so q and −b·|b| round as the torch operators round them and the kink m + b = 0 is decided alike on
every path (urnn_zoo.activations, Note [modReLU's kink on every path]). The backward recomputes s, k and c
from z, which it reads anyway, instead of reading them from (T, B, N) buffers the forward wrote: the
arithmetic is a few vector operations an element, the memory traffic of writing and re-reading three real
(T, B, N) buffers was not (at N = 512 a forward step writing them took 99 µs against 36 µs without, the
buffers' first touch by page faults included; 2-core CPU class, one thread). The fused LSTM's gate step is the
same kind of work (about 7 elementwise operators forward and 20 backward per step) and is compiled into the same
library from its own source (urnn_zoo.engine.lstm_kernel, Note [LSTM gate kernel] there).

Note [Trusting the kernel cache]
A cached library is machine code that the process maps and runs. A truncated one maps pages past the end of its
file and the first call dies with SIGBUS, without a message; one from elsewhere may lack the symbols or do
anything. So the library is loaded only from ``kernels/`` of the cache folder (created 0700; used only when
owned by this user and not writable by group or others, never a shared temporary folder, where anyone could
plant a file), and only when its bytes hash to the SHA-256 written beside it (``<library>.sha256``) when it was
built; its name is keyed by the source, the compiler, the flags and the CPU. A missing or damaged library is
rebuilt under a file lock into a temporary folder beside it and moved into place with os.replace, library and
hash alike (a process that mapped the old file keeps its pages: the new file is a new inode). Any failure (no
compiler, a failed compile, an unusable folder, a damaged file, a missing symbol, a failed load) gives exactly
one :class:`KernelWarning` per process naming the reason; the kernels then stay off and torch operators run,
unless a rebuild repaired the damage.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import stat
import subprocess
import tempfile
import warnings
from pathlib import Path

import filelock
import torch
from torch import Tensor

from urnn_zoo.cache import cache_dir
from urnn_zoo.engine import layers_kernel, lstm_kernel
from urnn_zoo.opcount import counting, record_external

__all__ = ["available", "kernel", "modrelu_forward", "modrelu_backward", "modrelu_cost", "DISABLE_ENV",
           "KernelWarning"]

DISABLE_ENV = "URNN_ZOO_KERNELS"

MODRELU_SOURCE = r"""
#include <math.h>
#include <stddef.h>

/* One element's factors (Note [modReLU Jacobian]): s = k (m + b), k = 1[m + b > 0] / (m + eps) and, with C,
   c = k (eps - b) / ((m + eps) m); the same operations in the same order on every path. */
#define FACTORS(T, SQRT, ABS, C)                                                                        \
    T q = x * x + y * y + eps, m = SQRT(q);                                                             \
    T inv = (T)1 / (m + eps);                                                                           \
    T shifted = m + bias[j];                                                                            \
    T kj = q > -bias[j] * ABS(bias[j]) ? inv : (T)0; /* m + b > 0, decided without the root */          \
    T sj = kj * shifted;                                                                                \
    C

/* z, h: B x N complex as interleaved (re, im); out: B x 2N real rows [Re h; Im h] or NULL. */
#define FORWARD(NAME, T, SQRT, ABS)                                                                     \
void NAME(const T *z, const T *bias, T eps, long B, long N, T *h, T *out) {                            \
    for (long i = 0; i < B; ++i) {                                                                      \
        const T *zi = z + 2 * i * N; T *hi = h + 2 * i * N; T *oi = out ? out + 2 * i * N : NULL;        \
        _Pragma("omp simd")                                                                             \
        for (long j = 0; j < N; ++j) {                                                                  \
            T x = zi[2 * j], y = zi[2 * j + 1];                                                         \
            FACTORS(T, SQRT, ABS, )                                                                     \
            T hx = x * sj, hy = y * sj;                                                                 \
            hi[2 * j] = hx; hi[2 * j + 1] = hy;                                                         \
            if (oi) { oi[j] = hx; oi[N + j] = hy; }                                                     \
        }                                                                                               \
    }                                                                                                   \
}

/* g: the gradient at h (complex), plus the rows gout (B x 2N real [Re; Im] gradient of the emitted output) when
   not NULL; z: the step's pre-activations, from which s, k, c are recomputed (emb = eps - b); gz: the gradient
   at z (complex); acc += Re(conj(z) g) * k (real). */
#define BACKWARD(NAME, T, SQRT, ABS)                                                                    \
void NAME(const T *g, const T *gout, const T *z, const T *bias, const T *emb, T eps, long B, long N, T *gz, \
          T *acc) {                                                                                     \
    for (long i = 0; i < B; ++i) {                                                                      \
        const T *oi = gout ? gout + 2 * i * N : NULL;                                                   \
        _Pragma("omp simd")                                                                             \
        for (long j = 0; j < N; ++j) {                                                                  \
            long e = i * N + j;                                                                         \
            T x = z[2 * e], y = z[2 * e + 1], gx = g[2 * e], gy = g[2 * e + 1];                         \
            FACTORS(T, SQRT, ABS, T cj = kj * emb[j] * inv / m;)                                        \
            if (oi) { gx = oi[j] + gx; gy = oi[N + j] + gy; }                                           \
            T r = x * gx + y * gy;                                                                      \
            acc[e] += r * kj;                                                                           \
            T t = cj * r;                                                                               \
            gz[2 * e] = sj * gx + x * t;                                                                \
            gz[2 * e + 1] = sj * gy + y * t;                                                            \
        }                                                                                               \
    }                                                                                                   \
}

FORWARD(modrelu_forward_f32, float, sqrtf, fabsf)
FORWARD(modrelu_forward_f64, double, sqrt, fabs)
BACKWARD(modrelu_backward_f32, float, sqrtf, fabsf)
BACKWARD(modrelu_backward_f64, double, sqrt, fabs)
"""
# The kernel modules compiled into the library beside modReLU: each has SOURCE, ARGTYPES (name -> argtypes) and
# DTYPES (dtype -> the suffix of ``<name>_<suffix>``).
_MODULES = (lstm_kernel, layers_kernel)
SOURCE = MODRELU_SOURCE + "".join(m.SOURCE for m in _MODULES)  # the one library's source
# its functions, less the suffix
NAMES = frozenset({"modrelu_forward", "modrelu_backward", *(name for m in _MODULES for name in m.ARGTYPES)})


# -fno-trapping-math changes no value (it only lets the compiler ignore floating-point exception flags, which
# nothing here reads); without it GCC does not turn the LSTM loops' clamps (x < lo ? lo : x) into blends and
# leaves those loops scalar below AVX-512 (measured 6x slower with AVX2).
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-fopenmp-simd",
         "-shared", "-fPIC")
_SUFFIX = {torch.complex64: "f32", torch.complex128: "f64"}
DIGEST_SUFFIX = ".sha256"
LOCK_TIMEOUT_S = 120.0  # a build takes a few seconds; a lock held this long belongs to a stuck process
COMPILE_TIMEOUT_S = 120.0


class KernelWarning(RuntimeWarning):
    r"""The C kernels could not be used as cached (Note [Trusting the kernel cache]): they are off and torch
    operators run instead, or a damaged cached library was rebuilt. The message names the reason."""


class _Unavailable(Exception):
    r"""Why the kernels cannot be used in this process (the text of the warning)."""


def _cpu_fingerprint() -> str:
    # -march=native code is only valid on this CPU: a shared cache directory keys the library by its flags.
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    return platform.machine() + flags


def _private_folder() -> Path:
    r"""``kernels/`` of the cache folder, created 0700; :class:`_Unavailable` unless only this user can write it."""
    folder = cache_dir() / "kernels"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError as e:
        raise _Unavailable(f"cannot create or read the cache folder {folder} ({e.strerror or e})") from None
    if not hasattr(os, "getuid"):
        raise _Unavailable("this platform has no file owners to check the cache folder against")
    if info.st_uid != os.getuid():
        raise _Unavailable(f"the cache folder {folder} belongs to uid {info.st_uid}, not to this user (uid "
                           f"{os.getuid()}); the kernels load only from a folder that only this user can write")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _Unavailable(f"the cache folder {folder} is writable by group or others (mode "
                           f"{stat.S_IMODE(info.st_mode):#o}); the kernels load only from a folder that only this "
                           f"user can write (chmod go-w it)")
    return folder


def _digest_path(library: Path) -> Path:
    return library.with_name(library.name + DIGEST_SUFFIX)


def _damage(library: Path) -> str | None:
    r"""Why the cached ``library`` cannot be trusted, or None when its bytes hash to the SHA-256 beside it."""
    try:
        expected = _digest_path(library).read_text().strip()
    except FileNotFoundError:
        return f"the cached library {library} has no {DIGEST_SUFFIX} file beside it"
    if hashlib.sha256(library.read_bytes()).hexdigest() != expected:
        return f"the cached library {library} does not match the SHA-256 beside it (truncated or changed)"
    return None


def _build(compiler: str, target: Path) -> None:
    r"""Compile SOURCE into ``target`` and write its SHA-256 beside it, both moved into place atomically."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        src, lib, digest = Path(tmp) / "kernels.c", Path(tmp) / target.name, Path(tmp) / "digest"
        src.write_text(SOURCE)
        errors = []
        for flags in (FLAGS, tuple(f for f in FLAGS if f != "-march=native")):
            try:
                done = subprocess.run([compiler, *flags, str(src), "-o", str(lib), "-lm"], capture_output=True,
                                      text=True, timeout=COMPILE_TIMEOUT_S)
            except FileNotFoundError:
                raise _Unavailable(f"no C compiler {compiler!r} (set $CC to one)") from None
            except (OSError, subprocess.TimeoutExpired) as e:
                raise _Unavailable(f"the C compiler {compiler!r} did not run ({e})") from None
            if done.returncode == 0:
                break
            errors.append((done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1])
        else:
            raise _Unavailable(f"the C compiler {compiler!r} failed: {errors[-1]}")
        digest.write_text(hashlib.sha256(lib.read_bytes()).hexdigest() + "\n")
        os.replace(lib, target)
        os.replace(digest, _digest_path(target))


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    r"""Look the functions up once and declare their signatures (AttributeError when one is missing)."""
    p, n = ctypes.c_void_p, ctypes.c_long
    functions = {}  # (name, dtype) -> the C function
    for dtype, real in ((torch.complex64, ctypes.c_float), (torch.complex128, ctypes.c_double)):
        suffix = _SUFFIX[dtype]
        fwd, bwd = getattr(lib, f"modrelu_forward_{suffix}"), getattr(lib, f"modrelu_backward_{suffix}")
        fwd.argtypes = [p, p, real, n, n, p, p]  # z, bias, eps, B, N, h, out
        fwd.restype = None
        bwd.argtypes = [p, p, p, p, p, real, n, n, p, p]  # g, gout, z, bias, eps - bias, eps, B, N, gz, acc
        bwd.restype = None
        functions["modrelu_forward", dtype], functions["modrelu_backward", dtype] = fwd, bwd
    for module in _MODULES:  # urnn_zoo.engine.lstm_kernel and layers_kernel: pointers and longs only
        for name, argtypes in module.ARGTYPES.items():
            for dtype, suffix in module.DTYPES.items():
                fn = getattr(lib, f"{name}_{suffix}")
                fn.argtypes, fn.restype = list(argtypes), None
                functions[name, dtype] = fn
    lib.functions = functions
    return lib


def _load(library: Path) -> ctypes.CDLL:
    r"""The checked ``library`` loaded and bound; :class:`_Unavailable` when it does not load or lacks a symbol."""
    try:
        lib = ctypes.CDLL(str(library))
    except OSError as e:
        raise _Unavailable(f"the library {library} does not load ({e})") from None
    try:
        return _bind(lib)
    except AttributeError as e:
        # The dynamic loader keeps a loaded library by its path: without closing this one, loading the rebuilt
        # file at the same path would hand back this one again. ctypes has no public dlclose; _ctypes has.
        try:
            import _ctypes

            _ctypes.dlclose(lib._handle)
        except (ImportError, AttributeError, OSError):
            pass
        raise _Unavailable(f"the library {library} lacks a kernel ({e})") from None


def _library_path(folder: Path, compiler: str) -> Path:
    r"""Where the library built by ``compiler`` lives in ``folder``: its name is keyed by everything it is built from."""
    key = hashlib.sha1("\0".join((SOURCE, compiler, *FLAGS, _cpu_fingerprint())).encode()).hexdigest()[:16]
    return folder / f"kernels-{key}.so"


def _load_or_build() -> tuple[ctypes.CDLL, str | None]:
    r"""The library and, when the cached one was damaged and has been rebuilt, why (Note [Trusting the kernel
    cache]); :class:`_Unavailable` when the kernels cannot be used."""
    folder = _private_folder()
    compiler = os.environ.get("CC", "cc")
    target = _library_path(folder, compiler)
    lock = target.with_suffix(".lock")
    damage = None
    try:
        with filelock.FileLock(str(lock), timeout=LOCK_TIMEOUT_S):
            if target.exists():
                damage = _damage(target)
                if damage is None:
                    try:
                        return _load(target), None
                    except _Unavailable as e:
                        damage = str(e)
            _build(compiler, target)
            return _load(target), damage
    except filelock.Timeout:
        raise _Unavailable(f"another process has held {lock} for {LOCK_TIMEOUT_S:g} s") from None
    except OSError as e:  # the lock, reading the cached files, writing the build
        failure = f"the cache folder {folder} cannot be used ({e.strerror or e})"
    except _Unavailable as e:
        failure = str(e)
    raise _Unavailable(f"{damage}, and rebuilding it failed: {failure}" if damage else failure)


@functools.lru_cache(maxsize=None)
def _library() -> ctypes.CDLL | None:
    if os.environ.get(DISABLE_ENV, "1") == "0":
        return None
    try:
        lib, damage = _load_or_build()
    except _Unavailable as e:
        warnings.warn(f"urnn_zoo: the C kernels are off, torch operators run instead: {e}", KernelWarning,
                      stacklevel=3)
        return None
    if damage is not None:
        warnings.warn(f"urnn_zoo: {damage}; rebuilt it", KernelWarning, stacklevel=3)
    return lib


def available() -> bool:
    r"""Whether the kernels are built and loaded (False: callers use torch operators).

    Example:
        >>> isinstance(available(), bool)
        True
    """
    return _library() is not None


def kernel(name: str, dtype: torch.dtype, *tensors: Tensor | None):
    r"""The C function ``<name>_<suffix>`` of the library for ``dtype`` (the suffix of the kernel module's
    ``DTYPES``: ``f32``, ``f64``, ``c64``, ``c128``), with its argument types declared, for a call on ``tensors``.

    Args:
        name: e.g. ``"lstm_forward"`` (urnn_zoo.engine.lstm_kernel). dtype: the tensors' dtype.
        tensors: the tensors the call will read or write (None entries are skipped).

    Returns:
        The function; None when one of ``tensors`` is not a contiguous CPU tensor of ``dtype`` (checked first: no
        build is attempted for them), when the kernels are off, or when the library has no function of that name
        for ``dtype``. The caller then runs torch operators.

    Raises:
        ValueError: a ``name`` the library does not define.

    Example:
        >>> fn = kernel("lstm_backward", torch.float64, torch.zeros(2, 3, dtype=torch.float64))
        >>> fn is None or fn.restype is None
        True
        >>> kernel("lstm_backward", torch.float64, torch.zeros(3, 2, dtype=torch.float64).T) is None
        True
    """
    if name not in NAMES:
        raise ValueError(f"expected a kernel name among {sorted(NAMES)}, got {name!r}")
    if not _usable(*tensors) or not all(t is None or t.dtype == dtype for t in tensors):
        return None
    lib = _library()
    return None if lib is None else lib.functions.get((name, dtype))


def _usable(*tensors: Tensor | None) -> bool:
    for t in tensors:  # a plain loop: this runs twice per step, a generator costs several µs more
        if t is not None and not (t.is_contiguous() and not t.is_cuda and t.device.type == "cpu"):
            return False
    return True


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


# Note [Kernel cost]
# A dispatch mode cannot see a ctypes call, so each kernel call reports its work to the active operator
# counters (urnn_zoo.opcount.record_external, Note [What is counted as an operator] there). The counts are read
# off the loops of SOURCE, per complex element (B·N of them), in real operations (one per add, multiply,
# division, comparison or square root; the loops work on real and imaginary parts, so no x4 rule applies),
# and bytes of the distinct elements read plus written, in the tensors' real precision:
#   forward: m = √(x² + y² + ε) 5, inv = 1/(m + ε) 2, m + b 1, the test q > −b·|b| 2 (a multiply and the
#     comparison; sign and absolute value are not counted), s = k·(m + b) 1, h = z·s 2: 13 FLOPs; reads z
#     (2 reals an element) and b (N reals), writes h (2) and the emitted row [Re h; Im h] (2) when given;
#   backward: s and k recomputed as in the forward 11, c = k·(ε − b)·inv/m 3, ḡ = g + rows 2 (when rows are
#     given), r = Re(z̄ ḡ) 3, acc += r·k 2, t = c·r 1, gz = s·ḡ + z·t 6: 26 FLOPs, 28 with rows; reads g and z
#     (2 each), rows (2) when given, acc (1), b and ε − b (N reals each), writes gz (2) and acc (1).


def modrelu_cost(direction: str, batch: int, n: int, dtype: torch.dtype, *, emit: bool = False,
                 rows: bool = False) -> tuple[int, int]:
    r"""FLOPs and bytes moved by one kernel call on a (batch, n) complex step (Note [Kernel cost]).

    Args:
        direction: ``"forward"`` (:func:`modrelu_forward`) or ``"backward"`` (:func:`modrelu_backward`).
        batch, n: B and N. dtype: the complex dtype of z (complex64 or complex128).
        emit: the forward writes the emitted row.
        rows: the backward adds the emitted output's gradient rows.

    Returns:
        ``(flops, bytes)`` of the call.

    Raises:
        ValueError: an unknown ``direction`` or a dtype the kernels do not take.

    Example:
        >>> modrelu_cost("forward", 32, 512, torch.complex64, emit=True)  # 13·B·N, 4·(6·B·N + N)
        (212992, 395264)
    """
    if direction not in ("forward", "backward") or dtype not in _SUFFIX:
        raise ValueError(f"expected direction 'forward' or 'backward' and dtype complex64 or complex128, got "
                         f"{direction!r} and {dtype}")
    size = batch * n
    real = torch.finfo(dtype).bits // 8
    if direction == "forward":
        return size * 13, real * (size * (4 + 2 * emit) + n)
    return size * (26 + 2 * rows), real * (size * (8 + 2 * rows) + 2 * n)


def modrelu_forward(z: Tensor, bias: Tensor, eps: float, h: Tensor, out: Tensor | None) -> bool:
    r"""One step of complex modReLU in one pass: h = modReLU(z) and the emitted row [Re h; Im h].

    Args:
        z: (B, N) complex pre-activations.
        bias: (N,) real b.
        eps: ε.
        h: (B, N) complex destination.
        out: (B, 2N) real destination of [Re h; Im h], or None.

    Returns:
        True when done; False when the kernels cannot run here (nothing is written; use torch operators).

    Example:
        >>> z, h = torch.tensor([[3 + 4j]]), torch.empty(1, 1, dtype=torch.complex64)
        >>> done = modrelu_forward(z, torch.zeros(1), 1e-5, h, None)
        >>> (not done) or torch.allclose(h, z, atol=1e-4)
        True
    """
    lib = _library()
    if lib is None or z.dtype not in _SUFFIX or not _usable(z, bias, h, out):
        return False
    lib.functions["modrelu_forward", z.dtype](z.data_ptr(), bias.data_ptr(), eps, z.shape[0], z.shape[1],
                                              h.data_ptr(), _ptr(out))
    if counting():  # Note [Kernel cost]
        record_external("urnn_zoo.kernels.modrelu_forward", *modrelu_cost(
            "forward", z.shape[0], z.shape[1], z.dtype, emit=out is not None))
    return True


def modrelu_backward(g: Tensor, rows: Tensor | None, z: Tensor, bias: Tensor, eps_minus_bias: Tensor, eps: float,
                     gz: Tensor, acc: Tensor) -> bool:
    r"""The backward of one step in one pass: s, k, c recomputed from z as the forward computes them, then with
    ḡ = g (+ rows as complex), gz = s·ḡ + c·z·Re(z̄ ḡ) and acc += Re(z̄ ḡ)·k.

    Args:
        g: (B, N) complex gradient at h; rows: (B, 2N) real [Re; Im] gradient of the emitted output to add, or
            None; z: (B, N) complex pre-activations.
        bias, eps_minus_bias: (N,) real b and ε − b. eps: ε.
        gz: (B, N) complex destination; acc: (B, N) real accumulator of the bias gradient.

    Returns:
        True when done; False when the kernels cannot run here (nothing is written).
    """
    lib = _library()
    if lib is None or z.dtype not in _SUFFIX or not _usable(g, rows, z, bias, eps_minus_bias, gz, acc):
        return False
    lib.functions["modrelu_backward", z.dtype](g.data_ptr(), _ptr(rows), z.data_ptr(), bias.data_ptr(),
                                               eps_minus_bias.data_ptr(), eps, z.shape[0], z.shape[1],
                                               gz.data_ptr(), acc.data_ptr())
    if counting():  # Note [Kernel cost]
        record_external("urnn_zoo.kernels.modrelu_backward", *modrelu_cost(
            "backward", z.shape[0], z.shape[1], z.dtype, rows=rows is not None))
    return True
