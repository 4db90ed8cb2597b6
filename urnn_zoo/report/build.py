r"""Writing a report folder: ``report.md``, a self-contained ``report.html``, ``tables/`` (CSV, Markdown,
LaTeX), ``figures/`` (PNG, SVG), ``data/`` (the tidy frames as CSV), ``references.bib`` and
``provenance.json``.

A report from zero runs, or from runs that all failed, is still a report: it says what is missing and why
instead of raising; a run folder or file that cannot be read is skipped and listed with the reason.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import figures as figs
from .bibtex import display_name, references
from .claims import CLAIMS, VERDICT_RULE, claim_table, claims_with_runs
from .document import to_html, to_md
from urnn_zoo import arguments as A
from urnn_zoo.runs import RunStatus

from .load import Results, load_results
from .provenance import provenance
from .settings import SETTINGS_CAPTION, settings_table
from .tables import (arms_of, coverage, failures, formatted, headline, paper_table, tables_note, tasks_of,
                     timing_table, to_latex, to_markdown)

__all__ = ["build_report", "write_report"]

FIGURE_CAPTIONS = {
    "speed_accuracy": "Speed against accuracy: the headline test metric of each task against forward+backward "
                      "time per sequence of the run's own model (its cell, N and options; no point when that model was not timed) (one point per cell, N and arm: mean over seeds, labelled "
                      "with its cell), with bars from the fastest to the slowest timing repeat; grey lines: the "
                      "Pareto front of each arm through the points better than the memoryless baseline (no other "
                      "such point is both faster and better; no line where it would join fewer than two points); "
                      "hollow points: no better than the baseline, or diverged; red line: the memoryless baseline. "
                      "A metric axis is logarithmic where its values span more than two decades.",
    "params_accuracy": "Parameters against accuracy: the headline test metric against total stored parameters, "
                       "each point labelled with its cell; hollow points: no better than the memoryless baseline, "
                       "or diverged; red line: the memoryless baseline. A metric axis is logarithmic where its "
                       "values span more than two decades.",
    "learning_curves": "Learning curves: the headline validation metric against optimizer steps, per task and "
                       "arm; lines are means over seeds, bands ± one standard deviation on a linear axis and the "
                       "range over the seeds on a log axis (no band with one seed). "
                       "The y-axis is set by the evaluations after each run's first (the untrained model's value "
                       "can lie far above and is clipped), and is logarithmic where they span more than two "
                       "decades.",
    "drift": "Unitarity drift: ‖W^H W − I‖_F of the recurrent matrix at each evaluation, for the cells with an "
             "exact or soft (penalty) constraint; float32.",
    "speed_by_size": "Forward+backward time per sequence against hidden size N (log-log): the mean over timing "
                     "repeats with bars from the fastest to the slowest repeat, one line style per workload, every "
                     "cell timed by urnn-zoo compare (and by asv when its results were given).",
}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(text)).strip("-").lower() or "runs"


def _arm_title(arm: str | None) -> str:
    if arm is None:
        return "runs outside a comparison"
    if arm.startswith("N="):
        return f"equal hidden size ({arm})"
    if arm.startswith("budget"):
        return f"equal parameter budget ({arm} stored reals in total, the largest N within it)"
    return arm


def _write_table(root: Path, name: str, text: pd.DataFrame, numbers: pd.DataFrame | None, caption: str) -> list:
    tables = root / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    (numbers if numbers is not None else text).to_csv(tables / f"{name}.csv", index=False)
    (tables / f"{name}.md").write_text(f"{caption}\n\n{to_markdown(text)}")
    (tables / f"{name}.tex").write_text(to_latex(text, caption, f"tab:{name}"))
    return [("CSV", f"tables/{name}.csv"), ("Markdown", f"tables/{name}.md"), ("LaTeX", f"tables/{name}.tex")]


def _provenance_items(info: dict[str, Any]) -> list[str]:
    from .provenance import provenance_items

    return provenance_items(info)


def _preset_plans(res: Results) -> list:
    r"""The task plans of the preset the manifest names (none when it names no preset this version has)."""
    from urnn_zoo.compare.presets import PRESETS

    plan = PRESETS.get(res.manifest.get("preset") or "")
    return list(plan.tasks) if plan else []


def _claim_blocks(res: Results, root: Path) -> list[tuple]:
    r"""The "Paper against zoo" section: a table per claim the preset (or, without one, the runs) checks, the
    cells' own settings and why, and the claims of the preset that have no run yet."""
    plans = [tp for tp in _preset_plans(res) if tp.claim]
    claims = [CLAIMS[tp.claim] for tp in plans] if plans else claims_with_runs(res)
    if not claims:
        return []
    blocks: list[tuple] = [("h2", "Paper against zoo"), ("p", VERDICT_RULE)]
    for claim in claims:
        table = claim_table(res, claim)
        blocks += [("h3", claim.source), ("p", f"Claim: {claim.statement}")]
        if table.verdict.eq("not run").all():
            blocks.append(("p", "No finished run of this claim in this result set yet."))
        caption = (f"{claim.source}: the paper's {'outcome' if claim.outcomes else 'number'} beside ours "
                   f"(test {claim.metric}, mean ± std over seeds, n seeds); paper N is the paper's hidden size.")
        blocks += [("table", table, caption),
                   ("links", _write_table(root, f"claim-{claim.key}", table, None, caption))]
        own = [(cell, s) for tp in plans if tp.claim == claim.key for cell, s in tp.settings.items()]
        if own:
            blocks.append(("list", [f"{cell}: {', '.join(f'{k}={v}' for k, v in {**s.options, **s.train}.items()) or 'the plan’s settings'}"
                                    f"{f', paper-size run N = {s.paper_hidden}' if s.paper_hidden else ''}"
                                    f"{f' for {s.paper_steps} steps' if s.paper_steps else ''}"
                                    f"{f', {s.steps} steps' if s.steps else ''}: {s.why}"
                                    for cell, s in own]))
    return blocks


def build_report(res: Results, out: str | os.PathLike[str], title: str | None = None,
                 log: Callable[[str], None] | None = None) -> dict[str, Path]:
    r"""Write the report of ``res`` into ``out`` (module docstring); returns the paths of its main files.

    Args:
        res: the loaded results. out: the report folder (created). title: the report's title.
        log: a ``print``-like callable told each stage (optional).

    Raises:
        ValueError: ``out`` cannot be a folder (a file is in the way).
    """
    say = log or (lambda text: None)
    root = A.check(out, A.output_dir, "out")
    root.mkdir(parents=True, exist_ok=True)
    preset = res.manifest.get("preset")
    title = title or f"urnn_zoo comparison{f' ({preset} preset)' if preset else ''}"
    info = provenance(res.runs, res.timings, res.asv, configs=res.configs, manifest=res.manifest)
    unique = res.runs.drop_duplicates("run")
    n_ok, n = int(unique.ok.sum()), len(unique)
    n_diverged = int((unique.status == RunStatus.DIVERGED).sum())
    import urnn_zoo as uz

    cells = uz.cell_names()
    blocks: list[tuple] = [("h1", title)]
    if n == 0:
        blocks.append(("p", "No runs were found: there are no metrics to tabulate or plot. Every registered cell "
                            "is listed below as not run. Run `urnn-zoo compare --preset quick --out runs/quick` "
                            "(or `urnn-zoo train`) and point `urnn-zoo report --runs` at the folder."))
    else:
        described = f" Preset {preset}: {res.manifest['description']}." if res.manifest.get("description") else ""
        diverged = f", {n_diverged} diverged" if n_diverged else ""
        blocks.append(("p", f"{n} runs of {unique.cell.nunique()} of the {len(cells)} registered cells on "
                            f"{unique.task_label.nunique()} tasks: {n_ok} finished{diverged}, "
                            f"{n - n_ok - n_diverged} did not finish (named in the tables and under "
                            f"Failures).{described}"))
    if len(res.skipped):
        blocks.append(("p", f"{len(res.skipped)} run folder(s) or file(s) could not be read and are left out: "
                            f"see Skipped."))
    blocks += [("h2", "Provenance"), ("list", _provenance_items(info))]
    settings = settings_table(res)
    blocks += [("h2", "Settings"), ("table", settings, SETTINGS_CAPTION) if len(settings) else ("p", "No runs."),
               ("links", _write_table(root, "settings", settings, None, "Training settings of the runs."))]

    say(f"report: writing tables into {root / 'tables'}")
    blocks.append(("h2", "Coverage"))
    cov = coverage(res)
    blocks += [("table", cov, "Every registered cell against every task: ok, FAILED or not run."),
               ("links", _write_table(root, "coverage", cov, None, "Coverage of the comparison."))]

    blocks += _claim_blocks(res, root)

    blocks += [("h2", "Tables"), ("p", tables_note())]
    for task_label in tasks_of(res):
        sel = unique[unique.task_label == task_label]
        data = "; ".join(dict.fromkeys(sel.data_source.dropna())) or "unknown"
        stand_in = bool(sel.stand_in.fillna(False).any())
        for arm in arms_of(res, task_label):
            numbers = paper_table(res, task_label, arm)
            text = formatted(numbers)
            metric, higher = headline(sel.task.iloc[0])
            caption = (f"{task_label}, {_arm_title(arm)}. Data: {data}"
                       f"{' — a STAND-IN for the paper data set, not comparable with published numbers' if stand_in else ''}. "
                       f"Headline metric: {metric} ({'higher' if higher else 'lower'} is better).")
            name = f"table-{_slug(task_label)}-{_slug(arm or 'runs')}"
            blocks += [("h3", f"{task_label}: {_arm_title(arm)}"), ("table", text, caption),
                       ("links", _write_table(root, name, text, numbers, caption))]
    if not tasks_of(res):
        blocks.append(("p", "No task tables: no runs."))

    blocks.append(("h2", "Speed"))
    tt = timing_table(res)
    blocks += [("table", tt, "Forward+backward milliseconds per sequence (mean ± std over repeats), the "
                             "timing workload's options (a row per other option set a run trained with), float32; column: N, source, workload, device. Every size timed is in "
                             "data/timings.csv and in the figure below."),
               ("links", _write_table(root, "timings", tt, None, "Forward+backward ms per sequence."))]
    say(f"report: drawing figures into {root / 'figures'}")
    paths = figs.write_all(res, root / "figures")
    order = ["speed_by_size", "speed_accuracy", "params_accuracy", "learning_curves", "drift"]
    for name in order:
        if name == "speed_accuracy":
            blocks.append(("h2", "Figures"))
        p = paths.get(name)
        if p is None:
            blocks.append(("p", f"{FIGURE_CAPTIONS[name].split(':')[0]}: no data to plot."))
        else:
            blocks.append(("figure", f"figures/{p[0].name}", f"figures/{p[1].name}", FIGURE_CAPTIONS[name]))

    blocks.append(("h2", "Failures"))
    bad = failures(res)
    if len(bad):
        text = bad.astype(object).where(bad.notna(), "–").astype(str)
        blocks += [("table", text, "Runs without a result (failed, diverged, stopped or incomplete), with the "
                                   "reason."),
                   ("links", _write_table(root, "failures", text, None, "Runs without a result."))]
    else:
        blocks.append(("p", "None: every run finished." if n else "No runs."))
    if len(res.skipped):
        skipped = res.skipped.astype(object).where(res.skipped.notna(), "–").astype(str)
        blocks += [("h2", "Skipped"),
                   ("table", skipped, "Run folders and files that could not be read, why, and what to do."),
                   ("links", _write_table(root, "skipped", skipped, None, "Skipped run folders and files."))]

    data = root / "data"
    data.mkdir(exist_ok=True)
    frames = {"runs": res.runs, "configs": res.configs, "finals": res.finals, "curves": res.curves,
              "timings": res.timings,
              "asv": res.asv.drop(columns="params") if "params" in res.asv else res.asv, "skipped": res.skipped}
    for name, frame in frames.items():
        frame.to_csv(data / f"{name}.csv", index=False)
    (root / "provenance.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    bib = references(cells)
    (root / "references.bib").write_text(bib)
    blocks += [("h2", "Data and provenance files"),
               ("links", [(f"{k}.csv", f"data/{k}.csv") for k in frames] + [("provenance.json", "provenance.json")]),
               ("h2", "References"),
               ("p", "Models in this report and the papers they come from: " + "; ".join(
                   f"{c} ({display_name(c)})" for c in cells) + ". Cite the suite itself as its entry `urnn_zoo`, the "
                   "first in references.bib (the repository's CITATION.cff says the same)."),
               ("links", [("references.bib", "references.bib")]), ("pre", bib or "(no entries)")]
    md, page = root / "report.md", root / "report.html"
    say(f"report: writing {md} and {page}")
    md.write_text(to_md(blocks))
    page.write_text(to_html(blocks, root, title))
    return {"markdown": md, "html": page, "bibtex": root / "references.bib", "provenance": root / "provenance.json"}


def write_report(runs: str | os.PathLike[str] | None, out: str | os.PathLike[str],
                 asv: str | os.PathLike[str] | None = None, title: str | None = None,
                 log: Callable[[str], None] | None = None) -> dict[str, Path]:
    r"""Load runs (and asv results) and write their report: :func:`load_results` then :func:`build_report`.

    Every argument is checked before anything is read or written.

    Args:
        runs: an existing folder of run folders (``None``: no runs). out: the report folder. asv: an existing
            asv results folder (optional). title: the report's title. log: a ``print``-like callable told each
            stage (optional).

    Raises:
        ValueError: ``runs`` or ``asv`` is not an existing folder, ``out`` cannot be a folder, ``title`` is
            not text.

    Example::

        >>> write_report("runs/quick", "reports/quick")["html"]              # doctest: +SKIP
        PosixPath('reports/quick/report.html')
    """
    if runs is not None:
        runs = A.check(runs, A.existing_dir, "runs")
    if asv is not None:
        asv = A.check(asv, A.existing_dir, "asv")
    out = A.check(out, A.output_dir, "out")
    if title is not None and not isinstance(title, str):
        raise ValueError(f"title: expected a text, got {title!r}")
    return build_report(load_results(runs, asv, log), out, title, log)
