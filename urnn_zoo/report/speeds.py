r"""The speed of a model in a report: the timing rows of a (cell, cell options, N), and the names of timed
option sets. Every speed a table or figure shows comes from :func:`timing_rows` (Note [A timing is of a cell's
options] of :mod:`urnn_zoo.runs.timings`): a run group's own options are matched, compare's rows come before
asv's (which are of the workload's options), and a model that was not timed has no speed, never another
variant's.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from urnn_zoo.runs.timings import options_key, timing_options, timing_variant

from .bibtex import label
from .load import Results

__all__ = ["run_options", "speed_of", "speed_spread", "timing_label", "timing_labels", "timing_rows"]


def run_options(res: Results, runs: pd.DataFrame) -> dict[str, Any] | None:
    r"""The cell options a group of ``runs`` rows trained with (one cell, variant and N): the ``cell_options``
    of their ``config.json`` (the ``configs`` frame); for a group none of whose runs has one (a run that failed
    before its folder was made), the defaults when its variant is empty, else ``None`` (unknown)."""
    configs = res.configs
    if configs is not None and len(configs) and "cell_options" in configs:
        known = configs.cell_options[configs.run.isin(set(runs.run))].dropna()
        if len(known):
            return json.loads(known.iloc[0])
    variants = set(runs.variant.fillna("")) if len(runs) else {""}
    return {} if variants == {""} else None


def timing_rows(res: Results, cell: str, hidden: int, options: dict[str, Any] | None) -> pd.DataFrame:
    r"""The timing repeats of ``cell`` at N = ``hidden`` with ``options`` (the one selection of the report's
    speeds): rows whose options name the same model (:func:`urnn_zoo.runs.timings.options_key`; a row without
    options, asv's, is of the workload's options), compare's rows when there are any, else asv's; no rows for
    ``options`` ``None`` (unknown) or when that model was not timed (Note [A timing is of a cell's options] of
    :mod:`urnn_zoo.runs.timings`). Rows with NaN seconds (a case that failed) are left out."""
    t = res.timings
    if t is None or not len(t) or options is None:
        return pd.DataFrame(columns=list(t.columns) if t is not None else [])
    sel = t[(t.cell == cell) & (t.hidden == hidden) & t.seconds_per_sequence.notna()]
    texts = [x if isinstance(x, str) and x else None for x in sel.get("cell_options", [None] * len(sel))]
    keys = {x: options_key(cell, timing_options(cell, hidden, x)) for x in set(texts)}  # once per option set
    want = options_key(cell, options)
    sel = sel[np.array([keys[x] == want for x in texts], dtype=bool)]
    if (sel.source == "compare").any():
        sel = sel[sel.source == "compare"]
    return sel


def speed_of(res: Results, cell: str, hidden: int, options: dict[str, Any] | None) -> tuple[float, float]:
    r"""Mean and std (over repeats) of forward+backward milliseconds per sequence of ``cell`` with ``options`` at
    ``hidden`` (:func:`timing_rows`: compare's timings first, asv's otherwise); NaN when that model was not
    timed (never another variant's speed)."""
    sel = timing_rows(res, cell, hidden, options)
    if not len(sel):
        return math.nan, math.nan
    ms = sel.seconds_per_sequence * 1e3
    return float(ms.mean()), float(ms.std(ddof=1)) if len(ms) > 1 else math.nan


def speed_spread(res: Results, cell: str, hidden: int,
                 options: dict[str, Any] | None) -> tuple[float, float, float, str]:
    r"""Mean, fastest and slowest forward+backward ms per sequence over the timing repeats of ``cell`` with
    ``options`` at ``hidden``, and their workload (``"B=2, T=4"``): the rows of :func:`timing_rows`, which
    :func:`speed_of` averages; NaN and ``""`` when that model was not timed."""
    sel = timing_rows(res, cell, hidden, options)
    if not len(sel):
        return math.nan, math.nan, math.nan, ""
    ms = sel.seconds_per_sequence * 1e3
    workload = ", ".join(sorted({f"B={b}, T={ln}" for b, ln in zip(sel.batch, sel.length)}))
    return float(ms.mean()), float(ms.min()), float(ms.max()), workload


def timing_label(cell: str, hidden: int, options_json: Any) -> str:
    r"""The row name of a timed case in the timing table and the speed-by-size figure: the cell's label, with
    its options in brackets when they are not the workload's (``kru (KRU) [factors=[2, 2, 2]]``)."""
    variant = timing_variant(cell, hidden, timing_options(cell, hidden, options_json))
    return label(cell) + (f" [{variant}]" if variant else "")


def timing_labels(t: pd.DataFrame) -> list[str]:
    r""":func:`timing_label` of every row of a timings frame (worked out once per distinct case)."""
    texts = t.get("cell_options", [None] * len(t))
    cases = [(c, int(h), o if isinstance(o, str) and o else None) for c, h, o in zip(t.cell, t.hidden, texts)]
    names = {case: timing_label(*case) for case in set(cases)}
    return [names[case] for case in cases]
