r"""The callable a submitit job runs (imported in the job, where submitit is installed): one run, stopped and
requeued on the cluster's preemption or time-limit signal, and resumed from its checkpoint after the requeue.

Note [Preempted and timed-out jobs]
    SLURM warns a job before it stops it: submitit asks for ``--signal=USR2@90`` (USR2 90 s before the time
    limit), and a preempting cluster sends USR2 (or SIGTERM). submitit's handler of that signal calls the job's
    ``checkpoint`` method (its checkpointing hook, :class:`submitit.helpers.Checkpointable`) and requeues the
    job with what it returns. Called in the middle of a training step, it would leave the run's summary saying
    ``running`` on a host that is about to be gone. So while the run trains, :class:`SubmititRun` holds these
    signals itself: the signal stops the training as Ctrl-C does (a ``KeyboardInterrupt`` at the step in
    progress, held while a record file is written; the training loop writes the summary, ``incomplete``, and
    its last checkpoint stays), and only then submitit's handler is called, which calls
    :meth:`SubmititRun.checkpoint` and requeues the same run.
    The requeued job finds the run incomplete and resumes it from ``checkpoint.pt`` (Note [Exact resume] of
    :mod:`urnn_zoo.training`), never from scratch (``force`` is dropped: Note [Attempts of a job] of
    :mod:`.job`). A job that timed out more often than ``requeues`` allows ends ``failed``, its run resumable.
"""
from __future__ import annotations

import _thread
import signal
import threading
from typing import Any

import submitit
from submitit.core.job_environment import JobEnvironment

from .job import JobCall, run_job

__all__ = ["SubmititRun"]


class SubmititRun(submitit.helpers.Checkpointable):
    r"""One run of a comparison as a submitit job (Note [Preempted and timed-out jobs]).

    Example::

        job = submitit.AutoExecutor(folder).submit(SubmititRun(), call)   # call: a JobCall
        outcome = job.result()
    """

    def __call__(self, call: JobCall) -> dict[str, Any]:
        from urnn_zoo.compare import execute
        from urnn_zoo.runs import RunAction

        warned = JobEnvironment._usr_sig()
        held = (warned, signal.SIGTERM)
        previous = {s: signal.getsignal(s) for s in held}
        stop = threading.Event()

        def on_warning(signum: int, frame: Any) -> None:
            stop.set()  # run_one checks it before it trains (the run is then left for the requeued job)
            if execute._ACTIVE.is_set():
                # As a Ctrl-C: the training loop writes the summary and run_one returns the outcome; a record
                # being written holds it until the file is in place (Note [Ctrl-C during a write]).
                _thread.interrupt_main()

        execute._STOP = stop
        for s in held:
            signal.signal(s, on_warning)
        try:
            outcome = run_job(call)
        finally:
            for s in held:
                signal.signal(s, previous[s])
            execute._STOP = None
        if stop.is_set() and outcome["action"] in (RunAction.INTERRUPTED, RunAction.CANCELLED):
            handler = previous[warned]
            if callable(handler):  # submitit's: checkpoint() then requeue; it exits this process, or raises
                handler(warned, None)
        return outcome

    def checkpoint(self, call: JobCall) -> submitit.helpers.DelayedSubmission:
        r"""submitit's checkpointing hook: requeue the same run, resumed, never started over."""
        again = JobCall(call.spec, call.out, call.device, call.threads, False, call.command, call.plugins,
                        call.sweep)
        return submitit.helpers.DelayedSubmission(self, again)
