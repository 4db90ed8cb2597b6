r"""Provenance of a report: the code (commit), the software (versions), the machine and device, and what the
runs it reads were made from (their commits, devices, seeds and data sources).

Example::

    >>> info = environment()
    >>> sorted(info)[:3]                                   # doctest: +SKIP
    ['commit', 'cpu', 'cores']
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["environment", "git_commit", "provenance", "cpu_model", "PACKAGES"]

PACKAGES = ("urnn_zoo", "torch", "numpy", "pandas", "seaborn", "matplotlib", "geotorch", "scikit-learn", "mlxtend",
            "music21", "asv")


def git_commit(where: str | os.PathLike[str] | None = None) -> str | None:
    r"""``HEAD`` of the checkout holding ``where`` (default: this package), with ``+dirty`` when the work tree
    differs from it; ``None`` outside a git checkout."""
    cwd = Path(where) if where else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        if not head:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    r"""The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def environment() -> dict[str, Any]:
    r"""Where the report is made: commit, versions, machine, cores, memory, torch threads and CUDA device."""
    import torch

    cuda = None
    if torch.cuda.is_available():
        cuda = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": git_commit(),
        "versions": {p: v for p in PACKAGES if (v := _version(p))},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda or "none",
    }


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
