r"""Tables laid out like the KRU paper's Tables 2–4: one per task and comparison arm, a row per cell and
hidden size, with N, total and recurrent parameters in both conventions (docs/parameter-counting.md), the task's metrics on
the validation and test splits as mean ± std over seeds, the forward+backward time, and the outcome.

Every registered cell has a row in every task's table: a cell whose runs failed says how, a cell without
runs says so. :func:`paper_table` gives the numbers (the CSV), :func:`formatted` the text of the
Markdown/LaTeX/HTML versions; :func:`to_markdown` and :func:`to_latex` write them.

The numbers (:func:`paper_table`, the CSV files) call the hidden size ``hidden``, as every tidy frame does;
the text (:func:`formatted`) shows it as the KRU paper's ``N``. A run that diverged
(:mod:`urnn_zoo.runs.divergence`) is marked ``DIVERGED`` with the reason, apart from runs that failed.

Example::

    >>> res = load_results("runs/quick")                                       # doctest: +SKIP
    >>> paper_table(res, "copy (T=50)", "N=64")[["cell", "hidden", "total_stored", "test loss mean"]]
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from urnn_zoo.runs import RunStatus

from .bibtex import label
from .load import Results
from .speeds import run_options, speed_of, timing_labels

__all__ = ["HEADLINE", "PERCENT", "arms_of", "coverage", "failures", "formatted", "headline", "mean_pm_std",
           "numeric_columns", "paper_table", "speed_of", "tables_note", "tasks_of", "timing_table", "to_latex",
           "to_markdown"]

# The metric each task's figures plot and whether higher is better (the tables show every metric).
HEADLINE: dict[str, tuple[str, bool]] = {
    "copy": ("loss", False), "adding": ("mse", False), "smnist": ("accuracy", True), "pmnist": ("accuracy", True),
    "charlm": ("bpc", False), "music": ("nll", False),
}
PERCENT = ("accuracy",)
PARAM_COLUMNS = {"total_stored": "total (stored)", "total_dof": "total (dof)",
                 "recurrent_stored": "recurrent (stored)", "recurrent_dof": "recurrent (dof)"}


def headline(task: str) -> tuple[str, bool]:
    r"""``(metric, higher_is_better)`` plotted for a task (the first metric, lower better, if unknown)."""
    return HEADLINE.get(task, ("loss", False))


def _registered() -> tuple[str, ...]:
    import urnn_zoo as uz

    return uz.cell_names()


def tasks_of(res: Results) -> list[str]:
    r"""The task labels of the runs, in first-seen order."""
    return list(dict.fromkeys(res.runs.task_label.dropna()))


def arms_of(res: Results, task_label: str) -> list[str | None]:
    r"""The comparison arms of a task's runs (equal-N arms first); ``[None]`` for runs outside a comparison."""
    arms = res.runs.loc[res.runs.task_label == task_label, "arm"]
    names = list(dict.fromkeys(a if isinstance(a, str) else None for a in arms))
    return sorted(names, key=lambda a: (a is None, not str(a).startswith("N="), str(a)))


def _reason(status: str, message) -> str:
    message = message if isinstance(message, str) and message else ""
    if status == RunStatus.FAILED and message:
        return message
    if RunStatus.parse(status).stopped or not message:
        return status
    return f"{status}: {message}"


def _outcome(group: pd.DataFrame) -> str:
    r"""``ok``, ``DIVERGED`` (every run that is not ok diverged) or ``FAILED``, and ``k of n ...`` for a mix."""
    ok, bad = int(group.ok.sum()), group[~group.ok]
    if not len(bad):
        return "ok"
    diverged = bool((bad.status == RunStatus.DIVERGED).all())
    if ok == 0:
        return "DIVERGED" if diverged else "FAILED"
    return f"{len(bad)} of {len(group)} {'diverged' if diverged else 'failed'}"


def _status(group: pd.DataFrame) -> str:
    ok = int(group.ok.sum())
    if ok == len(group):
        return "ok" if ok == 1 else f"ok ({ok} seeds)"
    bad = group[~group.ok]
    reasons = "; ".join(dict.fromkeys(_reason(str(s), m) for s, m in zip(bad.status, bad.message)))
    return f"{_outcome(group)}: {reasons}"


def paper_table(res: Results, task_label: str, arm: str | None = None) -> pd.DataFrame:
    r"""The numbers of one task's table in one arm: a row per (cell, variant, N), every registered cell.

    Columns: ``cell``, ``model`` (registry name and display name), ``variant``, ``hidden``, the four parameter
    columns (:data:`PARAM_COLUMNS`), ``"<split> <metric> mean"`` / ``"... std"`` for every split and metric,
    ``seeds`` (runs that finished), ``runs``, ``ms/seq mean`` / ``ms/seq std`` and ``status``. Metrics and
    counts are the runs' own numbers (means over the seeds that finished; a failed run is left out of
    the means and named in ``status``).
    """
    runs = res.runs[(res.runs.task_label == task_label)]
    runs = runs[runs.arm == arm] if arm is not None else runs[runs.arm.isna()]
    finals = res.finals.merge(runs[["run", "ok"]].drop_duplicates("run"), on="run")
    keys = [(s, m) for s in ("valid", "test") for m in dict.fromkeys(finals.metric)]
    rows: list[dict[str, Any]] = []
    for (cell, variant, hidden), group in runs.groupby(["cell", "variant", "hidden"], sort=False, dropna=False):
        first = group.iloc[0]
        row = {"cell": cell, "model": label(cell) + (f" [{variant}]" if variant else ""), "variant": variant,
               "hidden": int(hidden) if pd.notna(hidden) else pd.NA}
        for col, src in zip(PARAM_COLUMNS, ("params_stored", "params_dof", "recurrent_stored", "recurrent_dof")):
            values = group[src].dropna()
            row[col] = values.iloc[0] if len(values) else pd.NA
        good = finals[finals.run.isin(group.run[group.ok])]
        for split, metric in keys:
            v = good[(good.split == split) & (good.metric == metric)].value
            row[f"{split} {metric} mean"] = v.mean() if len(v) else math.nan
            row[f"{split} {metric} std"] = v.std(ddof=1) if len(v) > 1 else math.nan
        row["seeds"], row["runs"] = int(group.ok.sum()), len(group)
        row["ms/seq mean"], row["ms/seq std"] = speed_of(res, cell, int(hidden), run_options(res, group)) if (
            pd.notna(hidden)) else (math.nan, math.nan)
        row["status"] = _status(group)
        budget = group.budget.dropna()
        if len(budget) and not pd.isna(row["total_stored"]) and row["total_stored"] > budget.iloc[0]:
            row["status"] += f"; over the budget ({int(budget.iloc[0]):,}) already at the smallest N tried"
        rows.append(row)
    for cell in _registered():  # every registered cell has a row
        if cell not in {r["cell"] for r in rows}:
            rows.append({"cell": cell, "model": label(cell), "variant": "", "hidden": pd.NA, "seeds": 0, "runs": 0,
                         "status": "not run"})
    df = pd.DataFrame(rows)
    order = {c: i for i, c in enumerate(_registered())}
    df["_order"] = df.cell.map(lambda c: order.get(c, len(order)))
    df = df.sort_values(["_order", "hidden"], kind="stable").drop(columns="_order").reset_index(drop=True)
    for col in PARAM_COLUMNS:
        df[col] = df.get(col, pd.Series(pd.NA, index=df.index)).astype("Int64")
    df["hidden"] = df["hidden"].astype("Int64")
    return df


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _num(value: Any, metric: str = "", decimals: int | None = None) -> str:
    if _missing(value):
        return "–"
    value = 100 * value if metric in PERCENT else float(value)
    if decimals is not None:
        return f"{value:.{decimals}f}"
    if metric in PERCENT:
        return f"{value:.1f}"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return f"{value:.2e}"


def mean_pm_std(mean: Any, std: Any, metric: str = "") -> str:
    r"""``mean ± std``, both rounded to the std's second significant digit (``mean`` alone without a std)."""
    if _missing(mean):
        return "–"
    if _missing(std) or std == 0:
        return _num(mean, metric)
    shown = 100 * std if metric in PERCENT else float(std)
    centre = 100 * mean if metric in PERCENT else float(mean)
    decimals = max(0, 1 - math.floor(math.log10(abs(shown))))
    if decimals > 5 or (centre != 0 and not 1e-3 <= abs(centre) < 1e5):
        return f"{centre:.2e} ± {shown:.1e}"
    return f"{_num(mean, metric, decimals)} ± {_num(std, metric, decimals)}"


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    r"""The text of a :func:`paper_table`: ``mean ± std`` cells, accuracies in %, parameters with thousands
    separators, ``–`` for what is missing."""
    out = pd.DataFrame({"model": table.model, "N": [("–" if pd.isna(n) else str(n)) for n in table.hidden]})
    for col, title in PARAM_COLUMNS.items():
        out[title] = ["–" if pd.isna(v) else f"{int(v):,}" for v in table[col]]
    for col in table.columns:
        if col.endswith(" mean") and not col.startswith("ms/seq"):
            base = col[: -len(" mean")]
            metric = base.split(" ", 1)[1]
            title = f"{base} (%)" if metric in PERCENT else base
            out[title] = [mean_pm_std(m, s, metric) for m, s in zip(table[col], table[f"{base} std"])]
    out["ms/seq"] = [mean_pm_std(m, s) for m, s in zip(table["ms/seq mean"], table["ms/seq std"])]
    out["seeds"] = [f"{s}/{r}" for s, r in zip(table.seeds, table.runs)]
    out["status"] = table.status
    return out


def _escape_md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def numeric_columns(text: pd.DataFrame) -> list[bool]:
    r"""Whether each column of a frame of strings holds numbers (every entry but ``–`` and blanks starts like
    one: a digit, a sign or a point), which tables align right; text columns align left.

    Example:
        >>> numeric_columns(pd.DataFrame({"cell": ["kru"], "N": ["128"], "loss": ["2.1e-06 ± 3e-07 (n=2)"]}))
        [False, True, True]
    """
    def looks_numeric(value: str) -> bool:
        return bool(re.match(r"^[-+−]?(\d|\.\d)", value))

    return [all(looks_numeric(v) for v in text[c].astype(str) if v.strip() not in ("", "–")) and
            any(v.strip() not in ("", "–") for v in text[c].astype(str)) for c in text.columns]


def to_markdown(text: pd.DataFrame) -> str:
    r"""A GitHub-flavoured Markdown table of a frame of strings (number columns aligned right)."""
    header = "| " + " | ".join(_escape_md(c) for c in text.columns) + " |"
    rule = "|" + "|".join("---:" if numeric else "---" for numeric in numeric_columns(text)) + "|"
    rows = ["| " + " | ".join(_escape_md(v) for v in row) + " |" for row in text.astype(str).itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "–": "--",
          "≈": r"$\approx$", "×": r"$\times$", "‖": r"$\|$"}


def _escape_tex(text: Any) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def to_latex(text: pd.DataFrame, caption: str, label_: str) -> str:
    r"""A booktabs LaTeX table (``table`` float, caption, label) of a frame of strings."""
    cols = "".join("r" if numeric else "l" for numeric in numeric_columns(text))
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{_escape_tex(caption)}}}",
             rf"\label{{{label_}}}", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
             " & ".join(_escape_tex(c) for c in text.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_escape_tex(v) for v in row) + r" \\" for row in text.astype(str).itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def coverage(res: Results) -> pd.DataFrame:
    r"""Every registered cell against every task: ``ok``, ``FAILED``, ``DIVERGED``, ``k of n failed`` (or
    ``diverged``) or ``not run``, with the number of runs.

    Index: cell labels; columns: task labels (a ``no runs`` column when there are no runs at all).
    """
    tasks = tasks_of(res) or ["no runs"]
    table = pd.DataFrame(index=[label(c) for c in _registered()], columns=tasks, dtype=object)
    table[:] = "not run"
    for (cell, task), group in res.runs.drop_duplicates("run").groupby(["cell", "task_label"]):
        n = len(group)
        table.loc[label(cell), task] = f"{_outcome(group)} ({n} run{'s' if n > 1 else ''})"
    table.index.name = "cell"
    return table.reset_index()


def failures(res: Results) -> pd.DataFrame:
    r"""The runs without a result (failed, diverged, stopped, incomplete): run, cell, task, hidden size, seed,
    status, message."""
    bad = res.runs[~res.runs.ok].drop_duplicates("run")
    return bad[["run", "cell", "task_label", "hidden", "seed", "status", "message"]].reset_index(drop=True)


def timing_table(res: Results) -> pd.DataFrame:
    r"""Forward+backward milliseconds per sequence, a row per cell (the workload's options) and per other
    option set timed (``kru (KRU) [factors=[2, 2, 2]]``, :func:`~.speeds.timing_label`), a column per (source, N): mean ±
    std over repeats, with the workload (B, T) and device in the column title; every registered cell has a row.

    Columns: the sizes timed for at least half of the registered cells (all sizes when none is)."""
    t = res.timings
    registered = [label(c) for c in _registered()]
    if t is None or not len(t):
        return pd.DataFrame({"cell": registered})
    t = t.assign(row=timing_labels(t))
    others = sorted(set(t.row) - set(registered))
    index = [r for name in registered for r in [name, *(o for o in others if o.startswith(name + " ["))]]
    index += [o for o in others if o not in index]
    ok = t[t.seconds_per_sequence.notna()].copy()
    ok["ms"] = ok.seconds_per_sequence * 1e3
    ok["column"] = [f"N={n} ({s}, B={b}, T={ln}, {d})" for n, s, b, ln, d in
                    zip(ok.hidden, ok.source, ok.batch, ok.length, ok.device)]
    cols = sorted(ok.column.unique(), key=lambda c: (int(c.split()[0][2:]), c))
    # Sizes timed for only a few cells (the N an equal-budget run happened to get) stay out of this table
    # (they are in the task tables' ms/seq column and in data/timings.csv) when enough sizes remain.
    counts = ok.groupby("column").cell.nunique()
    common = [c for c in cols if counts[c] * 2 >= len(registered)]
    cols = common or cols
    out = pd.DataFrame(index=index, columns=cols, dtype=object)
    out[:] = "–"
    for (row, col), g in ok[ok.column.isin(cols)].groupby(["row", "column"]):
        out.loc[row, col] = mean_pm_std(g.ms.mean(), g.ms.std(ddof=1) if len(g) > 1 else np.nan)
    errors = t[t.error.notna() & (t.error != "")]
    for row in errors.itertuples():
        col = f"N={row.hidden} ({row.source}, B={row.batch}, T={row.length}, {row.device})"
        if col in out:
            out.loc[row.row, col] = "failed: " + str(row.error)[:60]
    out = out[[r in registered or (out.loc[r] != "–").any() for r in out.index]]  # no empty variant rows
    out.index.name = "cell"
    return out.reset_index()


def tables_note() -> str:
    r"""What the columns of every task table mean (printed above them)."""
    return ("One table per task and comparison arm, laid out like the KRU paper's Tables 2–4. Rows name each cell "
            "by its registry name, its paper's name beside it. N: hidden size. Parameters in real numbers, both "
            "conventions (docs/parameter-counting.md in the urnn_zoo repository): stored (what the parameters hold; a complex entry counts 2) and dof (the "
            "free parameters of the family's own parametrisation); total includes the input matrix, biases and "
            "readout, recurrent is the recurrent map alone. Metrics: mean ± standard deviation over the seeds "
            "that finished (no ± with one seed); valid is the last evaluation on the validation split, test the "
            "final one; accuracies in %. ms/seq: forward+backward milliseconds per sequence at that N (the "
            "timing workload). seeds: runs that finished / runs. A cell whose runs failed says so in status; a "
            "registered cell without runs is listed as not run.")
