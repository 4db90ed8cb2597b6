r"""The Kronecker apply of KRU, factored against dense, over N and the number of factors.

W = W_0 ⊗ … ⊗ W_{F-1} with complex64 unitary factors whose sizes follow the Cervnet rule
(``urnn_zoo.kron.factor_sizes(N, max_factors)``: ``max_factors = 10`` gives every prime factor, i.e. 2x2
factors for a power of two up to N = 1024), applied T = 100 times in a chain (h ← W h, the linear part of
a sequence) to a batch of B = 32 complex states, so a step costs the result / 100:

- ``time_factored``: ``kron_apply(factors, h)``, one contraction per factor, cost N·Σ P_f per row and step;
- ``time_dense``: ``h @ W.T`` with W formed beforehand, cost N² per row and step;
- ``time_form_dense``: forming W once (``kron_dense``), what the dense strategy pays once per forward.
"""
from __future__ import annotations

import functools

import torch

from urnn_zoo.kron import factor_sizes, kron_apply, kron_dense, random_unitary

from . import common
from .common import BATCH, DEVICES, GRID, SEED, SEQ_LEN, SIZES


@functools.lru_cache(maxsize=None)
def operands(n: int, max_factors: int, device_name: str) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    r"""Seeded factors, their dense product and a complex (B, N) state on the device; cached per process."""
    dev = common.device(device_name)
    gen = torch.Generator().manual_seed(SEED)
    factors = [random_unitary(p, dtype=torch.complex64, generator=gen, device=dev)
               for p in factor_sizes(n, max_factors)]
    h = torch.randn(BATCH, n, dtype=torch.complex64, generator=gen).to(dev)
    return factors, kron_dense(factors), h


class KronApply(common.TimeCase):
    r"""T chained steps h ← W h for Kronecker-factored W, factored and dense, and forming W."""

    params = [SIZES, GRID.kron_factors, DEVICES]
    param_names = ["N", "max_factors", "device"]

    def setup(self, n: int, max_factors: int, device: str) -> None:
        self.device = common.device(device)
        self.factors, self.w, self.h = operands(n, max_factors, device)
        common.warm_up(("kron", n, max_factors, device), self.apply_both, self.device)

    def apply_both(self) -> None:
        self.factored()
        self.dense()
        kron_dense(self.factors)

    def factored(self) -> None:
        h = self.h
        for _ in range(SEQ_LEN):
            h = kron_apply(self.factors, h)

    def dense(self) -> None:
        h = self.h
        for _ in range(SEQ_LEN):
            h = torch.nn.functional.linear(h, self.w)

    def time_factored(self, n: int, max_factors: int, device: str) -> None:
        self.factored()
        common.synchronize(self.device)

    def time_dense(self, n: int, max_factors: int, device: str) -> None:
        self.dense()
        common.synchronize(self.device)

    def time_form_dense(self, n: int, max_factors: int, device: str) -> None:
        kron_dense(self.factors)
        common.synchronize(self.device)
