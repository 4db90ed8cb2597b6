r"""urnn_zoo.kernels: the one-pass C modReLU step equals the torch-operator step, and falls back cleanly."""
from __future__ import annotations

import os
import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo import kernels
from urnn_zoo.step_activations import _ComplexModReLU

COMPILER = shutil.which(os.environ.get("CC", "cc"))
needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no C compiler on this machine")
TOLERANCE = {torch.complex128: 1e-12, torch.complex64: 1e-5}


def _step(z, bias, g, eps, use_kernels):
    r"""Forward (h, [Re h; Im h], s, k, c) and backward (ġ, bias rows) of one step, with or without the kernels."""
    with pytest.MonkeyPatch.context() as m:
        if not use_kernels:
            m.setattr(kernels, "_library", lambda: None)
        act = _ComplexModReLU(bias, eps)
        real = bias.dtype
        h, emit = torch.empty_like(z), torch.empty(z.shape[0], 2 * z.shape[1], dtype=real)
        saved = tuple(torch.empty(z.shape, dtype=real) for _ in range(3))
        act.forward(z, saved, h, emit)
        gz, gz_rows = torch.empty_like(z), torch.empty_like(z)
        act.backward_step(g, z, h, saved, gz)
        rows = torch.arange(2 * z.numel(), dtype=real).reshape(z.shape[0], -1).sin()  # the emitted output's gradient
        act.backward_step(g, z, h, saved, gz_rows, rows)  # twice: the bias rows accumulate
        return (h, emit, *saved, gz, gz_rows, act.bias_grad_rows)


@needs_compiler
def test_kernels_build_with_the_system_compiler():
    assert kernels.available()


@needs_compiler
@settings(max_examples=30)
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
    for name, a, b in zip(("h", "emit", "s", "k", "c", "gz", "gz with rows", "bias rows"), fast, slow):
        scale = max(b.abs().max().item(), 1.0)
        assert (a - b).abs().max().item() <= TOLERANCE[dtype] * scale, name


@needs_compiler
def test_kernels_refuse_what_they_cannot_run():
    z = torch.randn(4, 6, dtype=torch.complex64)
    bias, emb, h = torch.zeros(6), torch.full((6,), 1e-5), torch.empty(4, 6, dtype=torch.complex64)
    assert kernels.modrelu_forward(z, bias, emb, 1e-5, h, None, ())
    strided = torch.randn(6, 4, dtype=torch.complex64).T  # not contiguous: the caller uses torch operators
    assert not kernels.modrelu_forward(strided, bias, emb, 1e-5, h, None, ())
    real = torch.randn(4, 6)
    assert not kernels.modrelu_forward(real, bias, emb, 1e-5, torch.empty(4, 6), None, ())


def test_disabled_or_unbuildable_kernels_fall_back(monkeypatch, tmp_path):
    monkeypatch.setenv("URNN_ZOO_CACHE", str(tmp_path))
    monkeypatch.setattr(kernels.tempfile, "gettempdir", lambda: str(tmp_path))
    try:
        kernels._library.cache_clear()
        monkeypatch.setenv(kernels.DISABLE_ENV, "0")
        assert not kernels.available()
        kernels._library.cache_clear()
        monkeypatch.delenv(kernels.DISABLE_ENV)
        monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
        assert not kernels.available()
        # The cells still run, through torch operators, with the same numbers as the per-step loop.
        cell = uz.make_cell("kru", 3, 8, factors=[2, 4], dtype=torch.float64)
        x = torch.randn(4, 2, 3, dtype=torch.float64)
        out_fused, _ = cell(x)
        cell.fused = False
        out_loop, _ = cell(x)
        torch.testing.assert_close(out_fused, out_loop, rtol=1e-12, atol=1e-12)
    finally:
        kernels._library.cache_clear()
