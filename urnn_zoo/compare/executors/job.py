r"""What a cluster job (a SLURM job through submitit, a Ray task) does with one run: import the user's plug-ins,
record its attempt, and train the run with :func:`urnn_zoo.compare.execute.run_one`; importable without
submitit or ray.

Note [Attempts of a job]
    A cluster may start the same job again: SLURM requeues a preempted or timed-out job (and one whose node
    failed), Ray retries a task whose worker or node died. A job killed without warning cannot write its run's
    last status, so the run's ``summary.json`` keeps saying ``running`` on the dead job's host, and
    :func:`~urnn_zoo.compare.execute.run_one` leaves a run another machine is training to that machine. So each
    attempt writes ``<out>/.jobs/attempts/<run>.json`` (the comparison's id, the host and process id, the
    attempt's number) before it trains. An attempt that finds the record of an earlier attempt of the same
    comparison is a restart of that job, which the cluster starts only once the earlier one has ended: a
    ``running`` mark of that earlier host and process is stale, and is turned into ``incomplete`` (resumable
    from the run's last checkpoint) before the run is resumed; a restart never starts the run over, even under
    ``--force`` (the first attempt did that). The main process uses the record too: a job that ends without an
    outcome had started when its record exists (interrupted, not cancelled), and its stale mark is released the
    same way, so the next comparison resumes the run on any machine.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from urnn_zoo.runs import RunStatus, write_json
from urnn_zoo.runs.summary import SUMMARY_FILE, process_alive, read_summary, write_summary

__all__ = ["ATTEMPTS", "JOBS_FOLDER", "JobCall", "attempt_record", "release_stale_mark", "run_job"]

JOBS_FOLDER = ".jobs"  # under the comparison's folder: the engines' logs and the attempt records
ATTEMPTS = "attempts"


def attempt_record(out: str | os.PathLike[str], run: str) -> dict[str, Any] | None:
    r"""The last attempt record of ``run`` in the comparison folder ``out`` (Note [Attempts of a job]), or
    ``None`` (none yet, or unreadable)."""
    path = Path(out) / JOBS_FOLDER / ATTEMPTS / f"{run}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def release_stale_mark(folder: str | os.PathLike[str], record: dict[str, Any] | None, why: str) -> bool:
    r"""Turn a ``running`` summary left by the ended attempt ``record`` into ``incomplete`` (Note [Attempts of a
    job]); returns whether it did. A mark of another process, or of a process alive on this machine, is kept."""
    folder = Path(folder)
    if record is None or not (folder / SUMMARY_FILE).is_file():
        return False
    try:
        summary = read_summary(folder)
    except Exception:  # a damaged summary: run_one restarts or resumes past it and says so
        return False
    if summary.get("status") is not RunStatus.RUNNING:
        return False
    if (summary.get("host"), summary.get("pid")) != (record.get("host"), record.get("pid")):
        return False
    if process_alive(summary.get("pid"), summary.get("host")):
        return False
    summary.pop("schema", None)
    summary.pop("pid", None)
    summary.pop("host", None)
    summary["status"] = RunStatus.INCOMPLETE
    summary["message"] = (f"stopped at step {summary['steps_done']} of {summary['steps']}: {why}; it resumes from "
                          "its last checkpoint")
    write_summary(folder, summary)
    return True


class JobCall:
    r"""One run as a job: everything :func:`run_job` needs, picklable (cloudpickle sends it to the job).

    Attributes:
        spec: the :class:`~urnn_zoo.compare.grid.RunSpec` as a dict. out: the comparison's folder (shared).
        device: as given (``auto`` resolved by the job). threads: torch threads of the job.
        force: train the run from scratch (first attempt only). command: the comparison's command line.
        plugins: ``(modules, paths)`` of ``--import`` (:func:`urnn_zoo.plugins.restore`).
        sweep: the comparison's id (Note [Attempts of a job]).
    """

    def __init__(self, spec: dict[str, Any], out: str, device: str, threads: int | None, force: bool,
                 command: str | None, plugins: tuple[tuple[str, ...], tuple[str, ...]], sweep: str) -> None:
        self.spec, self.out, self.device, self.threads = spec, out, device, threads
        self.force, self.command, self.plugins, self.sweep = force, command, plugins, sweep

    @property
    def name(self) -> str:
        return self.spec["name"]


def run_job(call: JobCall) -> dict[str, Any]:
    r"""Train one run in a cluster job: plug-ins, attempt record (Note [Attempts of a job]), then
    :func:`~urnn_zoo.compare.execute.run_one`; never raises for a failing run (its outcome says ``failed``).

    Returns:
        The run's outcome (:func:`~urnn_zoo.compare.execute.run_one`), with where it ran.
    """
    from urnn_zoo.compare.execute import RunAction, _outcome, here, run_one
    from urnn_zoo.plugins import restore

    try:
        restore(*call.plugins)
    except Exception as exc:  # the job's environment lacks a module the main process imported
        return _outcome(call.name, RunStatus.FAILED, RunAction.FAILED, error=f"{type(exc).__name__}: {exc}",
                        where=here(call.device))
    force = call.force
    folder = Path(call.out) / call.name
    previous = attempt_record(call.out, call.name)
    attempt = 1
    if previous is not None and previous.get("sweep") == call.sweep:  # the cluster restarted this job
        force = False
        attempt = int(previous.get("attempt") or 1) + 1
        release_stale_mark(folder, previous, f"its job (attempt {attempt - 1}, process {previous.get('pid')} on "
                                             f"{previous.get('host')}) ended without recording it")
    record = {"sweep": call.sweep, "run": call.name, "attempt": attempt, "host": socket.gethostname(),
              "pid": os.getpid()}
    path = Path(call.out) / JOBS_FOLDER / ATTEMPTS / f"{call.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record)
    return run_one(call.spec, call.out, call.device, call.threads, force, command=call.command)
