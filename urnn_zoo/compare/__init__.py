r"""``urnn-zoo compare``: every cell on a preset's tasks (equal hidden size and equal parameter budget, over
seeds), resumable and in parallel, and every cell timed (DESIGN §6).

The output folder holds the run folders (as ``urnn-zoo train`` writes them), ``timings.csv`` (tidy, one row
per timed repeat) and ``compare.json``, the manifest: the preset, the grid (each run's cell, task, N, seed,
arms, status, error) and the timing workload. ``urnn-zoo report --runs`` reads all three.

Example::

    urnn-zoo compare --preset quick --out runs/quick
    urnn-zoo compare --preset smoke --cells kru lstm --tasks copy --jobs 2 --out /tmp/smoke
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from .grid import RunSpec, build_grid, fit_hidden, parameter_total, run_grid
from .presets import PRESETS, Preset, TaskPlan, preset
from .timing import time_cell, time_cells

__all__ = ["PRESETS", "Preset", "RunSpec", "TaskPlan", "add_compare_parser", "build_grid", "compare", "fit_hidden",
           "parameter_total", "preset", "run_grid", "time_cell", "time_cells"]

MANIFEST = "compare.json"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _resolve_jobs(jobs: int | str) -> int:
    if jobs in ("auto", 0, "0"):
        return max(1, os.cpu_count() or 1)
    jobs = int(jobs)
    if jobs < 1:
        raise ValueError(f"jobs must be a positive int or 'auto', got {jobs}")
    return jobs


def compare(preset_name: str | Preset = "quick", out: str | os.PathLike[str] | None = None, *,
            cells: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, jobs: int | str = 1, device: str | None = None,
            timing: bool = True, force: bool = False, quiet: bool = False) -> dict[str, Any]:
    r"""Run a preset's grid and time every cell; write the manifest; return it.

    Args:
        preset_name: ``smoke``, ``quick`` or ``paper`` (:mod:`.presets`), or a :class:`Preset` of your own.
        out: output folder (default ``runs/<preset>``).
        cells: registry names (default: every registered cell).
        tasks: task names of the preset to run (default: all of them).
        seeds: seeds (default: the preset's).
        jobs: parallel training processes, or ``"auto"`` (one per core).
        device: ``cpu``, ``cuda`` or ``auto``; default the preset's.
        timing: time every cell (at the preset's sizes and at every N the runs use).
        force: retrain every run and re-time every cell.
        quiet: no progress lines.

    Returns:
        The manifest (also written to ``out/compare.json``).

    Example::

        >>> manifest = compare("smoke", "/tmp/smoke", cells=["kru", "lstm"])     # doctest: +SKIP
        >>> {r["status"] for r in manifest["runs"]}                             # doctest: +SKIP
        {'finished'}
    """
    import urnn_zoo as uz
    from urnn_zoo.tasks.base import task_names

    plan = preset_name if isinstance(preset_name, Preset) else preset(preset_name)
    registered = uz.cell_names()
    cells = list(cells or registered)
    unknown = sorted(set(cells) - set(registered))
    if unknown:
        raise ValueError(f"unknown cell(s) {unknown}; registered cells: {', '.join(registered)}")
    planned = [tp.task for tp in plan.tasks]
    if tasks:
        bad = sorted(set(tasks) - set(planned))
        if bad:
            hint = "" if set(bad) - set(task_names()) else f" (registered, but not in preset {plan.name!r})"
            raise ValueError(f"task(s) {bad}{hint}; preset {plan.name!r} has {', '.join(planned)}")
    out = Path(out or Path("runs") / plan.name)
    out.mkdir(parents=True, exist_ok=True)
    device = _resolve_device(device or plan.device)
    jobs = _resolve_jobs(jobs)
    log = (lambda text: None) if quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    start, cpu_start = time.perf_counter(), time.process_time()

    specs = build_grid(plan, cells, list(tasks) if tasks else None, list(seeds) if seeds is not None else None)
    manifest: dict[str, Any] = {
        "preset": plan.name, "description": plan.description, "started": _now(), "finished": None,
        "cells": cells, "tasks": [tp.task for tp in plan.tasks if not tasks or tp.task in tasks],
        "seeds": list(seeds) if seeds is not None else list(plan.seeds), "device": device, "jobs": jobs,
        "timing": {"batch": plan.timing_batch, "length": plan.timing_length, "input_size": plan.timing_input,
                   "repeats": plan.timing_repeats, "hidden": list(plan.timing_hidden), "threads": plan.timing_threads,
                   "file": "timings.csv"},
        "runs": [dict(asdict(s), run=s.name, status="pending", error=None, seconds=None, cpu_seconds=None, action=None)
                 for s in specs],
    }
    index = {s.name: i for i, s in enumerate(specs)}

    def write() -> None:
        tmp = out / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, default=repr) + "\n")
        os.replace(tmp, out / MANIFEST)

    write()
    if timing:
        if force:
            (out / "timings.csv").unlink(missing_ok=True)
        cases = {(c, n) for c in cells for n in plan.timing_hidden} | {(s.cell, s.hidden) for s in specs}
        log(f"timing {len(cases)} (cell, N) cases on {device}: B={plan.timing_batch}, T={plan.timing_length}, "
            f"{plan.timing_threads or 'default'} torch thread(s)")
        tick, cpu = time.perf_counter(), time.process_time()
        time_cells(cases, out / "timings.csv", batch=plan.timing_batch, length=plan.timing_length,
                   input_size=plan.timing_input, device=device, repeats=plan.timing_repeats,
                   threads=plan.timing_threads, log=log)
        manifest["timing"].update(seconds=round(time.perf_counter() - tick, 1),
                                  cpu_seconds=round(time.process_time() - cpu, 1))
    log(f"{len(specs)} runs ({plan.name} preset) in {out} with {jobs} process(es)")
    counter = {"n": 0}

    def done(spec: RunSpec, outcome: dict[str, Any]) -> None:
        counter["n"] += 1
        manifest["runs"][index[spec.name]].update(outcome)
        write()
        extra = f": {outcome['error']}" if outcome.get("error") else ""
        log(f"[{counter['n']}/{len(specs)}] {spec.name}: {outcome['action']}, {outcome['status']}{extra}")

    run_grid(specs, out, jobs=jobs, device=device, force=force, on_done=done)
    manifest["finished"] = _now()
    manifest["seconds"] = round(time.perf_counter() - start, 1)
    manifest["cpu_seconds"] = round(time.process_time() - cpu_start + sum(r.get("cpu_seconds") or 0 for r in
                                    manifest["runs"] if jobs > 1), 1)
    write()
    log(f"compare {plan.name}: {len(specs)} runs in {manifest['seconds']:.0f} s ({manifest['cpu_seconds']:.0f} CPU "
        f"seconds); manifest {out / MANIFEST}")
    return manifest


def _main(args: argparse.Namespace) -> int:
    manifest = compare(args.preset, args.out, cells=args.cells, tasks=args.tasks, seeds=args.seeds, jobs=args.jobs,
                       device=args.device, timing=not args.no_timing, force=args.force, quiet=args.quiet)
    failed = [r for r in manifest["runs"] if r["status"] == "failed"]
    for r in failed:
        print(f"urnn-zoo compare: {r['name']} failed: {r['error']}", file=sys.stderr)
    print(Path(args.out or Path("runs") / args.preset))
    return 0


def add_compare_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    r"""Add the ``compare`` subcommand to the ``urnn-zoo`` parser (its ``func`` runs it, returns the status).

    Example::

        sub = parser.add_subparsers(dest="command")
        add_compare_parser(sub)
    """
    lines = "; ".join(f"{name}: {p.description}" for name, p in PRESETS.items())
    p = subparsers.add_parser(
        "compare", help="train every cell on a preset's tasks (resumable) and time every cell",
        description=f"Run a comparison grid (equal hidden size and equal parameter budget, over seeds), "
                    f"resumably: finished runs are reused, interrupted ones resumed. Presets: {lines}.")
    p.add_argument("--preset", choices=tuple(PRESETS), default="quick", help="the grid (default quick)")
    p.add_argument("--out", default=None, help="output folder (default runs/PRESET)")
    p.add_argument("--cells", nargs="+", default=None, metavar="CELL", help="cells (default: every registered cell)")
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK", help="tasks of the preset (default: all)")
    p.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED", help="seeds (default: the preset's)")
    p.add_argument("--jobs", default="auto", help="parallel training processes, or 'auto' (one per core)")
    p.add_argument("--device", default=None, help="cpu, cuda or auto (default: the preset's)")
    p.add_argument("--no-timing", action="store_true", help="skip timing the cells")
    p.add_argument("--force", action="store_true", help="retrain every run and re-time every cell")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_main)
    return p
