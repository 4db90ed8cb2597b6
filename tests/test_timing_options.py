r"""A timing is of a (cell, cell options, N): ``urnn-zoo compare`` times every (cell, N, options) its runs train
plus the preset's sizes at the workload's options, ``timings.csv`` (schema 2) records the options, a file of
schema 1 reads as the workload's options and migrates to schema 2 without losing a row, and the report gives
each run group the speed of what it trained (NaN when that was not timed, never another variant's speed).

Expected speeds are the ``timings.csv`` rows written in the tests (means and standard deviations worked out
here by hand), never numbers the code computed."""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.container import ErrorbarContainer

from urnn_zoo.compare import CellSettings, Preset, TaskPlan, compare, time_cells
from urnn_zoo.compare import timing as timing_module
from urnn_zoo.compare.timing import pending_cases
from urnn_zoo.report import load_results
from urnn_zoo.report.figures import draw, summary_points
from urnn_zoo.report.load import Results
from urnn_zoo.report.speeds import speed_of, speed_spread
from urnn_zoo.report.tables import paper_table, timing_table
from urnn_zoo.runs import (ASV_COLUMNS, CURVE_COLUMNS, FINAL_COLUMNS, RUN_COLUMNS, TIMING_COLUMNS, TIMINGS_FILE,
                           TIMINGS_SCHEMA, RecordError, read_timings, typed_frame)
from urnn_zoo.runs.tidy import open_for_append
from urnn_zoo.workload import workload_options

TRAIN = dict(batch_size=4, eval_every=2, eval_batches=1, test_batches=1, log_every=1)
FACTORS = {"factors": [2, 2, 2]}  # three 2x2 factors at N = 8 (the default rule gives [2, 4])
DEFAULTS_TEXT, FACTORS_TEXT = "{}", '{"factors": [2, 2, 2]}'
TWO_KRU = Preset("two-kru", (
    TaskPlan("copy", {"T": 3}, steps=2, train=TRAIN, hidden=(8,), cells=("kru",),
             settings={"kru": CellSettings(options=FACTORS, why="three 2x2 factors")}),
    TaskPlan("copy", {"T": 3}, steps=2, train=TRAIN, hidden=(8,), cells=("kru",))),
    seeds=(0,), timing_hidden=(8,), timing_batch=2, timing_length=3, timing_repeats=2)
HEADER_1 = ("cell,hidden,batch,length,input_size,device,device_name,dtype,threads,repeat,seconds,"
            "seconds_per_sequence,source,error,schema")
HEADER_2 = ("cell,hidden,cell_options,batch,length,input_size,device,device_name,dtype,threads,repeat,seconds,"
            "seconds_per_sequence,source,error,schema")
# The speeds of the report tests: defaults 1 and 2 ms per sequence (mean 1.5, std 1/sqrt(2)); three 2x2 factors
# 5 and 7 ms (mean 6, std sqrt(2)).
TWO_VARIANTS = f"""{HEADER_2}
kru,8,{{}},2,3,10,cpu,test cpu,float32,1,0,0.002,0.001,compare,,2
kru,8,{{}},2,3,10,cpu,test cpu,float32,1,1,0.004,0.002,compare,,2
kru,8,"{{""factors"": [2, 2, 2]}}",2,3,10,cpu,test cpu,float32,1,0,0.010,0.005,compare,,2
kru,8,"{{""factors"": [2, 2, 2]}}",2,3,10,cpu,test cpu,float32,1,1,0.014,0.007,compare,,2
"""


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_kru(tmp_path_factory):
    r"""A comparison where KRU trains at N = 8 with its default factors and with three 2x2 factors."""
    out = tmp_path_factory.mktemp("two-kru")
    compare(TWO_KRU, out, cells=["kru"], jobs=1, quiet=True)
    return out


@pytest.fixture
def reported(two_kru, tmp_path):
    r"""``reported(text)``: the results of a copy of the comparison whose ``timings.csv`` is ``text``."""
    def make(text: str) -> Results:
        folder = tmp_path / "runs"
        shutil.copytree(two_kru, folder)
        (folder / TIMINGS_FILE).write_text(text)
        return load_results(folder)

    return make


# ----------------------------------------------------------------------------------------- compare
def test_a_grid_with_two_kru_variants_times_each_of_them(two_kru):
    rows = csv_rows(two_kru / TIMINGS_FILE)
    cases: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for row in rows:
        cases.setdefault((row["cell"], row["hidden"], row["cell_options"]), []).append(row)
    assert set(cases) == {("kru", "8", DEFAULTS_TEXT), ("kru", "8", FACTORS_TEXT)}
    for found in cases.values():  # two repeats each (timing_repeats), timed, of schema 2
        assert [r["repeat"] for r in found] == ["0", "1"]
        assert all(float(r["seconds"]) > 0 and r["error"] == "" and r["schema"] == "2" for r in found)
    again = compare(TWO_KRU, two_kru, cells=["kru"], jobs=1, quiet=True)  # both cases are already timed
    assert csv_rows(two_kru / TIMINGS_FILE) == rows and {r["action"] for r in again["runs"]} == {"reused"}


def test_each_case_is_timed_with_its_own_options(tmp_path, monkeypatch):
    built, real = [], timing_module.workload.build_cell

    def spy(cell, hidden, **kwargs):
        built.append((cell, hidden, kwargs.get("options")))
        return real(cell, hidden, **kwargs)

    monkeypatch.setattr(timing_module.workload, "build_cell", spy)
    lines: list[str] = []
    rows = time_cells([("kru", 8, FACTORS), ("kru", 8, None), ("kru", 8, {"factors": [2, 2]})], tmp_path / "t.csv",
                      batch=2, length=3, repeats=1, log=lines.append)
    assert built == [("kru", 8, {}), ("kru", 8, {"factors": [2, 2, 2]})]  # [2, 2] is refused before building
    by_options = {r["cell_options"]: r for r in rows}
    assert sorted(by_options) == sorted(["{}", '{"factors": [2, 2]}', FACTORS_TEXT]) and len(rows) == 3
    assert by_options["{}"]["seconds"] > 0 and by_options[FACTORS_TEXT]["seconds"] > 0
    refused = by_options['{"factors": [2, 2]}']
    assert math.isnan(refused["seconds"]) and refused["error"].startswith("InadmissibleSizeError: ")
    assert "factors [2, 2]" in refused["error"]
    shown = {line.split(":")[0]: line for line in lines}
    assert sorted(shown) == ["timing kru N=8", "timing kru N=8 [factors=[2, 2, 2]]", "timing kru N=8 [factors=[2, 2]]"]
    assert shown["timing kru N=8"].endswith(" ms/sequence")
    assert shown["timing kru N=8 [factors=[2, 2, 2]]"].endswith(" ms/sequence")
    assert "InadmissibleSizeError" in shown["timing kru N=8 [factors=[2, 2]]"]
    # The workload's factors at N = 128 are its table's: a case given them is the workload case, shown plain.
    assert pending_cases([("kru", 128, None), ("kru", 128, {"factors": [8, 16]})], tmp_path / "none.csv",
                         batch=2, length=3, device="cpu") == [("kru", 128, {"factors": [8, 16]})]


@pytest.mark.parametrize("case, expected", [
    (("kru",), r"expected a \(cell, N\) or \(cell, N, options\) case, got \('kru',\)"),
    (("kru", 8, "factors=[2,2,2]"), r"expected a dict of cell options or None, got 'factors=\[2,2,2\]'"),
    (("kru", 8, {"nope": 1}), r"kru: expected options of kru \(factors, num_factors, .*\), got 'nope'"),
    (("kru", 0, None), r"kru: expected a hidden size N > 0, got 0"),
    (("nope", 8, None), r"unknown cell 'nope'; expected one of .*kru"),
])
def test_a_bad_case_is_refused_before_any_file_is_written(tmp_path, case, expected):
    with pytest.raises(ValueError, match=expected):
        time_cells([("rnn", 4), case], tmp_path / "t.csv", batch=2, length=3, repeats=1)
    assert not (tmp_path / "t.csv").exists()


# ----------------------------------------------------------------------------------------- schema 1
SCHEMA_1 = f"""{HEADER_1}
kru,128,2,3,10,cpu,test cpu,float32,1,0,0.004,0.002,compare,,1
kru,128,2,3,10,cpu,test cpu,float32,1,1,0.006,0.003,compare,,1
lstm,8,2,3,10,cpu,test cpu,float32,1,0,0.002,0.001,compare,,1
eurnn_fft,6,2,3,10,cpu,test cpu,float32,1,0,nan,nan,compare,"ValueError: N must be a power of two, got 6",1
"""


def test_a_schema_1_file_reads_as_the_workload_options_and_migrates_when_appended_to(tmp_path):
    file = tmp_path / TIMINGS_FILE
    file.write_text(SCHEMA_1)
    frame = read_timings(file)
    assert frame.cell_options.tolist() == ['{"factors": [8, 16]}'] * 2 + ["{}", "{}"]  # the workload's table
    assert frame.seconds.tolist()[:3] == [0.004, 0.006, 0.002] and math.isnan(frame.seconds[3])
    # The published set's case: KRU at N = 128 with seven 2x2 factors was not timed, the workload's factors were.
    assert pending_cases([("kru", 128, None), ("kru", 128, {"factors": [2] * 7})], file, batch=2, length=3,
                         device="cpu") == [("kru", 128, {"factors": [2] * 7})]
    old = csv_rows(file)
    time_cells([("rnn", 4)], file, batch=2, length=3, repeats=1)
    lines = file.read_text().splitlines()
    assert lines[0] == HEADER_2
    new = csv_rows(file)
    assert len(new) == 5 and new[4]["cell"] == "rnn" and new[4]["cell_options"] == "{}"
    for before, after in zip(old, new):  # every value kept, as text; the options written; schema 2
        assert {k: v for k, v in after.items() if k not in ("cell_options", "schema")} == {
            k: v for k, v in before.items() if k != "schema"}
        assert after["schema"] == "2"
    assert [r["cell_options"] for r in new[:4]] == ['{"factors": [8, 16]}'] * 2 + ["{}", "{}"]


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)
ROW_1 = st.fixed_dictionaries({
    "cell": st.sampled_from(["kru", "lstm", "rnn", "eurnn", "a-plugin-cell"]),
    "hidden": st.sampled_from([1, 4, 8, 100, 128, 512, 1024, 2048]), "batch": st.integers(1, 10**4),
    "length": st.integers(1, 10**4), "input_size": st.integers(1, 100), "device": st.sampled_from(["cpu", "cuda:0"]),
    "device_name": TEXT, "dtype": st.just("float32"), "threads": st.none() | st.integers(1, 256),
    "repeat": st.integers(0, 50), "seconds": st.floats(allow_infinity=False), "seconds_per_sequence": st.floats(),
    "source": st.sampled_from(["compare", "asv"]), "error": TEXT})


def _text(value) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


@given(rows=st.lists(ROW_1, max_size=8))
def test_drawn_schema_1_rows_read_and_migrate_losslessly(tmp_path_factory, rows):
    r"""Any schema-1 file reads with every value as written and the workload's options, and its migration to
    schema 2 (before an append) keeps every row and value."""
    file = tmp_path_factory.mktemp("schema1") / TIMINGS_FILE
    buf = io.StringIO(newline="")
    header = HEADER_1.split(",")
    buf.write(HEADER_1 + "\n")
    # Every field quoted: a valid CSV whatever the text holds (csv's minimal quoting leaves a lone \r bare).
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(
        [*(_text(r[c]) for c in header[:-1]), "1"] for r in rows)
    file.write_text(buf.getvalue(), encoding="utf-8")

    def check(frame):
        assert len(frame) == len(rows)
        for got, want in zip(frame.to_dict("records"), rows):
            for key, value in want.items():
                g = got[key]
                if isinstance(value, float) and math.isnan(value):
                    assert math.isnan(g), key
                else:
                    assert (None if g is pd.NA else g) == value, key
            assert got["cell_options"] == json.dumps(workload_options(want["cell"], want["hidden"]), sort_keys=True)

    check(read_timings(file))
    open_for_append(file, TIMINGS_SCHEMA)
    assert file.read_text(encoding="utf-8").split("\n", 1)[0] == HEADER_2
    check(read_timings(file))


def test_a_damaged_options_value_is_refused_naming_the_line(tmp_path):
    file = tmp_path / TIMINGS_FILE
    file.write_text(TWO_VARIANTS.replace('"{""factors"": [2, 2, 2]}"', "factors=2"))
    with pytest.raises(RecordError, match=r"line 4: column 'cell_options' holds 'factors=2', expected .*JSON"):
        read_timings(file)


# ----------------------------------------------------------------------------------------- the report
def test_the_report_shows_each_variant_its_own_speed(reported):
    res = reported(TWO_VARIANTS)
    table = paper_table(res, "copy (T=3)", "N=8")
    kru = table[table.cell == "kru"].set_index("variant")
    assert kru.loc["", "ms/seq mean"] == pytest.approx(1.5, rel=1e-12)
    assert kru.loc["", "ms/seq std"] == pytest.approx(statistics.stdev([1.0, 2.0]), rel=1e-12)
    assert kru.loc["factors=[2, 2, 2]", "ms/seq mean"] == pytest.approx(6.0, rel=1e-12)
    assert kru.loc["factors=[2, 2, 2]", "ms/seq std"] == pytest.approx(statistics.stdev([5.0, 7.0]), rel=1e-12)
    points = summary_points(res).set_index("label")
    assert points.loc["kru (KRU)", ["ms", "ms_min", "ms_max"]].tolist() == pytest.approx([1.5, 1.0, 2.0])
    assert points.loc["kru (KRU) [factors=[2, 2, 2]]", ["ms", "ms_min", "ms_max"]].tolist() == pytest.approx(
        [6.0, 5.0, 7.0])
    speeds = timing_table(res).set_index("cell")
    column = "N=8 (compare, B=2, T=3, cpu)"
    assert speeds.loc["kru (KRU)", column] == "1.50 ± 0.71"
    assert speeds.loc["kru (KRU) [factors=[2, 2, 2]]", column] == "6.0 ± 1.4"
    fig = draw(res, "speed_by_size")
    try:
        bars = {c.get_label(): c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)}
        assert list(bars["kru (KRU) | compare, B=2, T=3, cpu"].lines[0].get_ydata()) == pytest.approx([1.5])
        assert list(bars["kru (KRU) [factors=[2, 2, 2]] | compare, B=2, T=3, cpu"].lines[0].get_ydata()) == \
            pytest.approx([6.0])
    finally:
        plt.close(fig)


def test_a_variant_that_was_not_timed_has_no_speed(reported):
    res = reported("\n".join(TWO_VARIANTS.splitlines()[:3]) + "\n")  # the defaults' rows only
    table = paper_table(res, "copy (T=3)", "N=8")
    kru = table[table.cell == "kru"].set_index("variant")
    assert kru.loc["", "ms/seq mean"] == pytest.approx(1.5, rel=1e-12)
    assert math.isnan(kru.loc["factors=[2, 2, 2]", "ms/seq mean"])  # not the defaults' 1.5
    points = summary_points(res).set_index("label")
    assert math.isnan(points.loc["kru (KRU) [factors=[2, 2, 2]]", "ms"])


def _timings_only(rows) -> Results:
    empty = typed_frame([], RUN_COLUMNS)
    return Results(empty, typed_frame([], FINAL_COLUMNS), typed_frame([], CURVE_COLUMNS),
                   typed_frame(rows, TIMING_COLUMNS), typed_frame([], ASV_COLUMNS))


def _row(source, ms, options=None, **kw):
    return dict(cell="kru", hidden=128, batch=32, length=100, input_size=10, device="cpu", repeat=0,
                seconds=ms * 32 / 1e3, seconds_per_sequence=ms / 1e3, source=source, error="", cell_options=options,
                **kw)


def test_asv_timings_are_of_the_workload_options_and_compare_comes_first():
    r"""asv rows record no options: they are the workload's (KRU at N = 128: factors [8, 16]). A run with seven
    2x2 factors gets compare's timing of them, the workload variant asv's (compare timed only the 2x2 one)."""
    seven = {"factors": [2] * 7}
    res = _timings_only([_row("asv", 3.0), _row("compare", 20.0, json.dumps(seven))])
    assert speed_of(res, "kru", 128, {"factors": [8, 16]})[0] == pytest.approx(3.0, rel=1e-12)
    assert speed_of(res, "kru", 128, seven)[0] == pytest.approx(20.0, rel=1e-12)
    assert speed_spread(res, "kru", 128, {"factors": [8, 16]})[:3] == pytest.approx((3.0, 3.0, 3.0))
    assert math.isnan(speed_of(res, "kru", 128, {"factors": [4, 32]})[0])
    both = _timings_only([_row("asv", 3.0), _row("compare", 4.0, '{"factors": [8, 16]}')])
    assert speed_of(both, "kru", 128, {"factors": [8, 16]})[0] == pytest.approx(4.0, rel=1e-12)
    # Options equal to a cell's defaults are the defaults: an explicit forget_bias=1.0 is the default LSTM.
    lstm = _timings_only([dict(_row("compare", 2.0, "{}"), cell="lstm")])
    assert speed_of(lstm, "lstm", 128, {"forget_bias": 1.0})[0] == pytest.approx(2.0, rel=1e-12)


def test_asv_rows_read_as_the_workload_options():
    r"""The asv fixture times every cell at N = 64, where the workload's options are the defaults: KRU's default
    run gets asv's speed (the mean of its rows), a KRU with six 2x2 factors none."""
    res = load_results(None, Path(__file__).parent / "fixtures" / "asv")
    assert len(res.timings) and (res.timings.source == "asv").all() and (res.timings.cell_options == "{}").all()
    kru = res.timings[(res.timings.cell == "kru") & (res.timings.hidden == 64)]
    assert speed_of(res, "kru", 64, {})[0] == pytest.approx(kru.seconds_per_sequence.mean() * 1e3, rel=1e-12)
    assert math.isnan(speed_of(res, "kru", 64, {"factors": [2] * 6})[0])
