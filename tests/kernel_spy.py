r"""Which of urnn_zoo's C kernels a block of test code calls, and running a block with them or without them
(urnn_zoo.engine.kernels), for the kernel test files."""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from unittest import mock

from urnn_zoo.engine import kernels


@contextlib.contextmanager
def kernels_used() -> Iterator[set[str]]:
    r"""The names of the C functions called while the block runs (handed out by urnn_zoo.engine.kernels.kernel)."""
    used, real = set(), kernels.kernel

    def spy(name, *args):
        fn = real(name, *args)
        if fn is None:
            return None

        def called(*arguments):
            used.add(name)
            return fn(*arguments)

        return called

    with mock.patch.object(kernels, "kernel", spy):
        yield used


@contextlib.contextmanager
def kernel_path(use: bool, expect: Iterable[str]) -> Iterator[None]:
    r"""Run with the C kernels (asserting that the ``expect`` ones ran, so that a test cannot pass by comparing
    the torch path with itself) or with them switched off as tests/test_kernels.py switches them off."""
    if not use:
        with mock.patch.object(kernels, "_library", lambda: None):
            yield
        return
    assert kernels.available()
    with kernels_used() as used:
        yield
    assert set(expect) <= used, used
