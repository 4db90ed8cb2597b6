r"""``urnn-zoo compare``: presets, the parameter-budget fit, the grid (resumable, parallel, failures recorded)
and the timings, on real training runs at smoke sizes."""
from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.compare import (PRESETS, CellSettings, Preset, RunSpec, TaskPlan, add_compare_parser, build_grid, compare,
                              fit_hidden, parameter_total, preset, run_grid, time_cells)
from urnn_zoo.cells.base import cell_class
from urnn_zoo.tasks.base import make_task, task_names

SMOKE_TRAIN = dict(batch_size=4, eval_every=2, eval_batches=1, test_batches=1, log_every=1)
TINY = Preset("tiny", (TaskPlan("copy", {"T": 3}, steps=4, train=SMOKE_TRAIN, hidden=(8,)),), seeds=(0,),
              timing_hidden=(8,), timing_batch=2, timing_length=4, timing_repeats=2)


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    manifest = compare(TINY, out, cells=["kru", "rnn"], jobs=1, quiet=True)
    return out, manifest


# ----------------------------------------------------------------------------------------- presets
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_tasks_are_registered_and_valid(name):
    plan = preset(name)
    assert plan.seeds and plan.timing_hidden and plan.tasks
    for tp in plan.tasks:
        assert tp.task in task_names()
        make_task(tp.task, **tp.options)  # options accepted
        paper_only = tp.paper_sizes and tp.cells and all(tp.settings_of(c).paper_hidden for c in tp.cells)
        assert tp.hidden or tp.budgets or paper_only, f"{name}/{tp.task} has no comparison arm"
        assert tp.steps >= 1
        assert set(tp.settings) <= set(tp.cells or uz.cell_names()), f"{name}/{tp.task}: settings of no cell"
        for cell in tp.cells:
            assert cell in uz.cell_names()
        for cell, own in tp.settings.items():  # every cell's own settings are accepted at its sizes
            for spec in build_grid(plan, [cell], tasks=[tp.task], seeds=[0]):
                uz.make_cell(cell, 2, spec.hidden, **own.options)
            assert own.why, f"{name}/{tp.task}/{cell}: settings without a reason"


def test_quick_preset_is_the_design_one():
    plan = preset("quick")
    assert {tp.task: tp.options for tp in plan.tasks} == {
        "copy": {"T": 50}, "adding": {"T": 50}, "smnist": {"digits": "digits8x8"}, "charlm": {"window": 100}}
    assert plan.timing_hidden == (128, 512) and (plan.timing_batch, plan.timing_length) == (32, 100)
    assert any(tp.budgets for tp in plan.tasks) and all(tp.hidden for tp in plan.tasks)


def test_unknown_preset_cell_and_task_are_refused(tmp_path):
    with pytest.raises(ValueError, match="smoke, quick, paper"):
        preset("huge")
    with pytest.raises(ValueError, match="cells: expected a registered cell.*got 'nope'"):
        compare("smoke", tmp_path / "new", cells=["nope"], quiet=True)
    with pytest.raises(ValueError, match="preset 'smoke' has copy, adding"):
        compare("smoke", tmp_path / "new", cells=["rnn"], tasks=["smnist"], quiet=True)
    assert not (tmp_path / "new").exists()  # refused before any folder was made


# ----------------------------------------------------------------------------------------- budgets
@given(a=st.integers(1, 6), b=st.integers(0, 200), budget=st.integers(50, 200_000), pow2=st.booleans())
def test_fit_hidden_is_the_largest_size_within_the_budget(a, b, budget, pow2):
    def count(n):
        if pow2 and n & (n - 1):
            return None
        return a * n * n + b * n

    n = fit_hidden(count, budget)
    assert n % 8 == 0 and count(n) is not None
    if count(8) <= budget:
        assert count(n) <= budget
        bigger = [m for m in range(n + 8, 8193, 8) if count(m) is not None and count(m) <= budget]
        assert not bigger
    else:
        assert n == 8


def test_budget_sizes_meet_the_budget_with_real_cells():
    task = make_task("copy", T=3)
    for cell in ("kru", "lstm", "fcurnn"):
        n = fit_hidden(lambda h: parameter_total(cell, h, task.input_size, task.output_size), 2000)
        total = parameter_total(cell, n, task.input_size, task.output_size)
        assert total <= 2000 < parameter_total(cell, n + 8, task.input_size, task.output_size)
        model = uz.SequenceModel(uz.make_cell(cell, task.input_size, n), task.output_size)
        assert model.parameter_count().stored == total


@pytest.mark.parametrize("cell, options", [("kru", {"complex_factors": False, "num_factors": 8}),
                                           ("eurnn", {"capacity": 8, "complex_weights": False})])
def test_the_budget_arm_fits_the_cell_with_its_own_options(cell, options):
    # The options change the count (real factors, a deeper mesh), so N must be fitted with them.
    plan = Preset("p", (TaskPlan("music", {"limit": 5}, steps=1, budgets=(5000,), cells=(cell,),
                                 settings={cell: CellSettings(options=options, why="test")}),), (0,), (8,))
    (spec,) = build_grid(plan, [cell])
    task = make_task("music", limit=5)

    def total(n):
        model = uz.SequenceModel(uz.make_cell(cell, task.input_size, n, **options), task.output_size)
        return model.parameter_count().stored

    assert spec.cell_options == options and total(spec.hidden) <= 5000
    assert all(total(m) > 5000 for m in range(spec.hidden + 8, spec.hidden + 65, 8)
               if cell_class(cell).admits(m, **options))
    assert spec.hidden != fit_hidden(lambda h: parameter_total(cell, h, task.input_size, task.output_size), 5000)


def test_grid_lists_a_shared_run_once_with_both_arms():
    plan = Preset("p", (TaskPlan("copy", {"T": 3}, steps=1, hidden=(8,), budgets=(100,)),), (0, 1), (8,))
    specs = build_grid(plan, ["rnn"])  # rnn at the budget is the smallest size, N=8: the same run
    assert [s.name for s in specs] == ["rnn-copy-T3-N8-s0", "rnn-copy-T3-N8-s1"]
    assert [a["name"] for a in specs[0].arms] == ["N=8", "budget 100"]


def test_grid_applies_a_plans_cells_their_own_settings_and_paper_sizes():
    own = {"kru": CellSettings(options={"factors": [2, 2]}, train={"recurrent_lr": 1e-5}, steps=5, why="w"),
           "lstm": CellSettings(paper_hidden=3, paper_steps=2, why="w")}
    plan = Preset("p", (TaskPlan("copy", {"T": 3}, steps=1, train={"lr": 1e-2}, hidden=(4,),
                                 cells=("kru", "lstm"), settings=own, paper_sizes=True),), (0,), (4,))
    specs = {s.name: s for s in build_grid(plan, ["kru", "lstm", "rnn"])}  # rnn is not in the plan
    assert sorted(specs) == ["kru-factors=2_2-copy-T3-N4-s0", "lstm-copy-T3-N3-s0", "lstm-copy-T3-N4-s0"]
    kru = specs["kru-factors=2_2-copy-T3-N4-s0"]
    assert kru.cell_options == {"factors": [2, 2]} and kru.train == {"lr": 1e-2, "recurrent_lr": 1e-5}
    assert [a["name"] for a in kru.arms] == ["N=4", "paper sizes"]
    assert [a["name"] for a in specs["lstm-copy-T3-N3-s0"].arms] == ["paper sizes"]
    assert specs["lstm-copy-T3-N3-s0"].steps == 2 and specs["lstm-copy-T3-N4-s0"].steps == 1 and kru.steps == 5
    assert specs["lstm-copy-T3-N4-s0"].train == {"lr": 1e-2}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_its_grid_for_every_cell(name):
    # a plan with budgets only (no equal-N arm: the paper preset's charlm and music) once crashed the grid
    specs = build_grid(preset(name), list(uz.cell_names()))
    assert specs and all(s.steps > 0 and s.hidden > 0 for s in specs)
    assert {s.task for s in specs} == {tp.task for tp in preset(name).tasks}


def test_the_reproduce_preset_has_two_seeds_and_a_registered_claim_per_plan():
    from urnn_zoo.report.claims import CLAIMS
    plan = preset("reproduce")
    assert len(plan.seeds) >= 2 and all(tp.claim in CLAIMS for tp in plan.tasks)
    for tp in plan.tasks:  # the plan runs the claim's task, and every cell the claim reports
        claim = CLAIMS[tp.claim]
        assert claim.matches(tp.task, tp.options) and set(claim.cells) <= set(tp.cells)
        assert all(own.why for own in tp.settings.values())


# ----------------------------------------------------------------------------------------- the grid
def test_compare_writes_runs_manifest_and_timings(grid_dir):
    out, manifest = grid_dir
    assert manifest["preset"] == "tiny" and manifest["finished"]
    assert {r["run"] for r in manifest["runs"]} == {"kru-copy-T3-N8-s0", "rnn-copy-T3-N8-s0"}
    assert all(r["status"] == "finished" and r["action"] == "trained" for r in manifest["runs"])
    assert json.loads((out / "compare.json").read_text())["runs"] == manifest["runs"]
    for r in manifest["runs"]:
        summary = json.loads((out / r["run"] / "summary.json").read_text())
        assert summary["steps_done"] == 4 and summary["final"]
    rows = list(csv.DictReader((out / "timings.csv").open()))
    assert {(r["cell"], r["hidden"]) for r in rows} == {("kru", "8"), ("rnn", "8")}
    assert all(float(r["seconds"]) > 0 and math.isclose(float(r["seconds_per_sequence"]) * 2, float(r["seconds"]))
               for r in rows)
    assert len(rows) == 4  # two repeats per case, one row each


def test_compare_again_reuses_finished_runs_and_timings(grid_dir):
    out, first = grid_dir
    stamp = {r["run"]: (out / r["run"] / "summary.json").stat().st_mtime_ns for r in first["runs"]}
    rows = (out / "timings.csv").read_text()
    again = compare(TINY, out, cells=["kru", "rnn"], jobs=1, quiet=True)
    assert all(r["action"] == "reused" for r in again["runs"])
    assert stamp == {r["run"]: (out / r["run"] / "summary.json").stat().st_mtime_ns for r in again["runs"]}
    assert (out / "timings.csv").read_text() == rows


def test_an_unfinished_run_is_resumed_to_the_same_numbers(grid_dir, tmp_path):
    out, _ = grid_dir
    full = json.loads((out / "kru-copy-T3-N8-s0" / "summary.json").read_text())
    spec = build_grid(TINY, ["kru"])[0]
    # The same run stopped after 2 of its 4 steps, with its checkpoint: what an interruption leaves.
    uz_train = __import__("urnn_zoo.training", fromlist=["train"]).train
    uz_train("kru", "copy", out=tmp_path, name=spec.name, hidden=8, steps=2, seed=0, task_options={"T": 3},
             progress="none", **SMOKE_TRAIN)
    outcome = run_grid([spec], tmp_path)[0]
    assert outcome["action"] == "resumed" and outcome["status"] == "finished"
    resumed = json.loads((tmp_path / spec.name / "summary.json").read_text())
    assert resumed["steps_done"] == 4
    for metric, value in full["final"].items():
        assert resumed["final"][metric] == pytest.approx(value, rel=1e-5)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("damage", ["newer summary", "newer checkpoint", "no checkpoint, more steps asked"])
def test_a_run_compare_cannot_continue_is_left_as_it_is(grid_dir, tmp_path, damage):
    r"""What a newer urnn_zoo wrote, and a finished run kept without its checkpoint (a published result set)
    that the grid asks to train further, are never deleted: the run fails with the reason and ``--force``."""
    import shutil

    out, _ = grid_dir
    spec = build_grid(TINY, ["kru"])[0]
    folder = tmp_path / spec.name
    shutil.copytree(out / spec.name, folder)
    if damage == "newer summary":
        summary = json.loads((folder / "summary.json").read_text())
        (folder / "summary.json").write_text(json.dumps({**summary, "schema": 99}))
        (folder / "checkpoint.pt").unlink()  # nothing else to go by: before, the folder was cleared and retrained
    elif damage == "newer checkpoint":
        import torch

        checkpoint = torch.load(folder / "checkpoint.pt", weights_only=False)
        torch.save({**checkpoint, "schema": 99}, folder / "checkpoint.pt")
        (folder / "summary.json").unlink()
    else:
        (folder / "checkpoint.pt").unlink()
        spec = RunSpec(**{**spec.__dict__, "steps": spec.steps + 2})
    before = _files(folder)
    outcome = run_grid([spec], tmp_path)[0]
    assert outcome["status"] == "failed" and "--force" in outcome["error"], outcome
    assert _files(folder) == before


def test_a_failing_run_is_recorded_and_the_grid_goes_on(tmp_path):
    specs = [RunSpec("bad", "kru", "copy", {"T": 3}, 8, 0, 2, dict(SMOKE_TRAIN), {"bogus": 1}),
             RunSpec("pow2", "eurnn_fft", "copy", {"T": 3}, 6, 0, 2, dict(SMOKE_TRAIN)),
             RunSpec("good", "rnn", "copy", {"T": 3}, 8, 0, 2, dict(SMOKE_TRAIN))]
    seen = []
    outcomes = run_grid(specs, tmp_path, on_done=lambda s, o: seen.append(s.name))
    assert [o["status"] for o in outcomes] == ["failed", "failed", "finished"]
    assert "bogus" in outcomes[0]["error"] and "power of two" in outcomes[1]["error"]
    assert sorted(seen) == ["bad", "good", "pow2"]


def test_parallel_jobs_give_the_same_runs(tmp_path, grid_dir):
    out, _ = grid_dir
    manifest = compare(TINY, tmp_path, cells=["kru", "rnn"], jobs=2, timing=False, quiet=True)
    assert manifest["jobs"] == 2 and all(r["status"] == "finished" for r in manifest["runs"])
    for r in manifest["runs"]:
        a = json.loads((tmp_path / r["run"] / "summary.json").read_text())["parameters"]
        b = json.loads((out / r["run"] / "summary.json").read_text())["parameters"]
        assert a == b


def test_timing_records_a_rejected_size(tmp_path):
    rows = time_cells([("eurnn_fft", 6), ("rnn", 4)], tmp_path / "t.csv", batch=2, length=3, repeats=1)
    by_cell = {r["cell"]: r for r in rows}
    assert math.isnan(by_cell["eurnn_fft"]["seconds"]) and "power of two" in by_cell["eurnn_fft"]["error"]
    assert by_cell["rnn"]["seconds"] > 0 and by_cell["rnn"]["error"] == ""


def test_cli_parser():
    parser = argparse.ArgumentParser(prog="urnn-zoo")
    add_compare_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", "--preset", "smoke", "--cells", "kru", "lstm", "--seeds", "0", "1",
                              "--jobs", "2", "--out", "x"])
    assert (args.preset, args.cells, args.seeds, args.jobs, args.out) == ("smoke", ["kru", "lstm"], [0, 1], 2,
                                                                          Path("x"))
    assert callable(args.func)


# ----------------------------------------------------------------------------------------- progress, exit status
def test_progress_lines_heartbeat_and_eta():
    import time

    from urnn_zoo.compare.progress import GridProgress, clock

    specs = [RunSpec(f"r{i}", "rnn", "copy", {"T": 3}, 8, 0, 4) for i in range(3)]
    lines: list[str] = []
    show = GridProgress(specs, "lines", log=lines.append, heartbeat=0.3)
    show.done(specs[0], {"action": "trained", "status": "finished"})
    assert lines[-1].startswith("[1/3] r0: trained, finished; 1/3 runs done") and "left" in lines[-1]
    time.sleep(1.2)
    show.close()
    assert any(line.startswith("compare: 1/3 runs done") for line in lines[1:]), lines  # the heartbeat
    assert clock(59.6) == "1:00" and clock(3600) == "1:00:00"


def test_progress_bar_on_a_terminal(capsys):
    from urnn_zoo.compare.progress import GridProgress

    specs = [RunSpec(f"r{i}", "rnn", "copy", {"T": 3}, 8, 0, 4) for i in range(2)]
    show = GridProgress(specs, "bar")
    show.done(specs[0], {"action": "failed", "status": "failed", "error": "boom"})
    show.close()
    err = capsys.readouterr().err
    assert "compare" in err and "1/2" in err and "r0: failed, failed: boom" in err


def test_a_restart_says_it_times_nothing(grid_dir, capsys):
    out, _ = grid_dir
    compare(TINY, out, cells=["kru", "rnn"], jobs=1, progress="lines")
    err = capsys.readouterr().err
    assert "timing: all 2 (cell, N, options) cases are already in" in err and "timing kru" not in err
    assert "[1/2]" in err and "reused" in err


def test_compare_exit_status_is_1_when_a_run_failed(monkeypatch, tmp_path, capsys):
    import urnn_zoo.compare as module

    parser = argparse.ArgumentParser(prog="urnn-zoo")
    add_compare_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", "--preset", "smoke", "--out", str(tmp_path)])
    for statuses, code in ((["finished", "diverged"], 0), (["finished", "failed"], 1)):
        monkeypatch.setattr(module, "compare", lambda *a, **k: {"runs": [
            {"name": f"r{i}", "status": s, "error": "boom" if s == "failed" else None}
            for i, s in enumerate(statuses)]})
        assert args.func(args) == code
    assert "r1 failed: boom" in capsys.readouterr().err


@pytest.mark.parametrize("argv, text", [(["--device", "bogus"], "expected a device"),
                                        (["--jobs", "-1"], "expected an integer > 0 or 'auto'"),
                                        (["--seeds", "x"], "expected a seed"),
                                        (["--cells", "nope"], "expected a registered cell")])
def test_cli_refuses_bad_values_before_any_work(tmp_path, capsys, argv, text):
    parser = argparse.ArgumentParser(prog="urnn-zoo")
    add_compare_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["compare", "--preset", "smoke", "--out", str(tmp_path / "new"), *argv])
    assert exit_.value.code == 2 and text in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    with pytest.raises(ValueError, match="device: expected a device"):
        compare("smoke", tmp_path / "new", device="bogus", quiet=True)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("where", ["this machine", "another machine"])
def test_a_run_another_process_trains_is_left_to_it(grid_dir, tmp_path, where):
    r"""A ``running`` summary whose process lives here, or runs on a machine this one cannot check, is neither
    resumed nor restarted by a comparison (two comparisons on one folder would train the run twice at once)."""
    import os
    import shutil
    import socket

    out, _ = grid_dir
    spec = build_grid(TINY, ["kru"])[0]
    folder = tmp_path / spec.name
    shutil.copytree(out / spec.name, folder)
    summary = json.loads((folder / "summary.json").read_text())
    host = socket.gethostname() if where == "this machine" else "elsewhere.example"
    (folder / "summary.json").write_text(json.dumps({**summary, "status": "running", "steps_done": 2,
                                                     "final": {}, "pid": os.getpid(), "host": host}))
    before = _files(folder)
    outcome = run_grid([spec], tmp_path)[0]
    assert outcome["status"] == "failed" and "marked running by process" in outcome["error"], outcome
    assert _files(folder) == before
    with pytest.raises(FileExistsError, match="being trained by process" if where == "this machine"
                       else "cannot check"):
        uz.train("kru", "copy", out=tmp_path, name=spec.name, hidden=8, steps=4, seed=0, task_options={"T": 3},
                 progress="none", **SMOKE_TRAIN)
    if where == "this machine":  # not even --force takes a run from its living process
        with pytest.raises(FileExistsError, match="being trained by process"):
            uz.train("kru", "copy", out=tmp_path, name=spec.name, hidden=8, steps=4, seed=0, task_options={"T": 3},
                     progress="none", force=True, **SMOKE_TRAIN)
    assert _files(folder) == before


def test_a_comparison_keeps_the_runs_of_earlier_ones_of_its_preset_in_its_manifest(tmp_path):
    # A result set built over several invocations (--tasks copy, then --tasks adding) keeps every run's arms.
    from urnn_zoo.report import load_results
    from urnn_zoo.runs import read_manifest

    two = Preset("two", (TaskPlan("copy", {"T": 3}, steps=2, train=SMOKE_TRAIN, hidden=(8,), budgets=(600,)),
                         TaskPlan("adding", {"T": 4}, steps=2, train=SMOKE_TRAIN, hidden=(8,))), (0,), (8,))
    out = tmp_path / "set"
    compare(two, out, cells=["rnn", "lstm"], tasks=["copy"], timing=False, quiet=True)
    second = compare(two, out, cells=["rnn"], tasks=["adding"], timing=False, quiet=True)
    entries = {e["run"]: e for e in read_manifest(out)["runs"]}
    copy_runs = {"rnn-copy-T3-N8-s0", "lstm-copy-T3-N8-s0"}
    assert set(entries) == copy_runs | {"rnn-adding-T4-N8-s0"} and second["runs"] == list(entries.values())
    assert all("recorded_by" in entries[r] for r in copy_runs) and "recorded_by" not in entries["rnn-adding-T4-N8-s0"]
    assert {a["name"] for a in entries["rnn-copy-T3-N8-s0"]["arms"]} == {"N=8", "budget 600"}
    runs = load_results(out).runs
    assert set(runs[runs.task == "copy"].arm) == {"N=8", "budget 600"}  # the report still sees the earlier arms
    # A deleted run folder is not carried; another preset's manifest is not merged.
    import shutil
    shutil.rmtree(out / "lstm-copy-T3-N8-s0")
    compare(two, out, cells=["rnn"], tasks=["adding"], timing=False, quiet=True)
    assert {e["run"] for e in read_manifest(out)["runs"]} == {"rnn-copy-T3-N8-s0", "rnn-adding-T4-N8-s0"}
    other = Preset("other", two.tasks[1:], (0,), (8,))
    compare(other, out, cells=["rnn"], timing=False, quiet=True)
    assert [e["run"] for e in read_manifest(out)["runs"]] == ["rnn-adding-T4-N8-s0"]
