r"""The part every job-based executor shares (SLURM through submitit, Ray): submit each run as a job, at most
``in flight`` at once and the longest first, collect each outcome as its job ends, and stop cleanly on Ctrl-C.

Note [Ctrl-C with cluster jobs]
    As with the local pool (Note [Ctrl-C in a comparison] of :mod:`urnn_zoo.compare.execute`), stopping is the
    main process's decision: on Ctrl-C (or SIGTERM) it stops submitting, cancels every job it submitted that
    has not ended (SLURM: ``scancel``, submitit's local jobs: SIGINT, Ray: a ``KeyboardInterrupt`` in the task),
    waits up to :data:`~urnn_zoo.compare.execute.GRACE_SECONDS` for the jobs that had started (an attempt
    record exists: Note [Attempts of a job] of :mod:`.job`) to write their run's status, and records every run
    from its folder: ``interrupted`` (started) or ``cancelled`` (not started), with the run's status
    (``incomplete`` runs resume from their checkpoint next time). Then :class:`KeyboardInterrupt` is raised
    (exit status 130).

Note [A job that ends without an outcome]
    A job killed by the cluster (out of memory, a node failure, ``scancel`` from elsewhere) or one whose engine
    failed returns no outcome. The run is recorded ``failed`` with the engine's reason and the job's log, and the
    ``running`` mark its killed process left in the run's summary is released (Note [Attempts of a job]) so that
    the next comparison resumes the run from its last checkpoint on any machine.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from urnn_zoo.runs import RunAction, RunStatus
from urnn_zoo.runs.atomic import interrupts_held

from . import Executor
from .job import JOBS_FOLDER, JobCall, attempt_record, release_stale_mark

__all__ = ["JobEnded", "JobExecutor"]


class JobEnded(Exception):
    r"""A job ended without an outcome; the message says why and where its log is (Note [A job that ends without
    an outcome])."""


class JobExecutor(Executor):
    r"""An :class:`~urnn_zoo.compare.executors.Executor` that runs each run as one job of an engine.

    Subclasses implement :meth:`open` (start or connect the engine), :meth:`submit` (one job),
    :meth:`finished` (which of the given jobs have ended), :meth:`outcome` (a job's outcome, or
    :class:`JobEnded`), :meth:`cancel` and :meth:`close` (shut down what :meth:`open` started).
    """

    poll_seconds = 0.5  # between looks at the jobs in flight
    is_open = False

    def threads(self, jobs: int) -> int | None:
        r"""Torch threads of each job (the CPUs it was given)."""
        return None

    def open(self, out: Path) -> None:
        raise NotImplementedError

    def submit(self, call: JobCall) -> Any:
        raise NotImplementedError

    def finished(self, handles: list[Any]) -> list[Any]:
        raise NotImplementedError

    def outcome(self, handle: Any, patient: bool = True) -> dict[str, Any]:
        r"""The outcome an ended job returned; ``patient=False``: no wait for a result a slow shared file
        system has not shown yet (while Ctrl-C stops the comparison).

        Raises:
            JobEnded: the job returned none (Note [A job that ends without an outcome]).
        """
        raise NotImplementedError

    def cancel(self, handles: list[Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def disconnect(self) -> None:
        if self.is_open:
            self.close()
            self.is_open = False

    # ----------------------------------------------------------------------------------------- the loop
    def run(self, specs: list, out: str, *, jobs: int | None, device: str, force: bool,
            on_done: Callable[[Any, dict[str, Any]], None] | None, command: str | None) -> list[dict[str, Any]]:
        from urnn_zoo.compare.execute import _outcome, _sigint_ignored, _stopped_outcome
        from urnn_zoo.compare.grid import cost
        from urnn_zoo.plugins import imported_modules, search_paths

        root = Path(out).resolve()  # the jobs may start in another folder
        (root / JOBS_FOLDER).mkdir(parents=True, exist_ok=True)
        window = max(1, self.in_flight(jobs, len(specs)))
        plugins = (imported_modules(), search_paths())
        sweep = uuid.uuid4().hex
        threads = self.threads(window)
        order = sorted(range(len(specs)), key=lambda i: -cost(specs[i]))
        waiting = list(order)
        running: dict[Any, int] = {}
        outcomes: dict[int, dict[str, Any]] = {}

        def record(i: int, outcome: dict[str, Any]) -> None:
            outcomes[i] = outcome
            if on_done:
                on_done(specs[i], outcome)

        def submit(i: int) -> None:
            call = JobCall(asdict(specs[i]), str(root), device, threads, force, command, plugins, sweep)
            try:
                with interrupts_held():  # a job submitted is tracked before Ctrl-C stops the loop
                    running[self.submit(call)] = i
            except Exception as exc:  # the cluster refused the job (a partition it lacks, a quota): recorded
                record(i, _outcome(specs[i].name, RunStatus.FAILED, RunAction.FAILED, seconds=None, cpu_seconds=None,
                                   error=f"the {self.name} job could not be submitted: {type(exc).__name__}: "
                                         f"{' '.join(str(exc).split())}"))

        def collect(handle: Any) -> None:
            i = running.pop(handle)
            spec = asdict(specs[i])
            try:
                outcome = self.outcome(handle)
            except JobEnded as exc:
                previous = attempt_record(root, spec["name"])
                started = previous is not None and previous.get("sweep") == sweep
                if started:
                    release_stale_mark(root / spec["name"], previous, f"its job ended without an outcome ({exc})")
                where = {"host": previous.get("host")} if started else None
                outcome = _outcome(spec["name"], RunStatus.FAILED, RunAction.FAILED, error=f"{exc}",
                                   seconds=None, cpu_seconds=None, where=where)
            record(i, outcome)

        opened_here = not self.is_open
        if opened_here:
            self.open(root)
            self.is_open = True
        try:
            while waiting or running:
                while waiting and len(running) < window:
                    submit(waiting.pop(0))
                ended = self.finished(list(running))
                for handle in ended:
                    collect(handle)
                if not ended:
                    time.sleep(self.poll_seconds)
        except KeyboardInterrupt:
            with _sigint_ignored():
                self._stop(running, root, sweep, specs, record)
                for i in waiting:
                    record(i, _stopped_outcome(asdict(specs[i]), str(root), RunAction.CANCELLED))
                if opened_here:
                    self.disconnect()
            raise
        if opened_here:
            self.disconnect()
        return [outcomes[i] for i in range(len(specs))]

    def _stop(self, running: dict[Any, int], root: Path, sweep: str, specs: list, record: Callable) -> None:
        r"""Cancel the jobs in flight and record each run (Note [Ctrl-C with cluster jobs])."""
        from urnn_zoo.compare.execute import GRACE_SECONDS, _stopped_outcome

        def started(i: int) -> bool:
            previous = attempt_record(root, specs[i].name)
            return previous is not None and previous.get("sweep") == sweep

        def stopped(handle: Any) -> None:
            i = running.pop(handle)
            try:  # the job's own outcome when it returned one (interrupted, or finished just now)
                outcome = self.outcome(handle, patient=False)
            except JobEnded:
                action = RunAction.INTERRUPTED if started(i) else RunAction.CANCELLED
                outcome = _stopped_outcome(asdict(specs[i]), str(root), action)
            record(i, outcome)

        try:
            self.cancel(list(running))
        except Exception:  # an engine that cannot cancel now: the runs are recorded from their folders anyway
            pass
        deadline = time.perf_counter() + GRACE_SECONDS
        while running and time.perf_counter() < deadline:
            try:
                ended = self.finished(list(running))
            except Exception:  # the engine itself is gone (a Ctrl-C reached its processes): the folders say the rest
                break
            for handle in ended:
                stopped(handle)
            if not any(started(i) for i in running.values()):
                break
            time.sleep(0.2)
        for handle, i in list(running.items()):  # not started, or still busy after the grace period
            running.pop(handle)
            action = RunAction.INTERRUPTED if started(i) else RunAction.CANCELLED
            record(i, _stopped_outcome(asdict(specs[i]), str(root), action))
