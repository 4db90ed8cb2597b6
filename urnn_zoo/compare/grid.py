r"""The grid of training runs of a comparison: which runs (:func:`build_grid`, each named as ``urnn-zoo train``
names it, :func:`urnn_zoo.runs.run_name`) and the hidden size that meets a parameter budget
(:func:`fit_hidden`). :mod:`.execute` runs them.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from .presets import Preset

__all__ = ["RunSpec", "build_grid", "cost", "fit_hidden", "parameter_total"]


@dataclass
class RunSpec:
    r"""One training run of a comparison and the arms it belongs to.

    Attributes:
        name: the run folder's name. cell, task, task_options, hidden, seed, steps: as in
            :func:`urnn_zoo.train`. train: its other keyword arguments. cell_options: cell options.
        arms: ``[{"name": "N=64"}, {"name": "budget 6.5K", "budget": 6500}]``: the comparison arms.
    """

    name: str
    cell: str
    task: str
    task_options: dict[str, Any]
    hidden: int
    seed: int
    steps: int
    train: dict[str, Any] = field(default_factory=dict)
    cell_options: dict[str, Any] = field(default_factory=dict)
    arms: list[dict[str, Any]] = field(default_factory=list)


def parameter_total(cell: str, hidden: int, input_size: int, output_size: int,
                    options: dict[str, Any] | None = None) -> int | None:
    r"""Total stored parameters of ``SequenceModel(cell)`` at ``hidden`` with the cell ``options`` (default:
    none given); ``None`` if the cell rejects that size with them
    (:meth:`~urnn_zoo.cells.base.RecurrentCell.check_size`, asked before building)."""
    return _parameter_total(cell, hidden, input_size, output_size, json.dumps(options or {}, sort_keys=True))


@functools.lru_cache(maxsize=4096)  # keyed by the options' JSON text: a dict (or a list in it) is not hashable
def _parameter_total(cell: str, hidden: int, input_size: int, output_size: int, options_json: str) -> int | None:
    import torch

    from urnn_zoo.cells.base import SequenceModel, cell_class, make_cell

    options = json.loads(options_json)
    if not cell_class(cell).admits(hidden, **options):
        return None
    try:
        model = SequenceModel(make_cell(cell, input_size, hidden, device="meta", **options), output_size)
    except (RuntimeError, NotImplementedError):  # an init that cannot run on the meta device
        with torch.random.fork_rng():
            model = SequenceModel(make_cell(cell, input_size, hidden, **options), output_size)
    return int(model.parameter_count().stored)


def fit_hidden(count: Callable[[int], int | None], budget: int, step: int = 8, limit: int = 8192) -> int:
    r"""The hidden size, a multiple of ``step``, whose parameter total is largest without exceeding ``budget``.

    Doubling from ``step`` brackets the budget (powers of two are accepted by every family), then a bisection
    over the multiples of ``step`` inside the bracket narrows it; a size the cell rejects (``count`` gives
    ``None``) is stepped over. When even ``step`` exceeds the budget, ``step`` is returned.

    Args:
        count: N -> total stored parameters (``None``: the cell rejects N).
        budget: the total to meet.

    Example:
        >>> fit_hidden(lambda n: n * n + 10 * n, 1000)
        24
    """
    lo, hi = None, None
    n = step
    while n <= limit:
        c = count(n)
        if c is not None and c > budget:
            hi = n
            break
        if c is not None:
            lo = n
        n *= 2
    if lo is None:
        return step
    hi = hi or limit
    a, b = lo // step, hi // step  # count(a*step) <= budget < count(b*step)
    while b - a > 1:
        mid = (a + b) // 2
        probe = next((m for m in range(mid, b) if count(m * step) is not None), None)
        if probe is None:
            b = mid
        elif count(probe * step) <= budget:
            a = probe
        else:
            b = probe
    return a * step


def _budget_label(budget: int) -> str:
    return f"budget {budget / 1000:g}K" if budget >= 1000 else f"budget {budget}"


def build_grid(plan: Preset, cells: list[str], tasks: list[str] | None = None,
               seeds: list[int] | None = None) -> list[RunSpec]:
    r"""Every run of a preset for the given cells (and tasks, seeds), one per distinct run folder.

    A run that two arms share (the equal-budget N happens to be the equal-N one) is listed once, with both
    arms.
    """
    from urnn_zoo.runs import run_name
    from urnn_zoo.tasks.base import make_task

    specs: dict[str, RunSpec] = {}
    for tp in plan.tasks:
        if tasks and tp.task not in tasks:
            continue
        task = make_task(tp.task, **tp.options)
        sizes = None
        for cell in cells:
            if tp.cells and cell not in tp.cells:
                continue
            own = tp.settings_of(cell)
            arms: list[tuple[int, dict[str, Any]]] = [(n, {"name": f"N={n}"}) for n in tp.hidden]
            paper_n = own.paper_hidden or (tp.hidden[0] if tp.hidden else None)
            if tp.paper_sizes and paper_n is not None:
                arms.append((paper_n, {"name": "paper sizes"}))
            if tp.budgets:
                sizes = sizes or (task.input_size, task.output_size)
                for budget in tp.budgets:
                    n = fit_hidden(lambda h: parameter_total(cell, h, *sizes, own.options), budget)
                    arms.append((n, {"name": _budget_label(budget), "budget": budget}))
            for seed in (seeds or plan.seeds):
                for hidden, arm in arms:
                    name = run_name(cell, task, hidden, seed, own.options)
                    if name not in specs:
                        steps = own.paper_steps if tp.paper_sizes and own.paper_steps and hidden == paper_n \
                            and hidden not in tp.hidden else own.steps or tp.steps
                        specs[name] = RunSpec(name, cell, tp.task, dict(tp.options), hidden, seed, steps,
                                              {**tp.train, **own.train}, dict(own.options))
                    specs[name].arms.append(arm)
    return list(specs.values())


def cost(spec: RunSpec | dict[str, Any]) -> float:
    r"""A run's relative cost (steps x sequence length x N), which orders the grid (longest first) and weighs
    the progress estimate."""
    get = spec.get if isinstance(spec, dict) else lambda key: getattr(spec, key)
    options = get("task_options") or {}
    length = options.get("T", options.get("window", 64)) or 64
    return float(max(get("steps"), 1) * length * get("hidden"))
