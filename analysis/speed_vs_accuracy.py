# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Speed against accuracy
#
# Which cells are worth their time? For every task and comparison arm of a comparison (`urnn-zoo compare`),
# the headline test metric of each cell against its forward+backward time per sequence, and the cells on the
# Pareto front: no other cell is both faster and better.
#
# Runs headless as plain Python (`python analysis/speed_vs_accuracy.py`) or as a notebook (jupytext).
# `URNN_ZOO_RUNS` names the runs folder (default `runs/quick`), `URNN_ZOO_ASV` an asv results folder
# (optional), `URNN_ZOO_ANALYSIS_OUT` where the figure goes (default `reports/analysis`).

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from urnn_zoo.report import load_results  # noqa: E402
from urnn_zoo.report.figures import summary_points, pareto_front, speed_accuracy  # noqa: E402
from urnn_zoo.report.tables import headline  # noqa: E402

RUNS = os.environ.get("URNN_ZOO_RUNS", "runs/quick")
ASV = os.environ.get("URNN_ZOO_ASV") or None
OUT = Path(os.environ.get("URNN_ZOO_ANALYSIS_OUT", "reports/analysis"))
res = load_results(RUNS, ASV)
print(f"{res.runs.run.nunique()} runs from {RUNS}; {len(res.timings)} timing rows")

# %% [markdown]
# One point per task, arm, cell and N: the mean of the headline test metric over the seeds that finished,
# with the cell's forward+backward milliseconds per sequence at that N.

# %%
points = summary_points(res)
if len(points):
    print(points[["task_label", "arm", "label", "hidden", "metric", "value", "ms", "params"]]
          .sort_values(["task_label", "arm", "ms"]).to_string(index=False))
else:
    print("no finished runs: nothing to compare")

# %% [markdown]
# ## The Pareto front of each task and arm (through the points better than the memoryless baseline)

# %%
fronts = []
for (task_label, arm), g in points.groupby(["task_label", "arm"]) if len(points) else []:
    g = g[g.ms.notna()]
    if not len(g):
        continue
    _, higher = headline(g.task.iloc[0])
    baseline = g.baseline.dropna()  # only points better than the memoryless baseline are on a front
    idx = pareto_front(g.ms.to_numpy(float), g.value.to_numpy(float), higher,
                       baseline.iloc[0] if len(baseline) else None)
    fronts.append(g.iloc[idx].assign(rank=range(1, len(idx) + 1)))
fronts = [f for f in fronts if len(f)]
print(f"{len(fronts)} Pareto front(s) through points better than the memoryless baseline")
front = pd.concat(fronts) if fronts else pd.DataFrame()
if len(front):
    print(front[["task_label", "arm", "rank", "label", "hidden", "ms", "metric", "value"]].to_string(index=False))

# %%
paths = speed_accuracy(res, OUT)
print("figure:", paths[0] if paths else "no data to plot")
