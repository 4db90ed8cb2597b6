r"""The run record (:mod:`urnn_zoo.runs`): records written before schema versions (``tests/fixtures/records_v0``,
made by that code) still load, resume and report; appends survive a kill at any byte; writes are atomic;
statuses, divergence and the validated run configuration behave as documented."""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from urnn_zoo.compare import compare, preset
from urnn_zoo.report import load_results, write_report
from urnn_zoo.runs import (CHECKPOINT_FILE, MANIFEST_FILE, METRICS_FILE, METRICS_SCHEMA, SUMMARY_FILE, TIMINGS_FILE,
                           RecordError, RunConfig, RunExistsError, RunStatus, divergence, folder_state,
                           load_checkpoint, read_config, read_manifest, read_metrics, read_summary, read_timings,
                           unitarity_tolerance, write_atomic)
from urnn_zoo.runs.tidy import Appender, TidySchema, open_for_append, read_tidy
from urnn_zoo.training import train

V0 = Path(__file__).parent / "fixtures" / "records_v0"
V0_TRAIN = dict(hidden=4, seed=0, task_options={"T": 3}, eval_every=1, eval_batches=1, test_batches=1, batch_size=2,
                log_every=1, progress="none")


@pytest.fixture
def v0(tmp_path) -> Path:
    target = tmp_path / "v0"
    shutil.copytree(V0, target)
    return target


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def metric_rows(folder):
    return [(int(r["step"]), r["split"], r["metric"], float(r["value"])) for r in csv_rows(folder / METRICS_FILE)]


# ----------------------------------------------------------------------------------------- schema 0
def test_records_without_a_schema_load_migrated(v0):
    run = v0 / "train" / "kru-copy-T3-N4-s0"
    raw = json.loads((run / SUMMARY_FILE).read_text())
    assert "schema" not in raw  # the fixture is what the code before versions wrote
    summary = read_summary(run)
    assert summary["schema"] == 1 and summary["status"] is RunStatus.FINISHED
    assert {k: summary[k] for k in raw if k != "status"} == {k: v for k, v in raw.items() if k != "status"}
    step0 = {r["metric"]: float(r["value"]) for r in csv_rows(run / METRICS_FILE)
             if r["step"] == "0" and r["split"] == "valid"}
    assert summary["initial"] == step0 and step0  # migrated from the step-0 rows of metrics.csv
    config, raw_config = read_config(run), json.loads((run / "config.json").read_text())
    assert config["train"] == raw_config["train"]
    assert config["environment"]["versions"]["torch"] == raw_config["environment"]["torch"]
    assert config["environment"]["torch_threads"] == raw_config["environment"]["threads"]
    frame = read_metrics(run)
    assert list(zip(frame.step, frame.split, frame.metric, frame.value)) == metric_rows(run)
    assert load_checkpoint(run).loop.step == 2
    manifest = read_manifest(v0 / "compare")
    assert manifest["schema"] == 1 and [r["status"] for r in manifest["runs"]] == [RunStatus.FINISHED] * 2
    timings = read_timings(v0 / "compare" / TIMINGS_FILE)
    raw_timings = csv_rows(v0 / "compare" / TIMINGS_FILE)
    assert timings.seconds.tolist() == [float(r["seconds"]) for r in raw_timings]
    assert timings.cell.tolist() == [r["cell"] for r in raw_timings]


def test_records_without_the_provenance_fields_read_them_as_unknown(v0):
    r"""Records written before ``command``, ``dirty``, the CPU's identity and ``cpu_seconds`` existed load into
    the report's ``configs`` frame with every setting they hold and NA for what they never recorded."""
    import pandas as pd

    from urnn_zoo.runs.environment import KEYS, complete

    res = load_results(v0)
    assert len(res.configs) == 3 and not len(res.skipped)
    configs = res.configs.set_index("run")
    for name in ("train/kru-copy-T3-N4-s0", "compare/kru-copy-T5-N8-s0", "compare/lstm-copy-T5-N8-s0"):
        raw = json.loads((v0 / name / "config.json").read_text())
        row = configs.loc[name]
        for key in ("steps", "batch_size", "optimizer", "lr", "constrained_lr", "alpha", "penalty_weight",
                    "eval_every", "eval_batches", "test_batches", "device", "dtype"):
            assert row[key] == raw["train"][key], key
        assert row["commit"] == raw["environment"]["commit"] and row["torch"] == raw["environment"]["torch"]
        for key in ("command", "dirty", "cpu_id", "cpu_capability", "recurrent_lr", "clip", "cpu_seconds"):
            assert pd.isna(row[key]), key
        env = complete(read_config(v0 / name)["environment"])
        assert set(env) >= set(KEYS) and env["dirty"] is None and env["command"] is None


def test_a_run_of_schema_0_resumes_to_the_numbers_of_a_new_run(v0, tmp_path):
    r"""The fixture was trained by another process (two torch threads, this one has one), so float32 sums may
    differ in their last bits: the rows agree to 1e-5 relative (float32 rounding over a few steps)."""
    resumed = train("kru", "copy", out=v0 / "train", steps=4, resume=True, **V0_TRAIN)
    fresh = train("kru", "copy", out=tmp_path / "fresh", steps=4, **V0_TRAIN)
    got, want = metric_rows(resumed.path), metric_rows(fresh.path)
    assert [r[:3] for r in got] == [r[:3] for r in want]
    assert [r[3] for r in got] == pytest.approx([r[3] for r in want], rel=1e-5, abs=1e-7)
    a, b = load_checkpoint(resumed.path).model, load_checkpoint(fresh.path).model
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-7) for k in a)
    assert resumed.summary["final"] == pytest.approx(fresh.summary["final"], rel=1e-5)
    assert resumed.summary["steps_done"] == 4
    header = (resumed.path / METRICS_FILE).read_text().splitlines()[0]
    assert header.endswith(",schema")  # migrated on resume


def test_a_comparison_of_schema_0_is_reused_and_reported(v0, tmp_path):
    folder = v0 / "compare"
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob(f"*/{SUMMARY_FILE}")}
    timed = len(csv_rows(folder / TIMINGS_FILE))
    manifest = compare(preset("smoke"), folder, cells=["kru", "lstm"], tasks=["copy"], jobs=1, quiet=True)
    assert [r["action"] for r in manifest["runs"]] == ["reused", "reused"]
    assert stamps == {p: p.stat().st_mtime_ns for p in folder.glob(f"*/{SUMMARY_FILE}")}  # nothing retrained
    assert len(csv_rows(folder / TIMINGS_FILE)) == timed  # nothing timed again
    assert json.loads((folder / MANIFEST_FILE).read_text())["schema"] == 1
    res = load_results(folder)
    assert res.runs.drop_duplicates("run").ok.all() and not len(res.skipped)
    assert set(res.timings.cell) == {"kru", "lstm"}
    md = write_report(folder, tmp_path / "report")["markdown"].read_text()
    assert "2 runs of 2 of the" in md and "2 finished" in md


def test_a_result_is_complete_without_its_checkpoint(v0, tmp_path):
    folder = v0 / "compare"
    with_checkpoints = load_results(folder)
    for file in folder.glob(f"*/{CHECKPOINT_FILE}"):
        file.unlink()  # a result set published without checkpoints
    without = load_results(folder)
    for name in ("runs", "finals", "curves"):
        assert getattr(without, name).equals(getattr(with_checkpoints, name)), name
    manifest = compare(preset("smoke"), folder, cells=["kru", "lstm"], tasks=["copy"], jobs=1, timing=False,
                       quiet=True)
    assert {r["action"] for r in manifest["runs"]} == {"reused"}
    with pytest.raises(RunExistsError, match=f"no {CHECKPOINT_FILE}.*--force"):
        train("kru", "copy", out=folder, name="kru-copy-T5-N8-s0", hidden=8, steps=8, resume=True,
              task_options={"T": 5}, batch_size=8, eval_every=2, eval_batches=2, test_batches=2, log_every=1,
              progress="none")


@pytest.mark.parametrize("file", [SUMMARY_FILE, "config.json", MANIFEST_FILE])
def test_a_newer_schema_is_refused_naming_the_file(v0, file):
    path = v0 / "compare" / file if file == MANIFEST_FILE else v0 / "train" / "kru-copy-T3-N4-s0" / file
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "schema": 99}))
    reader = {SUMMARY_FILE: read_summary, "config.json": read_config, MANIFEST_FILE: read_manifest}[file]
    with pytest.raises(RecordError, match="schema 99.*upgrade urnn_zoo") as info:
        reader(path)
    assert str(path) in str(info.value) and "--force" in str(info.value) or file == MANIFEST_FILE


# ----------------------------------------------------------------------------------------- crash safety
ROW = st.tuples(st.integers(0, 10**6), st.sampled_from(["train", "valid", "test", "model"]),
                st.sampled_from(["loss", "accuracy", "unitarity_error"]),
                st.floats(allow_nan=False, allow_infinity=False, width=64), st.floats(0, 1e6))


@given(rows=st.lists(ROW, max_size=12), more=st.lists(ROW, max_size=3), cut=st.floats(0, 1))
def test_an_append_killed_at_any_byte_loses_only_its_torn_line(tmp_path_factory, rows, more, cut):
    r"""A kill while appending leaves some prefix of the bytes written: every complete line is kept, the torn
    one is dropped (reading) or cut (before the next append), and a torn header is written again."""
    path = tmp_path_factory.mktemp("tidy") / METRICS_FILE
    text = lambda rs: [[s, sp, m, repr(v), repr(t)] for s, sp, m, v, t in rs]  # noqa: E731
    with Appender(path, METRICS_SCHEMA) as out:
        out.write(text(rows))
    data = path.read_bytes()
    kept = data[: int(cut * len(data))]
    path.write_bytes(kept)
    complete = max(kept.count(b"\n") - 1, 0)  # lines ended by a newline, less the header
    expected = [(s, sp, m, v, t) for s, sp, m, v, t in rows[:complete]]
    frame = read_tidy(path, METRICS_SCHEMA)
    assert list(zip(frame.step, frame.split, frame.metric, frame.value, frame.seconds)) == expected
    open_for_append(path, METRICS_SCHEMA)
    with Appender(path, METRICS_SCHEMA) as out:
        out.write(text(more))
    frame = read_tidy(path, METRICS_SCHEMA)
    assert list(zip(frame.step, frame.split, frame.metric, frame.value, frame.seconds)) == expected + list(more)


NOTES = TidySchema("notes.csv", {"n": "int64", "note": "string"}, version=1, required=("n",), remedy="delete it")
NOTE = st.tuples(st.integers(0, 99), st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                                             max_size=8))


@given(rows=st.lists(NOTE, max_size=6), more=st.lists(NOTE, max_size=2), cut=st.floats(0, 1))
def test_text_with_line_breaks_survives_appends_and_a_kill_at_any_byte(tmp_path_factory, rows, more, cut):
    r"""A text field may hold \n, \r, quotes or any character (an error message): it reads back as written, and
    a kill at any byte (inside a quoted line break or a UTF-8 character too) loses only the record it tore. A
    record's end is where the file stood after it was flushed."""
    path = tmp_path_factory.mktemp("tidy") / NOTES.name
    ends = []
    with Appender(path, NOTES) as out:
        ends.append(path.stat().st_size)  # the header's
        for row in rows:
            out.write([row])
            out.flush()
            ends.append(path.stat().st_size)
    frame = read_tidy(path, NOTES)
    assert list(zip(frame.n, frame.note)) == rows
    data = path.read_bytes()
    kept = data[: int(cut * len(data))]
    path.write_bytes(kept)
    complete = sum(1 for end in ends[1:] if end <= len(kept))
    frame = read_tidy(path, NOTES)
    assert list(zip(frame.n, frame.note)) == rows[:complete]
    open_for_append(path, NOTES)
    with Appender(path, NOTES) as out:
        out.write(more)
    frame = read_tidy(path, NOTES)
    assert list(zip(frame.n, frame.note)) == rows[:complete] + more


def test_timings_appended_after_a_kill_on_an_empty_file_keep_their_header(tmp_path):
    from urnn_zoo.compare import time_cells

    file = tmp_path / TIMINGS_FILE
    file.write_text("")  # what a kill before the first flush left
    time_cells([("rnn", 4)], file, batch=2, length=3, repeats=1)
    assert file.read_text().splitlines()[0].startswith("cell,hidden,")
    # And a file of the code before versions, whose rows lost their header, is repaired the same way (its rows
    # had neither cell_options, the third field, nor schema, the last).
    rows = [r.split(",") for r in file.read_text().splitlines()[1:]]
    file.write_text("\n".join(",".join(r[:2] + r[3:-1]) for r in rows) + "\n")
    time_cells([("rnn", 4), ("lstm", 4)], file, batch=2, length=3, repeats=1)
    assert sorted(read_timings(file).cell) == ["lstm", "rnn"]


def test_an_interrupted_atomic_write_leaves_the_old_file(tmp_path):
    target = tmp_path / SUMMARY_FILE
    target.write_text("old")

    def half(f):
        f.write("new but not all of it")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, half)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [SUMMARY_FILE]


def test_a_running_summary_whose_process_is_gone_is_incomplete(v0):
    run = v0 / "train" / "kru-copy-T3-N4-s0"
    data = json.loads((run / SUMMARY_FILE).read_text())
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    import socket

    cases = ((os.getpid(), RunStatus.RUNNING), (int(gone), RunStatus.INCOMPLETE), (None, RunStatus.INCOMPLETE))
    for pid, expected in cases:
        (run / SUMMARY_FILE).write_text(json.dumps({**data, "status": "running", "pid": pid,
                                                    "host": socket.gethostname()}))
        summary = read_summary(run)
        assert summary["status"] is expected, pid
        assert expected is RunStatus.RUNNING or "--resume" in summary["message"]
    assert folder_state(run).status is RunStatus.INCOMPLETE and folder_state(run).resumable


# ----------------------------------------------------------------------------------------- statuses, divergence
def test_status_vocabulary():
    assert RunStatus.parse("interrupted") is RunStatus.INCOMPLETE  # the word of the code before versions
    assert {s for s in RunStatus if s.ok} == {RunStatus.FINISHED, RunStatus.EARLY_STOPPED}
    assert {s for s in RunStatus if s.ended} == {RunStatus.FINISHED, RunStatus.EARLY_STOPPED, RunStatus.DIVERGED,
                                                 RunStatus.STOPPED_LOSS, RunStatus.STOPPED_GRADIENT}
    with pytest.raises(ValueError, match="expected a run status.*got 'done'"):
        RunStatus.parse("done")


@given(baseline=st.floats(1e-3, 10), initial=st.floats(1e-3, 10), ratio=st.floats(0, 100))
def test_divergence_of_the_metric_is_ten_times_the_larger_reference(baseline, initial, ratio):
    final = ratio * max(baseline, initial)
    summary = {"metric": "loss", "final": {"loss": final}, "baseline": {"loss": baseline},
               "initial": {"loss": initial}, "constraint": "none"}
    assert (divergence(summary) is not None) == (final > 10 * max(baseline, initial))
    assert divergence({**summary, "final": {"loss": math.inf}}) is not None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden", [8, 128, 1000])
def test_divergence_of_an_exact_cell_is_its_unitarity_error_above_n_sqrt_eps(dtype, hidden):
    tolerance = hidden * math.sqrt(np.finfo(dtype).eps)  # Note [Diverged]
    assert unitarity_tolerance(dtype, hidden) == pytest.approx(tolerance, rel=1e-12)
    base = {"metric": "loss", "final": {"loss": 1.0}, "baseline": {"loss": 1.0}, "hidden": hidden, "dtype": dtype}
    for constraint, error, diverged in (("exact", 0.99 * tolerance, False), ("exact", 1.01 * tolerance, True),
                                        ("exact", math.nan, True), ("soft", 100.0, False), ("none", 100.0, False)):
        reason = divergence({**base, "constraint": constraint, "unitarity_error": error})
        assert (reason is not None) == diverged, (constraint, error)


def test_training_that_blows_up_ends_diverged(tmp_path):
    result = train("exprnn", "copy", out=tmp_path, hidden=8, steps=20, lr=1e6, eval_every=10, eval_batches=1,
                   test_batches=1, batch_size=4, task_options={"T": 3}, progress="none")
    s = result.summary
    assert s["status"] == "diverged" and "times that of" in s["message"]
    assert read_summary(result.path)["status"] is RunStatus.DIVERGED


# ----------------------------------------------------------------------------------------- run configuration
def _positive_int(v):  # the Python API takes numbers, never their text
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _finite_at_least(v, low, open_):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return False
    return v > low if open_ else v >= low


RULES = {  # field: (accepts None, rule)
    "hidden": (False, _positive_int), "batch_size": (False, _positive_int), "eval_every": (False, _positive_int),
    "log_every": (False, _positive_int), "eval_batches": (True, _positive_int), "test_batches": (True, _positive_int),
    "checkpoint_every": (True, _positive_int), "early_stop": (True, _positive_int),
    "lr": (False, lambda v: _finite_at_least(v, 0, False)),
    "constrained_lr": (False, lambda v: _finite_at_least(v, 0, False)),
    "recurrent_lr": (True, lambda v: _finite_at_least(v, 0, False)),
    "penalty_weight": (False, lambda v: _finite_at_least(v, 0, False)),
    "clip": (True, lambda v: _finite_at_least(v, 0, True)),
    "alpha": (False, lambda v: _finite_at_least(v, 0, False) and v < 1),
}
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-2, 2), st.sampled_from(
    [math.nan, math.inf, -math.inf, "3", "-1", "0", "1e-3", "x", "", 2.5]))


@given(field=st.sampled_from(sorted(RULES)), value=VALUES)
def test_every_value_is_checked_before_any_file_is_written(tmp_path_factory, field, value):
    none_ok, rule = RULES[field]
    valid = (value is None and none_ok) or (value is not None and rule(value))
    out = tmp_path_factory.mktemp("out") / "runs"
    if valid:
        RunConfig("rnn", "adding", **{field: value})
        return
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        RunConfig("rnn", "adding", **{field: value})
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        train("rnn", "adding", out=out, steps=1, progress="none", **{field: value})
    assert not out.exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(eval_batches=None, task_options={"T": 3}), "eval_batches: expected an integer > 0 for task 'adding'"),
    (dict(device="bogus"), "device: expected a device"),
    (dict(name="a/b"), "name: expected a name"),
    (dict(name=".."), "name: expected a name"),
    (dict(seed=-1), "seed: expected a seed"),
])
def test_train_refuses_bad_values_before_making_the_folder(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train("rnn", "adding", out=tmp_path / "runs", steps=1, progress="none", **kwargs)
    assert not (tmp_path / "runs").exists()


def test_record_files_get_the_mode_of_any_new_file(tmp_path):
    r"""Atomic writes go through a private temporary file (mode 0600); the record must not stay private: a
    shared or published result set has to be readable like any file the user makes (0666 less the umask)."""
    from urnn_zoo.runs import write_json, write_text

    write_json(tmp_path / "a.json", {"x": 1})
    write_text(tmp_path / "b.csv", "x\n1\n")
    (tmp_path / "plain").write_text("")
    expected = (tmp_path / "plain").stat().st_mode & 0o777
    assert {(tmp_path / n).stat().st_mode & 0o777 for n in ("a.json", "b.csv")} == {expected}
