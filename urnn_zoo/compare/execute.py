r"""Running the runs of a grid: each reused, resumed, restarted or trained (Note [Resuming a grid]), in this
process or in worker processes, and stopped cleanly by Ctrl-C (Note [Ctrl-C in a comparison]).

Note [Resuming a grid]
    Before running, the state of a run's folder decides (:func:`urnn_zoo.runs.folder_state`):

    - a run that ended (finished or early-stopped with at least the steps asked, diverged, or stopped by a
      non-finite value) is **reused** as it is, with or without its ``checkpoint.pt``;
    - a run with a readable checkpoint (interrupted, killed, finished with fewer steps than asked, or whose
      ``summary.json`` is damaged) is **resumed** from it, which gives the numbers an uninterrupted run would
      have given (Note [Exact resume] of :mod:`urnn_zoo.training`);
    - a folder with a damaged record and nothing to resume from (no checkpoint, or a damaged one) is
      **restarted** (the damaged file is named in the outcome's ``note``);
    - a folder that holds a record of a newer urnn_zoo, or a finished run kept without its checkpoint (a
      published result set) that the preset asks to train further, is left as it is and the run **failed**,
      with the reason and ``--force`` in its error: nothing a user saved is deleted without ``--force``;
    - anything else is **trained**.

    A run whose training raises is recorded as ``failed``, with its error, and the grid goes on.

Note [Where a run ran]
    Every outcome says where its run was trained: ``host`` (the machine's name), ``device`` (the torch device,
    ``auto`` resolved there) and ``device_name`` (the GPU's name, or the CPU model and its cores), measured by
    the process that trained it (a worker, or a cluster job: :mod:`urnn_zoo.compare.executors`); a reused run
    reads them from its record (``config.json``'s environment and ``summary.json``), and a cancelled one has
    none. ``resumed_from`` is the step of the checkpoint a resumed run continued from (``None`` otherwise).

Note [Ctrl-C in a comparison]
    With ``jobs > 1`` the runs train in worker processes. Their SIGINT handler ignores a Ctrl-C of their
    own (a terminal sends it to the whole process group), and their SIGTERM handler a SIGTERM (a batch
    scheduler sends it to every process of the job): stopping is the main process's decision, and the main
    process takes SIGTERM as Ctrl-C. On
    SIGINT the main process sets a shared stop event, cancels the runs not started, and waits up to
    :data:`GRACE_SECONDS` for the runs being trained (each worker marks its run in a shared array while it
    trains it): in each worker a thread waiting on the event interrupts the run (``_thread.interrupt_main``),
    the training loop writes its summary (``incomplete``; it resumes from its last checkpoint later) and the
    worker returns that outcome. Then the workers are terminated (idle ones, ones still starting up, and any
    still busy after the grace period, whose summary then says ``running`` with a process that is gone, which
    reads as ``incomplete``). Every run's status is then recorded and :class:`KeyboardInterrupt` is raised, so that the
    command exits with status 130 within seconds. With ``jobs == 1`` the run in progress is interrupted where
    it is and the rest are cancelled the same way.
"""
from __future__ import annotations

import _thread
import concurrent.futures as cf
import multiprocessing
import os
import signal
import socket
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from urnn_zoo.runs import (CHECKPOINT_FILE, NewerRecordError, RunAction, RunExistsError, RunStatus, clear_run_folder,
                           folder_state, holds_run, load_checkpoint, read_config)
from urnn_zoo.runs.environment import invoked_as, invoked_command

from .grid import RunSpec, cost

__all__ = ["GRACE_SECONDS", "WHERE_KEYS", "here", "run_grid", "run_one"]
GRACE_SECONDS = 10.0  # how long Ctrl-C waits for running workers to write their status

_STOP: Any = None  # a worker's stop event (Note [Ctrl-C in a comparison])
_SLOTS: Any = None  # a worker's view of the shared array: 1 at a run's index while it is trained
_ACTIVE = threading.Event()  # set while a worker trains a run
_STOPPING = threading.Event()  # set by a worker's watcher thread once the stop event is set


WHERE_KEYS = ("host", "device", "device_name")  # Note [Where a run ran]


def _outcome(name: str, status: RunStatus, action: RunAction, *, error: str | None = None, note: str | None = None,
             seconds: float | None = 0.0, cpu_seconds: float | None = 0.0, where: dict[str, Any] | None = None,
             resumed_from: int | None = None) -> dict[str, Any]:
    return {"run": name, "status": status, "error": error, "note": note, "seconds": seconds,
            "cpu_seconds": cpu_seconds, "action": action, "resumed_from": resumed_from,
            **{k: (where or {}).get(k) for k in WHERE_KEYS}}


def here(device: str) -> dict[str, Any]:
    r"""Where this process trains on ``device`` (Note [Where a run ran]): ``{"host", "device", "device_name"}``,
    ``auto`` resolved; a device this machine lacks is named as given (the run fails saying why)."""
    from urnn_zoo import arguments as A

    from .timing import device_name

    try:
        resolved = A.device(device)
    except Exception:
        return {"host": socket.gethostname(), "device": str(device), "device_name": None}
    return {"host": socket.gethostname(), "device": resolved, "device_name": device_name(resolved)}


def _recorded_where(folder: Path, summary: dict[str, Any]) -> dict[str, Any]:
    r"""Where a finished run was trained, from its record (Note [Where a run ran]); ``None`` where unrecorded."""
    try:
        env = read_config(folder).get("environment") or {}
    except Exception:  # a reused run whose config.json is unreadable: its result stands, its place is unknown
        env = {}
    device = summary.get("device")
    gpu = env.get("cuda") if isinstance(device, str) and device.startswith("cuda") else None
    name = gpu if gpu not in (None, "none") else (f"{env['cpu']} ({env['cores']} cores)" if env.get("cpu") and
                                                   not str(device).startswith("cuda") else None)
    return {"host": env.get("machine"), "device": device, "device_name": name}


def _stopped_outcome(spec: dict[str, Any], out: str, action: RunAction, start: float | None = None,
                     cpu: float | None = None, where: dict[str, Any] | None = None) -> dict[str, Any]:
    r"""The outcome of a run that Ctrl-C stopped or cancelled: its folder's status."""
    state = folder_state(Path(out) / spec["name"])
    seconds = round(time.perf_counter() - start, 3) if start is not None else 0.0
    cpu_seconds = round(time.process_time() - cpu, 3) if cpu is not None else 0.0
    return _outcome(spec["name"], state.status, action, note=state.problem, seconds=seconds, cpu_seconds=cpu_seconds,
                    where=where if action is not RunAction.CANCELLED else None)


def run_one(spec: dict[str, Any], out: str, device: str, threads: int | None = None,
            force: bool = False, slot: int | None = None, command: str | None = None) -> dict[str, Any]:
    r"""Train (or reuse, resume, restart) one run of a grid (Note [Resuming a grid]); never raises: an error is a
    ``failed`` outcome, a Ctrl-C an ``interrupted`` one (a run stopped before it started: ``cancelled``).

    Args:
        spec: a :class:`~urnn_zoo.compare.grid.RunSpec` as a dict. out: the comparison's folder.
        device: the training device. threads: torch threads (``None``: leave torch's setting).
        force: retrain from scratch. slot: the run's index in a worker's shared array of active runs.
        command: the comparison's command line, recorded in the run's ``config.json`` (a worker process does not
            know it: Note [The command of a record] of :mod:`urnn_zoo.runs.environment`); ``None``: a Python call.

    Returns:
        ``{"run", "status", "error", "note", "seconds", "cpu_seconds", "action", "resumed_from", "host", "device",
        "device_name"}``: wall and CPU seconds of this call (CPU: every thread of the process); ``action`` a
        :class:`urnn_zoo.runs.RunAction`; ``note``: a damaged file that made it restart; where it ran and the
        step it resumed from (Note [Where a run ran]).
    """
    start, cpu = time.perf_counter(), time.process_time()
    if _SLOTS is not None and slot is not None:
        _SLOTS[slot] = 1  # before the stop check: the main process waits for a run marked here
    try:
        if _STOP is not None and _STOP.is_set():  # Ctrl-C before this run started
            return _stopped_outcome(spec, out, RunAction.CANCELLED)
        with invoked_as(command):
            return _run_one(spec, out, device, threads, force, start, cpu)
    finally:
        if _SLOTS is not None and slot is not None:
            _SLOTS[slot] = 0


def _run_one(spec: dict[str, Any], out: str, device: str, threads: int | None, force: bool, start: float,
             cpu: float) -> dict[str, Any]:
    if threads:
        import torch

        torch.set_num_threads(threads)
    from urnn_zoo.training import train

    folder = Path(out) / spec["name"]
    action, resume, note, resumed_from = RunAction.TRAINED, False, None, None
    where = here(device)
    try:
        if force:
            clear_run_folder(folder)
        else:
            state = folder_state(folder)
            summary, status = state.summary, state.status
            if status is RunStatus.RUNNING:  # another process trains it (here, or on a machine this one cannot check)
                raise RunExistsError(f"{folder}: marked running by process {summary.get('pid')} on host "
                                     f"{summary.get('host')!r}; run the comparison again when that run has ended "
                                     "(continue it with urnn-zoo train --resume if its process is gone)")
            if state.newer:  # never delete or overwrite what a newer urnn_zoo wrote
                raise NewerRecordError(folder, f"holds a record this urnn_zoo cannot read ({state.problem})",
                                       "upgrade urnn_zoo, or give --force to train the run again")
            if summary is not None and status.ended and (not status.ok or summary["steps"] >= spec["steps"]):
                return _outcome(spec["name"], status, RunAction.REUSED, where=_recorded_where(folder, summary))
            if summary is not None and status.ended and not state.resumable:  # a result, kept without checkpoint
                raise RunExistsError(f"{folder}: holds a {status} run of {summary['steps']} steps and no "
                                     f"{CHECKPOINT_FILE} to continue it to {spec['steps']}; give --force to "
                                     "train it again from step 0")
            if state.resumable:
                action, resume, note = RunAction.RESUMED, True, state.problem
                resumed_from = load_checkpoint(folder).loop.step
            elif holds_run(folder):
                action, note = RunAction.RESTARTED, state.problem
                clear_run_folder(folder)
        _ACTIVE.set()
        try:
            if _STOP is not None and _STOP.is_set():  # stopped while the folder was read: the watcher has fired
                raise KeyboardInterrupt
            result = train(spec["cell"], spec["task"], out=out, name=spec["name"], hidden=spec["hidden"],
                           steps=spec["steps"], seed=spec["seed"], cell_options=spec["cell_options"] or None,
                           task_options=spec["task_options"], device=device, resume=resume, progress="none",
                           **spec["train"])
        finally:
            _ACTIVE.clear()
        status, error = result.summary["status"], None
    except KeyboardInterrupt:
        return _stopped_outcome(spec, out, RunAction.INTERRUPTED, start, cpu, where)
    except Exception as exc:  # a run that fails is a result: record it, go on with the grid
        status, action = RunStatus.FAILED, RunAction.FAILED
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (at {Path(frame.filename).name}:{frame.lineno})"
    return _outcome(spec["name"], status, action, error=error, note=note,
                    seconds=round(time.perf_counter() - start, 3), cpu_seconds=round(time.process_time() - cpu, 3),
                    where=where, resumed_from=resumed_from)


def _worker_init(stop: Any, slots: Any, plugins: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())) -> None:
    r"""Set up a worker process (Note [Ctrl-C in a comparison]); import the modules the main process imported
    with ``--import`` (Note [Plug-ins] of :mod:`urnn_zoo.plugins`)."""
    global _STOP, _SLOTS
    _STOP, _SLOTS = stop, slots
    from urnn_zoo.plugins import restore

    restore(*plugins)

    def on_sigint(signum: int, frame: Any) -> None:
        # Only lock-free flags here: the handler may run while the main thread holds the stop event's lock.
        if _STOPPING.is_set() and _ACTIVE.is_set():
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigint)  # a scheduler's SIGTERM to the group: the main process decides too

    def watch() -> None:
        stop.wait()
        _STOPPING.set()
        _thread.interrupt_main()  # runs on_sigint in the main thread

    threading.Thread(target=watch, name="urnn-zoo-stop", daemon=True).start()


def run_grid(specs: list[RunSpec], out: str | os.PathLike[str], *, jobs: int = 1, device: str = "cpu",
             force: bool = False, on_done: Callable[[RunSpec, dict[str, Any]], None] | None = None,
             executor: Any = None) -> list[dict]:
    r"""Run every spec (resumably, Note [Resuming a grid]); ``jobs > 1`` runs them in that many processes, and
    an ``executor`` other than the local pool as its jobs or tasks (:mod:`urnn_zoo.compare.executors`).

    Each worker process gets ``cores // jobs`` torch threads (at least one). Longer runs start first. Every
    run records the command line held around this call (``urnn-zoo compare ...``), whichever process trains
    it (Note [The command of a record] of :mod:`urnn_zoo.runs.environment`).

    Args:
        specs: the runs. out: their parent folder. jobs: parallel processes (for an executor: runs in flight at
            once). device: training device. force: retrain every run from scratch.
        on_done: called in this process after each run with its spec and outcome (the manifest writer); on
            Ctrl-C also for every run stopped or cancelled.
        executor: ``None`` or a :class:`~urnn_zoo.compare.executors.LocalPool` for this machine's process
            pool, or another :class:`~urnn_zoo.compare.executors.Executor` (SLURM through submitit, Ray).

    Returns:
        The outcomes, in the order of ``specs``.

    Raises:
        KeyboardInterrupt: on Ctrl-C, after every run's outcome was passed to ``on_done`` (Note [Ctrl-C in a
        comparison]).
    """
    out = str(out)
    Path(out).mkdir(parents=True, exist_ok=True)
    command = invoked_command()  # the workers' runs record it too (Note [The command of a record])
    if executor is not None and executor.name != "local":
        return executor.run(specs, out, jobs=jobs, device=device, force=force, on_done=on_done, command=command)
    order = sorted(range(len(specs)), key=lambda i: -cost(specs[i]))
    outcomes: dict[int, dict[str, Any]] = {}

    def record(i: int, outcome: dict[str, Any]) -> None:
        outcomes[i] = outcome
        if on_done:
            on_done(specs[i], outcome)

    def cancel_rest() -> None:
        for i in order:
            if i not in outcomes:
                record(i, _stopped_outcome(asdict(specs[i]), out, RunAction.CANCELLED))

    if jobs <= 1 or len(specs) <= 1:
        try:
            for i in order:
                record(i, run_one(asdict(specs[i]), out, device, None, force, command=command))
                if outcomes[i]["action"] == RunAction.INTERRUPTED:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            with _sigint_ignored():
                cancel_rest()
            raise
        return [outcomes[i] for i in range(len(specs))]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # no fork after torch's thread pools exist
    stop, slots = context.Event(), context.Array("b", len(specs), lock=False)
    from urnn_zoo.plugins import imported_modules, search_paths

    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init,
                                  initargs=(stop, slots, (imported_modules(), search_paths())))
    futures: dict[cf.Future, int] = {}

    def collect(future: cf.Future) -> None:
        i = futures[future]
        try:
            outcome = future.result()
        except cf.CancelledError:
            outcome = _stopped_outcome(asdict(specs[i]), out, RunAction.CANCELLED)
        except BaseException as exc:  # the worker process itself died, or was stopped between runs
            if stop.is_set():
                outcome = _stopped_outcome(asdict(specs[i]), out, RunAction.INTERRUPTED)
            else:
                outcome = _outcome(specs[i].name, RunStatus.FAILED, RunAction.FAILED,
                                   error=f"{type(exc).__name__}: {exc}", seconds=None, cpu_seconds=None)
        record(i, outcome)

    try:
        for i in order:
            futures[pool.submit(run_one, asdict(specs[i]), out, device, threads, force, i, command)] = i
        pending = set(futures)
        while pending:
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                collect(future)
    except KeyboardInterrupt:
        with _sigint_ignored():
            stop.set()
            training = {i for i in range(len(specs)) if slots[i]}  # the runs being trained now
            pool.shutdown(wait=False, cancel_futures=True)
            deadline = time.perf_counter() + GRACE_SECONDS
            while True:
                left = [f for f in futures if futures[f] not in outcomes]
                for future in [f for f in left if f.done()]:
                    collect(future)
                busy = [f for f in left if not f.done() and (futures[f] in training or slots[futures[f]])]
                if not busy or time.perf_counter() > deadline:
                    break
                cf.wait(busy, timeout=0.2, return_when=cf.FIRST_COMPLETED)
            for future in [f for f in futures if futures[f] not in outcomes and f.done()]:  # done meanwhile
                collect(future)
            for child in multiprocessing.active_children():  # the pool's workers: idle, starting or stuck
                child.terminate()
            cancel_rest()
        raise
    pool.shutdown(wait=True)
    return [outcomes[i] for i in range(len(specs))]


class _sigint_ignored:
    r"""Ignore further Ctrl-C (and SIGTERM) while the outcomes of a stopped grid are recorded (a bounded wait)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> None:
        self.previous = [signal.getsignal(s) for s in self.SIGNALS]
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                signal.signal(s, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        if threading.current_thread() is threading.main_thread():
            for s, previous in zip(self.SIGNALS, self.previous):
                signal.signal(s, previous)
