r"""``compare.json``: the manifest of a comparison, written by :mod:`urnn_zoo.compare` in its output folder.

Schema 1 keys: ``schema``, ``command`` (the command line that made it, ``urnn-zoo compare ...``; ``null`` from
Python, and in manifests written before it was recorded), ``preset``, ``description``, ``started``,
``finished`` (``null`` while it runs or when it was interrupted), ``interrupted`` (whether Ctrl-C stopped it),
``cells``, ``tasks``, ``seeds``,
``device``, ``jobs``, ``timing`` (the timing workload: ``batch``, ``length``, ``input_size``, ``repeats``,
``hidden``, ``threads``, ``file``; and its cost), ``seconds``, ``cpu_seconds`` and ``runs``: one entry per
run folder with the run's spec (``name``/``run``, ``cell``, ``task``, ``task_options``, ``hidden``, ``seed``,
``steps``, ``train``, ``cell_options``, ``arms``) and its outcome (``status``, a
:class:`~urnn_zoo.runs.status.RunStatus`; ``action``: ``trained``, ``resumed``, ``reused``, ``restarted``,
``failed``, ``interrupted`` or ``cancelled``; ``error``, ``note`` (a damaged file the run was resumed or
restarted past), ``seconds``, ``cpu_seconds``; ``recorded_by``: present on the entries a comparison carried
over from an earlier one of the same preset in the same folder, the command of the comparison that ran it,
:func:`carried_runs`). Schema 0 is the same without ``schema`` and ``interrupted``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .atomic import write_json
from .environment import invoked_command
from .errors import RecordError
from .jsonfile import read_json_record
from .status import RunStatus, TextEnum

__all__ = ["MANIFEST_FILE", "MANIFEST_SCHEMA", "RunAction", "carried_runs", "own_runs", "read_manifest",
           "write_manifest"]

MANIFEST_FILE = "compare.json"
MANIFEST_SCHEMA = 1


class RunAction(TextEnum):
    r"""What a comparison did with a run (``compare.json``'s ``action``; Note [Resuming a grid] of
    :mod:`urnn_zoo.compare.execute`)."""

    REUSED = "reused"
    RESUMED = "resumed"
    RESTARTED = "restarted"
    TRAINED = "trained"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


_REMEDY = "run the same `urnn-zoo compare` again to rewrite it (its finished runs are reused)"


def write_manifest(folder: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
    r"""Write ``folder/compare.json`` atomically (schema :data:`MANIFEST_SCHEMA`).

    A ``manifest`` without ``command`` gets the command line this process runs under
    (:func:`urnn_zoo.runs.environment.invoked_command`, ``None`` from Python), in the dict too, so the
    comparison's every rewrite and its returned manifest say the same."""
    manifest.setdefault("command", invoked_command())
    write_json(Path(folder) / MANIFEST_FILE, {"schema": MANIFEST_SCHEMA, "command": manifest["command"], **manifest})


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    r"""A ``compare.json`` (or the folder holding one), checked and migrated to schema :data:`MANIFEST_SCHEMA`;
    each run's ``status`` a :class:`~urnn_zoo.runs.status.RunStatus`.

    Raises:
        FileNotFoundError: no such file. RecordError: damaged (names the file and what to do).
    """
    path = Path(path)
    path = path / MANIFEST_FILE if path.is_dir() else path
    manifest, _ = read_json_record(path, MANIFEST_SCHEMA, _REMEDY, "urnn-zoo compare")
    runs = manifest.get("runs")
    if not isinstance(runs, list):
        raise RecordError(path, f"has runs = {runs!r}, expected a list", _REMEDY)
    for i, entry in enumerate(runs):
        if not isinstance(entry, dict) or not isinstance(entry.get("run", entry.get("name")), str):
            raise RecordError(path, f"run {i} is {entry!r}, expected an object with a run name", _REMEDY)
        entry.setdefault("run", entry.get("name"))
        try:
            entry["status"] = RunStatus.parse(entry.get("status"))
        except ValueError as exc:
            raise RecordError(path, f"run {entry['run']!r}: {exc}", _REMEDY) from None
    manifest["schema"] = MANIFEST_SCHEMA
    manifest.setdefault("interrupted", False)
    manifest.setdefault("command", None)
    return manifest


def carried_runs(folder: str | os.PathLike[str], preset: str, names: set[str]) -> list[dict[str, Any]]:
    r"""The entries of the manifest already in ``folder`` that a new comparison of ``preset`` there keeps: the
    runs it does not list itself (not in ``names``) whose folders still exist, each with ``recorded_by`` (the
    command of the comparison that ran it, kept from an earlier carry).

    A result set built over several invocations (``--tasks copy``, then ``--tasks adding``) so keeps every run's
    arms in one manifest. None when there is no manifest, one of another preset, or a damaged one (it is
    rewritten; the run folders are the record).
    """
    folder = Path(folder)
    try:
        earlier = read_manifest(folder / MANIFEST_FILE)
    except (FileNotFoundError, RecordError):
        return []
    if earlier.get("preset") != preset:
        return []
    return [{**entry, "recorded_by": entry.get("recorded_by", earlier.get("command"))}
            for entry in earlier["runs"] if entry["run"] not in names and (folder / entry["run"]).is_dir()]


def own_runs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    r"""The entries of the comparison's own runs: those not carried over from an earlier one (:func:`carried_runs`)."""
    return [entry for entry in manifest["runs"] if "recorded_by" not in entry]

