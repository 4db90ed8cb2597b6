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
# # The paper tables
#
# The KRU paper's Tables 2–4 list, per model, the hidden size, the total and recurrent parameter counts and
# the metrics. This notebook prints the same tables from a comparison's runs (every registered cell, both
# parameter conventions, mean ± std over seeds) and checks the parameter-count template against the paper:
# the suite's counts of the paper's own configurations next to the paper's numbers.
#
# Runs headless as plain Python. `URNN_ZOO_RUNS` names the runs folder (default `runs/quick`),
# `URNN_ZOO_ANALYSIS_OUT` where the tables go (default `reports/analysis`).

# %%
import os
from pathlib import Path

import pandas as pd

import urnn_zoo as uz
from urnn_zoo.report import load_results
from urnn_zoo.report.tables import arms_of, formatted, paper_table, tasks_of, to_latex, to_markdown

RUNS = os.environ.get("URNN_ZOO_RUNS", "runs/quick")
OUT = Path(os.environ.get("URNN_ZOO_ANALYSIS_OUT", "reports/analysis"))
OUT.mkdir(parents=True, exist_ok=True)
res = load_results(RUNS)

# %% [markdown]
# ## One table per task and arm

# %%
for task_label in tasks_of(res):
    for arm in arms_of(res, task_label):
        text = formatted(paper_table(res, task_label, arm))
        print(f"\n### {task_label}, {arm or 'runs'}\n")
        print(to_markdown(text))
        stem = f"paper-{task_label}-{arm or 'runs'}".replace(" ", "_").replace("(", "").replace(")", "")
        (OUT / f"{stem}.tex").write_text(to_latex(text, f"{task_label}, {arm}", f"tab:{stem}"))
if not tasks_of(res):
    print("no runs: no tables")

# %% [markdown]
# ## The parameter-count template against the paper
#
# The KRU paper's totals (Jose, Cissé, Fleuret, ICML 2018, arXiv 1705.10142) count stored reals: a complex
# input matrix (2·N·n_in), N real biases, the Kronecker factors, and a readout on [Re h; Im h]
# (2N·n_out + n_out) ([docs/parameter-counting.md](../docs/parameter-counting.md#the-kru-papers-tables)). The
# suite's `SequenceModel.parameter_count()` of the paper's configurations:

# %%
PAPER = [  # (table, model, cell, N, n_in, n_out, options, paper total, paper recurrent)
    ("2 (MNIST)", "KRU", "kru", 512, 1, 10, {"factors": [2] * 9}, "≈11K", "72"),
    ("2 (MNIST)", "LSTM", "lstm", 128, 1, 10, {}, "≈68K", "≈65K"),
    ("3 (PTB)", "KRU", "kru", 411, 50, 50, {"factors": [3, 137]}, "≈120K", "≈38K"),
    ("3 (PTB)", "KRU", "kru", 993, 50, 50, {"factors": [3, 331]}, "≈418K", "≈220K"),
    ("3 (PTB)", "RNN", "rnn", 300, 50, 50, {}, "≈120K", "90K"),
    ("3 (PTB)", "LSTM", "lstm", 150, 50, 50, {}, "≈127K", "90K"),
]
rows = []
for table, model, cell, n, n_in, n_out, opts, total, recurrent in PAPER:
    counts = uz.SequenceModel(uz.make_cell(cell, n_in, n, **opts), n_out).parameter_count()
    rows.append({"table": table, "model": model, "N": n, "suite total": f"{counts.stored:,}",
                 "paper total": total, "suite recurrent": f"{counts.recurrent_stored:,}",
                 "paper recurrent": recurrent})
print(pd.DataFrame(rows).to_string(index=False))
