r"""``urnn-zoo report``: loaders on real run folders (made here by ``compare`` and ``train`` at smoke sizes) and on
real asv results (``tests/fixtures/asv``, written by ``asv run`` on this suite's benchmarks), the tidy frames'
columns and types, tables whose numbers are the runs' numbers, figures, the HTML's links, BibTeX, and reports
from zero runs or failed runs."""
from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.compare import Preset, TaskPlan, compare
from urnn_zoo.report import add_report_parser, load_asv, load_results, write_report
from urnn_zoo.report.bibtex import BIBTEX, FAMILIES, SUITE_BIBTEX, bibtex_for, label
from urnn_zoo.report.figures import pareto_front
from urnn_zoo.report.asv import asv_timings
from urnn_zoo.runs import ASV_COLUMNS, CURVE_COLUMNS, FINAL_COLUMNS, RUN_COLUMNS, TIMING_COLUMNS
from urnn_zoo.report.tables import coverage, formatted, paper_table, tasks_of, to_latex, to_markdown
from urnn_zoo.training import train

ASV = Path(__file__).parent / "fixtures" / "asv"
TRAIN = dict(batch_size=4, eval_every=2, eval_batches=1, test_batches=1, log_every=1)
# N=6 is not a power of two, so eurnn_fft fails in the equal-N arm (a real failure); its budget run works.
PLAN = Preset("fixture", (TaskPlan("copy", {"T": 3}, steps=4, train=TRAIN, hidden=(6,), budgets=(400,)),),
              seeds=(0, 1), timing_hidden=(6,), timing_batch=2, timing_length=4, timing_repeats=2)
CELLS = ["kru", "lstm", "eurnn_fft"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    compare(PLAN, out, cells=CELLS, jobs=1, quiet=True)
    # A run outside the comparison that diverges: stopped by a non-finite loss.
    train("rnn", "adding", out=out, hidden=4, steps=3, seed=0, task_options={"T": 3}, lr=1e30, progress="none",
          **TRAIN)
    # And one that ends with garbage: its copy loss grows a million-fold (diverged, urnn_zoo.runs.divergence).
    train("exprnn", "copy", out=out, hidden=8, steps=20, seed=0, task_options={"T": 3}, lr=1e6, eval_every=10,
          progress="none", **{k: v for k, v in TRAIN.items() if k != "eval_every"})
    return out


@pytest.fixture(scope="module")
def res(runs):
    return load_results(runs, ASV)


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(runs, out, ASV)
    return out


def _check_types(frame: pd.DataFrame, columns: dict[str, str]) -> None:
    assert list(frame.columns[: len(columns)]) == list(columns)
    for col, dtype in columns.items():
        if dtype == "object":
            continue
        if dtype.startswith("datetime"):
            assert str(frame[col].dtype).startswith("datetime64"), col
        elif dtype == "string":
            assert isinstance(frame[col].dtype, pd.StringDtype), (col, frame[col].dtype)
        else:
            assert str(frame[col].dtype) == dtype, (col, frame[col].dtype)


# ----------------------------------------------------------------------------------------- loaders
def test_frames_have_the_documented_columns_and_types(res):
    _check_types(res.runs, RUN_COLUMNS)
    _check_types(res.finals, FINAL_COLUMNS)
    _check_types(res.curves, CURVE_COLUMNS)
    _check_types(res.timings, TIMING_COLUMNS)
    _check_types(res.asv, ASV_COLUMNS)


def test_runs_frame_holds_every_run_and_arm(res, runs):
    folders = {p.parent.name for p in runs.glob("*/config.json")}
    assert set(res.runs.run) == folders | {"eurnn_fft-copy-T3-N6-s0", "eurnn_fft-copy-T3-N6-s1"}
    assert set(res.runs.arm.dropna()) == {"N=6", "budget 400"}
    failed = res.runs[res.runs.cell == "eurnn_fft"]
    assert (~failed[failed.arm == "N=6"].ok).all() and "power of two" in failed.message.dropna().iloc[0]
    assert failed[failed.arm == "budget 400"].ok.all()
    diverged = res.runs[res.runs.cell == "rnn"].iloc[0]
    assert diverged.status == "stopped: non-finite loss" and not diverged.ok and pd.isna(diverged.arm)


def test_finals_and_curves_are_the_files_numbers(res, runs):
    for folder in runs.glob("*/summary.json"):
        summary = json.loads(folder.read_text())
        name = folder.parent.name
        rows = res.finals[(res.finals.run == name) & (res.finals.split == "test")]
        assert dict(zip(rows.metric, rows.value)) == pytest.approx(summary["final"])
        metrics = pd.read_csv(folder.parent / "metrics.csv")
        assert len(res.curves[res.curves.run == name]) == len(metrics)


def test_asv_loader_reads_real_results():
    raw = {}
    for file in ASV.rglob("*.json"):
        if file.name not in ("machine.json", "benchmarks.json"):
            raw.update(json.loads(file.read_text())["results"])
    asv = load_asv(ASV)
    assert set(asv.benchmark) == set(raw)
    for name, entry in raw.items():
        combos = math.prod(len(p) for p in entry[1]) if len(entry) > 1 and entry[1] else 1
        values = entry[0] if isinstance(entry[0], list) else [entry[0]] * combos
        got = asv[asv.benchmark == name].value.tolist()
        assert len(got) == len(values) == combos
        assert all((v is None and math.isnan(g)) or (isinstance(v, float) and math.isnan(v) and math.isnan(g))
                   or g == pytest.approx(v) for v, g in zip(values, got))
    timing = asv[asv.benchmark.str.endswith("time_forward_backward")]
    assert len(timing) and set(timing.cell) <= set(uz.cell_names()) and timing.hidden.notna().all()
    assert "N" not in asv  # the benchmarks' parameter N is the tidy frame's hidden
    converted = asv_timings(asv)
    assert (converted.source == "asv").all() and (converted.seconds_per_sequence * 32 == converted.seconds).all()


def test_asv_null_result_is_one_nan_row_per_parameter_combination(tmp_path):
    r"""asv 0.6 saves ``"result": null`` when every case of a benchmark is n/a (CUDA memory on a CPU machine):
    that is one NaN row per combination of its parameters, not one row."""
    import shutil

    shutil.copytree(ASV, tmp_path / "asv")
    file = next(f for f in (tmp_path / "asv").rglob("*.json") if f.name not in ("machine.json", "benchmarks.json"))
    data = json.loads(file.read_text())
    name = "bench_cells.CellForwardBackward.time_forward_backward"  # as if no case could run
    params = data["results"][name][1]
    data["results"][name][0] = None
    data["results"][name][2:] = []
    file.write_text(json.dumps(data))
    rows = load_asv(tmp_path / "asv")
    rows = rows[rows.benchmark == name]
    assert len(rows) == math.prod(len(p) for p in params) > 1
    assert rows.value.isna().all()
    assert sorted(zip(rows.cell, rows.hidden, rows.device)) == sorted(
        (eval(c), eval(n), eval(d)) for c in params[0] for n in params[1] for d in params[2])


def test_loading_nothing_gives_empty_typed_frames(tmp_path):
    empty = load_results(tmp_path / "missing", tmp_path / "missing-asv")
    for frame, columns in ((empty.runs, RUN_COLUMNS), (empty.finals, FINAL_COLUMNS), (empty.curves, CURVE_COLUMNS),
                           (empty.timings, TIMING_COLUMNS), (empty.asv, ASV_COLUMNS)):
        assert len(frame) == 0
        _check_types(frame, columns)


# ----------------------------------------------------------------------------------------- tables
def test_tables_numbers_equal_the_runs_numbers(res, runs):
    task = "copy (T=3)"
    for arm in ("N=6", "budget 400"):
        table = paper_table(res, task, arm)
        assert set(table.cell) == set(uz.cell_names())  # every registered cell has a row
        for row in table[table.seeds > 0].itertuples():
            sel = res.runs[(res.runs.cell == row.cell) & (res.runs.arm == arm)]
            summaries = [json.loads((runs / r / "summary.json").read_text()) for r in sel.run]
            assert row.hidden == summaries[0]["hidden"]
            params = summaries[0]["parameters"]
            assert (row.total_stored, row.total_dof, row.recurrent_stored, row.recurrent_dof) == (
                params["stored"], params["dof"], params["recurrent_stored"], params["recurrent_dof"])
            tests = pd.DataFrame([s["final"] for s in summaries])
            for metric in tests:
                assert table.loc[row.Index, f"test {metric} mean"] == pytest.approx(tests[metric].mean())
                assert table.loc[row.Index, f"test {metric} std"] == pytest.approx(tests[metric].std(ddof=1))
        budget_rows = table[table.seeds > 0]
        if arm.startswith("budget"):
            assert (budget_rows.total_stored <= 400).all() or budget_rows.status.str.contains("over the budget").any()


def test_failed_and_missing_cells_are_stated(res):
    table = formatted(paper_table(res, "copy (T=3)", "N=6"))
    status = dict(zip(table.model, table.status))
    assert status[label("eurnn_fft")].startswith("FAILED") and "power of two" in status[label("eurnn_fft")]
    assert status[label("kru")] == "ok (2 seeds)" and status[label("fcurnn")] == "not run"
    cov = coverage(res).set_index("cell")
    assert cov.loc[label("eurnn_fft"), "copy (T=3)"] == "2 of 4 failed (4 runs)"  # N=6 fails, the budget N works
    assert cov.loc[label("rnn"), "adding (T=3)"].startswith("FAILED")
    assert list(cov.index) == [label(c) for c in uz.cell_names()]


def test_a_diverged_run_is_marked(res, report):
    row = res.runs[res.runs.cell == "exprnn"].iloc[0]
    assert row.status == "diverged" and not row.ok and "times that of" in row.message
    cov = coverage(res).set_index("cell")
    assert cov.loc[label("exprnn"), "copy (T=3)"] == "DIVERGED (1 run)"
    table = formatted(paper_table(res, "copy (T=3)", None))
    status = dict(zip(table.model, table.status))[label("exprnn")]
    assert status.startswith("DIVERGED: diverged: its final test loss")
    md = (report / "report.md").read_text()
    assert "1 diverged" in md and "DIVERGED" in md
    assert 'class="bad">DIVERGED' in (report / "report.html").read_text()


def test_markdown_and_latex_writers():
    text = pd.DataFrame({"model": ["kru_lstm (KRU-LSTM)"], "test loss": ["0.50 ± 0.01"], "note": ["a|b 5%"]})
    md = to_markdown(text)
    assert md.splitlines()[0] == "| model | test loss | note |" and "a\\|b" in md
    tex = to_latex(text, "Copy, 5% & more", "tab:x")
    assert r"kru\_lstm" in tex and r"$\pm$" in tex and r"5\% \& more" in tex and r"\label{tab:x}" in tex


def test_pareto_front():
    x, y = pd.Series([1.0, 2.0, 3.0, 4.0]).to_numpy(), pd.Series([0.5, 0.6, 0.9, 0.95]).to_numpy()
    assert pareto_front(x, y, higher_is_better=True).tolist() == [0, 1, 2, 3]
    assert pareto_front(x, y, higher_is_better=False).tolist() == [0]


# ----------------------------------------------------------------------------------------- the report
def test_report_files_and_figures(report):
    for name in ("report.md", "report.html", "references.bib", "provenance.json"):
        assert (report / name).stat().st_size > 0
    for name in ("speed_accuracy", "params_accuracy", "learning_curves", "drift", "speed_by_size"):
        png, svg = report / "figures" / f"{name}.png", report / "figures" / f"{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, name
        assert "<svg" in svg.read_text()[:2000], name
    for stem in ("table-copy-t-3-n-6", "table-copy-t-3-budget-400", "coverage", "timings"):
        for ext in ("csv", "md", "tex"):
            assert (report / "tables" / f"{stem}.{ext}").stat().st_size > 0


def test_report_names_every_cell_and_its_failure(report):
    md = (report / "report.md").read_text()
    for cell in uz.cell_names():
        assert label(cell) in md
    assert "FAILED" in md and "power of two" in md and "stopped: non-finite loss" in md
    assert "Provenance" in md and "Seeds: 0, 1" in md


def test_html_is_self_contained_and_links_only_existing_files(report):
    page = (report / "report.html").read_text()
    refs = re.findall(r'(?:href|src)="([^"]+)"', page)
    assert refs and any(r.startswith("data:image/png;base64,") for r in refs)
    for ref in refs:
        if ref.startswith("data:"):
            continue
        assert "://" not in ref and not ref.startswith("/"), ref
        assert (report / ref).is_file(), ref
    assert "<style>" in page and "<link" not in page and "<script" not in page


def test_numbers_in_the_csv_tables_are_the_frames(report, res):
    csv = pd.read_csv(report / "tables" / "table-copy-t-3-n-6.csv")
    table = paper_table(res, "copy (T=3)", "N=6")
    pd.testing.assert_series_equal(csv["test loss mean"], table["test loss mean"].astype(float), check_names=False)


def test_provenance_and_bibtex(report):
    info = json.loads((report / "provenance.json").read_text())
    assert info["report"]["versions"]["torch"] and info["report"]["cpu"] and info["report"]["cores"]
    assert info["runs"]["seeds"] == [0, 1] and info["runs"]["devices"] == ["cpu"]
    assert info["asv"]["machines"]
    bib = (report / "references.bib").read_text()
    for cell in uz.cell_names():
        assert cell in FAMILIES, f"{cell} has no BibTeX family entry"
        for key in FAMILIES[cell].keys:
            assert f"{{{key}," in bib
    for key, entry in BIBTEX.items():
        assert entry.count("{") == entry.count("}") and entry.startswith("@") and f"{{{key}," in entry
    assert "pages     = {2380--2389}" in BIBTEX["jose2018kru"]
    assert bibtex_for([]) == ""
    assert bib.startswith("@software{urnn_zoo,")  # the suite's own entry comes first


def test_the_suite_is_cited_alike_in_its_bibtex_its_citation_file_and_its_package():
    import re
    from importlib import metadata

    import yaml

    root = Path(__file__).resolve().parents[1]
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    fields = dict(re.findall(r"^\s*(\w+)\s*=\s*\{(.*)\},?$", SUITE_BIBTEX, flags=re.M))
    assert fields["title"].replace("\\_", "_") == cff["title"]
    assert fields["author"].replace("\\_", "_") == "{" + cff["authors"][0]["name"] + "}"
    assert fields["version"] == cff["version"] == metadata.version("urnn_zoo")
    assert fields["year"] == str(cff["date-released"])[:4]
    assert fields["license"] == cff["license"] == "MIT"
    assert "MIT License" in (root / "LICENSE").read_text()
    assert SUITE_BIBTEX.count("{") == SUITE_BIBTEX.count("}")


def test_report_from_zero_runs(tmp_path):
    (tmp_path / "nothing").mkdir()
    paths = write_report(tmp_path / "nothing", tmp_path / "out")
    md = paths["markdown"].read_text()
    assert "No runs were found" in md and "no data to plot" in md
    for cell in uz.cell_names():
        assert label(cell) in md
    assert paths["html"].stat().st_size > 0


def test_report_from_failed_runs_only(tmp_path):
    compare(Preset("bad", (TaskPlan("copy", {"T": 3}, steps=2, train=TRAIN, hidden=(6,)),), (0,), (6,),
                   timing_batch=2, timing_length=3, timing_repeats=1), tmp_path / "runs", cells=["eurnn_fft"],
            quiet=True)
    paths = write_report(tmp_path / "runs", tmp_path / "out")
    md = paths["markdown"].read_text()
    assert "1 runs of 1 of the" in md and "0 finished" in md and "FAILED" in md
    assert "Speed against accuracy: no data to plot" in md


def test_tasks_in_first_seen_order(res):
    assert tasks_of(res)[0] == "copy (T=3)"


def test_cli_parser(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="urnn-zoo")
    add_report_parser(parser.add_subparsers(dest="command"))
    (tmp_path / "empty").mkdir()
    args = parser.parse_args(["report", "--runs", str(tmp_path / "empty"), "--out", str(tmp_path / "r")])
    assert args.func(args) == 0 and (tmp_path / "r" / "report.html").is_file()
    assert "report: writing" in capsys.readouterr().err  # not silent until the end
    for argv in (["--runs", str(tmp_path / "none")], ["--asv", str(tmp_path / "none")],
                 ["--out", str(tmp_path / "r" / "report.html")]):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(["report", "--out", str(tmp_path / "r2"), "--runs", str(tmp_path / "empty"), *argv])
        assert exit_.value.code == 2
        assert "expected" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


@given(columns=st.lists(st.tuples(st.booleans(), st.lists(st.sampled_from(["–", ""]), max_size=2)), min_size=1,
                        max_size=5), numbers=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=4),
       words=st.lists(st.text("abcxyz ()", min_size=1).filter(lambda w: w.strip()), min_size=1, max_size=4))
def test_tables_align_number_columns_right_and_text_columns_left(columns, numbers, words):
    width = max(len(numbers), len(words)) + 2
    data = {}
    for i, (numeric, blanks) in enumerate(columns):  # a column of numbers or of words, with "–" or blanks
        values = [f"{v:.4g}" for v in numbers] if numeric else [w.strip() for w in words]
        data[f"c{i}"] = (values + blanks + ["–"] * width)[:width]
    frame = pd.DataFrame(data)
    rule = to_markdown(frame).splitlines()[1].strip("|").split("|")
    assert rule == ["---:" if numeric else "---" for numeric, _ in columns]
    spec = re.search(r"\\begin\{tabular\}\{(\w+)\}", to_latex(frame, "c", "tab:c")).group(1)
    assert spec == "".join("r" if numeric else "l" for numeric, _ in columns)
