r"""Every speed goal of docs/performance.md, measured in one process and printed as one table.

Run from the repository root::

    python -m benchmarks.goals [--quick] [--rounds K] [--json FILE [--force]]

The goals are ratios of times, judged by the median of interleaved rounds (Note [Best of interleaved runs] in
:mod:`.common`), on the CPU:

- KRU (complex, ``strategy="auto"``, two balanced factors) / ``torch.nn.RNN`` of the same N: ≤ 1.0 at N = 128,
  0.8 at 512, 0.35 at 1024, 0.2 at 2048, at one thread and at torch's default thread count
  (:func:`.bench_kru.kru_over_rnn`, :data:`.bench_kru.KRU_GOALS`);
- ``torch_eunn.EURNN`` / the zoo's ``eurnn`` (capacity 2) ≥ 10 at N = 512 (:func:`.bench_eurnn.torch_eunn_over_zoo`);
- ``kru_lstm``'s per-step loop / its fused recurrence ≥ 2 at N = 512 (:func:`.bench_fused.reference_over_fused`);
- every cell's measured time within 2x of its estimated limit at N = 512 and 1024 (:func:`.bench_limits.rows`).

Each is measured by the function its asv class measures with (no second implementation of a workload), here
all in one process, one after another. The table has one row per goal: goal, N, threads, best, median, spread,
rounds, target, and whether the median meets the target. ``--quick`` runs each goal's measurement once at
N = 64 with the quick grid's rounds (at least 3, about 1 s a goal; a smoke test of the machinery: no goal is set
at N = 64, so none is judged); ``--rounds K`` takes exactly K rounds per goal (at least 7, at least 3 with
``--quick``) instead of as many as fit the budget. Every number depends on the machine and its load: compare rows measured together.

This module imports neither torch nor pandas at import time (asv imports every module of the suite).
"""
from __future__ import annotations

import argparse
import math
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from . import bench_eurnn, bench_fused, bench_kru, bench_limits, common

QUICK_N = 64
# Rows judged only from this many rounds up (the goals' rule: the median of at least 7 interleaved rounds).
JUDGED_ROUNDS = common.FULL_GRID.ratio_rounds[0]
COLUMNS = ("goal", "N", "threads", "best", "median", "spread", "rounds", "target", "direction", "met", "note")


class Goal(NamedTuple):
    r"""One speed goal: ``kind`` names the measurement (``"kru"``, ``"eurnn"``, ``"fused"``, ``"limit"``),
    ``subject`` the cell it is about (``""`` where the kind names it), ``n`` the hidden size, ``threads`` a
    setting of :data:`.common.THREADS`, ``target`` the bound on the median (None: not judged) and ``at_most``
    whether the median must be at most (else at least) the target."""

    kind: str
    subject: str
    n: int
    threads: str
    target: float | None
    at_most: bool

    @property
    def label(self) -> str:
        r"""What is divided by what, as the table's ``goal`` column shows it."""
        return {"kru": "kru / nn.RNN", "eurnn": "torch_eunn / eurnn", "fused": f"{self.subject} loop / fused",
                "limit": f"{self.subject} measured / limit"}[self.kind]


def goals(quick: bool = False) -> list[Goal]:
    r"""The speed goals (docs/performance.md), or with ``quick`` their measurements at N = 64, unjudged.

    Example:
        >>> [g.label for g in goals() if g.kind != "limit"][:2], len({g.n for g in goals(quick=True)})
        (['kru / nn.RNN', 'kru / nn.RNN'], 1)
    """
    full = (
        [Goal("kru", "", n, threads, target, True) for n, target in bench_kru.KRU_GOALS.items()
         for threads in common.THREADS]
        + [Goal("eurnn", "", bench_eurnn.EURNN_GOAL_N, "default", bench_eurnn.EURNN_GOAL, False)]
        + [Goal("fused", cell, bench_fused.FUSED_GOAL_N, "default", target, False)
           for cell, target in bench_fused.FUSED_GOALS.items()]
        + [Goal("limit", cell, n, "default", bench_limits.LIMIT_GOAL, True) for n in bench_limits.LIMIT_GOAL_SIZES
           for cell in common.CELLS]
    )
    if not quick:
        return full
    unique = dict.fromkeys(g._replace(n=QUICK_N, target=None) for g in full)  # in order, once each
    return list(unique)


def judged(goal: Goal, ratio: common.Ratio | None) -> str:
    r"""``"yes"`` or ``"no"``: whether ``ratio``'s median meets ``goal``'s target; ``"n/a"`` without a ratio, a
    target, or :data:`JUDGED_ROUNDS` rounds.

    Example:
        >>> goal = Goal("kru", "", 512, "1", 0.8, True)
        >>> judged(goal, common.Ratio(0.5, 0.9, 0.1, 7)), judged(goal, common.Ratio(0.9, 0.8, 0.1, 7))
        ('no', 'yes')
    """
    if ratio is None or goal.target is None or ratio.rounds < JUDGED_ROUNDS or math.isnan(ratio.median):
        return "n/a"
    met = ratio.median <= goal.target if goal.at_most else ratio.median >= goal.target
    return "yes" if met else "no"


def row(goal: Goal, ratio: common.Ratio | None, note: str = "") -> dict[str, object]:
    r"""One row of the table (:data:`COLUMNS`): ``ratio`` None for a goal that could not be measured (``note``
    says why)."""
    nan = math.nan
    best, median, spread, rounds = ratio if ratio is not None else (nan, nan, nan, 0)
    return dict(goal=goal.label, N=goal.n, threads=goal.threads, best=best, median=median, spread=spread,
                rounds=rounds, target=goal.target, direction="<=" if goal.at_most else ">=",
                met=judged(goal, ratio), note=note)


def _measure(goal: Goal, limit_rows: dict, budget: float, rounds: tuple[int, int]) -> common.Ratio:
    if goal.kind == "kru":
        return bench_kru.kru_over_rnn(goal.n, "balanced", goal.threads, budget=budget, rounds=rounds)
    if goal.kind == "eurnn":
        return bench_eurnn.torch_eunn_over_zoo(goal.n, budget=budget, rounds=rounds)
    if goal.kind == "fused":
        return bench_fused.reference_over_fused(goal.subject, goal.n, budget=budget, rounds=rounds)
    entry = common.cell_result(limit_rows, goal.subject)[goal.n]
    if isinstance(entry, str):  # a size the family rejects
        raise NotImplementedError(entry)
    return common.Ratio(entry["distance"], entry["distance_median"], entry["distance_spread"], entry["rounds"])


def measure(todo: Sequence[Goal], *, budget: float, rounds: tuple[int, int], log=None) -> list[dict[str, object]]:
    r"""The rows (:func:`row`) of ``todo``, measured one after another in this process.

    Args:
        todo: goals (:func:`goals`). budget, rounds: of :func:`.common.round_times`, per goal.
        log: a ``print``-like callable for progress and for the traceback of a goal that failed (optional).

    A goal that cannot be measured (torch_eunn not installed, a size a cell rejects) or whose measurement
    raises gets a row without numbers and a note; the others are still measured.
    """
    limit_goals = [g for g in todo if g.kind == "limit"]
    limit_rows = bench_limits.rows(sorted({g.n for g in limit_goals}), list(dict.fromkeys(g.subject for g in
                                   limit_goals)), budget=budget, rounds=rounds) if limit_goals else {}
    rows = []
    for goal in todo:
        try:
            with common.threads(goal.threads):
                rows.append(row(goal, _measure(goal, limit_rows, budget, rounds)))
        except NotImplementedError as err:
            rows.append(row(goal, None, f"n/a: {err}".splitlines()[0]))
        except Exception as err:
            rows.append(row(goal, None, f"error: {type(err).__name__}: {err}".splitlines()[0]))
            if log:
                log(traceback.format_exc())
        if log:
            done = rows[-1]
            log(f"{done['goal']} N={done['N']} threads={done['threads']}: median {done['median']:.3g}"
                + (f" ({done['note']})" if done["note"] else ""))
    return rows


def table(rows: Sequence[dict[str, object]]) -> str:
    r"""The rows as aligned plain text (pandas ``to_string``): numbers to 3 significant digits, the target as
    ``≤ x`` / ``≥ x`` (``-`` where none is set)."""
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    for column in ("best", "median", "spread"):
        frame[column] = [f"{v:.3g}" for v in frame[column]]
    frame["target"] = ["-" if t is None or (isinstance(t, float) and math.isnan(t)) else
                       f"{'≤' if d == '<=' else '≥'} {t:g}" for t, d in zip(frame["target"], frame["direction"])]
    frame = frame.drop(columns="direction").rename(columns={"met": "met by median"})
    return frame.to_string(index=False)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    r"""The command line, checked before anything is measured or written (``argparse`` exits with status 2 and a
    one-line error otherwise)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.goals",
                                     description="Measure every speed goal of docs/performance.md in one process "
                                                 "and print one table.")
    parser.add_argument("--quick", action="store_true",
                        help=f"each goal's measurement at N = {QUICK_N} with few rounds, not judged (a smoke test)")
    parser.add_argument("--rounds", type=int, default=None, metavar="K",
                        help=f"exactly K interleaved rounds per goal (at least {JUDGED_ROUNDS}; 3 with --quick); "
                             "default: as many as fit the budget, at least that many")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the rows to FILE")
    parser.add_argument("--force", action="store_true", help="overwrite the --json FILE if it exists")
    args = parser.parse_args(argv)
    least = (common.QUICK_GRID if args.quick else common.FULL_GRID).ratio_rounds[0]
    if args.rounds is not None and args.rounds < least:
        parser.error(f"--rounds must be at least {least}{' with --quick' if args.quick else ''} (a median and "
                     f"quartiles of that many rounds), got {args.rounds}")
    if args.json is not None:
        if not args.json.parent.is_dir():
            parser.error(f"--json: expected a file in an existing folder, got {args.json} (no folder "
                         f"{args.json.parent})")
        if args.json.exists() and not args.force:
            parser.error(f"--json: {args.json} already exists; pass --force to overwrite it")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    r"""Measure the goals, print the table (and write ``--json``); 1 when a goal's measurement raised, else 0."""
    args = parse_args(argv)
    grid = common.QUICK_GRID if args.quick else common.FULL_GRID
    rounds = grid.ratio_rounds if args.rounds is None else (args.rounds, args.rounds)
    import torch

    rows = measure(goals(args.quick), budget=grid.ratio_budget_s, rounds=rounds,
                   log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"Speed goals (docs/performance.md): CPU, torch {torch.__version__}, default threads = "
          f"{torch.get_num_threads()}, rounds {rounds[0]}..{rounds[1]} per goal within about {grid.ratio_budget_s:g} s"
          + (f"; quick: every measurement at N = {QUICK_N}, where no goal is set, so none is judged" if args.quick
             else "; judged by the median"))
    print(table(rows))
    if args.json is not None:
        import pandas as pd

        pd.DataFrame(rows, columns=list(COLUMNS)).to_json(args.json, orient="records", indent=2)
    return 1 if any(r["note"].startswith("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
