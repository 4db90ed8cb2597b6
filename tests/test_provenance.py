r"""Provenance a reader can reproduce from: the command line that made a run, a comparison and a report (as a
shell reads it back, through the console script, ``python -m urnn_zoo.cli`` and a comparison's worker
processes), the checkout's dirty flag (against git itself), the CPU in full (against ``lscpu``), every training
setting per task, cell and variant written exactly, and the measured wall and CPU seconds summed over the runs
and every machine they ran on."""
from __future__ import annotations

import collections
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.cli import main
from urnn_zoo.compare import Preset, TaskPlan, compare
from urnn_zoo.report import load_results
from urnn_zoo.report.provenance import MACHINE_KEYS, machine_text, provenance, provenance_items
from urnn_zoo.report.settings import MISSING, SETTINGS, settings_table
from urnn_zoo.runs import (MANIFEST_FILE, RunConfig, read_config, read_manifest, read_summary, write_config,
                           write_summary)
from urnn_zoo.runs.environment import (KEYS, capture, command_line, complete, cpu_id, git_commit, git_state,
                                       invoked_as, invoked_command)

ROOT = Path(__file__).resolve().parents[1]
V0 = Path(__file__).parent / "fixtures" / "records_v0"
TINY = ["--task", "copy", "--T", "3", "--hidden", "4", "--steps", "2", "--eval-every", "1", "--eval-batches", "1",
        "--test-batches", "1", "--batch-size", "2", "--progress", "none"]
TINY_PY = dict(hidden=4, steps=2, eval_every=1, eval_batches=1, test_batches=1, batch_size=2,
               task_options={"T": 3}, progress="none")


# ----------------------------------------------------------------------------------------- the command
# Arguments as a shell passes them: any text without NUL (which no argv can hold), spaces and quotes included.
ARGUMENT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@given(st.lists(ARGUMENT, max_size=6))
def test_a_recorded_command_reads_back_as_its_arguments(argv):
    command = command_line(argv)
    assert shlex.split(command) == ["urnn-zoo", *argv]  # POSIX shell word splitting, the stdlib's


@pytest.mark.parametrize("bad", ["train --cell kru", ["train", 3], None])
def test_a_command_that_is_not_an_argument_list_is_refused(bad):
    with pytest.raises(ValueError, match=r"argv: expected a list of texts .*, got"):
        command_line(bad)
    with pytest.raises(ValueError, match=r"command: expected a command line \(text\) or None, got 3"):
        with invoked_as(3):
            pass


def test_train_records_the_command_typed_and_a_python_call_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--cell", "kru", *TINY, "--cell-option", "factors=[2, 2]", "--out", "runs with space"]
    assert main(argv) == 0
    [run] = (tmp_path / "runs with space").iterdir()
    env = read_config(run)["environment"]
    assert env["command"] == shlex.join(["urnn-zoo", *argv])
    assert shlex.split(env["command"])[1:] == argv
    assert invoked_command() is None  # nothing held after the command returned
    result = uz.train("lstm", "copy", out=tmp_path / "py", **TINY_PY)
    assert read_config(result.path)["environment"]["command"] is None


def test_python_m_cli_records_the_program_as_urnn_zoo(tmp_path):
    argv = ["train", "--cell", "rnn", *TINY, "--out", str(tmp_path)]
    done = subprocess.run([sys.executable, "-m", "urnn_zoo.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    [run] = tmp_path.iterdir()
    assert read_config(run)["environment"]["command"] == shlex.join(["urnn-zoo", *argv])


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    r"""``urnn-zoo compare`` of two runs in two worker processes (spawned: their argv is multiprocessing's)."""
    out = tmp_path_factory.mktemp("compare")
    argv = ["compare", "--preset", "smoke", "--cells", "lstm", "--tasks", "copy", "--seeds", "0", "1", "--jobs",
            "2", "--no-timing", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    return out, shlex.join(["urnn-zoo", *argv])


def test_compare_records_its_command_in_the_manifest_and_in_every_worker_run(compared):
    out, command = compared
    manifest = read_manifest(out)
    assert manifest["command"] == command and manifest["jobs"] == 2 and len(manifest["runs"]) >= 2
    for entry in manifest["runs"]:
        assert entry["action"] == "trained"
        assert read_config(out / entry["run"])["environment"]["command"] == command
    assert read_manifest(V0 / "compare")["command"] is None  # written before commands were recorded


def test_a_comparison_in_one_process_records_the_command_held_and_from_python_none(tmp_path):
    plan = Preset("one", (TaskPlan("copy", {"T": 3}, steps=2, train=dict(batch_size=2, eval_every=1, eval_batches=1,
                                                                          test_batches=1), hidden=(4,)),), seeds=(0,),
                  timing_hidden=(4,))
    command = "urnn-zoo compare --preset one --jobs 1"
    with invoked_as(command):
        held = compare(plan, tmp_path / "held", cells=["rnn"], jobs=1, timing=False, quiet=True)
    plain = compare(plan, tmp_path / "plain", cells=["rnn"], jobs=1, timing=False, quiet=True)
    for manifest, folder, want in ((held, tmp_path / "held", command), (plain, tmp_path / "plain", None)):
        [entry] = manifest["runs"]
        assert manifest["command"] == want and read_manifest(folder)["command"] == want
        assert read_config(folder / entry["run"])["environment"]["command"] == want


def test_the_report_states_the_comparisons_command_and_measured_cost(compared):
    out, command = compared
    res = load_results(out)
    raw = json.loads((out / MANIFEST_FILE).read_text())
    info = provenance(res.runs, res.timings, res.asv, configs=res.configs, manifest=res.manifest)
    c = info["comparison"]
    assert (c["command"], c["seconds"], c["cpu_seconds"], c["jobs"]) == (command, raw["seconds"],
                                                                         raw["cpu_seconds"], 2)
    text = "\n".join(provenance_items(info))
    assert f"`{command}`" in text
    assert f"measured {raw['seconds']:.1f} s wall, {raw['cpu_seconds']:.1f} CPU seconds" in text
    assert info["runs"]["commands"] == [command] and info["runs"]["without_command"] == 0


# ----------------------------------------------------------------------------------------- the checkout
def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                          cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path) -> Path:
    r"""A git checkout with a package folder ``pkg`` (one tracked module), a tracked README, a tracked result
    file and an ignore rule."""
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "mod.py").write_text("x = 1\n")
    (repo / "README").write_text("readme\n")
    (repo / "results" / "run").mkdir(parents=True)
    (repo / "results" / "run" / "metrics.csv").write_text("step,value\n0,1\n")
    (repo / ".gitignore").write_text("__pycache__/\nvenv/\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    return repo


@pytest.mark.parametrize("change, dirty", [
    (None, False),
    (("pkg/mod.py", "x = 2\n"), True),            # a tracked module edited
    (("README", "changed\n"), False),             # a tracked file outside the package: not the code that runs
    (("results/run/metrics.csv", None), False),   # a tracked result set, written while its runs resume
    (("pkg/new_cell.py", "y = 1\n"), True),       # a module in the package that is not committed
    (("notes.txt", "scratch\n"), False),          # an untracked file outside the package
    (("pkg/__pycache__/mod.pyc", "bytes"), False),  # ignored by git
])
def test_dirty_is_whether_the_code_that_runs_differs_from_head(checkout, change, dirty):
    if change is not None:
        path = checkout / change[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(change[1] if change[1] is not None else path.read_text() + "10,0.5\n")
    head = _git(checkout, "rev-parse", "HEAD")
    assert git_state(checkout / "pkg") == (head, dirty)
    assert git_commit(checkout / "pkg") == head + ("+dirty" if dirty else "")


def test_a_package_outside_any_checkout_of_its_own_has_no_commit(checkout, tmp_path):
    venv_pkg = checkout / "venv" / "site-packages" / "pkg"  # installed inside another checkout's ignored folder
    venv_pkg.mkdir(parents=True)
    (venv_pkg / "mod.py").write_text("x = 1\n")
    assert git_state(venv_pkg) == (None, None)
    (tmp_path / "plain").mkdir()
    assert git_state(tmp_path / "plain") == (None, None) and git_commit(tmp_path / "plain") is None


def test_the_capture_flags_this_checkout_as_git_does():
    env = capture()
    assert list(env) == list(KEYS)
    head, dirty = git_state(ROOT / "urnn_zoo")
    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if git.returncode:  # the suite runs from a copy that is not a checkout
        assert (head, dirty, env["commit"], env["dirty"]) == (None, None, None, None)
    else:
        assert head == git.stdout.strip() and isinstance(dirty, bool)
        assert env["dirty"] is dirty and env["commit"] == head + ("+dirty" if dirty else "")


@pytest.mark.parametrize("env, dirty", [
    ({"commit": "abc+dirty", "versions": {}}, True),   # schema 1 before the flag: the suffix tells
    ({"commit": "abc", "versions": {}}, False),
    ({"commit": None, "versions": {}}, None),          # outside a checkout
    ({"commit": "abc", "torch": "2.1"}, None),         # schema 0: never checked
    ({"commit": "abc", "dirty": None, "versions": {}}, None),
])
def test_an_older_environment_reads_with_every_key(env, dirty):
    out = complete(env)
    assert out["dirty"] is dirty
    assert set(out) >= set(KEYS) and out["command"] is None and out["cpu_id"] is None
    assert out["commit"] == env["commit"]


# ----------------------------------------------------------------------------------------- the machine
@pytest.mark.skipif(shutil.which("lscpu") is None or not Path("/proc/cpuinfo").exists(),
                    reason="needs lscpu and /proc/cpuinfo (Linux)")
def test_the_cpu_is_named_in_full_as_lscpu_names_it():
    fields = dict(line.split(":", 1) for line in subprocess.run(["lscpu"], capture_output=True, text=True,
                                                               env={**os.environ, "LC_ALL": "C"}).stdout.splitlines()
                  if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert cpu_id() == (f"{fields['Vendor ID']} family {fields['CPU family']} model {fields['Model']} "
                        f"stepping {fields['Stepping']}")
    env = capture()
    assert env["cpu"] == fields["Model name"] and env["cpu_id"] == cpu_id()
    text = machine_text(env)
    assert text.startswith(fields["Model name"]) and cpu_id() in text and f"{env['cores']} cores" in text


# ----------------------------------------------------------------------------------------- settings and totals
def _summary(cell: str, seconds: float | None, cpu_seconds: float | None) -> dict:
    summary = {"cell": cell, "task": "copy", "hidden": 4, "seed": 0, "status": "finished", "steps": 2,
               "steps_done": 2, "metric": "loss", "baseline": {"loss": 1.0}, "final": {"loss": 0.5},
               "task_options": {"T": 3, "form": "arjovsky"}}
    if seconds is not None:
        summary["seconds"] = seconds
    if cpu_seconds is not None:
        summary["cpu_seconds"] = cpu_seconds
    return summary


FLOAT_SETTINGS = ("lr", "constrained_lr", "recurrent_lr", "alpha", "penalty_weight", "clip")
RATE = st.floats(1e-7, 10.0, allow_subnormal=False)
RUN = st.fixed_dictionaries({
    "cell": st.sampled_from(["lstm", "rnn"]), "forget_bias": st.sampled_from([1.0, 0.0]),
    "steps": st.integers(0, 10**6), "batch_size": st.integers(1, 4096),
    "optimizer": st.sampled_from(["rmsprop", "adam"]),
    "lr": RATE, "constrained_lr": RATE, "recurrent_lr": st.none() | RATE,
    "alpha": st.floats(0.0, 0.999, allow_subnormal=False), "penalty_weight": st.floats(0.0, 1.0, allow_subnormal=False),
    "clip": st.none() | RATE, "eval_every": st.integers(1, 1000), "eval_batches": st.none() | st.integers(1, 100),
    "test_batches": st.none() | st.integers(1, 100), "early_stop": st.none() | st.integers(1, 50),
    "dtype": st.sampled_from(["float32", "float64"]), "seed": st.integers(0, 3),
    "command": st.none() | st.sampled_from(["urnn-zoo compare --preset quick", "urnn-zoo train --cell x"]),
})


def _parse(setting: str, text: str):
    if text == MISSING:
        return None
    if setting in FLOAT_SETTINGS:
        return float(text)
    return text if setting in ("optimizer", "dtype", "device") else int(text)


@given(st.lists(RUN, min_size=1, max_size=5))
def test_the_settings_table_holds_every_setting_of_every_run_exactly(runs):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, run in enumerate(runs):
            options = {} if run["cell"] == "rnn" else {"forget_bias": run["forget_bias"]}
            config = RunConfig(run["cell"], "copy", hidden=4, seed=run["seed"], cell_options=options,
                               task_options={"T": 3, "form": "arjovsky"},
                               **{k: run[k] for k in SETTINGS if k not in ("device",)})
            folder = root / f"run{i}"
            folder.mkdir()
            write_config(folder, config, {"command": run["command"], "versions": {}})
        table = settings_table(load_results(root))
    groups = collections.defaultdict(list)  # the grouping the table promises: task, cell, non-default options
    for run in runs:
        groups[(run["cell"], run["cell"] == "lstm" and run["forget_bias"] != 1.0)].append(run)
    assert len(table) == len(groups) and list(table.columns[-1:]) == ["command"]
    for row in table.itertuples(index=False):
        key = (row.cell, row.variant != "")
        assert row.variant in ("", "forget_bias=0.0") and row.task == "copy (T=3)"
        members = groups[key]
        assert int(row.runs) == len(members)
        assert {int(s) for s in row.seeds.split(", ")} == {r["seed"] for r in members}
        for setting in SETTINGS:
            want = {r.get(setting, "cpu") for r in members}
            got = {_parse(setting, text) for text in getattr(row, setting).split(", ")}
            assert got == want, (setting, getattr(row, setting), want)
        want_commands = list(dict.fromkeys(r["command"] or MISSING for r in members))
        assert row.command.split("; ") == want_commands


MACHINES = [  # (host, environment fields that name the machine)
    ("vm", {"cpu": "Intel(R) Xeon(R) Processor", "cpu_id": "GenuineIntel family 6 model 143 stepping 8",
            "cpu_capability": "AVX512", "cores": 2, "memory_gib": 23.5, "cuda": "none"}),
    ("gpu1", {"cpu": "AMD EPYC 7742 64-Core Processor", "cpu_id": "AuthenticAMD family 23 model 49 stepping 0",
              "cpu_capability": "AVX2", "cores": 128, "memory_gib": 1007.7, "cuda": "NVIDIA A100-SXM4-80GB"}),
    ("gpu2", {"cpu": "AMD EPYC 7742 64-Core Processor", "cpu_id": "AuthenticAMD family 23 model 49 stepping 0",
              "cpu_capability": "AVX2", "cores": 128, "memory_gib": 1007.7, "cuda": "NVIDIA A100-SXM4-80GB"}),
    ("old", {}),  # a record from before the machine was captured
]
SECONDS = st.none() | st.floats(0.0, 1e5, allow_subnormal=False).map(lambda s: round(s, 3))


@given(st.lists(st.tuples(st.sampled_from(range(len(MACHINES))), SECONDS, SECONDS), min_size=1, max_size=6))
def test_provenance_sums_the_measured_seconds_of_the_runs_and_names_every_machine(runs):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, (m, seconds, cpu_seconds) in enumerate(runs):
            folder = root / f"run{i}"
            folder.mkdir()
            host, fields = MACHINES[m]
            write_config(folder, RunConfig("rnn", "copy", hidden=4), {"versions": {}, "machine": host, **fields})
            write_summary(folder, _summary("rnn", seconds, cpu_seconds))
        res = load_results(root)
    block = provenance(res.runs, configs=res.configs)
    info = block["runs"]
    walls = [s for _, s, _ in runs if s is not None]
    cpus = [c for _, _, c in runs if c is not None]
    assert info["seconds"] == pytest.approx(math.fsum(walls), rel=1e-12, abs=1e-9)
    assert info["cpu_seconds"] == pytest.approx(math.fsum(cpus), rel=1e-12, abs=1e-9)
    assert (info["seconds_runs"], info["cpu_seconds_runs"]) == (len(walls), len(cpus))
    # One entry per distinct machine (hosts gpu1 and gpu2 are the same machine), with its hosts and run count.
    want = collections.defaultdict(lambda: [set(), 0])
    for m, _, _ in runs:
        host, fields = MACHINES[m]
        key = tuple(fields.get(k) for k in MACHINE_KEYS)
        want[key][0].add(host)
        want[key][1] += 1
    got = {tuple(e[k] for k in MACHINE_KEYS): [set(e["hosts"]), e["runs"]] for e in info["machines"]}
    assert got == dict(want)
    text = "\n".join(provenance_items(block))
    for key in want:
        fields = dict(zip(MACHINE_KEYS, key))
        assert machine_text(fields) in text
        if fields["cpu"] is not None:
            assert f"{fields['cpu']} ({fields['cpu_id']}; torch CPU kernels {fields['cpu_capability']}), " \
                   f"{fields['cores']} cores, {fields['memory_gib']} GiB, CUDA: {fields['cuda']}" in text
    if not cpus:
        assert "CPU time not recorded" in text
    elif len(cpus) < len(runs):
        assert f"(recorded by {len(cpus)} of the {len(runs)})" in text


# ----------------------------------------------------------------------------------------- the training record
def test_each_run_records_the_cpu_seconds_of_its_processes(tmp_path):
    before = time.process_time()
    first = uz.train("lstm", "copy", out=tmp_path, **TINY_PY)
    spent = time.process_time() - before
    cpu = read_summary(first.path)["cpu_seconds"]
    assert 0 < cpu <= spent
    before = time.process_time()
    more = uz.train("lstm", "copy", out=tmp_path, resume=True, **dict(TINY_PY, steps=6))
    spent = time.process_time() - before
    total = read_summary(more.path)["cpu_seconds"]
    assert cpu < total <= cpu + spent  # a resume adds its own process time to the checkpoint's


def test_the_report_lists_every_setting_and_the_runs_cost(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--cell", "lstm", *TINY, "--lr", "0.003", "--clip", "2.5", "--out", "runs"]
    assert main(argv) == 0
    assert main(["report", "--runs", "runs", "--out", "report", "--quiet"]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Settings" in md and f"`{shlex.join(['urnn-zoo', *argv])}`" in md
    settings = pd.read_csv(tmp_path / "report" / "tables" / "settings.csv", dtype=str, keep_default_na=False)
    assert list(settings.columns[:3]) == ["task", "cell", "variant"] and len(settings) == 1
    row = settings.iloc[0]
    assert (row["lr"], row["clip"], row["command"]) == ("0.003", "2.5", shlex.join(["urnn-zoo", *argv]))
    summary = read_summary(tmp_path / "runs" / "lstm-copy-T3-N4-s0")
    info = json.loads((tmp_path / "report" / "provenance.json").read_text())
    assert info["runs"]["cpu_seconds"] == pytest.approx(summary["cpu_seconds"])
    assert info["runs"]["seconds"] == pytest.approx(summary["seconds"])
    assert info["report"]["command"] == "urnn-zoo report --runs runs --out report --quiet"
    assert (tmp_path / "report" / "data" / "configs.csv").is_file()
