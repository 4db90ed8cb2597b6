r"""Where a record was made: the code (commit), the software (versions), the machine and the device.

One capture, :func:`capture`, is written into every run's ``config.json`` (``environment``) and into a
report's ``provenance.json`` (``report``), under the same keys.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "capture", "cpu_model", "git_commit", "memory_gib"]

PACKAGES = ("urnn_zoo", "torch", "numpy", "pandas", "seaborn", "matplotlib", "geotorch", "scikit-learn", "mlxtend",
            "music21", "asv")


def git_commit(where: str | os.PathLike[str] | None = None) -> str | None:
    r"""``HEAD`` of the checkout holding ``where`` (default: this package), with ``+dirty`` when tracked files
    differ from it; ``None`` outside a git checkout. Read-only (``--no-optional-locks``: git may not refresh
    its index)."""
    cwd = Path(where) if where else Path(__file__).resolve().parent
    git = ["git", "--no-optional-locks"]
    try:
        head = subprocess.run(git + ["rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        if not head:
            return None
        dirty = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no"], cwd=cwd,
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


def memory_gib() -> float | None:
    r"""Physical memory in GiB (``None`` where the system does not say)."""
    try:
        return round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def capture() -> dict[str, Any]:
    r"""The environment: ``generated`` (UTC time), ``commit``, ``versions`` (package to version, the installed
    ones of :data:`PACKAGES`, torch's own version string), ``python``, ``platform``, ``machine`` (host name),
    ``cpu``, ``cores``, ``memory_gib``, ``torch_threads`` and ``cuda`` (device names, or ``"none"``)."""
    import torch

    versions = {p: v for p in PACKAGES if (v := _version(p))}
    versions["torch"] = torch.__version__
    cuda = None
    if torch.cuda.is_available():
        cuda = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": git_commit(),
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda or "none",
    }


def from_legacy(env: dict[str, Any]) -> dict[str, Any]:
    r"""A ``config.json`` environment of schema 0 (flat ``torch``, ``numpy``, ``urnn_zoo`` and ``threads``)
    under the keys of :func:`capture` (what it did not record is ``None``)."""
    if "versions" in env:
        return dict(env)
    versions = {k: env[k] for k in ("urnn_zoo", "torch", "numpy") if env.get(k)}
    out = {key: None for key in ("generated", "machine", "cpu", "cores", "memory_gib", "cuda")}
    out.update(commit=env.get("commit"), versions=versions, python=env.get("python"), platform=env.get("platform"),
               torch_threads=env.get("threads"))
    return out
