r"""Results into tidy pandas frames: run folders (``urnn-zoo train`` / ``urnn-zoo compare``), the timings of
``urnn-zoo compare`` and asv results (JSON v2). One row per observation, columns named and typed below.

Frames (:class:`Results`):

- ``runs``: one row per run and comparison arm (a run that belongs to two arms of a comparison appears
  twice, once per arm): identity (``run``, ``cell``, ``variant``, ``task``, ``task_label``, ``hidden``,
  ``seed``, ``arm``, ``budget``), outcome (``status``, ``ok``, ``message``), cost (``steps``,
  ``steps_done``, ``seconds``, ``seconds_per_step``), size (``params_stored``, ``params_dof``,
  ``recurrent_stored``, ``recurrent_dof``), provenance (``data_source``, ``stand_in``, ``device``,
  ``dtype``, ``commit``, ``torch``, ``platform``, ``threads``). Failed runs from a comparison's manifest
  (no summary) are rows too, with ``ok`` False and the error in ``message``.
- ``finals``: one row per run, split (``valid``: the last evaluation; ``test``: the final one) and metric:
  ``run, split, metric, value, baseline``.
- ``curves``: the runs' ``metrics.csv`` rows with the run's identity: ``run, cell, variant, task,
  task_label, hidden, seed, step, split, metric, value, seconds``.
- ``timings``: one row per timed repeat: ``cell, hidden, batch, length, input_size, device, device_name,
  dtype, threads, repeat, seconds, seconds_per_sequence, source`` (``compare`` or ``asv``).
- ``asv``: one row per asv benchmark, parameter combination and results file: ``benchmark, kind, unit,
  params`` (a dict), one column per parameter name, ``value`` (NaN where asv shows n/a or failed),
  ``q25, q75, commit, machine, cpu, num_cpu, env, date``.

Note [Which validation value]
    ``finals``' ``valid`` rows are the run's last evaluation on the validation split (``summary["valid"]``),
    the same model as the test rows unless the run early-stopped (then the test model is the best one and
    ``summary["best_valid"]`` names it).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ASV_BATCH", "ASV_LENGTH", "MANIFEST", "OK_STATUSES", "TIMINGS", "Results", "load_results", "load_runs",
           "load_timings", "task_label", "variant_of"]

MANIFEST = "compare.json"  # written by urnn_zoo.compare in its output folder
TIMINGS = "timings.csv"
OK_STATUSES = ("finished", "early-stopped")
ASV_BATCH, ASV_LENGTH = 32, 100  # the asv suite's workload (benchmarks/common.py: B = 32, T = 100)

RUN_COLUMNS = {
    "run": "string", "path": "string", "cell": "string", "variant": "string", "task": "string",
    "task_label": "string", "task_options": "string", "hidden": "Int64", "seed": "Int64", "arm": "string",
    "budget": "Int64", "status": "string", "ok": "bool", "message": "string", "steps": "Int64",
    "steps_done": "Int64", "seconds": "float64", "seconds_per_step": "float64", "params_stored": "Int64",
    "params_dof": "Int64", "recurrent_stored": "Int64", "recurrent_dof": "Int64", "constraint": "string",
    "complex": "boolean", "metric": "string", "unitarity_error": "float64", "data_source": "string",
    "stand_in": "boolean", "device": "string", "dtype": "string", "commit": "string", "torch": "string",
    "platform": "string", "threads": "Int64",
}
FINAL_COLUMNS = {"run": "string", "split": "string", "metric": "string", "value": "float64", "baseline": "float64"}
CURVE_COLUMNS = {"run": "string", "cell": "string", "variant": "string", "task": "string", "task_label": "string",
                 "hidden": "Int64", "seed": "Int64", "step": "int64", "split": "string", "metric": "string",
                 "value": "float64", "seconds": "float64"}
TIMING_COLUMNS = {"cell": "string", "hidden": "int64", "batch": "int64", "length": "int64", "input_size": "int64",
                  "device": "string", "device_name": "string", "dtype": "string", "threads": "Int64",
                  "repeat": "int64", "seconds": "float64", "seconds_per_sequence": "float64", "source": "string",
                  "error": "string"}
ASV_COLUMNS = {"benchmark": "string", "kind": "string", "unit": "string", "params": "object", "value": "float64",
               "q25": "float64", "q75": "float64", "commit": "string", "machine": "string", "cpu": "string",
               "num_cpu": "Int64", "env": "string", "date": "datetime64[ns, UTC]"}


@dataclass
class Results:
    r"""Everything a report reads, as tidy frames (module docstring), plus the comparison manifest."""

    runs: pd.DataFrame
    finals: pd.DataFrame
    curves: pd.DataFrame
    timings: pd.DataFrame
    asv: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)


def _frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns))
    for col, dtype in columns.items():
        if dtype == "object":
            continue
        if dtype.startswith("datetime"):
            df[col] = pd.to_datetime(df[col], utc=True, unit="ms") if len(df) else df[col].astype(dtype)
        elif dtype in ("bool",):
            df[col] = df[col].fillna(False).astype(bool)
        else:
            df[col] = df[col].astype(dtype)
    return df


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
    r"""The non-default options of a cell as ``key=value`` text (empty for the defaults)."""
    try:
        from urnn_zoo.cells.base import cell_options

        defaults = cell_options(cell)
    except ValueError:  # a cell no longer registered: show every option
        defaults = {}
    shown = [f"{k}={v}" for k, v in sorted((options or {}).items()) if defaults.get(k, object()) != v]
    return ", ".join(shown)


# ----------------------------------------------------------------------------------------- runs
def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _run_dirs(root: Path) -> list[Path]:
    found = {p.parent for name in ("summary.json", "config.json") for p in root.rglob(name)}
    return sorted(found)


def _finite(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def _run_record(folder: Path, root: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary = _read_json(folder / "summary.json") or {}
    config = _read_json(folder / "config.json") or {}
    train_cfg, env = config.get("train", {}), config.get("environment", {})
    get = lambda key, default=None: summary.get(key, train_cfg.get(key, default))  # noqa: E731
    cell, task = get("cell"), get("task")
    task_options = summary.get("task_options", train_cfg.get("task_options")) or {}
    params = summary.get("parameters") or {}
    status = summary.get("status") or "crashed before its first checkpoint (no summary.json)"
    name = str(folder.relative_to(root)) if folder != root else folder.name
    record = {
        "run": name, "path": str(folder), "cell": cell,
        "variant": variant_of(cell, summary.get("cell_options", train_cfg.get("cell_options"))) if cell else "",
        "task": task, "task_label": task_label(task, task_options) if task else None,
        "task_options": json.dumps(task_options, sort_keys=True), "hidden": get("hidden"), "seed": get("seed"),
        "arm": None, "budget": None, "status": status, "ok": status in OK_STATUSES and bool(summary.get("final")),
        "message": summary.get("message"), "steps": get("steps"), "steps_done": summary.get("steps_done"),
        "seconds": _finite(summary.get("seconds")), "seconds_per_step": _finite(summary.get("seconds_per_step")),
        "params_stored": params.get("stored"), "params_dof": params.get("dof"),
        "recurrent_stored": params.get("recurrent_stored"), "recurrent_dof": params.get("recurrent_dof"),
        "constraint": summary.get("constraint"), "complex": summary.get("complex"), "metric": summary.get("metric"),
        "unitarity_error": _finite(summary.get("unitarity_error")), "data_source": summary.get("data_source"),
        "stand_in": summary.get("is_stand_in"), "device": get("device"), "dtype": get("dtype"),
        "commit": env.get("commit"), "torch": env.get("torch"), "platform": env.get("platform"),
        "threads": env.get("threads"),
    }
    baseline = summary.get("baseline") or {}
    finals = []
    for split, values in (("valid", summary.get("valid")), ("test", summary.get("final"))):
        for metric, value in (values or {}).items():
            finals.append({"run": name, "split": split, "metric": metric, "value": _finite(value),
                           "baseline": _finite(baseline.get(metric))})
    return record, finals


def _manifest_records(manifest: dict[str, Any], known: dict[str, dict[str, Any]],
                      prefix: str = "") -> list[dict[str, Any]]:
    r"""Rows per (run, arm) from a comparison manifest; runs without a folder become failure rows.

    ``prefix``: the manifest's folder relative to the loaded root (run names in it are relative to it).
    """
    rows = []
    for entry in manifest.get("runs", []):
        name = f"{prefix}/{entry['run']}" if prefix else entry["run"]
        base = known.get(name)
        for arm in entry.get("arms") or [None]:
            arm_name, budget = (arm.get("name"), arm.get("budget")) if isinstance(arm, dict) else (arm, None)
            if base is not None:
                row = dict(base, arm=arm_name, budget=budget)
                if entry.get("status") == "failed" and not base["ok"]:
                    row["message"] = entry.get("error") or row["message"]
                    if row["status"].startswith("crashed"):
                        row["status"] = "failed"
            else:
                row = {k: None for k in RUN_COLUMNS}
                row.update(run=name, path=None, cell=entry.get("cell"), variant=variant_of(entry["cell"], entry.get(
                    "cell_options")) if entry.get("cell") else "", task=entry.get("task"),
                    task_label=task_label(entry.get("task"), entry.get("task_options")) if entry.get("task") else None,
                    task_options=json.dumps(entry.get("task_options") or {}, sort_keys=True),
                    hidden=entry.get("hidden"), seed=entry.get("seed"), arm=arm_name, budget=budget,
                    status=entry.get("status") or "not run", ok=False,
                    message=entry.get("error") or "no run folder", steps=entry.get("steps"))
            rows.append(row)
    return rows


def load_runs(root: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    r"""Every run folder under ``root`` (with the manifests of the comparisons there) as tidy frames.

    Args:
        root: a folder of run folders (``urnn-zoo compare --out``), or one run folder. A missing or empty
            folder gives empty frames with the documented columns.

    Returns:
        ``(runs, finals, curves, manifest)`` (module docstring); ``manifest`` is the comparison's at
        ``root`` (or the only one below it; ``{}`` otherwise).

    Example::

        >>> runs, finals, curves, manifest = load_runs("runs/quick")          # doctest: +SKIP
        >>> runs.groupby("cell").ok.mean()                                     # doctest: +SKIP
    """
    root = Path(root)
    records: dict[str, dict[str, Any]] = {}
    finals: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    if root.is_dir():
        for folder in _run_dirs(root):
            record, rows = _run_record(folder, root)
            records[record["run"]] = record
            finals.extend(rows)
            metrics = folder / "metrics.csv"
            if metrics.is_file():
                try:
                    frame = pd.read_csv(metrics)
                except (pd.errors.EmptyDataError, pd.errors.ParserError):
                    frame = pd.DataFrame()
                if len(frame):
                    for key in ("run", "cell", "variant", "task", "task_label", "hidden", "seed"):
                        frame[key] = record[key]
                    curves.append(frame)
    # The comparison manifests under root: the one at root, or those of several comparisons below it.
    manifests = {p.parent: m for p in sorted(root.rglob(MANIFEST)) if (m := _read_json(p))} if root.is_dir() else {}
    rows = []
    for folder, entries in manifests.items():
        prefix = "" if folder == root else str(folder.relative_to(root))
        rows += _manifest_records(entries, records, prefix)
    listed = {r["run"] for r in rows}
    rows += [r for name, r in records.items() if name not in listed]
    manifest = manifests.get(root) or (next(iter(manifests.values())) if len(manifests) == 1 else {})
    curve_rows = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=list(CURVE_COLUMNS))
    curve_frame = _frame(curve_rows[list(CURVE_COLUMNS)].to_dict("records"), CURVE_COLUMNS) if len(curve_rows) \
        else _frame([], CURVE_COLUMNS)
    return _frame(rows, RUN_COLUMNS), _frame(finals, FINAL_COLUMNS), curve_frame, manifest


# ----------------------------------------------------------------------------------------- timings
def load_timings(path: str | os.PathLike[str]) -> pd.DataFrame:
    r"""The timings of ``urnn-zoo compare``: a ``timings.csv`` file, or every one under a folder.

    Returns:
        The ``timings`` frame (module docstring); empty when there is no file.
    """
    path = Path(path)
    files = sorted(path.rglob(TIMINGS)) if path.is_dir() else [path] if path.is_file() else []
    frames = [f for f in (pd.read_csv(file) for file in files) if len(f)]
    if not frames:
        return _frame([], TIMING_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    if "source" not in df:
        df["source"] = "compare"
    for col in TIMING_COLUMNS:
        if col not in df:
            df[col] = None
    df["error"] = df["error"].fillna("").astype(str)
    return _frame(df[list(TIMING_COLUMNS)].to_dict("records"), TIMING_COLUMNS)


# ----------------------------------------------------------------------------------------- everything
def load_results(runs: str | os.PathLike[str] | None, asv: str | os.PathLike[str] | None = None) -> Results:
    r"""Runs, their comparison's timings and asv results, as one :class:`Results`.

    Args:
        runs: a folder of run folders (with ``timings.csv`` and ``compare.json`` when ``urnn-zoo compare``
            wrote it); ``None`` for none.
        asv: an asv results folder (optional).

    Example::

        >>> res = load_results("runs/quick", ".asv/results")                  # doctest: +SKIP
        >>> res.runs.shape, res.timings.source.unique()                        # doctest: +SKIP
    """
    if runs is not None:
        run_frame, finals, curves, manifest = load_runs(runs)
        timings = load_timings(runs)
    else:
        run_frame, finals, curves, manifest = (_frame([], RUN_COLUMNS), _frame([], FINAL_COLUMNS),
                                               _frame([], CURVE_COLUMNS), {})
        timings = _frame([], TIMING_COLUMNS)
    from .asv import asv_timings, load_asv

    asv_frame = load_asv(asv)
    extra = asv_timings(asv_frame)
    if len(extra):
        timings = pd.concat([timings, extra], ignore_index=True) if len(timings) else extra
    return Results(run_frame, finals, curves, timings, asv_frame, manifest)

