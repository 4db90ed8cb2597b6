r"""The grid of training runs of a comparison: which runs (:func:`build_grid`), the hidden size that meets a
parameter budget (:func:`fit_hidden`), and running them, resumably and in parallel (:func:`run_grid`).

Note [Resuming a grid]
    A run's folder is named as ``urnn-zoo train`` names it (:func:`urnn_zoo.training.run_name`), under the
    comparison's output folder. Before running, its state decides: a ``summary.json`` with a terminal status
    (finished, early-stopped, stopped by a non-finite value) and all its steps is reused as it is; a folder
    with a checkpoint (interrupted, or finished with fewer steps than asked) is resumed from it, which
    gives the numbers an uninterrupted run would have given (the training module's exact resume); a folder
    without a checkpoint is started over. A run whose training raises is recorded as failed, with its error,
    and the grid goes on.
"""
from __future__ import annotations

import concurrent.futures as cf
import functools
import json
import multiprocessing
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .presets import Preset

__all__ = ["RunSpec", "build_grid", "fit_hidden", "parameter_total", "run_grid", "run_one"]

TERMINAL = ("finished", "early-stopped", "stopped: non-finite loss", "stopped: non-finite gradient")


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


@functools.lru_cache(maxsize=4096)
def parameter_total(cell: str, hidden: int, input_size: int, output_size: int) -> int | None:
    r"""Total stored parameters of ``SequenceModel(cell)`` at ``hidden``; ``None`` if the cell rejects it."""
    import torch

    from urnn_zoo.cells.base import SequenceModel, make_cell

    try:
        model = SequenceModel(make_cell(cell, input_size, hidden, device="meta"), output_size)
    except (RuntimeError, NotImplementedError):  # an init that cannot run on the meta device
        try:
            with torch.random.fork_rng():
                model = SequenceModel(make_cell(cell, input_size, hidden), output_size)
        except ValueError:
            return None
    except ValueError:
        return None
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
    from urnn_zoo.tasks.base import make_task
    from urnn_zoo.training import run_name

    specs: dict[str, RunSpec] = {}
    for tp in plan.tasks:
        if tasks and tp.task not in tasks:
            continue
        task = make_task(tp.task, **tp.options)
        sizes = None
        for cell in cells:
            arms: list[tuple[int, dict[str, Any]]] = [(n, {"name": f"N={n}"}) for n in tp.hidden]
            if tp.budgets:
                sizes = sizes or (task.input_size, task.output_size)
                for budget in tp.budgets:
                    n = fit_hidden(lambda h: parameter_total(cell, h, *sizes), budget)
                    arms.append((n, {"name": _budget_label(budget), "budget": budget}))
            for seed in (seeds or plan.seeds):
                for hidden, arm in arms:
                    name = run_name(cell, task, hidden, seed)
                    if name not in specs:
                        specs[name] = RunSpec(name, cell, tp.task, dict(tp.options), hidden, seed, tp.steps,
                                              dict(tp.train))
                    specs[name].arms.append(arm)
    return list(specs.values())


def _cost(spec: RunSpec) -> float:
    length = spec.task_options.get("T", spec.task_options.get("window", 64)) or 64
    return spec.steps * length * spec.hidden


def run_one(spec: dict[str, Any], out: str, device: str, threads: int | None = None,
            force: bool = False) -> dict[str, Any]:
    r"""Train (or reuse, or resume) one run of a grid (Note [Resuming a grid]); never raises.

    Returns:
        ``{"run", "status", "error", "seconds", "cpu_seconds", "action"}``: wall and CPU seconds of this call
        (CPU: every thread of the process); ``action`` is ``reused``, ``resumed``, ``trained`` or ``failed``.
    """
    if threads:
        import torch

        torch.set_num_threads(threads)
    from urnn_zoo.training import train

    folder = Path(out) / spec["name"]
    start, cpu = time.perf_counter(), time.process_time()
    action, resume, restart = "trained", False, force
    summary_file = folder / "summary.json"
    try:
        if not force and summary_file.is_file():
            summary = json.loads(summary_file.read_text())
            done = summary.get("status") in TERMINAL and (summary.get("steps_done") or 0) >= spec["steps"]
            if done or str(summary.get("status", "")).startswith("stopped"):
                return {"run": spec["name"], "status": summary["status"], "error": None, "seconds": 0.0,
                        "cpu_seconds": 0.0, "action": "reused"}
        if not force and (folder / "checkpoint.pt").is_file() and (folder / "config.json").is_file():
            action, resume = "resumed", True
        elif folder.is_dir() and any(folder.iterdir()):
            restart = True
        result = train(spec["cell"], spec["task"], out=out, name=spec["name"], hidden=spec["hidden"],
                       steps=spec["steps"], seed=spec["seed"], cell_options=spec["cell_options"] or None,
                       task_options=spec["task_options"], device=device, force=restart, resume=resume,
                       progress="none", **spec["train"])
        status, error = result.summary["status"], None
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a run that fails is a result: record it, go on with the grid
        status, action = "failed", "failed"
        where = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
    return {"run": spec["name"], "status": status, "error": error, "seconds": round(time.perf_counter() - start, 3),
            "cpu_seconds": round(time.process_time() - cpu, 3), "action": action}


def run_grid(specs: list[RunSpec], out: str | os.PathLike[str], *, jobs: int = 1, device: str = "cpu",
             force: bool = False, on_done: Callable[[RunSpec, dict[str, Any]], None] | None = None) -> list[dict]:
    r"""Run every spec (resumably, Note [Resuming a grid]); ``jobs > 1`` runs them in that many processes.

    Each worker process gets ``cores // jobs`` torch threads (at least one). Longer runs start first.

    Args:
        specs: the runs. out: their parent folder. jobs: parallel processes. device: training device.
        force: retrain every run from scratch.
        on_done: called in this process after each run with its spec and outcome (the manifest writer).

    Returns:
        The outcomes, in the order of ``specs``.
    """
    out = str(out)
    Path(out).mkdir(parents=True, exist_ok=True)
    order = sorted(range(len(specs)), key=lambda i: -_cost(specs[i]))
    outcomes: dict[int, dict[str, Any]] = {}
    if jobs <= 1 or len(specs) <= 1:
        for i in order:
            outcomes[i] = run_one(asdict(specs[i]), out, device, None, force)
            if on_done:
                on_done(specs[i], outcomes[i])
        return [outcomes[i] for i in range(len(specs))]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # no fork after torch's thread pools exist
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {pool.submit(run_one, asdict(specs[i]), out, device, threads, force): i for i in order}
        for future in cf.as_completed(futures):
            i = futures[future]
            try:
                outcomes[i] = future.result()
            except Exception as exc:  # the worker process itself died
                outcomes[i] = {"run": specs[i].name, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                               "seconds": None, "cpu_seconds": None, "action": "failed"}
            if on_done:
                on_done(specs[i], outcomes[i])
    return [outcomes[i] for i in range(len(specs))]
