r"""The published claims a result set is checked against, and the rule that gives each a verdict.

A :class:`Claim` is one figure or table of a paper: the task (and the options that define it), the
headline metric, and per cell either the paper's **outcome** (a figure: the cell solves the task, or stays at
the memoryless baseline) or the paper's **number** (a table). :func:`claim_table` sets the paper beside our
runs (mean ± std over the seeds that finished, and n) and gives each row a verdict by :data:`VERDICT_RULE`.

Sources: Jose, Cissé, Fleuret, "Kronecker Recurrent Units", ICML 2018 (arXiv 1705.10142): Figure 1 (copy),
Figure 2 (adding), Table 2 (pixel and permuted MNIST), Table 3 (character-level Penn Treebank) and Table 4
(polyphonic music), whose baselines it cites from Arjovsky et al. (ICML 2016), Wisdom et al. (NeurIPS 2016), Mhammedi et al.
(ICML 2017), Jing et al. (ICML 2017) and Chung et al. (arXiv 1412.3555).

Example::

    >>> res = load_results("results/reproduce")                               # doctest: +SKIP
    >>> claim_table(res, CLAIMS["kru-figure1-copy"])[["cell", "paper", "ours", "verdict"]]   # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .bibtex import label
from .load import Results
from .tables import PERCENT, mean_pm_std

__all__ = ["CLAIMS", "Claim", "OUTCOMES", "VERDICT_RULE", "claim_table", "claims_with_runs", "outcome"]

SOLVED, BELOW, AT_BASELINE, ABOVE = "solved", "below the baseline", "at the baseline", "above the baseline"
OUTCOMES = (SOLVED, BELOW, AT_BASELINE, ABOVE)

# Note [Verdicts]
# A figure claims outcomes, not numbers: the curve falls to about 0 or stays on the memoryless baseline. A run's
# outcome is read off its test value v against the baseline b (lower is better): "solved" when v <= b/10 (an
# order of magnitude below, where the copy task's accuracy on the recalled symbols is near 100 %), "at the
# baseline" when 0.9 b <= v <= 1.1 b, "below the baseline" between, and "above the baseline" beyond 1.1 b (a
# model worse than memoryless: a loss spike, confident wrong predictions). A table claims numbers; ours are comparable
# only on the paper's own data, and agree when our mean is no worse than the paper's by more than the claim's
# tolerance (a stated fraction of the metric's scale, since the papers report one run, not a spread).
VERDICT_RULE = (
    "Verdicts. A figure's claim (an outcome) is reproduced when every seed's test value has the paper's "
    "outcome: 'solved' is at most a tenth of the memoryless baseline, 'at the baseline' is from 0.9 to 1.1 "
    "times it, 'below the baseline' is in between, 'above the baseline' beyond 1.1 times it. A table's claim (a number) is 'not comparable' when our data is a "
    "stand-in for the paper's; on the paper's data it is reproduced when our mean over seeds is no worse than "
    "the paper's number by more than the claim's stated tolerance. 'not run': no finished run of that cell.")


@dataclass(frozen=True)
class Claim:
    r"""One figure or table of a paper, as the runs of a task can check it.

    Attributes:
        key: the name a preset's task plan refers to. source: paper and figure or table, cited.
        statement: the claim in one sentence. task: the task's registry name.
        options: the task options that define the claim (a run matches when its options include them).
        metric: the metric compared (the test split's). higher_is_better: its direction.
        outcomes: cell -> the paper's outcome (one of :data:`OUTCOMES`), for a figure.
        numbers: cell -> the paper's test number, for a table (in the metric's unit: accuracy as a fraction).
        paper_hidden: cell -> the paper's N (shown beside ours).
        tolerance: how much worse than the paper a mean may be and still agree (a table's claims).
    """

    key: str
    source: str
    statement: str
    task: str
    options: dict[str, Any]
    metric: str
    higher_is_better: bool = False
    outcomes: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)
    paper_hidden: dict[str, int] = field(default_factory=dict)
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        bad = {c: o for c, o in self.outcomes.items() if o not in OUTCOMES}
        if bad:
            raise ValueError(f"claim {self.key}: outcomes must be among {OUTCOMES}, got {bad}")
        if bool(self.outcomes) == bool(self.numbers):
            raise ValueError(f"claim {self.key}: expected outcomes (a figure) or numbers (a table), not "
                             f"{'both' if self.outcomes else 'neither'}")

    @property
    def cells(self) -> list[str]:
        r"""The cells the paper reports, in its order."""
        return list(self.outcomes or self.numbers)

    def matches(self, task: str, task_options: dict[str, Any]) -> bool:
        r"""Whether a run of ``task`` with ``task_options`` is a run of this claim."""
        return task == self.task and all(task_options.get(k) == v for k, v in self.options.items())


_KRU = "Jose, Cissé and Fleuret, Kronecker Recurrent Units, ICML 2018"
CLAIMS: dict[str, Claim] = {c.key: c for c in (
    Claim("kru-figure1-copy", f"{_KRU}, Figure 1 (T = 1000)",
          "On copy at T = 1000, KRU and FC-uRNN fall below the memoryless baseline and toward 0 within a few "
          "thousand steps (KRU by about 1500–2000, FC-uRNN by about 2000); RNN, LSTM and RC-uRNN stay at it.",
          "copy", {"T": 1000}, "loss",
          outcomes={"kru": SOLVED, "fcurnn": SOLVED, "lstm": AT_BASELINE, "rnn": AT_BASELINE,
                    "rcurnn": AT_BASELINE},
          paper_hidden={"kru": 128, "fcurnn": 128, "lstm": 68, "rcurnn": 470}),
    Claim("kru-figure2-adding", f"{_KRU}, Figure 2 (T = 200)",
          "On the adding problem KRU converges toward 0 at every length the paper plots (T = 100 to 750; at "
          "T = 750 after about 350K training samples), and so does the LSTM, later (about 650K at T = 750).",
          "adding", {"T": 200}, "mse",
          outcomes={"kru": SOLVED, "lstm": SOLVED}),
    Claim("kru-table2-smnist", f"{_KRU}, Table 2 (pixel MNIST, test accuracy)",
          "KRU with 2x2 factors (N = 512, 72 recurrent reals) reaches 96.4 % test accuracy on pixel MNIST, "
          "near models with up to four orders of magnitude more recurrent parameters.",
          "smnist", {}, "accuracy", higher_is_better=True,
          numbers={"lstm": 0.978, "rcurnn": 0.975, "fcurnn": 0.969, "ornn": 0.972, "kru": 0.964},
          paper_hidden={"lstm": 128, "rcurnn": 512, "fcurnn": 512, "ornn": 256, "kru": 512}, tolerance=0.01),
    Claim("kru-table2-pmnist", f"{_KRU}, Table 2 (permuted pixel MNIST, test accuracy)",
          "KRU (N = 512, 72 recurrent reals) reaches 94.5 % on permuted MNIST, the best of the table.",
          "pmnist", {}, "accuracy", higher_is_better=True,
          numbers={"lstm": 0.913, "rcurnn": 0.933, "fcurnn": 0.941, "eurnn": 0.937, "kru": 0.945},
          paper_hidden={"lstm": 128, "rcurnn": 512, "fcurnn": 512, "eurnn": 1024, "kru": 512}, tolerance=0.01),
    Claim("kru-table3-charlm", f"{_KRU}, Table 3 (character-level Penn Treebank at ≈120K parameters, test BPC)",
          "At about 120K parameters KRU (N = 411) matches the RNN (1.60 bits per character) with a third of "
          "its recurrent parameters.",
          "charlm", {}, "bpc",
          numbers={"rnn": 1.60, "lstm": 1.59, "ornn": 1.68, "kru": 1.60},
          paper_hidden={"rnn": 300, "lstm": 150, "ornn": 512, "kru": 411}, tolerance=0.02),
    Claim("kru-table4-music", f"{_KRU}, Table 4 (polyphonic music, JSB Chorales test NLL)",
          "At about 20K parameters or fewer, KRU (8.59) and KRU-LSTM (8.54) beat the RNN (9.10) and LSTM (8.67).",
          "music", {}, "nll",
          numbers={"rnn": 9.10, "lstm": 8.67, "kru": 8.59, "kru_lstm": 8.54},
          paper_hidden={"rnn": 100, "lstm": 36, "kru": 100, "kru_lstm": 45}, tolerance=0.05),
)}


def outcome(value: float, baseline: float) -> str:
    r"""A run's outcome on a lower-is-better metric against the memoryless baseline (Note [Verdicts]).

    Raises:
        ValueError: ``baseline`` is not a positive finite number.

    Example:
        >>> outcome(1e-5, 0.0204), outcome(0.0203, 0.0204), outcome(0.01, 0.0204), outcome(1.2, 0.0204)
        ('solved', 'at the baseline', 'below the baseline', 'above the baseline')
    """
    if not (isinstance(baseline, (int, float)) and math.isfinite(baseline) and baseline > 0):
        raise ValueError(f"baseline: expected a finite number > 0, got {baseline!r}")
    if value <= baseline / 10:
        return SOLVED
    if value > 1.1 * baseline:
        return ABOVE
    return AT_BASELINE if value >= 0.9 * baseline else BELOW


def _runs_of(res: Results, claim: Claim) -> pd.DataFrame:
    runs = res.runs.drop_duplicates("run")
    keep = [claim.matches(t, json.loads(o or "{}")) for t, o in zip(runs.task, runs.task_options)]
    return runs[keep]


def claims_with_runs(res: Results) -> list[Claim]:
    r"""The claims some run of ``res`` belongs to, in :data:`CLAIMS` order."""
    return [c for c in CLAIMS.values() if len(_runs_of(res, c))]


def _pm(values: pd.Series, metric: str) -> str:
    r"""Mean ± std over the seeds, as every table of the report writes it (:func:`.tables.mean_pm_std`), with
    the unit of accuracies and the count."""
    if not len(values):
        return "–"
    std = values.std(ddof=1) if len(values) > 1 else math.nan
    return f"{mean_pm_std(values.mean(), std, metric)}{' %' if metric in PERCENT else ''} (n={len(values)})"


def _steps_to(curves: pd.DataFrame, runs: pd.Series, metric: str, threshold: float) -> str:
    r"""Mean first validation step at which the metric is at most ``threshold`` (and how many runs got there)."""
    steps = []
    for run in runs:
        c = curves[(curves.run == run) & (curves.split == "valid") & (curves.metric == metric)]
        hit = c[c.value <= threshold].step
        if len(hit):
            steps.append(int(hit.min()))
    if not steps:
        return "never"
    return f"{sum(steps) / len(steps):.0f}" + ("" if len(steps) == len(runs) else f" ({len(steps)}/{len(runs)} runs)")


def claim_table(res: Results, claim: Claim) -> pd.DataFrame:
    r"""The paper beside our runs, one row per cell the paper reports and per (variant, N) of ours.

    Columns: ``cell``, ``variant``, ``paper N``, ``N``, ``paper`` (outcome or number), ``ours`` (test mean ±
    std over the seeds that finished, with n), ``outcomes`` (each seed's, for a figure) or ``data`` (the
    runs' data source), ``steps to a tenth of the baseline`` (a figure; mean first validation step),
    ``verdict`` (:data:`VERDICT_RULE`). A cell without runs has one row, ``not run``.
    """
    runs = _runs_of(res, claim)
    finals = res.finals[(res.finals.split == "test") & (res.finals.metric == claim.metric)]
    rows = []
    for cell in claim.cells:
        mine = runs[runs.cell == cell]
        paper = claim.outcomes.get(cell) if claim.outcomes else _pm(pd.Series([claim.numbers[cell]]), claim.metric) \
            .replace(" (n=1)", "")
        groups = list(mine.groupby(["variant", "hidden"], dropna=False, sort=True)) or [(("", None), mine)]
        for (variant, hidden), g in groups:
            done = finals[finals.run.isin(g.run[g.ok])]
            values = done.value
            row = {"cell": label(cell), "variant": variant or "", "paper N": claim.paper_hidden.get(cell, "–"),
                   "N": "–" if hidden is None or pd.isna(hidden) else int(hidden), "paper": paper,
                   "ours": _pm(values, claim.metric)}
            if claim.outcomes:
                seen = [outcome(v, b) for v, b in zip(done.value, done.baseline)]
                row["outcomes"] = ", ".join(seen) or "–"
                baseline = done.baseline.iloc[0] if len(done) else math.nan
                row["steps to a tenth of the baseline"] = (
                    _steps_to(res.curves, g.run[g.ok], claim.metric, baseline / 10) if len(done) else "–")
                verdict = "not run" if not seen else (
                    "reproduced" if all(s == claim.outcomes[cell] for s in seen) else "not reproduced")
            else:
                stand_in = bool(g.stand_in.fillna(False).any())
                row["data"] = "; ".join(dict.fromkeys(g.data_source.dropna())) or "–"
                if not len(values):
                    verdict = "not run"
                elif stand_in:
                    verdict = "not comparable"
                else:
                    gap = (claim.numbers[cell] - values.mean()) * (1 if claim.higher_is_better else -1)
                    verdict = "reproduced" if gap <= claim.tolerance else "not reproduced"
            row["verdict"] = verdict
            rows.append(row)
    return pd.DataFrame(rows)
