r"""The life of a run folder: created for a new run, checked and reopened for a resume, cleared by ``force``;
and what state a folder is in (:func:`folder_state`), which a comparison acts on.

A folder that holds neither ``checkpoint.pt`` nor ``summary.json`` holds no result and no state to resume (a
run that failed before its first checkpoint): it never blocks a new run. A folder with a result is never
overwritten without ``force``.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import remove_stale_temporaries
from .checkpoint import CHECKPOINT_FILE, Checkpoint, load_checkpoint
from .config import CONFIG_FILE, RunConfig, read_config, write_config
from .errors import NewerRecordError, RecordError, ResumeMismatchError, RunExistsError, RunNotFoundError
from .metrics import METRICS_FILE, read_metrics
from .status import RunStatus
from .summary import SUMMARY_FILE, process_alive, read_summary

__all__ = ["RUN_FILES", "FolderState", "clear_run_folder", "folder_state", "holds_run", "open_run_folder"]

RUN_FILES = (CONFIG_FILE, METRICS_FILE, SUMMARY_FILE, CHECKPOINT_FILE)


def holds_run(folder: str | os.PathLike[str]) -> bool:
    r"""Whether ``folder`` holds a run's result or state (a ``checkpoint.pt`` or a ``summary.json``)."""
    folder = Path(folder)
    return (folder / CHECKPOINT_FILE).exists() or (folder / SUMMARY_FILE).exists()


def clear_run_folder(folder: str | os.PathLike[str]) -> None:
    r"""Delete the record files of a run folder (and temporaries of killed writes); other files stay."""
    folder = Path(folder)
    for name in RUN_FILES:
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    remove_stale_temporaries(folder)


def open_run_folder(path: str | os.PathLike[str], config: RunConfig, environment: dict[str, Any], *,
                    force: bool = False, resume: bool = False) -> Checkpoint | None:
    r"""Make ``path`` ready for ``config``'s run and write its ``config.json``; return the checkpoint to resume
    from (``None``: start at step 0).

    Args:
        path: the run folder (created with its parents). config: the run. environment: written beside it.
        force: delete an existing run's record files first. resume: continue from the folder's checkpoint.

    Raises:
        ValueError: both ``force`` and ``resume``.
        RunExistsError: the folder holds a run and neither ``force`` nor ``resume`` is given, or ``resume`` on
            a run that has no ``checkpoint.pt`` (a result published without one).
        RunNotFoundError: ``resume`` on a folder that does not exist.
        ResumeMismatchError: ``resume`` with a configuration that differs (the message names the keys).
        RecordError: ``resume`` from a damaged ``checkpoint.pt`` (or damaged ``config.json`` with a checkpoint
            of schema 0, which cannot restore it).
    """
    path = Path(path)
    if force and resume:
        raise ValueError("give either force (start over) or resume (continue), not both")
    if resume and not path.is_dir():
        raise RunNotFoundError(f"cannot resume {path}: there is no such run folder; check --out and --name, or "
                               f"drop --resume to start a new run")
    _refuse_a_live_run(path, force or resume)
    checkpoint = None
    if force or not holds_run(path):
        clear_run_folder(path)
    elif not resume:
        raise RunExistsError(f"run folder {path} already holds a run; use --force to start the run over (deletes "
                             f"its results) or --resume to continue it")
    else:
        checkpoint = _checkpoint_to_resume(path, config)
        read_metrics(path)  # a damaged metrics.csv is refused (naming it) before anything is written
    path.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    write_config(path, config, environment)
    return checkpoint


def _refuse_a_live_run(path: Path, told: bool) -> None:
    r"""No process may take over a run that another process is training: a ``running`` summary whose process
    lives on this machine is refused always; one of another machine (whose process this one cannot check)
    unless the user said ``force`` or ``resume``.

    Raises:
        RunExistsError: the run is being trained (the message names the process and host).
    """
    try:
        summary = read_summary(path) if (path / SUMMARY_FILE).is_file() else None
    except (RecordError, OSError):
        return
    if summary is None or summary["status"] is not RunStatus.RUNNING:
        return
    pid, host = summary.get("pid"), summary.get("host")
    if process_alive(pid, host):
        raise RunExistsError(f"run folder {path} is being trained by process {pid} on this machine; wait for it "
                             "to end, or stop it first")
    if not told:
        raise RunExistsError(f"run folder {path}: {summary['message']}, or start it over with --force")


def _checkpoint_to_resume(path: Path, config: RunConfig) -> Checkpoint:
    if not (path / CHECKPOINT_FILE).is_file():
        raise RunExistsError(f"cannot resume {path}: it has no {CHECKPOINT_FILE} (a result kept without its "
                             f"checkpoint cannot train further); use --force to start the run over")
    checkpoint = load_checkpoint(path)
    try:
        old = read_config(path)["train"]
    except (RecordError, FileNotFoundError):
        if checkpoint.config is None:
            raise
        old = checkpoint.config  # a damaged config.json, restored from the checkpoint
    keys = config.differences(old)
    if keys:
        mine = config.to_dict()
        diffs = "; ".join(f"{k}: {old.get(k)!r} in the folder, {mine.get(k)!r} now" for k in keys)
        raise ResumeMismatchError(f"cannot resume {path}: its config differs in {', '.join(keys)} ({diffs}); "
                                  f"use --force to start the run over with the new config")
    return checkpoint


@dataclass(frozen=True)
class FolderState:
    r"""What a run folder holds, as a comparison sees it.

    Attributes:
        status: ``pending`` (no run), or the summary's status (``incomplete`` for a killed run).
        summary: the summary (``None`` when absent or damaged).
        problem: why a file could not be read (``None`` when every file read is fine).
        resumable: a readable checkpoint and configuration are there.
        newer: a file was written by a newer urnn_zoo (a newer schema): the folder must be left as it is.
    """

    status: RunStatus
    summary: dict[str, Any] | None
    problem: str | None
    resumable: bool
    newer: bool = False


def folder_state(folder: str | os.PathLike[str]) -> FolderState:
    r"""The state of a run folder (:class:`FolderState`); never raises on a damaged file (it is the
    ``problem``)."""
    folder = Path(folder)
    errors, summary = [], None
    status = RunStatus.PENDING
    if (folder / SUMMARY_FILE).exists():
        try:
            summary = read_summary(folder)
            status = summary["status"]
        except (RecordError, OSError) as exc:
            errors.append(exc)
            status = RunStatus.INCOMPLETE
    resumable = False
    if summary is not None and status.ended:  # a result: its checkpoint is read only if it trains further
        resumable = (folder / CHECKPOINT_FILE).is_file() and (folder / CONFIG_FILE).is_file()
    elif (folder / CHECKPOINT_FILE).exists():
        try:
            checkpoint = load_checkpoint(folder)
            resumable = True
        except (RecordError, OSError) as exc:
            errors.append(exc)
        else:
            try:
                read_config(folder)
            except (RecordError, OSError) as exc:
                resumable = checkpoint.config is not None
                if not resumable:
                    errors.append(exc)
            if summary is None:
                status = RunStatus.INCOMPLETE
    newer = any(isinstance(e, NewerRecordError) for e in errors)
    return FolderState(status, summary, "; ".join(map(str, errors)) or None, resumable, newer)
