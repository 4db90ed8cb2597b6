r"""asv results (JSON v2) into a tidy frame, and the asv suite's forward+backward timings as timing rows.

asv 0.6 writes ``<results>/<machine>/<commit[:8]>-<env>.json`` beside ``machine.json``, and
``<results>/benchmarks.json`` with each benchmark's kind, unit and parameter names. In a results file,
``results[name]`` is a list aligned with ``result_columns`` (``result``, ``params``, ``version``, ...,
``stats_q_25``, ``stats_q_75``, ...), trailing ``None`` entries dropped; ``result`` is a flat list over the
Cartesian product of the ``params`` lists, whose values are repr strings (``"'kru'"``, ``"128"``), and is
``null`` (not a list of nulls) when every case of the benchmark was n/a or failed.

The suite's benchmarks call the hidden size ``N`` (their parameter name); the tidy frame calls it ``hidden``,
as every record of :mod:`urnn_zoo.runs` does.
"""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from urnn_zoo.runs import ASV_COLUMNS, TIMING_COLUMNS, as_float, typed_frame

__all__ = ["ASV_BATCH", "ASV_LENGTH", "PARAMETER_NAMES", "asv_timings", "load_asv", "read_asv"]

ASV_BATCH, ASV_LENGTH, ASV_INPUT = 32, 100, 10  # the asv suite's workload (benchmarks/common.py)
PARAMETER_NAMES = {"N": "hidden"}  # benchmark parameter name -> tidy column name
_ASV_TIMING = "bench_cells.CellForwardBackward.time_forward_backward"


def _param_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as exc:
        return None, f"not readable asv JSON ({type(exc).__name__}: {exc}); rerun `asv run` or remove the file"


def _asv_files(root: Path, skipped: list[dict[str, Any]]) -> Iterable[tuple[Path, dict[str, Any]]]:
    for machine_json in sorted(root.rglob("machine.json")):
        machine, problem = _json(machine_json)
        if problem:
            skipped.append({"path": str(machine_json), "problem": problem})
        for file in sorted(machine_json.parent.glob("*.json")):
            if file.name not in ("machine.json", "benchmarks.json"):
                yield file, machine if isinstance(machine, dict) else {}


def _rows(name: str, fields: dict[str, Any], info: dict[str, Any], data: dict[str, Any],
          machine: dict[str, Any]) -> list[dict[str, Any]]:
    r"""One row per parameter combination of one benchmark in one results file."""
    prefix = name.rsplit(".", 1)[-1].split("_", 1)[0]
    kind = info.get("type", {"time": "time", "track": "track", "peakmem": "peakmem", "mem": "memory"}.get(
        prefix, prefix))
    unit = info.get("unit", {"time": "seconds", "peakmem": "bytes", "mem": "bytes"}.get(prefix, "unit"))
    params = fields.get("params") or []
    combos = pd.MultiIndex.from_product(params).tolist() if params else [()]
    values = fields.get("result")
    if not isinstance(values, list):  # null: every case n/a (asv 0.6); a number: a benchmark without params
        values = [values] * len(combos) if values is None else [values]
    names = [PARAMETER_NAMES.get(n, n) for n in (info.get("param_names") or
                                                 [f"param{i}" for i in range(len(params))])]
    q25 = fields.get("stats_q_25") or [None] * len(values)
    q75 = fields.get("stats_q_75") or [None] * len(values)
    rows = []
    for i, (value, combo) in enumerate(zip(values, combos)):
        decoded = {n: _param_value(v) for n, v in zip(names, combo)}
        rows.append({"benchmark": name, "kind": kind, "unit": unit, "params": decoded, "value": as_float(value),
                     "q25": as_float(q25[i] if i < len(q25) else None),
                     "q75": as_float(q75[i] if i < len(q75) else None),
                     "commit": data.get("commit_hash"), "machine": machine.get("machine"), "cpu": machine.get("cpu"),
                     "num_cpu": machine.get("num_cpu"), "env": data.get("env_name"), "date": data.get("date"),
                     **decoded})
    return rows


def read_asv(root: str | os.PathLike[str] | None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    r"""``(frame, skipped)``: :func:`load_asv`'s frame and the files it could not read (``path``, ``problem``)."""
    skipped: list[dict[str, Any]] = []
    if root is None:
        return typed_frame([], ASV_COLUMNS), skipped
    root = Path(root)
    if (root / ".asv" / "results").is_dir():
        root = root / ".asv" / "results"
    if not root.is_dir():
        return typed_frame([], ASV_COLUMNS), skipped
    meta = {}
    if (root / "benchmarks.json").is_file():
        meta, problem = _json(root / "benchmarks.json")
        if problem:
            skipped.append({"path": str(root / "benchmarks.json"), "problem": problem})
        meta = meta if isinstance(meta, dict) else {}
    rows: list[dict[str, Any]] = []
    for file, machine in _asv_files(root, skipped):
        data, problem = _json(file)
        if problem or not isinstance(data, dict) or not isinstance(data.get("results"), dict):
            skipped.append({"path": str(file), "problem": problem or "not an asv results file (no 'results')"})
            continue
        columns = data.get("result_columns", ["result", "params"])
        for name, entry in data["results"].items():
            rows += _rows(name, dict(zip(columns, entry)), meta.get(name, {}), data, machine)
    df = pd.DataFrame(rows)
    base = typed_frame([{k: r.get(k) for k in ASV_COLUMNS} for r in rows], ASV_COLUMNS)
    for col in [c for c in df.columns if c not in ASV_COLUMNS]:
        base[col] = df[col].values
    return base, skipped


def load_asv(root: str | os.PathLike[str] | None) -> pd.DataFrame:
    r"""asv results (JSON v2) under ``root`` (``.asv/results`` or a folder holding it) as a tidy frame: one row
    per benchmark, parameter combination and results file (``null`` results, every case n/a, give one NaN row
    per combination), then one column per parameter (``N`` as ``hidden``).

    Units and kinds come from ``benchmarks.json`` when present (else from the name's prefix: ``time_``
    seconds). A file that cannot be read is left out (:func:`read_asv` says which).

    Args:
        root: the results folder; ``None`` or a missing folder gives an empty frame.

    Example::

        >>> asv = load_asv(".asv/results")                                    # doctest: +SKIP
        >>> asv[asv.benchmark.str.endswith("time_forward_backward")].pivot_table("value", "cell", "hidden")
    """
    return read_asv(root)[0]


def asv_timings(asv: pd.DataFrame) -> pd.DataFrame:
    r"""The asv suite's forward+backward timings as ``timings`` rows (``source == "asv"``, B = 32, T = 100)."""
    if asv is None or not len(asv) or "cell" not in asv or "hidden" not in asv:
        return typed_frame([], TIMING_COLUMNS)
    sel = asv[(asv.benchmark == _ASV_TIMING) & asv.value.notna()]
    rows = [{"cell": r.cell, "hidden": int(r.hidden), "batch": ASV_BATCH, "length": ASV_LENGTH,
             "input_size": ASV_INPUT, "device": r.device,
             "device_name": f"{r.cpu} ({r.machine})" if r.device == "cpu" else r.device,
             "dtype": "float32", "threads": r.num_cpu, "repeat": 0, "seconds": r.value,
             "seconds_per_sequence": r.value / ASV_BATCH, "source": "asv", "error": ""} for r in sel.itertuples()]
    return typed_frame(rows, TIMING_COLUMNS)
