r"""Provenance of a report: the code (commit), the software (versions), the machine and device, and what the
runs it reads were made from (their commits, devices, seeds and data sources).

Example::

    >>> info = environment()
    >>> sorted(info)[:3]                                   # doctest: +SKIP
    ['commit', 'cpu', 'cores']
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from urnn_zoo.runs.environment import PACKAGES, capture, cpu_model, git_commit

__all__ = ["environment", "git_commit", "provenance", "cpu_model", "PACKAGES"]


def environment() -> dict[str, Any]:
    r"""Where the report is made (:func:`urnn_zoo.runs.environment.capture`, the capture every run's
    ``config.json`` holds): commit, versions, machine, cores, memory, torch threads and CUDA device."""
    return capture()


def _listed(values) -> list:
    return sorted({v for v in values if not pd.isna(v)}, key=str)


def provenance(runs: pd.DataFrame, timings: pd.DataFrame | None = None,
               asv: pd.DataFrame | None = None) -> dict[str, Any]:
    r"""The provenance block of a report: :func:`environment` plus what the runs and timings record.

    Args:
        runs: the runs frame of :func:`urnn_zoo.report.load.load_runs`.
        timings: the timings frame (optional).
        asv: the asv frame (optional).

    Returns:
        ``{"report": environment(), "runs": {...}, "timings": {...}, "asv": {...}}`` with lists of the
        distinct commits, devices, dtypes, seeds, data sources and machines found.
    """
    info: dict[str, Any] = {"report": environment()}
    if runs is not None and len(runs):
        runs = runs.drop_duplicates("run") if "run" in runs else runs
        info["runs"] = {
            "count": int(len(runs)),
            "commits": _listed(runs.get("commit", [])),
            "devices": _listed(runs.get("device", [])),
            "dtypes": _listed(runs.get("dtype", [])),
            "seeds": [int(s) for s in _listed(runs.get("seed", []))],
            "torch": _listed(runs.get("torch", [])),
            "platforms": _listed(runs.get("platform", [])),
            "threads": [int(t) for t in _listed(runs.get("threads", []))],
            "data": _listed(runs.get("data_source", [])),
        }
    else:
        info["runs"] = {"count": 0}
    if timings is not None and len(timings):
        info["timings"] = {
            "count": int(len(timings)),
            "devices": _listed(timings.get("device_name", timings.get("device", []))),
            "threads": [int(t) for t in _listed(timings.get("threads", []))],
            "batch": [int(b) for b in _listed(timings.get("batch", []))],
            "length": [int(t) for t in _listed(timings.get("length", []))],
        }
    if asv is not None and len(asv):
        info["asv"] = {
            "count": int(len(asv)),
            "machines": _listed(asv.get("machine", [])),
            "commits": _listed(asv.get("commit", [])),
            "cpus": _listed(asv.get("cpu", [])),
        }
    return info
