r"""What the checks of :mod:`urnn_zoo.testing.checks` run a cell on: the input size, the seeds, the hidden size
common to the cells checked, a cell built from a seed, an input sequence, and optimizer steps that move its W.
"""
from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.activations import ModReLU
from urnn_zoo.cells.registry import cell_class

__all__ = ["INPUT_SIZE", "SEEDS", "adam_steps", "build_cell", "contract_size", "input_sequence", "uses_modrelu"]

INPUT_SIZE = 3
SEEDS = st.integers(0, 2**31 - 1)


def contract_size(names: tuple[str, ...] | list[str]) -> int:
    r"""The smallest N in [8, 64] that every cell of ``names`` admits with its default options.

    Raises:
        ValueError: none (give ``hidden=`` to :func:`urnn_zoo.testing.contract_tests`).
    """
    for n in range(8, 65):
        if all(cell_class(name).admits(n) for name in names):
            return n
    raise ValueError(f"cells {list(names)}: expected a hidden size in [8, 64] that all admit, got none; give hidden=")


def build_cell(name: str, hidden: int, dtype: torch.dtype = torch.float64, seed: int = 0, **options: Any):
    r"""The cell ``name`` with input size :data:`INPUT_SIZE` and hidden size ``hidden``, its parameters drawn
    after ``torch.manual_seed(seed)`` (the same cell for the same seed); errors of :func:`urnn_zoo.make_cell`."""
    torch.manual_seed(seed)
    return uz.make_cell(name, INPUT_SIZE, hidden, dtype=dtype, **options)


def input_sequence(seed: int, T: int = 5, B: int = 3, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    r"""A standard normal (T, B, :data:`INPUT_SIZE`) input sequence of precision ``dtype``, from its own generator
    seeded with ``seed`` (torch's global generator is left alone)."""
    return torch.randn(T, B, INPUT_SIZE, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def adam_steps(cell: Any, steps: int, seed: int, lr: float = 0.05) -> torch.Tensor:
    r"""``steps`` Adam steps (Kingma & Ba, ICLR 2015, arXiv 1412.6980) of the whole cell on one fixed regression
    (the mean squared error of its outputs against a random target), each followed by ``on_optimizer_step()`` as
    :func:`urnn_zoo.train` calls it; the default learning rate moves W far from its initial value in a few steps.

    Args:
        cell: a built cell (its ``input_size``, ``output_size``, precision and device are read).
        steps: the number of optimizer steps (0: none).
        seed: the seed of the inputs and the target (a CPU generator: the same numbers on every device).
        lr: Adam's learning rate.

    Returns:
        The (6, 4, input_size) inputs of the regression, in the cell's precision and on its device.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 4, cell.input_size, generator=g, dtype=cell.real_dtype).to(cell.device)
    target = torch.randn(6, 4, cell.output_size, generator=g, dtype=cell.real_dtype).to(cell.device)
    opt = torch.optim.Adam(cell.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        (cell(x)[0] - target).pow(2).mean().backward()
        opt.step()
        cell.on_optimizer_step()
    return x


def uses_modrelu(name: str, hidden: int) -> bool:
    r"""Whether the cell ``name`` applies modReLU (the probe of
    :func:`~urnn_zoo.testing.checks.check_recurrent_matrix_is_applied` needs it)."""
    return any(isinstance(m, ModReLU) for m in build_cell(name, hidden, torch.float32).modules())
