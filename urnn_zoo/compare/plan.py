r"""The plan of a comparison: a :class:`Preset` of :class:`TaskPlan` s, with each cell's own :class:`CellSettings`
(the presets themselves are in :mod:`urnn_zoo.compare.presets`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CellSettings", "Preset", "TaskPlan"]


@dataclass(frozen=True)
class CellSettings:
    r"""One cell's own settings in a task plan, where the plan's common ones are not what reproduces the paper.

    Attributes:
        options: cell options (``--cell-option``); they also name the run folder.
        train: keyword arguments of :func:`urnn_zoo.train` that replace the plan's for this cell.
        paper_hidden: N of the plan's "paper sizes" arm (``None``: the plan's first equal-N size).
        steps: optimizer steps of this cell's runs when they differ from the plan's (``None``: the plan's
            ``steps``), for a cell whose steps are slower than the hour a run may take allows.
        paper_steps: optimizer steps of the "paper sizes" run when it differs from the equal-N one (``None``:
            the plan's ``steps``), for a size too slow for the hour a run may take.
        why: one sentence: what the original did, or what was measured, that chose these settings.
    """

    options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    paper_hidden: int | None = None
    steps: int | None = None
    paper_steps: int | None = None
    why: str = ""


@dataclass(frozen=True)
class TaskPlan:
    r"""One task of a preset: its options, the training schedule and the comparison arms.

    Attributes:
        task: registry name. options: task options.
        steps: optimizer steps. train: other keyword arguments of :func:`urnn_zoo.train` (batch size,
            evaluation schedule, learning rates, ...).
        hidden: hidden sizes of the equal-hidden-size arm (empty: no such arm).
        budgets: total stored parameter budgets of the equal-budget arm (empty: no such arm).
        cells: the cells this plan compares (empty: every cell asked for).
        settings: per-cell settings (:class:`CellSettings`) for cells that train differently.
        paper_sizes: add the arm "paper sizes": each cell at its ``paper_hidden``.
        claim: the paper claim the plan reproduces (a key of :data:`urnn_zoo.report.claims.CLAIMS`).
    """

    task: str
    options: dict[str, Any]
    steps: int
    train: dict[str, Any] = field(default_factory=dict)
    hidden: tuple[int, ...] = ()
    budgets: tuple[int, ...] = ()
    cells: tuple[str, ...] = ()
    settings: dict[str, CellSettings] = field(default_factory=dict)
    paper_sizes: bool = False
    claim: str = ""

    def settings_of(self, cell: str) -> CellSettings:
        r"""``cell``'s own settings (empty ones when it has none)."""
        return self.settings.get(cell, CellSettings())


@dataclass(frozen=True)
class Preset:
    r"""A named comparison: task plans, seeds and the timing workload.

    Attributes:
        name: ``smoke``, ``quick``, ``reproduce`` or ``paper``.
        tasks: the task plans.
        seeds: seeds of every run.
        timing_hidden: hidden sizes timed for every cell (besides every N the runs use).
        timing_batch, timing_length, timing_input: the timing workload (B, T, n_in; the asv suite's).
        timing_repeats: timed repeats per (cell, N) after the warm-up.
        timing_threads: torch threads while timing (``None``: torch's default, one per core). ``smoke`` and
            ``quick`` time with one thread, as their training runs use it with ``--jobs`` = cores, so that the
            speed of the speed-accuracy figure is the speed the runs had (and so that a busy machine, where
            OpenMP threads wait on each other, does not distort it).
        device: ``"auto"`` (CUDA when present) or a device name.
        description: one line, with the expected wall time on the machine the preset is for (``--help``).
    """

    name: str
    tasks: tuple[TaskPlan, ...]
    seeds: tuple[int, ...]
    timing_hidden: tuple[int, ...]
    timing_batch: int = 32
    timing_length: int = 100
    timing_input: int = 10
    timing_repeats: int = 3
    timing_threads: int | None = 1
    device: str = "cpu"
    description: str = ""
