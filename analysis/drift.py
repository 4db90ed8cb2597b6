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
# # Unitarity drift over training
#
# ‖W^H W − I‖_F of each cell's recurrent matrix at every evaluation of its runs (float32). Exactly
# constrained cells (FC-uRNN, RC-uRNN, EURNN, oRNN, expRNN, scoRNN) should stay at rounding level; KRU's soft
# penalty lets it drift as far as λ allows; unconstrained cells (LSTM, RNN) are listed for reference only.
#
# Runs headless as plain Python. `URNN_ZOO_RUNS` names the runs folder (default `runs/quick`),
# `URNN_ZOO_ANALYSIS_OUT` where the figure goes (default `reports/analysis`).

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from urnn_zoo.report import load_results  # noqa: E402
from urnn_zoo.report.figures import drift  # noqa: E402

RUNS = os.environ.get("URNN_ZOO_RUNS", "runs/quick")
OUT = Path(os.environ.get("URNN_ZOO_ANALYSIS_OUT", "reports/analysis"))
res = load_results(RUNS)
curves = res.curves[(res.curves.split == "model") & (res.curves.metric == "unitarity_error")]
constraint = res.runs.drop_duplicates("run").set_index("run").constraint
curves = curves.assign(constraint=curves.run.map(constraint))
print(f"{curves.run.nunique()} runs with unitarity measurements")

# %% [markdown]
# ## First and last error of every run, and their ratio

# %%
if len(curves):
    ends = curves.sort_values("step").groupby("run").agg(
        cell=("cell", "first"), task=("task_label", "first"), constraint=("constraint", "first"),
        first=("value", "first"), last=("value", "last"), steps=("step", "max"))
    ends["growth"] = ends["last"] / ends["first"].where(ends["first"] > 0)
    print(ends.sort_values(["constraint", "last"]).to_string())
else:
    ends = pd.DataFrame()
    print("no unitarity measurements")

# %% [markdown]
# ## Exact cells: the worst error seen

# %%
if len(ends):
    exact = ends[ends.constraint == "exact"]
    print(exact.groupby("cell")["last"].max().sort_values().to_string() if len(exact) else "no exact cells")

# %%
paths = drift(res, OUT)
print("figure:", paths[0] if paths else "no data to plot")
