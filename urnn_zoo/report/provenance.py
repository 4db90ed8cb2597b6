r"""Provenance of a report: the code (commit, and whether it had uncommitted changes), the software (versions),
the machine and device and the command that made it; and what the runs it reads were made from (their
commits, devices, seeds and data sources, the commands that made them, every machine they ran on with its CPU
in full, core count and memory, and their measured wall and CPU seconds in total) and the comparison's own
command and measured cost.

Example::

    >>> info = environment()
    >>> sorted(info)[:3]                                   # doctest: +SKIP
    ['commit', 'cpu', 'cores']
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from urnn_zoo.runs.environment import PACKAGES, capture, cpu_model, git_commit

__all__ = ["MACHINE_KEYS", "environment", "git_commit", "machine_text", "provenance", "provenance_items", "cpu_model",
           "PACKAGES"]
COMMANDS_SHOWN = 5  # commands listed in the Provenance section (every run's command is in the Settings table)


def environment() -> dict[str, Any]:
    r"""Where the report is made (:func:`urnn_zoo.runs.environment.capture`, the capture every run's
    ``config.json`` holds): the command, commit and dirty flag, versions, machine, CPU (model name, vendor,
    family, model and stepping, torch's kernel instruction set), cores, memory, torch threads and CUDA device."""
    return capture()


def _listed(values) -> list:
    return sorted({v for v in values if not pd.isna(v)}, key=str)


def _plain(value: Any) -> Any:
    r"""A frame's value as plain JSON: ``None`` for NA, Python numbers and booleans."""
    if value is None or pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


# What tells one machine from another in a run's environment (its host name aside).
MACHINE_KEYS = ("cpu", "cpu_id", "cpu_capability", "cores", "memory_gib", "cuda")


def _machines(configs: pd.DataFrame) -> list[dict[str, Any]]:
    r"""The distinct machines of the runs (:data:`MACHINE_KEYS`), each with its host names and run count,
    most runs first."""
    found: dict[tuple, dict[str, Any]] = {}
    for row in configs.itertuples(index=False):
        key = tuple(_plain(getattr(row, k)) for k in MACHINE_KEYS)
        entry = found.setdefault(key, {**dict(zip(MACHINE_KEYS, key)), "hosts": set(), "runs": 0})
        entry["runs"] += 1
        if _plain(row.machine) is not None:
            entry["hosts"].add(row.machine)
    machines = [{**e, "hosts": sorted(e["hosts"])} for e in found.values()]
    return sorted(machines, key=lambda e: (-e["runs"], str(e["cpu"])))


def _total(column: pd.Series) -> tuple[float, int]:
    r"""The sum of a column's recorded values and how many were recorded."""
    values = pd.to_numeric(column, errors="coerce").dropna()
    return math.fsum(values.tolist()), int(len(values))


def _from_configs(configs: pd.DataFrame) -> dict[str, Any]:
    r"""What the runs' ``config.json`` and ``summary.json`` record beyond the runs frame: commands, dirty
    checkouts, machines and the measured cost in total."""
    dirty = configs.dirty.astype("boolean")
    seconds, timed = _total(configs.seconds)
    cpu_seconds, cpu_timed = _total(configs.cpu_seconds)
    return {
        "folders": int(len(configs)),
        "commands": list(dict.fromkeys(c for c in configs.command if not pd.isna(c))),
        "without_command": int(configs.command.isna().sum()),
        "dirty": int(dirty.fillna(False).sum()), "clean": int((~dirty).fillna(False).sum()),
        "dirty_unknown": int(dirty.isna().sum()),
        "machines": _machines(configs),
        "seconds": seconds, "seconds_runs": timed, "cpu_seconds": cpu_seconds, "cpu_seconds_runs": cpu_timed,
    }


def _comparison(manifest: dict[str, Any]) -> dict[str, Any]:
    r"""The comparison's command and measured cost, from its ``compare.json``."""
    timing = manifest.get("timing") or {}
    keys = ("command", "preset", "started", "finished", "interrupted", "device", "jobs", "seconds", "cpu_seconds")
    return {**{k: manifest.get(k) for k in keys}, "timing_seconds": timing.get("seconds"),
            "timing_cpu_seconds": timing.get("cpu_seconds")}


def provenance(runs: pd.DataFrame, timings: pd.DataFrame | None = None,
               asv: pd.DataFrame | None = None, *, configs: pd.DataFrame | None = None,
               manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    r"""The provenance block of a report: :func:`environment` plus what the runs, timings and comparison record.

    Args:
        runs: the runs frame of :func:`urnn_zoo.report.load.load_runs`.
        timings: the timings frame (optional).
        asv: the asv frame (optional).
        configs: the ``configs`` frame of :func:`urnn_zoo.report.load.load_results` (optional): adds the
            runs' commands, dirty checkouts, machines and measured cost.
        manifest: the comparison's ``compare.json`` (optional; ``{}`` for none): adds ``comparison``.

    Returns:
        ``{"report": environment(), "runs": {...}, "timings": {...}, "asv": {...}, "comparison": {...}}`` with
        lists of the distinct commits, devices, dtypes, seeds, data sources and machines found; with
        ``configs``, ``runs`` also holds ``commands`` (distinct, in the order read), ``without_command``,
        ``dirty`` / ``clean`` / ``dirty_unknown`` (run folders made from a checkout with uncommitted changes,
        without, unknown), ``machines`` (one entry per distinct :data:`MACHINE_KEYS`, with ``hosts`` and
        ``runs``), and the measured cost summed over the run folders: ``seconds`` (wall) over
        ``seconds_runs`` of them, ``cpu_seconds`` over ``cpu_seconds_runs`` (runs recorded before CPU time
        was measured have none). ``comparison``: the manifest's ``command``, ``preset``, ``started``,
        ``finished``, ``interrupted``, ``device``, ``jobs``, measured ``seconds`` and ``cpu_seconds``, and its
        timing's ``timing_seconds`` and ``timing_cpu_seconds``.
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
        if configs is not None and len(configs):
            info["runs"].update(_from_configs(configs))
    else:
        info["runs"] = {"count": 0}
    if manifest:
        info["comparison"] = _comparison(manifest)
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


# ----------------------------------------------------------------------------------------- the report's text
def machine_text(entry: dict[str, Any]) -> str:
    r"""A machine in full, e.g. ``Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 143 stepping 8; torch
    CPU kernels AVX512), 2 cores, 23.5 GiB, CUDA: none`` (what is unknown is said to be)."""
    cpu = entry.get("cpu") or "CPU unknown"
    detail = "; ".join(filter(None, [entry.get("cpu_id"), entry.get("cpu_capability") and
                                     f"torch CPU kernels {entry['cpu_capability']}"]))
    cores = f"{entry['cores']} cores" if entry.get("cores") is not None else "cores unknown"
    memory = f"{entry['memory_gib']} GiB" if entry.get("memory_gib") is not None else "memory unknown"
    return f"{cpu}{f' ({detail})' if detail else ''}, {cores}, {memory}, CUDA: {entry.get('cuda') or 'unknown'}"


def _seconds(value: Any, unit: str) -> str:
    return f"{unit} not recorded" if value is None else f"{float(value):.1f} {unit}"


def _made_by(command: str | None) -> str:
    # a record without a command was made from Python, or by a version that did not record commands yet
    return f"by `{command}`" if command else "with no command recorded (from Python, or before commands were recorded)"


def _checkout(env: dict[str, Any]) -> str:
    commit = env.get("commit")
    if not commit:
        return "commit unknown (not a git checkout)"
    dirty = env.get("dirty")
    state = {True: "with uncommitted changes", False: "no uncommitted changes"}.get(dirty, "changes unknown")
    return f"commit {commit} ({state})"


def provenance_items(info: dict[str, Any]) -> list[str]:
    r"""The items of a report's Provenance section (Markdown list items) from :func:`provenance`'s block: the
    report's command, checkout, machine and versions; the runs' commits, devices, seeds and data, the commands
    that made them, every machine they ran on (its CPU in full, cores, memory) and their measured wall and CPU
    seconds in total; the comparison's command and measured cost; the timings' and asv results' sources."""
    rep, runs = info["report"], info["runs"]
    versions = ", ".join(f"{k} {v}" for k, v in rep["versions"].items())
    items = [
        f"Report made {rep['generated']} {_made_by(rep.get('command'))}, from {_checkout(rep)}.",
        f"Report machine: {rep['machine']}: {machine_text(rep)}; {rep['platform']}; Python {rep['python']}.",
        f"Versions: {versions}.",
    ]
    if runs.get("count"):
        items += [
            f"Runs: {runs['count']} (commits {', '.join(runs['commits']) or 'unknown'}; torch "
            f"{', '.join(runs['torch']) or 'unknown'}; {', '.join(runs['platforms']) or 'platform unknown'}).",
            f"Training device: {', '.join(runs['devices']) or 'unknown'}, dtype {', '.join(runs['dtypes'])}, "
            f"torch threads per run {', '.join(map(str, runs['threads'])) or 'unknown'}.",
            f"Seeds: {', '.join(map(str, runs['seeds'])) or 'none'}.",
            f"Data: {'; '.join(runs['data']) or 'none'}.",
        ]
        if "folders" in runs:
            items += _run_items(runs)
    else:
        items.append("Runs: none.")
    if "comparison" in info:
        items.append(_comparison_item(info["comparison"]))
    if "timings" in info:
        t = info["timings"]
        items.append(f"Timings: {t['count']} measurements on {'; '.join(t['devices'])}, torch threads "
                     f"{', '.join(map(str, t['threads']))}, batch {t['batch']}, length {t['length']}.")
    if "asv" in info:
        a = info["asv"]
        items.append(f"asv results: {a['count']} values from machine(s) {', '.join(a['machines'])} "
                     f"({', '.join(a['cpus'])}), commits {', '.join(c[:10] for c in a['commits'])}.")
    return items


def _run_items(runs: dict[str, Any]) -> list[str]:
    n = runs["folders"]
    items = []
    commands = runs["commands"]
    if commands:
        shown = "; ".join(f"`{c}`" for c in commands[:COMMANDS_SHOWN])
        more = (f" and {len(commands) - COMMANDS_SHOWN} more (every run's command is in the Settings table)"
                if len(commands) > COMMANDS_SHOWN else "")
        without = f"; {runs['without_command']} of the {n} run folders with no command recorded" \
            if runs["without_command"] else ""
        items.append(f"Commands that made the runs: {shown}{more}{without}.")
    else:
        items.append(f"Commands that made the runs: none recorded (the {n} run folders were made from Python, or "
                     "before commands were recorded).")
    unknown = f", {runs['dirty_unknown']} unknown" if runs["dirty_unknown"] else ""
    items.append(f"Checkouts: {runs['dirty']} of the {n} run folders were made from code with uncommitted changes "
                 f"(commit marked +dirty), {runs['clean']} from a clean checkout{unknown}.")
    for i, machine in enumerate(runs["machines"], 1):
        hosts = ", ".join(machine["hosts"]) or "unknown"
        items.append(f"Run machine {i} of {len(runs['machines'])} (host {hosts}; {machine['runs']} run folder(s)): "
                     f"{machine_text(machine)}.")
    items.append(f"Measured cost of the runs, summed over their records: "
                 f"{_sum(runs['seconds'], runs['seconds_runs'], n, 's wall', 'wall time')}, "
                 f"{_sum(runs['cpu_seconds'], runs['cpu_seconds_runs'], n, 'CPU seconds', 'CPU time')}.")
    return items


def _sum(total: float, recorded: int, n: int, unit: str, what: str) -> str:
    if not recorded:
        return f"{what} not recorded"
    return f"{total:.1f} {unit}" + ("" if recorded == n else f" (recorded by {recorded} of the {n})")


def _comparison_item(c: dict[str, Any]) -> str:
    state = ("interrupted" if c.get("interrupted") else
             f"finished {c['finished']}" if c.get("finished") else "not finished")
    timing = ""
    if c.get("timing_seconds") is not None:
        timing = (f"; of which timing the cells {_seconds(c['timing_seconds'], 's wall')}, "
                  f"{_seconds(c.get('timing_cpu_seconds'), 'CPU seconds')}")
    return (f"Comparison (preset {c.get('preset')}, {c.get('jobs')} process(es) on {c.get('device')}) made "
            f"{_made_by(c.get('command'))}: started {c.get('started')}, {state}; measured "
            f"{_seconds(c.get('seconds'), 's wall')}, {_seconds(c.get('cpu_seconds'), 'CPU seconds')}{timing}.")
