r"""The ``analysis/`` notebooks: jupytext ``py:percent`` files that run headless as plain ``python`` on the same
loaders as the report, here on small run folders made by ``compare`` at smoke sizes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from urnn_zoo.compare import Preset, TaskPlan, compare

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "analysis").glob("*.py"))
TRAIN = dict(batch_size=4, eval_every=2, eval_batches=1, test_batches=1, log_every=1)
PLAN = Preset("fixture", (TaskPlan("adding", {"T": 3}, steps=2, train=TRAIN, hidden=(8,)),), seeds=(0,),
              timing_hidden=(8,), timing_batch=2, timing_length=3, timing_repeats=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    compare(PLAN, out, cells=["kru", "fcurnn", "rnn"], quiet=True)
    return out


def test_the_three_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} >= {"speed_vs_accuracy", "paper_tables", "drift"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_jupytext_percent(path):
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(path)
    assert notebook.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    kinds = {cell.cell_type for cell in notebook.cells}
    assert kinds == {"markdown", "code"} and len(notebook.cells) >= 4


def test_notebooks_run_headless_as_plain_python(runs, tmp_path):
    r"""All notebooks in one interpreter (one torch import), each as ``__main__``, as ``python file.py`` would;
    then the first one as a real ``python file.py`` subprocess."""
    env = dict(os.environ, URNN_ZOO_RUNS=str(runs), URNN_ZOO_ANALYSIS_OUT=str(tmp_path), MPLBACKEND="Agg")
    env.pop("DISPLAY", None)
    script = "import runpy, sys\nfor p in sys.argv[1:]:\n    print('== ' + p)\n    runpy.run_path(p, run_name='__main__')\n"
    done = subprocess.run([sys.executable, "-c", script, *map(str, NOTEBOOKS)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "3 runs from" in out and "Pareto front(s) through points better than" in out  # speed_vs_accuracy
    fronts = int(out.split(" Pareto front(s)")[0].rsplit("\n", 1)[-1])
    assert ("rank" in out) == (fronts > 0)  # a front is listed, ranked, exactly when one exists
    assert "kru (KRU)" in out and "11,858" in out and "120,217" in out  # paper_tables: tables and template
    assert "fcurnn" in out and "growth" in out  # drift: per-run errors
    for figure in ("speed_accuracy.png", "drift.png"):
        assert (tmp_path / figure).stat().st_size > 0
    assert any(tmp_path.glob("paper-*.tex"))


def test_a_notebook_runs_with_no_runs(tmp_path):
    env = dict(os.environ, URNN_ZOO_RUNS=str(tmp_path / "none"), URNN_ZOO_ANALYSIS_OUT=str(tmp_path), MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(ROOT / "analysis" / "drift.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no unitarity measurements" in done.stdout and "no data to plot" in done.stdout
