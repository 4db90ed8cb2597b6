r"""``compare --executor slurm|ray``: the smoke preset as submitit jobs (submitit's local executor: this machine has
no SLURM, so real job processes through submitit's job machinery) and as Ray tasks (a Ray cluster of this
machine on the loopback address, 2 CPUs) gives the record and the report of the local pool, to the bit; a job
preempted mid-run is requeued and resumes from its checkpoint; a job killed mid-run is reported failed and its
run resumes from its checkpoint; a failing run is reported; Ctrl-C to the process group stops either cleanly;
a missing engine is one line naming the extra ``urnn_zoo[cluster]``, before anything is written."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from urnn_zoo.cli import main
from urnn_zoo.compare import MissingExtraError, RunSpec, compare, run_grid
from urnn_zoo.compare.executors import make_executor
from urnn_zoo.compare.executors.job import JobCall, attempt_record, run_job
from urnn_zoo.report import write_report
from urnn_zoo.runs import MANIFEST_FILE, SUMMARY_FILE, RunStatus, folder_state, load_checkpoint, read_metrics
from urnn_zoo.runs.summary import process_alive, write_summary
from urnn_zoo.training import train
import processes

CELLS = ["kru", "rnn"]  # the smoke preset on two cells: 4 runs, both tasks, both arms
VOLATILE = {"seconds", "cpu_seconds", "train_seconds", "seconds_per_step", "pid", "host"}
LONG_TRAIN = dict(batch_size=8, eval_every=10, eval_batches=1, test_batches=1, log_every=10)


def long_spec(name: str, steps: int = 400, **changes) -> RunSpec:
    r"""A run long enough to be stopped in the middle (copy T=50 at N=8: a few ms a step), checkpointed every
    10 steps."""
    return RunSpec(name, "rnn", "copy", {"T": 50}, 8, 0, steps, {**LONG_TRAIN, **changes})


def record(folder: Path) -> dict:
    r"""What a run folder records, less wall and CPU times and the process that wrote it."""
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    frame = read_metrics(folder)
    return {"summary": {k: v for k, v in summary.items() if k not in VOLATILE},
            "metrics": list(zip(frame.step, frame.split, frame.metric, frame.value)),
            "config": json.loads((folder / "config.json").read_text())["train"]}


def sweep(out: Path, executor: str, **options) -> tuple[dict, str]:
    r"""The smoke preset on :data:`CELLS` with ``executor``; the manifest and what it printed."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        manifest = compare("smoke", out, cells=CELLS, jobs=None if executor != "local" else 1, timing=False,
                           progress="lines", executor=executor, executor_options=options or None)
    return manifest, err.getvalue()


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("local")
    return out, sweep(out, "local")[0]


def assert_same_sweep(out: Path, manifest: dict, reference: tuple[Path, dict]) -> None:
    ref_out, ref = reference
    assert [r["run"] for r in manifest["runs"]] == [r["run"] for r in ref["runs"]]
    for entry, expected in zip(manifest["runs"], ref["runs"]):
        assert (entry["status"], entry["action"]) == (expected["status"], expected["action"]) == ("finished",
                                                                                                 "trained")
        assert entry["arms"] == expected["arms"] and entry["error"] is None
        assert (entry["host"], entry["device"]) == (socket.gethostname(), "cpu") and "cores" in entry["device_name"]
        assert record(out / entry["run"]) == record(ref_out / entry["run"])  # same numbers, to the bit


# ----------------------------------------------------------------------------------------- the smoke preset
@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("slurm")
    return (out, *sweep(out, "slurm", cpus=1))


@pytest.fixture(scope="module")
def ray(tmp_path_factory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("ray")
    return (out, *sweep(out, "ray", num_cpus=2, cpus=1))


def test_slurm_without_slurm_runs_submitit_local_jobs_with_the_local_record(slurm, local):
    out, manifest, printed = slurm
    assert_same_sweep(out, manifest, local)
    said = [line for line in printed.splitlines() if "no SLURM here" in line]
    assert len(said) == 1 and "submitit's local executor" in said[0], printed
    assert manifest["executor"] == {"name": "slurm", "backend": "local", "options": {
        "partition": None, "time": 240, "gpus": 0, "cpus": 1, "mem": None, "requeues": 10}}
    logs = sorted((out / ".jobs" / "submitit").glob("*_0_log.err"))
    assert len(logs) == len(manifest["runs"])  # one submitit job per run folder, its log under the sweep's folder
    for entry in manifest["runs"]:
        assert attempt_record(out, entry["run"])["attempt"] == 1
    assert f"[{len(manifest['runs'])}/{len(manifest['runs'])}]" in printed  # the local pool's progress lines


def test_ray_runs_tasks_on_a_loopback_cluster_with_the_local_record(ray, local):
    out, manifest, printed = ray
    assert_same_sweep(out, manifest, local)
    assert "Ray cluster started on this machine (2 CPUs, loopback only)" in printed
    assert manifest["executor"]["name"] == "ray" and manifest["executor"]["cluster"] == "started on this machine"
    import ray as ray_module

    assert not ray_module.is_initialized()  # the cluster it started is shut down
    assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") is None  # and the loopback switch put back


def test_reports_of_every_executor_are_identical_in_content(slurm, ray, local, tmp_path):
    tables = {}
    for name, out in (("local", local[0]), ("slurm", slurm[0]), ("ray", ray[0])):
        root = tmp_path / name
        write_report(out, root)
        tables[name] = {p.name: p.read_text() for p in sorted((root / "tables").glob("*.csv"))}
    assert tables["slurm"] == tables["local"] and tables["ray"] == tables["local"]
    assert any(name.startswith("table-copy") for name in tables["local"])


# ----------------------------------------------------------------------------------------- preempted, killed, failed
@contextlib.contextmanager
def when_training(folder: Path, act, at_step: int = 20):
    r"""While the block runs, a thread calls ``act(pid)`` once the run in ``folder`` has a checkpoint at
    ``at_step`` or later and is still training (its summary says running, with the training process's id)."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                summary = json.loads((folder / SUMMARY_FILE).read_text())
                if summary["status"] == "running" and load_checkpoint(folder).loop.step >= at_step:
                    act(summary["pid"])
                    return
            except Exception:  # not written yet, or being replaced
                pass
            done.wait(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    r"""The long run trained in one go (one torch thread, as the jobs train)."""
    out = tmp_path_factory.mktemp("uninterrupted")
    spec = long_spec("long")
    train(spec.cell, spec.task, out=out, name=spec.name, hidden=spec.hidden, steps=spec.steps, seed=spec.seed,
          task_options=spec.task_options, progress="none", **spec.train)
    return record(out / spec.name)


def test_a_preempted_job_is_requeued_and_resumes_from_its_checkpoint(tmp_path, uninterrupted):
    spec = long_spec("long")
    signalled = []

    def preempt(pid: int) -> None:  # what SLURM sends before it preempts a job or stops it at its time limit
        signalled.append(load_checkpoint(tmp_path / spec.name).loop.step)
        os.kill(pid, signal.SIGUSR2)

    with when_training(tmp_path / spec.name, preempt):
        outcome = run_grid([spec], tmp_path, jobs=1, executor=make_executor("slurm", {"cpus": 1}))[0]
    assert signalled, "the run ended before it could be preempted"
    print(f"preempted with a checkpoint at step {signalled[0]}; resumed from step {outcome['resumed_from']}")
    assert outcome["status"] == "finished" and outcome["action"] == "resumed", outcome
    assert signalled[0] <= outcome["resumed_from"] < spec.steps  # from its checkpoint, not from scratch
    assert attempt_record(tmp_path, spec.name)["attempt"] == 2  # the same job, requeued once
    log = "".join(p.read_text() for p in (tmp_path / ".jobs" / "submitit").glob("*_log.err"))
    assert "Caught signal SIGUSR2" in log and "preempted" in log
    assert record(tmp_path / spec.name) == uninterrupted  # the numbers of an uninterrupted run


def test_a_killed_job_is_reported_failed_and_its_run_resumes_from_its_checkpoint(tmp_path, uninterrupted):
    spec = long_spec("long")
    killed = []

    def kill(pid: int) -> None:  # out of memory, a node lost: no warning
        killed.append(load_checkpoint(tmp_path / spec.name).loop.step)
        os.kill(pid, signal.SIGKILL)

    bad = RunSpec("bad", "rnn", "copy", {"T": 3}, 8, 0, 2, dict(LONG_TRAIN), {"bogus": 1})
    with when_training(tmp_path / spec.name, kill):
        outcomes = run_grid([spec, bad], tmp_path, jobs=2, executor=make_executor("slurm", {"cpus": 1}))
    assert killed, "the run ended before it could be killed"
    dead, failing = outcomes
    assert dead["status"] == "failed" and "ended without an outcome" in dead["error"] and "log" in dead["error"]
    assert failing["status"] == "failed" and "bogus" in failing["error"]  # a run that raises: its error
    state = folder_state(tmp_path / spec.name)
    assert state.status is RunStatus.INCOMPLETE and state.resumable  # nothing is lost
    again = run_grid([spec], tmp_path)[0]  # the next comparison, on this machine's pool
    print(f"killed with a checkpoint at step {killed[0]}; resumed from step {again['resumed_from']}")
    assert again["action"] == "resumed" and killed[0] <= again["resumed_from"] < spec.steps
    assert record(tmp_path / spec.name) == uninterrupted


def test_a_restarted_job_takes_over_the_mark_its_killed_attempt_left_on_another_host(tmp_path, uninterrupted):
    r"""Note [Attempts of a job]: SLURM requeues (or Ray retries) a job whose node died; its run's summary still
    says running on that node, which no other machine can check. The restarted job knows that attempt ended."""
    spec = long_spec("long")
    train(spec.cell, spec.task, out=tmp_path, name=spec.name, hidden=spec.hidden, steps=40, seed=spec.seed,
          task_options=spec.task_options, progress="none", **spec.train)
    summary = json.loads((tmp_path / spec.name / SUMMARY_FILE).read_text())
    write_summary(tmp_path / spec.name, {**summary, "status": "running", "host": "node-17", "pid": 4242})
    assert folder_state(tmp_path / spec.name).status is RunStatus.RUNNING  # left to node-17 by any other process
    attempts = tmp_path / ".jobs" / "attempts"
    attempts.mkdir(parents=True)
    (attempts / f"{spec.name}.json").write_text(json.dumps({"sweep": "s1", "run": spec.name, "attempt": 1,
                                                            "host": "node-17", "pid": 4242}))
    call = JobCall(asdict(spec), str(tmp_path), "cpu", 1, True, None, ((), ()), "s1")
    outcome = run_job(call)
    assert outcome["action"] == "resumed" and outcome["resumed_from"] == 40, outcome  # force dropped: not cleared
    assert record(tmp_path / spec.name) == uninterrupted
    other = JobCall(call.spec, str(tmp_path), "cpu", 1, False, None, ((), ()), "another-comparison")
    write_summary(tmp_path / spec.name, {**summary, "status": "running", "host": "node-17", "pid": 4242})
    assert run_job(other)["status"] == "failed"  # a mark this job knows nothing about is left alone


def test_a_failing_run_on_ray_is_reported_and_the_others_finish(tmp_path):
    bad = RunSpec("bad", "rnn", "copy", {"T": 3}, 8, 0, 2, dict(LONG_TRAIN), {"bogus": 1})
    good = RunSpec("good", "rnn", "copy", {"T": 3}, 8, 0, 2, dict(LONG_TRAIN))
    outcomes = run_grid([bad, good], tmp_path, executor=make_executor("ray", {"num_cpus": 2}))
    assert [o["status"] for o in outcomes] == ["failed", "finished"]
    assert "unknown option(s) ['bogus']" in outcomes[0]["error"]


# ----------------------------------------------------------------------------------------- Ctrl-C
@pytest.mark.parametrize("executor", ["slurm", "ray"])
def test_ctrl_c_cancels_the_jobs_records_every_status_and_exits_130(tmp_path, executor):
    out = tmp_path / "grid"
    code = (f"import sys\nfrom urnn_zoo.compare import Preset, TaskPlan, compare\n"
            f"plan = Preset('long', (TaskPlan('copy', {{'T': 50}}, steps=3000, train={LONG_TRAIN!r}, hidden=(8,)),),"
            f" seeds=(0, 1, 2), timing_hidden=(8,))\n"
            f"try:\n    compare(plan, {str(out)!r}, cells=['rnn'], jobs=2, timing=False, progress='lines', "
            f"executor={executor!r}, executor_options={{'cpus': 1}})\n"
            f"except KeyboardInterrupt:\n    sys.exit(130)\n")
    proc = processes.start([sys.executable, "-c", code], stderr=subprocess.PIPE)  # killed when the test ends
    training = threading.Event()
    with contextlib.ExitStack() as watching:
        for seed in range(3):
            watching.enter_context(when_training(out / f"rnn-copy-T50-N8-s{seed}", lambda pid: training.set(), 10))
        assert training.wait(240), "no run started training"
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches every process of the group
    sent = time.monotonic()
    _, err = proc.communicate(timeout=120)
    took = time.monotonic() - sent
    assert proc.returncode == 130, err[-3000:]
    assert took < 30, f"took {took:.1f} s to stop"
    assert "Traceback" not in err, err[-3000:]  # one closing line, no job machinery's traceback
    assert sum(line.startswith("urnn-zoo compare: interrupted") for line in err.splitlines()) == 1, err[-3000:]
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["interrupted"]
    for entry in manifest["runs"]:
        state = folder_state(out / entry["run"])
        assert entry["action"] in ("interrupted", "cancelled") and entry["status"] == state.status, entry
        assert state.status is not RunStatus.RUNNING  # every job stopped, none left training
    stopped = [e for e in manifest["runs"] if e["status"] == "incomplete"]
    assert stopped and all(folder_state(out / e["run"]).resumable for e in stopped), manifest["runs"]
    pids = [(attempt_record(out, e["run"]) or {}).get("pid") for e in manifest["runs"]]
    deadline = time.monotonic() + 10
    while any(process_alive(pid, socket.gethostname()) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(process_alive(pid, socket.gethostname()) for pid in pids)  # no job process is left (zombies: gone)


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("engine,executor", [("submitit", "slurm"), ("ray", "ray")])
def test_a_missing_engine_is_one_line_naming_the_extra(monkeypatch, tmp_path, capsys, engine, executor):
    monkeypatch.setitem(sys.modules, engine, None)  # what `import` finds where the package is not installed
    out = tmp_path / "new"
    with pytest.raises(MissingExtraError) as caught:
        compare("smoke", out, cells=CELLS, executor=executor, quiet=True)
    message = str(caught.value)
    assert "\n" not in message and "pip install 'urnn_zoo[cluster]'" in message and engine in message
    assert main(["compare", "--preset", "smoke", "--executor", executor, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"urnn-zoo compare: error: {message}"]
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("executor,options,text", [
    ("slurm", {"partitoin": "gpu"}, r"executor option\(s\) \['partitoin'\]: expected an option of --executor slurm "
                                     r"\(partition, time, gpus, cpus, mem, requeues\), got 'partitoin'"),
    ("slurm", {"time": 0}, "executor option time: expected an integer > 0, got 0"),
    ("slurm", {"slurm_bogus": 1}, r"expected slurm_ and a parameter of submitit's SlurmExecutor"),
    ("slurm", {"partition": "a b"}, "executor option partition: expected a non-empty text without spaces"),
    ("ray", {"cpus": -1}, "executor option cpus: expected an integer > 0, got -1"),
    ("ray", {"address": "auto", "num_cpus": 2}, "num_cpus: expected it only without address"),
    ("local", {"cpus": 1}, r"executor option\(s\) \['cpus'\]: expected an option of --executor local \(none\)"),
])
def test_bad_executor_options_are_refused_before_anything_is_written(tmp_path, executor, options, text):
    with pytest.raises(ValueError, match=text):
        compare("smoke", tmp_path / "new", cells=CELLS, executor=executor, executor_options=options, quiet=True)
    assert not (tmp_path / "new").exists()


def test_a_cluster_device_is_resolved_where_the_runs_train_and_the_timing_device_here(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ValueError, match="torch sees no CUDA device"):  # the local pool trains here
        compare("smoke", tmp_path / "a", cells=CELLS, device="cuda", quiet=True)
    with pytest.raises(ValueError, match="for the timing pass .* give --no-timing"):  # the timing pass runs here
        compare("smoke", tmp_path / "b", cells=CELLS, device="cuda", executor="slurm", quiet=True)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_slurm_options_become_the_resources_of_every_job(monkeypatch, tmp_path):
    r"""Where SLURM is (``sbatch`` on PATH), the options are the job script's ``#SBATCH`` lines, as submitit writes
    them: nothing is submitted here."""
    import urnn_zoo.compare.executors.slurm as slurm

    monkeypatch.setattr(slurm.shutil, "which", lambda name: f"/usr/bin/{name}")
    executor = make_executor("slurm", {"partition": "gpu", "mem": 16, "time": 90, "slurm_account": "lab"},
                             device="auto")
    assert executor.describe(351, 351) == ("351 runs as SLURM jobs on gpu (1 CPU(s), 1 GPU(s), 16 GB, 90 min each, "
                                           "requeued at most 10 times), 351 in flight at most")
    assert executor.in_flight(None, 351) == 351 and executor.record()["backend"] == "slurm"
    executor.open(tmp_path)
    script = executor.engine._executor._make_submission_file_text("python -m job", "uid")
    for line in ("--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=1", "--mem=16GB", "--time=90",
                 "--account=lab", "--signal=USR2@90", f"--output={tmp_path}/.jobs/submitit/%j_0_log.out"):
        assert f"#SBATCH {line}\n" in script, (line, script)


def test_an_unreachable_ray_cluster_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import ray

    def no_cluster(address=None, **kwargs):  # what ray.init says where no cluster runs (another test may run one)
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to.")

    monkeypatch.setattr(ray, "init", no_cluster)
    with pytest.raises(ValueError, match="executor option address: expected a running Ray cluster at 'auto', got "
                                         "none \\(Could not find any running Ray instance"):
        compare("smoke", tmp_path / "new", cells=CELLS, executor="ray", executor_options={"address": "auto"},
                quiet=True)
    assert not (tmp_path / "new").exists()


def test_the_cli_takes_the_executor_and_its_options():
    from urnn_zoo.cli import build_parser

    args = build_parser().parse_args(["compare", "--executor", "slurm", "--executor-option", "partition=gpu",
                                      "--executor-option", "time=60", "--executor-option", "slurm_qos=high"])
    assert (args.executor, dict(args.executor_option), args.jobs) == ("slurm", {"partition": "gpu", "time": 60,
                                                                                "slurm_qos": "high"}, None)
    assert build_parser().parse_args(["compare"]).executor == "local"
