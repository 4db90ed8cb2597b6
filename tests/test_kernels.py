r"""urnn_zoo.kernels: the one-pass C modReLU step equals the torch-operator step and autograd's, and a cached
build is trusted only when it checks out (Note [Trusting the kernel cache])."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.engine import kernels
from urnn_zoo.activations import EPS_RANGE, modrelu
from urnn_zoo.engine.step_activations import _ComplexModReLU
from hypothesis_profiles import examples

COMPILER = shutil.which(os.environ.get("CC", "cc"))
needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no C compiler on this machine")
TOLERANCE = {torch.complex128: 1e-12, torch.complex64: 1e-5}
EPS_MIN, EPS_MAX = EPS_RANGE
seeds = st.integers(0, 2**31 - 1)
# ε: both ends of the accepted range, the cells' default and EUNN-TF's, and log-uniform draws in between.
eps_values = st.one_of(st.sampled_from([EPS_MIN, EPS_MAX, 1e-5, 1e-2]),
                       st.floats(-12.0, 12.0).map(lambda e: min(max(10.0**e, EPS_MIN), EPS_MAX)))


@contextlib.contextmanager
def _kernels(use: bool):
    r"""The C kernels as they are (``use``), or switched off so that the torch operators run."""
    with pytest.MonkeyPatch.context() as m:
        if not use:
            m.setattr(kernels, "_library", lambda: None)
        yield


def _forward(z, bias, eps):
    r"""The activation of a fused step and its forward: (act, h, [Re h; Im h], its saved buffers (none))."""
    act = _ComplexModReLU(bias, eps)
    real = bias.dtype
    h, emit = torch.empty_like(z), torch.empty(z.shape[0], 2 * z.shape[1], dtype=real)
    saved = tuple(torch.empty(z.shape, dtype=real) for _ in range(act.saved_count))
    act.forward(z, saved, h, emit)
    return act, h, emit, saved


def _step(z, bias, g, eps, use_kernels):
    r"""Forward (h, [Re h; Im h]) and backward (ġ, bias rows) of one step, with or without the kernels."""
    with _kernels(use_kernels):
        act, h, emit, saved = _forward(z, bias, eps)
        real = bias.dtype
        gz, gz_rows = torch.empty_like(z), torch.empty_like(z)
        act.backward_step(g, z, h, saved, gz)
        rows = torch.arange(2 * z.numel(), dtype=real).reshape(z.shape[0], -1).sin()  # the emitted output's gradient
        act.backward_step(g, z, h, saved, gz_rows, rows)  # twice: the bias rows accumulate
        return (h, emit, *saved, gz, gz_rows, act.bias_grad_rows)


@needs_compiler
def test_kernels_build_with_the_system_compiler():
    assert kernels.available()


@needs_compiler
@settings(max_examples=examples(30))
@given(batch=st.integers(1, 5), n=st.integers(1, 40), seed=st.integers(0, 2**31 - 1),
       dtype=st.sampled_from([torch.complex128, torch.complex64]), eps=st.sampled_from([1e-5, 1e-2]))
def test_kernel_step_equals_the_torch_operator_step(batch, n, seed, dtype, eps):
    gen = torch.Generator().manual_seed(seed)
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    z = torch.randn(batch, n, dtype=dtype, generator=gen)
    z[0, 0] = 0  # the smoothed modulus at z = 0
    bias = (torch.rand(n, dtype=real, generator=gen) - 0.5) * 2  # both relu branches
    g = torch.randn(batch, n, dtype=dtype, generator=gen)
    fast = _step(z, bias, g, eps, True)
    slow = _step(z, bias, g, eps, False)
    for name, a, b in zip(("h", "emit", "gz", "gz with rows", "bias rows"), fast, slow, strict=True):
        scale = max(b.abs().max().item(), 1.0)
        assert (a - b).abs().max().item() <= TOLERANCE[dtype] * scale, name


# ----------------------------------------------------------------------------------------------------------
# Every accepted ε, every bias: the C kernel, the torch operators and autograd through `modrelu` agree
# ----------------------------------------------------------------------------------------------------------

def _edge_inputs(seed, batch, n, dtype, eps):
    r"""z with zero entries, and biases per unit drawn among: 0, negative, either sign, large (|b| up to 1e6)
    and the exact kink √(|z|² + ε) + b = 0 of the first row, computed in z's precision as every path computes
    it (x·x + y·y + ε, then the square root)."""
    gen = torch.Generator().manual_seed(seed)
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    z = torch.randn(batch, n, dtype=dtype, generator=gen)
    z[torch.rand(batch, n, generator=gen) < 0.3] = 0
    kinds = torch.randint(0, 5, (n,), generator=gen)
    uniform = torch.rand(n, dtype=real, generator=gen)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).to(real)
    kink = -torch.sqrt(z[0].real * z[0].real + z[0].imag * z[0].imag + eps)
    bias = torch.stack([torch.zeros(n, dtype=real), -2 * uniform, 2 * uniform - 1,
                        sign * 10 ** (3 + 3 * uniform), kink])[kinds, torch.arange(n)]
    g = torch.randn(batch, n, dtype=dtype, generator=gen)
    rows = torch.randn(batch, 2 * n, dtype=real, generator=gen)
    return z, bias, g, rows


def _fused_step(z, bias, g, rows, eps, use_kernels):
    r"""h, ġ and ∂ℓ/∂b of one step of the fused recurrence's activation (C kernel or torch operators)."""
    with _kernels(use_kernels):
        act, h, _, saved = _forward(z, bias, eps)
        gz = act.backward_step(g, z, h, saved, torch.empty_like(z), rows)
        return h, gz, act.bias_grad_rows.sum(0)


def _autograd_step(z, bias, g, rows, eps):
    r"""The same through `activations.modrelu` and autograd (the per-step loop's path): ℓ = ⟨g, h⟩ + ⟨rows,
    [Re h; Im h]⟩ over real pairs, whose gradient in torch's convention is what the fused backward returns."""
    z, bias = z.clone().requires_grad_(), bias.clone().requires_grad_()
    h = modrelu(z, bias, eps)
    emitted = torch.cat([h.real, h.imag], -1)
    loss = (torch.view_as_real(h) * torch.view_as_real(g)).sum() + (emitted * rows).sum()
    gz, gb = torch.autograd.grad(loss, (z, bias))
    return h.detach(), gz, gb


@needs_compiler
@given(seed=seeds, batch=st.integers(1, 4), n=st.integers(1, 24),
       dtype=st.sampled_from([torch.complex128, torch.complex64]), eps=eps_values)
def test_kernel_torch_and_autograd_give_the_same_numbers_for_every_accepted_eps(seed, batch, n, dtype, eps):
    z, bias, g, rows = _edge_inputs(seed, batch, n, dtype, eps)
    paths = {"C kernel": _fused_step(z, bias, g, rows, eps, True),
             "torch operators": _fused_step(z, bias, g, rows, eps, False),
             "autograd": _autograd_step(z, bias, g, rows, eps)}
    reference = paths["autograd"]
    for path, values in paths.items():
        for what, got, want in zip(("h", "dz", "db"), values, reference):
            real = torch.view_as_real(got) if got.is_complex() else got
            assert torch.isfinite(real).all(), f"{path}: {what} is not finite for eps={eps}"
            scale = max(want.abs().max().item(), 1.0)
            error = (got - want).abs().max().item()
            assert error <= TOLERANCE[dtype] * scale, f"{path}: {what} differs from autograd's by {error:.3g}"


@needs_compiler
def test_kernels_refuse_what_they_cannot_run():
    z = torch.randn(4, 6, dtype=torch.complex64)
    bias, h = torch.zeros(6), torch.empty(4, 6, dtype=torch.complex64)
    assert kernels.modrelu_forward(z, bias, 1e-5, h, None)
    strided = torch.randn(6, 4, dtype=torch.complex64).T  # not contiguous: the caller uses torch operators
    assert not kernels.modrelu_forward(strided, bias, 1e-5, h, None)
    real = torch.randn(4, 6)
    assert not kernels.modrelu_forward(real, bias, 1e-5, torch.empty(4, 6), None)


def test_disabled_or_unbuildable_kernels_fall_back(monkeypatch, tmp_path):
    monkeypatch.setenv("URNN_ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "shared-tmp"))
    (tmp_path / "shared-tmp").mkdir()
    monkeypatch.setattr(kernels.tempfile, "tempdir", None)  # re-read TMPDIR
    try:
        kernels._library.cache_clear()
        monkeypatch.setenv(kernels.DISABLE_ENV, "0")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert not kernels.available()  # switched off on purpose: no warning
        assert not [w for w in caught if issubclass(w.category, kernels.KernelWarning)]
        kernels._library.cache_clear()
        monkeypatch.delenv(kernels.DISABLE_ENV)
        monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
        with pytest.warns(kernels.KernelWarning, match=r"kernels are off, torch operators run instead: no C "
                                                       r"compiler '.*no-such-compiler'") as caught:
            assert not kernels.available()
            assert not kernels.available()  # asked again: still one warning
        assert len([w for w in caught if issubclass(w.category, kernels.KernelWarning)]) == 1
        assert list((tmp_path / "shared-tmp").iterdir()) == []  # no build attempt in a shared temporary folder
        # The cells still run, through torch operators, with the same numbers as the per-step loop.
        cell = uz.make_cell("kru", 3, 8, factors=[2, 4], dtype=torch.float64)
        x = torch.randn(4, 2, 3, dtype=torch.float64)
        out_fused, _ = cell(x)
        cell.fused = False
        out_loop, _ = cell(x)
        torch.testing.assert_close(out_fused, out_loop, rtol=1e-12, atol=1e-12)
        # So does KRU-LSTM's fused LSTM, whose gate step is the library's other kernel (urnn_zoo.engine.lstm_kernel).
        lstm = uz.make_cell("kru_lstm", 3, 8, factors=[2, 4], strategy="factored", dtype=torch.float64)

        def lstm_run(fused):
            lstm.fused = fused
            xx = x.clone().requires_grad_()
            out = lstm(xx)[0]
            return [out.detach(), *torch.autograd.grad(out.sum(), [xx, *lstm.parameters()])]

        for a, b in zip(lstm_run(True), lstm_run(False), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    finally:
        kernels._library.cache_clear()


# ----------------------------------------------------------------------------------------------------------
# Damaged caches (Note [Trusting the kernel cache]), in a child process: loading a truncated library kills the
# process with SIGBUS, which must fail these tests, not end pytest.
# ----------------------------------------------------------------------------------------------------------

CHILD = r"""
import json, os, sys, warnings
import torch
import urnn_zoo as uz
from urnn_zoo.engine import kernels

def run(cell, x):
    cell.zero_grad()
    out, _ = cell(x)
    out.pow(2).sum().backward()
    return [out.detach()] + [p.grad.clone() for p in cell.parameters()]

results = {}
for name, cache, compiler in json.loads(sys.argv[1]):
    os.environ["URNN_ZOO_CACHE"], os.environ["CC"] = cache, compiler
    kernels._library.cache_clear()
    torch.manual_seed(0)
    cell = uz.make_cell("kru", 3, 8, dtype=torch.float64)
    with torch.no_grad():
        cell.act.bias.uniform_(-0.5, 0.5)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = run(cell, x)
        got = run(cell, x)  # a second forward: still one warning
        available = kernels.available()
    cell.fused = False  # the per-step autograd loop, the reference
    want = run(cell, x)
    error = max(((a - b).abs().max() / b.abs().max().clamp_min(1)).item() for a, b in zip(got, want))
    messages = [str(w.message) for w in caught if issubclass(w.category, kernels.KernelWarning)]
    results[name] = {"warnings": messages, "available": available, "error": error}
    print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
print(json.dumps(results))
"""

WRONG_SYMBOL_SOURCE = "void modrelu_forward_f32_renamed(void) {}\n"


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _truncate(lib, digest):
    lib.write_bytes(lib.read_bytes()[:4000])  # `head -c 4000` of it, over itself


def _garbage(lib, digest):
    lib.write_bytes(random.Random(0).randbytes(len(lib.read_bytes())))


def _wrong_symbol(lib, digest):
    # A loadable library whose SHA-256 beside it is right, but without the kernels' functions.
    src = lib.with_name("other.c")
    src.write_text(WRONG_SYMBOL_SOURCE)
    subprocess.run([COMPILER, "-shared", "-fPIC", str(src), "-o", str(lib)], check=True)
    src.unlink()
    digest.write_text(_sha256(lib) + "\n")


def _wrong_hash(lib, digest):
    digest.write_text(hashlib.sha256(b"another library").hexdigest() + "\n")


def _no_hash(lib, digest):
    digest.unlink()


def _world_writable(lib, digest):
    lib.parent.chmod(0o777)


def _foreign_owner(lib, digest):
    os.chown(lib.parent, 4242, -1)  # root may chown; anyone else cannot hand a folder away (skipped then)


# name: (damage, compiler is missing, the cache folder is a regular file, expected outcome, warning pattern)
SCENARIOS = {
    "valid": (None, False, False, "kept", None),
    "truncated": (_truncate, False, False, "rebuilt", r"does not match the SHA-256 beside it .*; rebuilt it"),
    "garbage": (_garbage, False, False, "rebuilt", r"does not match the SHA-256 beside it .*; rebuilt it"),
    "wrong-symbol": (_wrong_symbol, False, False, "rebuilt", r"lacks a kernel .*modrelu_forward_f32.*; rebuilt it"),
    "wrong-hash": (_wrong_hash, False, False, "rebuilt", r"does not match the SHA-256 beside it .*; rebuilt it"),
    "no-hash": (_no_hash, False, False, "rebuilt", r"has no \.sha256 file beside it; rebuilt it"),
    "truncated-no-compiler": (_truncate, True, False, "off",
                              r"kernels are off.*does not match the SHA-256 beside it.*, and rebuilding it failed: "
                              r"no C compiler"),
    "world-writable-folder": (_world_writable, False, False, "off",
                              r"kernels are off.*is writable by group or others \(mode 0o777\)"),
    "foreign-owner-folder": (_foreign_owner, False, False, "off",
                             r"kernels are off.*belongs to uid 4242, not to this user"),
    "cache-is-a-file": (None, False, True, "off", r"kernels are off.*cannot create or read the cache folder"),
}


@pytest.fixture(scope="module")
def damaged_caches(tmp_path_factory):
    r"""Each scenario's cache folder (a copy of one good build, then damaged), run in one child process."""
    if COMPILER is None:
        pytest.skip("no C compiler on this machine")
    root = tmp_path_factory.mktemp("kernel-caches")
    good = kernels._library_path(root / "good", COMPILER)
    good.parent.mkdir()
    kernels._build(COMPILER, good)
    jobs, files = [], {}
    for name, (damage, no_compiler, cache_is_file, _, _) in SCENARIOS.items():
        cache = root / name
        compiler = str(root / "no-such-compiler") if no_compiler else COMPILER
        if cache_is_file:
            cache.write_text("not a folder")
        else:
            (cache / "kernels").mkdir(parents=True, mode=0o700)
            lib = kernels._library_path(cache / "kernels", compiler)  # where this compiler's build is looked for
            digest = lib.with_name(lib.name + kernels.DIGEST_SUFFIX)
            shutil.copyfile(good, lib)
            shutil.copyfile(good.with_name(good.name + kernels.DIGEST_SUFFIX), digest)
            if damage is _foreign_owner and os.geteuid() != 0:
                continue
            if damage is not None:
                damage(lib, digest)
            files[name] = (lib, digest, os.stat(lib).st_ino, lib.read_bytes())
        jobs.append((name, str(cache), compiler))
    shared_tmp = root / "shared-tmp"
    shared_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(shared_tmp)}
    env.pop(kernels.DISABLE_ENV, None)
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(jobs)], capture_output=True, text=True,
                          env=env, timeout=300)
    return done, files, shared_tmp


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_damaged_or_unsafe_cache_gives_one_warning_and_correct_numbers(damaged_caches, scenario):
    done, files, shared_tmp = damaged_caches
    damage, _, _, outcome, pattern = SCENARIOS[scenario]
    if damage is _foreign_owner and scenario not in files:
        pytest.skip("only root can give a folder to another uid")
    died = f"signal {signal.Signals(-done.returncode).name}" if done.returncode < 0 else f"status {done.returncode}"
    assert done.returncode == 0, f"the child process died ({died}):\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])[scenario]
    assert result["error"] <= 1e-12, result
    if outcome == "kept":
        assert result["warnings"] == [] and result["available"]
    else:
        assert len(result["warnings"]) == 1, result["warnings"]
        assert re.search(pattern, result["warnings"][0]), result["warnings"][0]
        assert result["available"] == (outcome == "rebuilt")
    assert not list(shared_tmp.glob("**/*.so")), "a library was built in the shared temporary folder"
    if scenario not in files:
        return
    lib, digest, inode, damaged_bytes = files[scenario]
    if outcome == "rebuilt":  # valid now, and a new file moved into place, not the damaged one written over
        assert digest.read_text().strip() == _sha256(lib)
        assert os.stat(lib).st_ino != inode
    elif outcome == "kept":
        assert os.stat(lib).st_ino == inode and lib.read_bytes() == damaged_bytes
    else:  # nothing in an unsafe folder was touched
        assert lib.read_bytes() == damaged_bytes
