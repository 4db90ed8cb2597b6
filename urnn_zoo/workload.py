r"""The timing workload: what ``compare``'s timings, the ``limits`` table and the asv benchmarks all time.

One forward+backward of a whole sequence batch: B = :data:`BATCH` sequences of T = :data:`LENGTH` steps with
n_in = :data:`INPUT_SIZE` real inputs (:func:`sequence`, drawn from a generator seeded with :data:`SEED`),
float32, the loss ``out.pow(2).mean()`` (:func:`loss`), gradients cleared before each call
(:func:`forward_backward`). KRU (Jose, Cissé, Fleuret, "Kronecker Recurrent Units", ICML 2018, arXiv
1705.10142) is timed at the factor sizes of :data:`KRU_FACTORS` where
N is in that table (:func:`workload_options`), its default (Cervnet) factors elsewhere; every other cell with
its default options.

This module imports neither torch nor the rest of urnn_zoo at import time (only inside the functions that
need them): the asv suite reads its constants in processes that must start without torch
(``benchmarks/common.py``, Note [Cost of a case]).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from urnn_zoo.cells.base import RecurrentCell

__all__ = ["BATCH", "INPUT_SIZE", "KRU_FACTORS", "LENGTH", "SEED", "build_cell", "forward_backward", "loss",
           "sequence", "synchronize", "workload_options"]

BATCH, LENGTH, INPUT_SIZE = 32, 100, 10
SEED = 0
# KRU's factor sizes per N: two factors as balanced as N allows (the Cervnet rule's default at 1024 is
# [16, 64]); the sizes the CPU performance goals of docs/performance.md were set for.
KRU_FACTORS: dict[int, tuple[int, ...]] = {128: (8, 16), 512: (16, 32), 1024: (32, 32), 2048: (32, 64)}


def workload_options(cell: str, hidden: int) -> dict[str, Any]:
    r"""Cell options of the workload: defaults, except KRU's factors where N is in :data:`KRU_FACTORS`.

    Example:
        >>> workload_options("kru", 1024), workload_options("kru", 64), workload_options("lstm", 1024)
        ({'factors': [32, 32]}, {}, {})
    """
    if cell == "kru" and hidden in KRU_FACTORS:
        return {"factors": list(KRU_FACTORS[hidden])}
    return {}


def sequence(length: int = LENGTH, batch: int = BATCH, input_size: int = INPUT_SIZE, *, seed: int = SEED,
             device: torch.device | str = "cpu") -> torch.Tensor:
    r"""The workload's input: float32 (T, B, n_in) from ``torch.randn`` on a CPU generator seeded with ``seed``,
    then moved to ``device`` (the same numbers on every device).

    Example:
        >>> sequence(3, 2, 4).shape, bool((sequence(3, 2, 4) == sequence(3, 2, 4)).all())
        (torch.Size([3, 2, 4]), True)
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randn(length, batch, input_size, generator=gen, dtype=torch.float32).to(device)


def build_cell(cell: str, hidden: int, *, input_size: int = INPUT_SIZE, options: dict[str, Any] | None = None,
               seed: int = SEED, device: torch.device | str = "cpu") -> RecurrentCell:
    r"""The cell of the workload: float32, ``options`` (default :func:`workload_options`), its init drawn after
    ``torch.manual_seed(seed)`` (torch's global random state is restored afterwards).

    Raises:
        InadmissibleSizeError: the family rejects N with these options (before anything is built).
        ValueError: an unknown cell or option.
    """
    import torch

    from urnn_zoo.cells.base import make_cell

    dev = torch.device(device)
    options = workload_options(cell, hidden) if options is None else dict(options)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        return make_cell(cell, input_size, hidden, dtype=torch.float32, device=dev, **options)


def loss(out: torch.Tensor) -> torch.Tensor:
    r"""The workload's loss of a cell's real outputs (T, B, output_size): ``out.pow(2).mean()``."""
    return out.pow(2).mean()


def forward_backward(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    r"""The timed call as a callable: gradients cleared (set to None), ``module(x)``, :func:`loss` of its
    outputs and its backward.

    ``module`` returns ``(out, state)`` for a time-major ``x`` (a zoo cell, ``nn.RNN``, ``torch_eunn.EURNN``).
    The caller synchronises the device (:func:`synchronize`) around the call it times.
    """

    def run() -> None:
        module.zero_grad(set_to_none=True)
        loss(module(x)[0]).backward()

    return run


def synchronize(device: torch.device | str) -> None:
    r"""Wait for the device's queued work (a no-op on the CPU), so a timed call ends with its kernels."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
