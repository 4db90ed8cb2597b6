r"""Results into tidy pandas frames: run folders (``urnn-zoo train`` / ``urnn-zoo compare``), the timings of
``urnn-zoo compare`` and asv results (:mod:`.asv`). One row per observation; the columns and dtypes, and every
file read, are the run record's (:mod:`urnn_zoo.runs`, :mod:`urnn_zoo.runs.frames`).

Frames (:class:`Results`): ``runs``, ``finals``, ``curves``, ``timings``, ``asv``, ``configs`` (one row per run
folder: every training setting of its ``config.json``, where and by which command it was made, and its
measured wall and CPU seconds; :data:`CONFIG_COLUMNS`) and ``skipped`` (the run folders and files that could
not be read, each with the reason and what to do: a damaged file never stops a report, it is listed). Failed
runs from a comparison's manifest (no summary) are rows of ``runs`` too, with ``ok`` False and the error in
``message``; a run whose ``summary.json`` says ``running`` while its process is gone is ``incomplete``.

Note [Which validation value]
    ``finals``' ``valid`` rows are the run's last evaluation on the validation split (``summary["valid"]``),
    the same model as the test rows unless the run early-stopped (then the test model is the best one and
    ``summary["best_valid"]`` names it).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from urnn_zoo.runs import (ASV_COLUMNS, CHECKPOINT_FILE, CONFIG_FILE, CURVE_COLUMNS, FINAL_COLUMNS, MANIFEST_FILE,
                           RUN_COLUMNS, SKIPPED_COLUMNS, SUMMARY_FILE, TIMING_COLUMNS, TIMINGS_FILE,
                           RecordError, RunStatus, as_float, read_config, read_manifest, read_metrics, read_summary,
                           read_timings, typed_frame)
from urnn_zoo.runs.environment import complete as complete_environment
from urnn_zoo.runs.timings import non_default_options, options_text, workload_text

from .asv import asv_timings, read_asv

__all__ = ["ASV_COLUMNS", "CONFIG_COLUMNS", "CURVE_COLUMNS", "FINAL_COLUMNS", "RUN_COLUMNS", "Results",
           "SKIPPED_COLUMNS", "TIMING_COLUMNS", "load_results", "load_runs", "load_timings", "task_label", "variant_of"]

# The ``configs`` frame: one row per run folder. Identity; the training settings of config.json's ``train``
# (``cell_options`` and ``task_options`` as JSON with sorted keys; NA where a record has no config.json or
# the setting is null: recurrent_lr = lr, no clip, the whole split, no early stop); its ``environment``
# (``torch`` is its torch version); and the summary's measured ``seconds`` (wall) and ``cpu_seconds``.
CONFIG_COLUMNS = {
    "run": "string", "cell": "string", "variant": "string", "task": "string", "task_label": "string",
    "hidden": "Int64", "seed": "Int64", "steps": "Int64", "batch_size": "Int64", "optimizer": "string",
    "lr": "float64", "constrained_lr": "float64", "recurrent_lr": "float64", "alpha": "float64",
    "penalty_weight": "float64", "clip": "float64", "eval_every": "Int64", "eval_batches": "Int64",
    "test_batches": "Int64", "log_every": "Int64", "checkpoint_every": "Int64", "early_stop": "Int64",
    "device": "string", "dtype": "string", "cell_options": "string", "task_options": "string",
    "command": "string", "commit": "string", "dirty": "boolean", "generated": "string", "machine": "string",
    "cpu": "string", "cpu_id": "string", "cpu_capability": "string", "cores": "Int64", "memory_gib": "float64",
    "cuda": "string", "torch_threads": "Int64", "python": "string", "platform": "string", "torch": "string",
    "seconds": "float64", "cpu_seconds": "float64",
}
_SETTINGS = ("steps", "batch_size", "optimizer", "lr", "constrained_lr", "recurrent_lr", "alpha", "penalty_weight",
             "clip", "eval_every", "eval_batches", "test_batches", "log_every", "checkpoint_every", "early_stop",
             "device", "dtype")
_ENVIRONMENT = ("command", "commit", "dirty", "generated", "machine", "cpu", "cpu_id", "cpu_capability", "cores",
                "memory_gib", "cuda", "torch_threads", "python", "platform")

Log = Callable[[str], None]


@dataclass
class Results:
    r"""Everything a report reads, as tidy frames (module docstring), plus the comparison manifest."""

    runs: pd.DataFrame
    finals: pd.DataFrame
    curves: pd.DataFrame
    timings: pd.DataFrame
    asv: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)
    skipped: pd.DataFrame = field(default_factory=lambda: typed_frame([], SKIPPED_COLUMNS))
    configs: pd.DataFrame = field(default_factory=lambda: typed_frame([], CONFIG_COLUMNS))


# ----------------------------------------------------------------------------------------- naming
def task_label(task: str, options: dict[str, Any] | None) -> str:
    r"""A task with the options that shape it, e.g. ``copy (T=50)``, ``smnist (digits8x8)``.

    Options whose value is ``None`` are left out; a ``data_path`` shows as its last path component.

    Example:
        >>> task_label("copy", {"T": 50, "form": "arjovsky"})
        'copy (T=50)'
    """
    parts = []
    for key, value in (options or {}).items():
        if value is None or (key, value) in (("form", "arjovsky"),):
            continue
        if key == "digits":
            parts.append(str(value))
        elif key == "data_path":
            parts.append(f"data={Path(str(value)).name}")
        else:
            parts.append(f"{key}={value}")
    return f"{task} ({', '.join(parts)})" if parts else task


def variant_of(cell: str, options: dict[str, Any] | None) -> str:
    r"""The non-default options of a cell as ``key=value`` text (empty for the defaults; every option of a
    cell no longer registered)."""
    return ", ".join(f"{k}={v}" for k, v in non_default_options(cell, options).items())


# ----------------------------------------------------------------------------------------- runs
def _run_dirs(root: Path) -> list[Path]:
    found = {p.parent for name in (SUMMARY_FILE, CONFIG_FILE, CHECKPOINT_FILE) for p in root.rglob(name)}
    return sorted(found)


def _config_row(record: dict[str, Any], summary: dict[str, Any], train_cfg: dict[str, Any],
                env: dict[str, Any]) -> dict[str, Any]:
    r"""The ``configs`` row of one run folder (:data:`CONFIG_COLUMNS`) from its runs row and record files."""
    env = complete_environment(env) if env else {}
    row = {key: record[key] for key in ("run", "cell", "variant", "task", "task_label", "hidden", "seed")}
    row.update({key: train_cfg.get(key, summary.get(key)) for key in _SETTINGS})
    for key in ("cell_options", "task_options"):
        options = train_cfg.get(key, summary.get(key))
        row[key] = None if options is None else options_text(options)
    row.update({key: env.get(key) for key in _ENVIRONMENT})
    row.update(torch=(env.get("versions") or {}).get("torch"), seconds=as_float(summary.get("seconds")),
               cpu_seconds=as_float(summary.get("cpu_seconds")))
    return row


def _run_record(folder: Path, root: Path) -> tuple[dict[str, Any], list[dict[str, Any]], pd.DataFrame,
                                                  dict[str, Any]]:
    r"""The ``runs`` row, ``finals`` rows, ``metrics.csv`` frame and ``configs`` row of one run folder.

    Raises:
        RecordError: one of its files is damaged.
    """
    summary = read_summary(folder) if (folder / SUMMARY_FILE).exists() else {}
    config = read_config(folder) if (folder / CONFIG_FILE).exists() else {}
    metrics = read_metrics(folder)
    train_cfg, env = config.get("train", {}), config.get("environment", {})
    get = lambda key, default=None: summary.get(key, train_cfg.get(key, default))  # noqa: E731
    cell, task = get("cell"), get("task")
    task_options = summary.get("task_options", train_cfg.get("task_options")) or {}
    params = summary.get("parameters") or {}
    if summary:
        status, message = summary["status"], summary.get("message")
    else:
        status = RunStatus.INCOMPLETE
        message = f"no {SUMMARY_FILE}: it stopped before its first checkpoint; run it again"
    name = str(folder.relative_to(root)) if folder != root else folder.name
    record = {
        "run": name, "path": str(folder), "cell": cell,
        "variant": variant_of(cell, summary.get("cell_options", train_cfg.get("cell_options"))) if cell else "",
        "task": task, "task_label": task_label(task, task_options) if task else None,
        "task_options": json.dumps(task_options, sort_keys=True), "hidden": get("hidden"), "seed": get("seed"),
        "arm": None, "budget": None, "status": str(status), "ok": status.ok and bool(summary.get("final")),
        "message": message, "steps": get("steps"), "steps_done": summary.get("steps_done"),
        "seconds": as_float(summary.get("seconds")), "seconds_per_step": as_float(summary.get("seconds_per_step")),
        "params_stored": params.get("stored"), "params_dof": params.get("dof"),
        "recurrent_stored": params.get("recurrent_stored"), "recurrent_dof": params.get("recurrent_dof"),
        "constraint": summary.get("constraint"), "complex": summary.get("complex"), "metric": summary.get("metric"),
        "unitarity_error": as_float(summary.get("unitarity_error")), "data_source": summary.get("data_source"),
        "stand_in": summary.get("is_stand_in"), "device": get("device"), "dtype": get("dtype"),
        "commit": env.get("commit"), "torch": (env.get("versions") or {}).get("torch"),
        "platform": env.get("platform"), "threads": env.get("torch_threads"),
    }
    baseline = summary.get("baseline") or {}
    finals = []
    for split, values in (("valid", summary.get("valid")), ("test", summary.get("final"))):
        for metric, value in (values or {}).items():
            finals.append({"run": name, "split": split, "metric": metric, "value": as_float(value),
                           "baseline": as_float(baseline.get(metric))})
    return record, finals, metrics, _config_row(record, summary, train_cfg, env)


def _manifest_records(manifest: dict[str, Any], known: dict[str, dict[str, Any]], skipped: set[str],
                      prefix: str = "") -> list[dict[str, Any]]:
    r"""Rows per (run, arm) from a comparison manifest; runs without a folder become failure rows, runs whose
    folder was skipped (a damaged file) none.

    ``prefix``: the manifest's folder relative to the loaded root (run names in it are relative to it).
    """
    rows = []
    for entry in manifest.get("runs", []):
        name = f"{prefix}/{entry['run']}" if prefix else entry["run"]
        if name in skipped:
            continue
        base = known.get(name)
        for arm in entry.get("arms") or [None]:
            arm_name, budget = (arm.get("name"), arm.get("budget")) if isinstance(arm, dict) else (arm, None)
            if base is not None:
                row = dict(base, arm=arm_name, budget=budget)
                if entry.get("status") == RunStatus.FAILED and not base["ok"]:
                    row["message"] = entry.get("error") or row["message"]
                    if row["status"] == RunStatus.INCOMPLETE and not (Path(base["path"]) / SUMMARY_FILE).exists():
                        row["status"] = str(RunStatus.FAILED)
            else:
                row = {k: None for k in RUN_COLUMNS}
                row.update(run=name, path=None, cell=entry.get("cell"), variant=variant_of(entry["cell"], entry.get(
                    "cell_options")) if entry.get("cell") else "", task=entry.get("task"),
                    task_label=task_label(entry.get("task"), entry.get("task_options")) if entry.get("task") else None,
                    task_options=json.dumps(entry.get("task_options") or {}, sort_keys=True),
                    hidden=entry.get("hidden"), seed=entry.get("seed"), arm=arm_name, budget=budget,
                    status=str(entry.get("status") or RunStatus.PENDING), ok=False,
                    message=entry.get("error") or "no run folder", steps=entry.get("steps"))
            rows.append(row)
    return rows


def _skip(skipped: list[dict[str, Any]], path: Path, exc: Exception, log: Log | None) -> None:
    problem = str(exc)
    skipped.append({"path": str(path), "problem": problem})
    if log:
        log(f"report: skipping {path}: {problem}")


def _load_runs(root: Path, log: Log | None):
    records: dict[str, dict[str, Any]] = {}
    configs: list[dict[str, Any]] = []
    finals: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    skipped: list[dict[str, Any]] = []
    skipped_names: set[str] = set()
    folders = _run_dirs(root) if root.is_dir() else []
    for folder in folders:
        try:
            record, rows, metrics, config = _run_record(folder, root)
        except (RecordError, OSError) as exc:
            _skip(skipped, folder, exc, log)
            skipped_names.add(str(folder.relative_to(root)) if folder != root else folder.name)
            continue
        records[record["run"]] = record
        configs.append(config)
        finals.extend(rows)
        if len(metrics):
            for key in ("run", "cell", "variant", "task", "task_label", "hidden", "seed"):
                metrics[key] = record[key]
            curves.append(metrics)
    # The comparison manifests under root: the one at root, or those of several comparisons below it.
    manifests: dict[Path, dict[str, Any]] = {}
    for path in sorted(root.rglob(MANIFEST_FILE)) if root.is_dir() else []:
        try:
            manifests[path.parent] = read_manifest(path)
        except (RecordError, OSError) as exc:
            _skip(skipped, path, exc, log)
    rows = []
    for folder, entries in manifests.items():
        prefix = "" if folder == root else str(folder.relative_to(root))
        rows += _manifest_records(entries, records, skipped_names, prefix)
    listed = {r["run"] for r in rows}
    rows += [r for name, r in records.items() if name not in listed]
    manifest = manifests.get(root) or (next(iter(manifests.values())) if len(manifests) == 1 else {})
    if curves:
        curve_rows = pd.concat(curves, ignore_index=True)[list(CURVE_COLUMNS)]
        curve_frame = typed_frame(curve_rows.to_dict("records"), CURVE_COLUMNS)
    else:
        curve_frame = typed_frame([], CURVE_COLUMNS)
    return (typed_frame(rows, RUN_COLUMNS), typed_frame(finals, FINAL_COLUMNS), curve_frame, manifest,
            skipped, typed_frame(configs, CONFIG_COLUMNS))


def load_runs(root: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    r"""Every run folder under ``root`` (with the manifests of the comparisons there) as tidy frames.

    Args:
        root: a folder of run folders (``urnn-zoo compare --out``), or one run folder. A missing or empty
            folder gives empty frames with the documented columns.

    Returns:
        ``(runs, finals, curves, manifest)`` (:mod:`urnn_zoo.runs.frames`); ``manifest`` is the comparison's at
        ``root`` (or the only one below it; ``{}`` otherwise). Folders with a damaged file are left out
        (:func:`load_results` lists them in ``skipped``).

    Example::

        >>> runs, finals, curves, manifest = load_runs("runs/quick")          # doctest: +SKIP
        >>> runs.groupby("cell").ok.mean()                                     # doctest: +SKIP
    """
    runs, finals, curves, manifest, _, _ = _load_runs(Path(root), None)
    return runs, finals, curves, manifest


# ----------------------------------------------------------------------------------------- timings
def _load_timings(path: Path, log: Log | None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    files = sorted(path.rglob(TIMINGS_FILE)) if path.is_dir() else [path] if path.is_file() else []
    frames, skipped = [], []
    for file in files:
        try:
            frame = read_timings(file)
        except (RecordError, OSError) as exc:
            _skip(skipped, file, exc, log)
            continue
        if len(frame):
            frames.append(frame)
    if not frames:
        return typed_frame([], TIMING_COLUMNS), skipped
    df = pd.concat(frames, ignore_index=True)
    df["error"] = df["error"].fillna("")
    df["source"] = df["source"].fillna("compare")
    return typed_frame(df[list(TIMING_COLUMNS)].to_dict("records"), TIMING_COLUMNS), skipped


def load_timings(path: str | os.PathLike[str]) -> pd.DataFrame:
    r"""The timings of ``urnn-zoo compare``: a ``timings.csv`` file, or every one under a folder.

    Returns:
        The ``timings`` frame (:data:`urnn_zoo.runs.TIMING_COLUMNS`); empty when there is no file. A damaged
        file is left out (:func:`load_results` lists it in ``skipped``).
    """
    return _load_timings(Path(path), None)[0]


# ----------------------------------------------------------------------------------------- everything
def load_results(runs: str | os.PathLike[str] | None, asv: str | os.PathLike[str] | None = None,
                 log: Log | None = None) -> Results:
    r"""Runs, their comparison's timings and asv results, as one :class:`Results`.

    Args:
        runs: a folder of run folders (with ``timings.csv`` and ``compare.json`` when ``urnn-zoo compare``
            wrote it); ``None`` for none.
        asv: an asv results folder (optional).
        log: a ``print``-like callable told what is loaded and what is skipped (optional).

    Example::

        >>> res = load_results("runs/quick", ".asv/results")                  # doctest: +SKIP
        >>> res.runs.shape, res.timings.source.unique()                        # doctest: +SKIP
    """
    skipped: list[dict[str, Any]] = []
    if runs is not None:
        if log:
            log(f"report: reading the runs under {runs}")
        run_frame, finals, curves, manifest, bad, configs = _load_runs(Path(runs), log)
        timings, bad_timings = _load_timings(Path(runs), log)
        skipped += bad + bad_timings
    else:
        run_frame, finals, curves, manifest = (typed_frame([], RUN_COLUMNS), typed_frame([], FINAL_COLUMNS),
                                               typed_frame([], CURVE_COLUMNS), {})
        timings = typed_frame([], TIMING_COLUMNS)
        configs = typed_frame([], CONFIG_COLUMNS)
    if asv is not None and log:
        log(f"report: reading the asv results under {asv}")
    asv_frame, bad_asv = read_asv(asv)
    for item in bad_asv:
        _skip(skipped, Path(item["path"]), ValueError(item["problem"]), log)
    extra = asv_timings(asv_frame)
    if len(extra):  # the asv suite times the workload's options (benchmarks/bench_cells.py)
        extra["cell_options"] = pd.Series([workload_text(c, int(h)) for c, h in zip(extra.cell, extra.hidden)],
                                          index=extra.index, dtype="string")
        timings = pd.concat([timings, extra], ignore_index=True) if len(timings) else extra
    if log:
        log(f"report: {run_frame.run.nunique()} runs, {len(timings)} timings, {len(asv_frame)} asv values"
            + (f"; {len(skipped)} skipped" if skipped else ""))
    return Results(run_frame, finals, curves, timings, asv_frame, manifest, typed_frame(skipped, SKIPPED_COLUMNS),
                   configs)
