r"""``--executor slurm``: each run is one SLURM job, submitted with submitit's ``AutoExecutor``; on a machine
without SLURM (no ``sbatch`` on ``PATH``) the same jobs run here through submitit's local executor (one line
says so). submitit's folder (the jobs' pickles and logs, ``<job id>_0_log.out``/``.err``) is
``<out>/.jobs/submitit/``. A job the cluster preempts or stops at its time limit is requeued and
resumes its run from the run's checkpoint (Note [Preempted and timed-out jobs] of :mod:`.slurm_job`).

Options (``--executor-option key=value``), each with its default:

- ``partition``: the SLURM partition (default: the cluster's default partition);
- ``time``: minutes per job (240); a run longer than that is requeued and resumes, ``requeues`` times at most
  (10);
- ``gpus``: GPUs per job (1 when the comparison's device is ``cuda``, ``cuda:K`` or ``auto``, else 0);
- ``cpus``: CPUs per job (1), also the run's torch threads;
- ``mem``: memory per job in GB (default: the partition's);
- any other ``slurm_*`` parameter of submitit (``slurm_account``, ``slurm_qos``, ``slurm_constraint``, ...),
  passed on as it is.

``--jobs`` caps the jobs in flight (default: every run at once, the scheduler queues them; with the local
executor: one per core).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

from urnn_zoo import arguments as A

from . import Option, require, text
from .job import JOBS_FOLDER, JobCall
from .remote import JobEnded, JobExecutor

__all__ = ["SlurmExecutor"]


@contextlib.contextmanager
def _stderr_into(path: Path) -> Iterator[None]:
    r"""Send file descriptor 2 to ``path`` while the block runs. submitit's local executor starts a controller
    process per job that inherits this process's stderr and prints a traceback there when a Ctrl-C from the
    terminal reaches it (as it reaches every process of the group); submitit has no option for the controller's
    stderr, so it is given a log file by starting it with descriptor 2 pointing there (the jobs' own output goes
    to their log files as before)."""
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def _gpus_for(device: str) -> int:
    return 1 if str(device).startswith("cuda") or device == "auto" else 0


class SlurmExecutor(JobExecutor):
    r"""Runs each run as a SLURM job through submitit (module docstring), or as a submitit local job where
    SLURM is absent.

    Raises:
        MissingExtraError: submitit is not installed (``pip install 'urnn_zoo[cluster]'``).
        ValueError: an unknown option or a refused value, a ``slurm_*`` key submitit does not know.
    """

    name = "slurm"
    options = {
        "partition": Option(text, None, "SLURM partition"),
        "time": Option(A.positive_int, 240, "minutes per job; a longer run is requeued and resumes"),
        "gpus": Option(A.nonnegative_int, None, "GPUs per job (1 for device cuda or auto, else 0)"),
        "cpus": Option(A.positive_int, 1, "CPUs per job, the run's torch threads"),
        "mem": Option(A.positive_float, None, "memory per job in GB"),
        "requeues": Option(A.nonnegative_int, 10, "times a job that reached its time limit is requeued"),
    }

    def __init__(self, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.submitit = require("submitit", self.name)
        valid = self.submitit.SlurmExecutor._valid_parameters()
        unknown = sorted(k for k in self.settings if k.startswith("slurm_") and k[len("slurm_"):] not in valid)
        if unknown:
            raise ValueError(f"executor option(s) {unknown}: expected slurm_ and a parameter of submitit's "
                             f"SlurmExecutor ({', '.join(sorted(valid))}), got {', '.join(map(repr, unknown))}")
        if self.settings["gpus"] is None:
            self.settings["gpus"] = _gpus_for(self.device)
        self.backend = "slurm" if shutil.which("sbatch") else "local"
        self.engine: Any = None

    pass_through_help = "; slurm_*: any other SLURM parameter of submitit (slurm_account, slurm_qos, ...)"

    @classmethod
    def passes_through(cls, key: str) -> bool:
        return key.startswith("slurm_")

    def describe(self, runs: int, in_flight: int) -> str:
        s = self.settings
        if self.backend == "local":
            return (f"{runs} runs as submitit jobs on this machine: no SLURM here (sbatch is not on PATH), so "
                    f"submitit's local executor runs them, {in_flight} at once")
        partition = s["partition"] or "the default partition"
        return (f"{runs} runs as SLURM jobs on {partition} ({s['cpus']} CPU(s), {s['gpus']} GPU(s)"
                f"{', %g GB' % s['mem'] if s['mem'] else ''}, {s['time']} min each, requeued at most "
                f"{s['requeues']} times), {in_flight} in flight at most")

    def in_flight(self, jobs: int | None, runs: int) -> int:
        return jobs or (runs if self.backend == "slurm" else max(1, os.cpu_count() or 1))

    def threads(self, jobs: int) -> int | None:
        return self.settings["cpus"]

    def open(self, out: Path) -> None:
        s = self.settings
        folder = out / JOBS_FOLDER / "submitit"
        self.engine = self.submitit.AutoExecutor(folder=folder, cluster=self.backend,
                                                 slurm_max_num_timeout=s["requeues"],
                                                 local_max_num_timeout=s["requeues"])
        extra = {k: v for k, v in s.items() if k.startswith("slurm_")}
        if s["partition"]:
            extra["slurm_partition"] = s["partition"]
        try:
            self.engine.update_parameters(name="urnn-zoo", timeout_min=s["time"], cpus_per_task=s["cpus"],
                                          gpus_per_node=s["gpus"], tasks_per_node=1, nodes=1,
                                          **({"mem_gb": s["mem"]} if s["mem"] else {}), **extra)
        except (NameError, AssertionError, TypeError, ValueError) as exc:
            raise ValueError(f"--executor slurm: submitit refused the options: {' '.join(str(exc).split())}") from None

    def submit(self, call: JobCall) -> Any:
        from .slurm_job import SubmititRun

        if self.backend == "slurm":
            return self.engine.submit(SubmititRun(), call)
        with _stderr_into(self.engine.folder / "controllers.log"):
            return self.engine.submit(SubmititRun(), call)

    def finished(self, handles: list[Any]) -> list[Any]:
        return [job for job in handles if job.done()]

    def outcome(self, handle: Any, patient: bool = True) -> dict[str, Any]:
        job = handle
        if not job.paths.result_pickle.exists() and (self.backend == "local" or not patient):  # no lag to wait for
            raise JobEnded(self._ended(job, "it ended without an outcome"))
        errors = self.submitit.core.utils
        try:
            return job.result()
        except errors.FailedJobError as exc:  # the job raised: the last line of its traceback says what
            trace = [line for line in str(exc).split("-" * 22)[1].splitlines() if line.strip()] if "-" * 22 in str(
                exc) else str(exc).splitlines()
            raise JobEnded(self._ended(job, " ".join((trace[-1] if trace else str(exc)).split()))) from None
        except errors.UncompletedJobError as exc:
            first = next((line for line in str(exc).splitlines() if line.strip()), "")
            raise JobEnded(self._ended(job, " ".join(first.split()))) from None

    def _ended(self, job: Any, why: str) -> str:
        kind = "SLURM job" if self.backend == "slurm" else "submitit local job"
        return f"{kind} {job.job_id} ({job.state}): {why}; its log: {job.paths.stderr}"

    def cancel(self, handles: list[Any]) -> None:
        for job in handles:
            job.cancel(check=False)

    def close(self) -> None:
        self.engine = None

    def record(self) -> dict[str, Any]:
        return {**super().record(), "backend": self.backend}
