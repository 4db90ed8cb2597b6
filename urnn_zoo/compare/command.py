r"""``urnn-zoo compare``: its argument parser and the command (:func:`urnn_zoo.compare.compare` does the work)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from urnn_zoo import arguments as A
from urnn_zoo.runs import RunStatus, own_runs

from .checks import jobs_count
from .executors import EXECUTORS, executor_help
from .presets import PRESETS

__all__ = ["add_compare_parser"]


def _main(args: argparse.Namespace) -> int:
    r"""Run ``urnn-zoo compare``; the exit status is 1 when a run failed, else 0 (Ctrl-C: 130, from the
    ``KeyboardInterrupt`` the command line turns into it)."""
    import urnn_zoo.compare as package  # looked up when called: a test may replace it

    jobs = args.jobs if args.jobs is not None else ("auto" if args.executor == "local" else None)
    manifest = package.compare(args.preset, args.out, cells=args.cells, tasks=args.tasks, seeds=args.seeds, jobs=jobs,
                       device=args.device, timing=not args.no_timing, force=args.force, quiet=args.quiet,
                       progress=args.progress, executor=args.executor,
                       executor_options=dict(args.executor_option))
    failed = [r for r in own_runs(manifest) if r["status"] == RunStatus.FAILED]
    for r in failed:
        print(f"urnn-zoo compare: {r['name']} failed: {r['error']}", file=sys.stderr)
    print(Path(args.out or Path("runs") / args.preset))
    return 1 if failed else 0


def add_compare_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    r"""Add the ``compare`` subcommand to the ``urnn-zoo`` parser (its ``func`` runs it, returns the status).

    Example::

        sub = parser.add_subparsers(dest="command")
        add_compare_parser(sub)
    """
    import urnn_zoo as uz
    from urnn_zoo.cli import parse_option
    from urnn_zoo.tasks.base import task_names

    lines = "; ".join(f"{name}: {p.description}" for name, p in PRESETS.items())
    p = subparsers.add_parser(
        "compare", help="train every cell on a preset's tasks (resumable) and time every cell",
        description=f"Run a comparison grid (equal hidden size and equal parameter budget, over seeds), "
                    f"resumably: finished runs are reused, interrupted ones resumed. Ctrl-C (or SIGTERM) stops "
                    f"it within seconds and records every run's status. Exit status 1 when a run failed. "
                    f"Presets: {lines}.")
    p.add_argument("--preset", choices=tuple(PRESETS), default="quick", help="the grid (default quick)")
    p.add_argument("--out", type=A.output_dir, default=None, help="output folder (default runs/PRESET)")
    p.add_argument("--cells", nargs="+", type=A.one_of(uz.cell_names, "a registered cell"), default=None,
                   metavar="CELL", help="cells (default: every registered cell)")
    p.add_argument("--tasks", nargs="+", type=A.one_of(task_names, "a registered task"), default=None,
                   metavar="TASK", help="tasks of the preset (default: all)")
    p.add_argument("--seeds", nargs="+", type=A.seed, default=None, metavar="SEED", help="seeds (default: the "
                                                                                          "preset's)")
    p.add_argument("--jobs", type=jobs_count, default=None,
                   help="parallel training processes, or 'auto' (one per core; the default); with --executor slurm "
                        "or ray: the runs in flight at once (default: every run on a cluster, one per core with "
                        "submitit's local executor)")
    p.add_argument("--device", type=A.device, default=None, help="cpu, cuda, cuda:K or auto (default: the "
                                                                  "preset's)")
    p.add_argument("--no-timing", action="store_true", help="skip timing the cells")
    p.add_argument("--force", action="store_true", help="retrain every run and re-time every cell")
    p.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                   help="auto: a progress bar with ETA on a terminal, a line per run and a heartbeat otherwise")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    g = p.add_argument_group("where the runs train (docs/cluster.md)")
    g.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: this machine's process pool (default); slurm: one SLURM job per run through "
                        "submitit (submitit's local executor where SLURM is absent); ray: one Ray task per run. "
                        "slurm and ray need the extra: pip install 'urnn_zoo[cluster]'")
    g.add_argument("--executor-option", type=parse_option, action="append", default=[], metavar="KEY=VALUE",
                   help=f"an executor option (repeatable). {executor_help()}")
    p.set_defaults(func=_main)
    return p
