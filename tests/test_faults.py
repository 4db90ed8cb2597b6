r"""Fault injection: ``train`` and ``compare`` killed (SIGKILL) or interrupted (SIGINT) at drawn points, and every
record file damaged in each way a crash or a user can damage it; then the run is resumed and reported.

Invariants: nothing finished is lost or retrained; a resumed run gives the numbers of an uninterrupted one;
every message about a damaged file names the file and says what to do; ``report`` skips and lists a bad run
instead of failing.

Kill points are drawn by Hypothesis over the record's write events (every atomic write, every append) of a
small comparison run in a forked child, which kills itself with SIGKILL (or interrupts itself with SIGINT) at
the drawn event, part-way through the append or before the rename; a few real ``urnn-zoo`` processes are
also signalled from outside, as a user would (Ctrl-C to the process group, ``kill -9``).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo.runs.atomic as atomic
import urnn_zoo.runs.tidy as tidy
from urnn_zoo.compare import Preset, TaskPlan, compare, preset
from urnn_zoo.report import load_results, write_report
from urnn_zoo.runs import (CHECKPOINT_FILE, CONFIG_FILE, MANIFEST_FILE, METRICS_FILE, SUMMARY_FILE, TIMINGS_FILE,
                           RecordError, RunStatus, folder_state, read_metrics, read_summary, read_timings)
from urnn_zoo.training import train
import processes

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fault injection forks a child process")

TRAIN = dict(batch_size=2, eval_every=2, eval_batches=1, test_batches=1, log_every=1)
PLAN = Preset("faults", (TaskPlan("copy", {"T": 3}, steps=6, train=TRAIN, hidden=(4,)),), seeds=(0,),
              timing_hidden=(4,), timing_batch=2, timing_length=3, timing_repeats=2)
RUN = "kru-copy-T3-N4-s0"
URNN_ZOO = [sys.executable, "-m", "urnn_zoo.cli"]


def rows(folder: Path) -> list[tuple]:
    frame = read_metrics(folder)
    return list(zip(frame.step, frame.split, frame.metric, frame.value))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    r"""The comparison run once, uninterrupted."""
    out = tmp_path_factory.mktemp("reference")
    compare(PLAN, out, cells=["kru"], jobs=1, quiet=True)
    return out


# ----------------------------------------------------------------------------------------- killed at drawn points
class _Events:
    r"""Counts the record's write events in this process and fires ``signum`` at the ``at``-th."""

    def __init__(self, at: int | None, signum: int) -> None:
        self.count, self.at, self.signum = 0, at, signum

    def fire(self) -> bool:
        self.count += 1
        return self.count == self.at

    def install(self, monkeypatch) -> None:
        replace, write = os.replace, tidy.Appender.write

        def killing_replace(src, dst):  # the temporary file is written, not yet renamed
            if self.fire():
                os.kill(os.getpid(), self.signum)
            return replace(src, dst)

        def killing_write(appender, rows_):  # half of the lines reach the file, then the signal
            if self.fire():
                text = tidy._row_text([*r, appender.schema.version] for r in rows_)
                appender._file.write(text[: len(text) // 2])
                appender._file.flush()
                os.kill(os.getpid(), self.signum)
            return write(appender, rows_)

        monkeypatch.setattr(atomic.os, "replace", killing_replace)
        monkeypatch.setattr(tidy.Appender, "write", killing_write)


def _events_of_a_whole_comparison(tmp_path_factory, monkeypatch) -> int:
    events = _Events(None, signal.SIGKILL)
    with monkeypatch.context() as m:
        events.install(m)
        compare(PLAN, tmp_path_factory.mktemp("count"), cells=["kru"], jobs=1, quiet=True)
    return events.count


_TOTAL: list[int] = []


@given(fraction=st.floats(0, 1), signum=st.sampled_from([signal.SIGKILL, signal.SIGINT]))
def test_a_comparison_killed_at_any_write_resumes_to_the_same_record(tmp_path_factory, reference, fraction, signum):
    with pytest.MonkeyPatch.context() as monkeypatch:
        if not _TOTAL:
            _TOTAL.append(_events_of_a_whole_comparison(tmp_path_factory, monkeypatch))
        at = 1 + int(fraction * (_TOTAL[0] - 1))
        out = tmp_path_factory.mktemp("killed")
        pid = os.fork()
        if pid == 0:  # the child: a comparison that dies at the drawn write
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                _Events(at, signum).install(monkeypatch)
                compare(PLAN, out, cells=["kru"], jobs=1, quiet=True)
            except KeyboardInterrupt:
                code = 130
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    if signum == signal.SIGKILL:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    else:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 130, status
        state = folder_state(out / RUN)
        assert state.status in (RunStatus.PENDING, RunStatus.INCOMPLETE) or state.status.ended
        if (out / MANIFEST_FILE).exists():  # Ctrl-C records every status
            manifest = json.loads((out / MANIFEST_FILE).read_text())
            assert manifest["runs"][0]["status"] == state.status
            # Not marked interrupted only when the Ctrl-C came during the last write, the complete manifest
            # (held until that write was done): then nothing was left to interrupt.
            assert manifest["interrupted"] or (at == _TOTAL[0] and state.status.ended), (at, _TOTAL, manifest)
    finished_before = (out / RUN / SUMMARY_FILE).exists() and read_summary(out / RUN)["status"].ended
    stamp = (out / RUN / SUMMARY_FILE).stat().st_mtime_ns if finished_before else None
    manifest = compare(PLAN, out, cells=["kru"], jobs=1, quiet=True)
    outcome = manifest["runs"][0]
    assert outcome["status"] == RunStatus.FINISHED, outcome
    if finished_before:  # nothing finished is retrained
        assert outcome["action"] == "reused" and (out / RUN / SUMMARY_FILE).stat().st_mtime_ns == stamp
    assert rows(out / RUN) == rows(reference / RUN)
    assert read_summary(out / RUN)["final"] == read_summary(reference / RUN)["final"]
    timed = read_timings(out / TIMINGS_FILE)
    assert sorted(set(zip(timed.cell, timed.hidden))) == [("kru", 4)] and len(timed) == 2
    assert not list(out.rglob(f"*{atomic.TEMPORARY_SUFFIX}"))
    assert load_results(out).runs.ok.all()


# ----------------------------------------------------------------------------------------- damaged files
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _binary(path: Path) -> None:
    path.write_bytes(b"\x00\x9f\x92\x96 garbage \x00" * 8)


def _json_types(path: Path) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "final": "abc", "steps_done": "six"}))


def _wrong_columns(path: Path) -> None:
    path.write_text("when,what\n1,2\n")


def _not_a_number(path: Path) -> None:
    lines = path.read_text().splitlines()
    fields = lines[3].split(",")
    fields[3] = "abc"
    lines[3] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


DAMAGE = {"truncated": _truncate, "binary": _binary, "wrong types": _json_types, "wrong columns": _wrong_columns,
          "not a number": _not_a_number}

# (file, damage): what compare does with the finished run, and whether a report must skip it.
CASES = [
    (SUMMARY_FILE, "truncated", "resumed", True),
    (SUMMARY_FILE, "binary", "resumed", True),
    (SUMMARY_FILE, "wrong types", "resumed", True),
    (METRICS_FILE, "binary", "reused", True),
    (METRICS_FILE, "wrong columns", "reused", True),
    (METRICS_FILE, "not a number", "reused", True),
    (CONFIG_FILE, "truncated", "reused", True),
    (CHECKPOINT_FILE, "truncated", "reused", False),
]


@pytest.mark.parametrize("file, damage, action, skipped", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_a_damaged_file_of_a_finished_run(reference, tmp_path, file, damage, action, skipped):
    out = tmp_path / "runs"
    shutil.copytree(reference, out)
    path = out / RUN / file
    DAMAGE[damage](path)
    res = load_results(out)  # the report skips and lists a bad run, or reads what it needs
    if skipped:
        assert list(res.skipped.path) == [str(out / RUN)] and str(path) in res.skipped.problem.iloc[0]
        assert RUN not in set(res.runs.run)
    else:
        assert not len(res.skipped)
    report = write_report(out, tmp_path / "report")["markdown"].read_text()
    assert ("Skipped" in report and str(path) in report) == skipped
    damaged = path.read_bytes()
    stamp = (out / RUN / SUMMARY_FILE).stat().st_mtime_ns
    manifest = compare(PLAN, out, cells=["kru"], jobs=1, quiet=True)
    outcome = manifest["runs"][0]
    assert (outcome["action"], outcome["status"]) == (action, RunStatus.FINISHED), outcome
    if action == "resumed":  # from the intact checkpoint: not retrained, the same record
        assert str(path) in outcome["note"]
        assert rows(out / RUN) == rows(reference / RUN)
        assert read_summary(out / RUN)["final"] == read_summary(reference / RUN)["final"]
    else:  # reused as it is: nothing retrained, and the damaged file left for the user to see
        assert (out / RUN / SUMMARY_FILE).stat().st_mtime_ns == stamp and path.read_bytes() == damaged
    if file in (CONFIG_FILE, METRICS_FILE, SUMMARY_FILE):
        return
    # A damaged checkpoint: the finished result stands, but it cannot train further.
    with pytest.raises(RecordError, match="--force") as info:
        train("kru", "copy", out=out, hidden=4, steps=8, task_options={"T": 3}, resume=True, progress="none",
              **TRAIN)
    assert str(path) in str(info.value)


def test_a_damaged_config_is_restored_from_the_checkpoint_by_resume(reference, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(reference, out)
    _truncate(out / RUN / CONFIG_FILE)
    with pytest.raises(RecordError, match=f"{CONFIG_FILE}.*--resume"):
        from urnn_zoo.runs import read_config

        read_config(out / RUN)
    result = train("kru", "copy", out=out, hidden=4, steps=6, task_options={"T": 3}, resume=True,
                   progress="none", **TRAIN)
    assert result.summary["status"] == RunStatus.FINISHED and rows(out / RUN) == rows(reference / RUN)
    assert not len(load_results(out).skipped)


@pytest.mark.parametrize("damage", ["truncated", "binary"])
def test_an_unfinished_run_with_a_damaged_checkpoint_starts_over(reference, tmp_path, damage):
    out = tmp_path / "runs"
    shutil.copytree(reference, out)
    summary = json.loads((out / RUN / SUMMARY_FILE).read_text())
    (out / RUN / SUMMARY_FILE).write_text(json.dumps({**summary, "status": "running", "pid": None, "final": None}))
    DAMAGE[damage](out / RUN / CHECKPOINT_FILE)
    with pytest.raises(RecordError, match=f"{CHECKPOINT_FILE}.*--force"):
        train("kru", "copy", out=out, hidden=4, steps=6, task_options={"T": 3}, resume=True, progress="none",
              **TRAIN)
    outcome = compare(PLAN, out, cells=["kru"], jobs=1, quiet=True)["runs"][0]
    assert outcome["action"] == "restarted" and str(out / RUN / CHECKPOINT_FILE) in outcome["note"]
    assert rows(out / RUN) == rows(reference / RUN)


@pytest.mark.parametrize("damage", ["binary", "wrong columns"])
def test_damaged_timings_name_the_file(reference, tmp_path, damage):
    out = tmp_path / "runs"
    shutil.copytree(reference, out)
    DAMAGE[damage](out / TIMINGS_FILE)
    res = load_results(out)
    assert list(res.skipped.path) == [str(out / TIMINGS_FILE)] and res.runs.ok.all()
    with pytest.raises(RecordError, match="run the same `urnn-zoo compare` again") as info:
        compare(PLAN, out, cells=["kru"], jobs=1, quiet=True)
    assert str(out / TIMINGS_FILE) in str(info.value)


def test_a_damaged_manifest_is_listed_and_rewritten(reference, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(reference, out)
    _truncate(out / MANIFEST_FILE)
    res = load_results(out)
    assert list(res.skipped.path) == [str(out / MANIFEST_FILE)] and list(res.runs.run) == [RUN]
    assert compare(PLAN, out, cells=["kru"], jobs=1, quiet=True)["runs"][0]["action"] == "reused"
    assert not len(load_results(out).skipped)


# ----------------------------------------------------------------------------------------- real processes
def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (status {proc.returncode}) before {what}: "
                                 f"{proc.stderr.read()[-2000:] if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _counts(manifest: dict) -> dict:
    counts: dict = {}
    for r in manifest["runs"]:
        counts[(r["status"], r["action"])] = counts.get((r["status"], r["action"]), 0) + 1
    return counts


def _wait_for_group_gone(pgid: int, timeout: float = 30) -> None:
    r"""Wait until no process of the group is left (the workers die with their parent, a moment later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {pgid} are still alive {timeout} s after the signal")


def _finished(out: Path) -> int:
    try:
        return sum(str(r["status"]) == "finished" for r in json.loads((out / MANIFEST_FILE).read_text())["runs"])
    except (OSError, ValueError, KeyError):
        return 0


def _start(argv: list[str], **kwargs) -> subprocess.Popen:
    r"""A real ``urnn-zoo`` process in its own process group with default signal handlers, killed with its group
    when the test ends (:func:`processes.start`)."""
    return processes.start(URNN_ZOO + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "term", "kill-9"])
def test_compare_stopped_by_a_signal_to_its_process_group(tmp_path, signum):
    out = tmp_path / "grid"
    argv = ["compare", "--preset", "smoke", "--cells", "kru", "rnn", "--seeds", "0", "1", "2", "--jobs", "2",
            "--no-timing", "--progress", "lines", "--out", str(out)]
    proc = _start(argv)
    _wait_for(lambda: _finished(out) >= 2, 240, "two runs to finish", proc)
    sent = time.monotonic()
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    _wait_for_group_gone(proc.pid)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    states = {r["run"]: folder_state(out / r["run"]) for r in manifest["runs"]}
    if signum in (signal.SIGINT, signal.SIGTERM):  # a scheduler's SIGTERM stops it as Ctrl-C does
        assert proc.returncode == 130, err[-3000:]
        assert took < 20, f"compare took {took:.1f} s to stop after signal {signum}"
        assert manifest["interrupted"] and "Run the same command again to resume" in err
        closing = [line for line in err.splitlines() if line.startswith("urnn-zoo compare: interrupted")]
        assert len(closing) == 1, err[-3000:]  # one closing line says it, with every run's status
        for entry in manifest["runs"]:  # every status recorded, as the folders say
            assert entry["action"] is not None and entry["status"] == states[entry["run"]].status, entry
        assert any(e["status"] == "finished" for e in manifest["runs"])
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not any(s.status is RunStatus.RUNNING for s in states.values())  # a killed run reads incomplete
    finished = {name: (out / name / SUMMARY_FILE).stat().st_mtime_ns for name, s in states.items() if s.status.ended}
    print(f"stopped {took:.1f} s after the signal: {_counts(manifest)}")
    again = compare(preset("smoke"), out, cells=["kru", "rnn"], seeds=[0, 1, 2], jobs=1, timing=False, quiet=True)
    assert all(r["status"] == "finished" for r in again["runs"]), [r for r in again["runs"] if
                                                                   r["status"] != "finished"]
    for r in again["runs"]:
        if r["run"] in finished:  # nothing finished is retrained
            assert r["action"] == "reused" and (out / r["run"] / SUMMARY_FILE).stat().st_mtime_ns == finished[
                r["run"]]


def test_train_interrupted_by_ctrl_c_exits_130_and_resumes_exactly(tmp_path):
    common = ["--cell", "lstm", "--task", "adding", "--T", "6", "--hidden", "8", "--batch-size", "4",
              "--eval-every", "50", "--eval-batches", "1", "--test-batches", "1", "--log-every", "5", "--seed", "3",
              "--progress", "none"]
    proc = _start(["train", *common, "--steps", "100000", "--out", str(tmp_path / "a")])
    folder = tmp_path / "a" / "lstm-adding-T6-N8-s3"

    def past_a_checkpoint() -> bool:
        try:
            return read_summary(folder)["steps_done"] >= 100
        except (OSError, RecordError, KeyError):
            return False

    _wait_for(past_a_checkpoint, 240, "a checkpoint past step 100", proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err, err[-2000:]
    summary = read_summary(folder)
    assert summary["status"] == RunStatus.INCOMPLETE and "--resume" in summary["message"]
    steps = summary["steps_done"] + 37  # resume past the interruption, to a step that is no checkpoint
    kwargs = dict(hidden=8, seed=3, batch_size=4, eval_every=50, eval_batches=1, test_batches=1, log_every=5,
                  task_options={"T": 6}, progress="none")
    resumed = train("lstm", "adding", out=tmp_path / "a", steps=steps, resume=True, **kwargs)
    whole = train("lstm", "adding", out=tmp_path / "b", steps=steps, **kwargs)
    assert rows(resumed.path) == rows(whole.path)
    assert resumed.summary["final"] == whole.summary["final"]


def test_resume_refuses_a_damaged_metrics_file_before_writing_anything(reference, tmp_path):
    r"""``--resume`` reads every record file it needs before it writes one: a damaged ``metrics.csv`` is named
    and nothing in the folder changes (before, ``config.json`` was rewritten first)."""
    out = tmp_path / "runs"
    shutil.copytree(reference, out)
    summary = json.loads((out / RUN / SUMMARY_FILE).read_text())
    (out / RUN / SUMMARY_FILE).write_text(json.dumps({**summary, "status": "incomplete", "final": None}))
    DAMAGE["binary"](out / RUN / METRICS_FILE)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / RUN).iterdir()}
    with pytest.raises(RecordError, match=METRICS_FILE):
        train("kru", "copy", out=out, hidden=4, steps=6, task_options={"T": 3}, resume=True, progress="none",
              **TRAIN)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / RUN).iterdir()} == before
