r"""asv results (JSON v2) into a tidy frame, and the asv suite's forward+backward timings as timing rows.

asv 0.6 writes ``<results>/<machine>/<commit[:8]>-<env>.json`` beside ``machine.json``, and
``<results>/benchmarks.json`` with each benchmark's kind, unit and parameter names. In a results file,
``results[name]`` is a list aligned with ``result_columns`` (``result``, ``params``, ``version``, ...,
``stats_q_25``, ``stats_q_75``, ...), trailing ``None`` entries dropped; ``result`` is a flat list over the
Cartesian product of the ``params`` lists, whose values are repr strings (``"'kru'"``, ``"128"``).
"""
from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .load import ASV_BATCH, ASV_COLUMNS, ASV_LENGTH, TIMING_COLUMNS, _finite, _frame, _read_json

__all__ = ["asv_timings", "load_asv"]

_ASV_TIMING = "bench_cells.CellForwardBackward.time_forward_backward"


def _param_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _asv_files(root: Path) -> Iterable[tuple[Path, dict[str, Any]]]:
    for machine_json in sorted(root.rglob("machine.json")):
        machine = _read_json(machine_json) or {}
        for file in sorted(machine_json.parent.glob("*.json")):
            if file.name not in ("machine.json", "benchmarks.json"):
                yield file, machine


def load_asv(root: str | os.PathLike[str] | None) -> pd.DataFrame:
    r"""asv results (JSON v2) under ``root`` (``.asv/results`` or a folder holding it) as a tidy frame.

    ``results[name]`` is a list aligned with ``result_columns``; its ``result`` entry is a flat list over the
    Cartesian product of the ``params`` lists (repr strings, read back with :func:`ast.literal_eval`), NaN or
    ``null`` where a case was n/a or failed. Units and kinds come from ``benchmarks.json`` when present
    (else from the name's prefix: ``time_`` seconds).

    Args:
        root: the results folder; ``None`` or a missing folder gives an empty frame.

    Example::

        >>> asv = load_asv(".asv/results")                                    # doctest: +SKIP
        >>> asv[asv.benchmark.str.endswith("time_forward_backward")].pivot_table("value", "cell", "N")
    """
    if root is None:
        return _frame([], ASV_COLUMNS)
    root = Path(root)
    if (root / ".asv" / "results").is_dir():
        root = root / ".asv" / "results"
    if not root.is_dir():
        return _frame([], ASV_COLUMNS)
    meta = _read_json(root / "benchmarks.json") or {}
    rows: list[dict[str, Any]] = []
    for file, machine in _asv_files(root):
        data = _read_json(file)
        if not data or "results" not in data:
            continue
        columns = data.get("result_columns", ["result", "params"])
        for name, entry in data["results"].items():
            fields = dict(zip(columns, entry))
            info = meta.get(name, {})
            prefix = name.rsplit(".", 1)[-1].split("_", 1)[0]
            kind = info.get("type", {"time": "time", "track": "track", "peakmem": "peakmem", "mem": "memory"}.get(
                prefix, prefix))
            unit = info.get("unit", {"time": "seconds", "peakmem": "bytes", "mem": "bytes"}.get(prefix, "unit"))
            values = fields.get("result")
            values = values if isinstance(values, list) else [values]
            params = fields.get("params") or []
            combos = pd.MultiIndex.from_product(params).tolist() if params else [()]
            names = info.get("param_names") or [f"param{i}" for i in range(len(params))]
            q25 = fields.get("stats_q_25") or [None] * len(values)
            q75 = fields.get("stats_q_75") or [None] * len(values)
            for i, (value, combo) in enumerate(zip(values, combos)):
                decoded = {n: _param_value(v) for n, v in zip(names, combo)}
                rows.append({"benchmark": name, "kind": kind, "unit": unit, "params": decoded,
                             "value": _finite(value), "q25": _finite(q25[i]), "q75": _finite(q75[i]),
                             "commit": data.get("commit_hash"), "machine": machine.get("machine"),
                             "cpu": machine.get("cpu"), "num_cpu": machine.get("num_cpu"),
                             "env": data.get("env_name"), "date": data.get("date"), **decoded})
    df = pd.DataFrame(rows)
    base = _frame([{k: r.get(k) for k in ASV_COLUMNS} for r in rows], ASV_COLUMNS)
    extra = [c for c in df.columns if c not in ASV_COLUMNS]
    for col in extra:
        base[col] = df[col].values
    return base


def asv_timings(asv: pd.DataFrame) -> pd.DataFrame:
    r"""The asv suite's forward+backward timings as ``timings`` rows (``source == "asv"``, B = 32, T = 100)."""
    if asv is None or not len(asv) or "cell" not in asv:
        return _frame([], TIMING_COLUMNS)
    sel = asv[(asv.benchmark == _ASV_TIMING) & asv.value.notna()]
    rows = [{"cell": r.cell, "hidden": int(r.N), "batch": ASV_BATCH, "length": ASV_LENGTH, "input_size": 10,
             "device": r.device, "device_name": f"{r.cpu} ({r.machine})" if r.device == "cpu" else r.device,
             "dtype": "float32", "threads": r.num_cpu, "repeat": 0, "seconds": r.value,
             "seconds_per_sequence": r.value / ASV_BATCH, "source": "asv"} for r in sel.itertuples()]
    return _frame(rows, TIMING_COLUMNS)
