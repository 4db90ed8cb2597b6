r"""``summary.json``: what a run is and how it ended, rewritten at every checkpoint and at the end.

Schema 1 (this module) keys: ``schema``; identity ``cell``, ``task``, ``hidden``, ``seed``, ``cell_options``,
``task_options``, ``constraint``, ``complex``, ``device``, ``dtype``; outcome ``status`` (a
:class:`~urnn_zoo.runs.status.RunStatus`), ``message``, ``steps``, ``steps_done``, ``stopped_at``; cost
``seconds``, ``train_seconds``, ``seconds_per_step``; results ``metric`` (the task's first metric, lower is
better), ``baseline``, ``initial`` (validation metrics of the untrained model), ``valid`` (the last
evaluation), ``final`` (test metrics, ``null`` until the end), ``final_step`` (the step of the model tested),
``tested``, ``best_valid``, ``unitarity_error``; sizes ``parameters``, ``cell_parameters``; data
``data_source``, ``is_stand_in``; and, while a process trains the run, ``pid`` and ``host``.

Schema 0 (before versions) lacks ``schema``, ``initial``, ``pid`` and ``host`` and may say ``interrupted``;
:func:`read_summary` migrates it (``initial`` from the step-0 rows of ``metrics.csv`` beside it).

Note [Running or killed]
    A process that is killed cannot write its last status, so its summary keeps saying ``running``. A
    ``running`` summary names the process (``pid``) and machine (``host``) training it; :func:`read_summary`
    reports it ``incomplete`` (resumable) when that process no longer exists on this machine, or when the
    summary has no process (schema 0).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from .atomic import write_json
from .errors import RecordError
from .jsonfile import read_json_record
from .status import RunStatus

__all__ = ["SUMMARY_FILE", "SUMMARY_SCHEMA", "process_alive", "read_summary", "this_process", "write_summary"]

SUMMARY_FILE = "summary.json"
SUMMARY_SCHEMA = 1
_REMEDY = ("resume the run (--resume) to rewrite it from checkpoint.pt, or start the run over (--force) when "
           "there is no checkpoint")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _metrics(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and _is_number(x) for k, x in v.items())


# key: (required, check, what is expected)
_FIELDS: dict[str, tuple[bool, Any, str]] = {
    "cell": (True, lambda v: isinstance(v, str), "a cell name"),
    "task": (True, lambda v: isinstance(v, str), "a task name"),
    "hidden": (True, lambda v: _is_int(v) and v > 0, "an integer > 0"),
    "seed": (True, lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "status": (True, lambda v: isinstance(v, str), "a run status"),
    "steps": (True, lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "steps_done": (True, lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "metric": (True, lambda v: isinstance(v, str), "a metric name"),
    "baseline": (True, _metrics, "an object of metric name to number"),
    "final": (False, lambda v: v is None or _metrics(v), "null or an object of metric name to number"),
    "valid": (False, lambda v: v is None or _metrics(v), "an object of metric name to number"),
    "initial": (False, lambda v: v is None or _metrics(v), "an object of metric name to number"),
    "cell_options": (False, lambda v: v is None or isinstance(v, dict), "an object"),
    "task_options": (False, lambda v: v is None or isinstance(v, dict), "an object"),
    "message": (False, lambda v: v is None or isinstance(v, str), "null or a text"),
    "seconds": (False, lambda v: v is None or _is_number(v), "a number"),
    "seconds_per_step": (False, lambda v: v is None or _is_number(v), "null or a number"),
    "unitarity_error": (False, lambda v: v is None or _is_number(v), "a number"),
    "final_step": (False, lambda v: v is None or _is_int(v), "null or an integer"),
    "stopped_at": (False, lambda v: v is None or _is_int(v), "null or an integer"),
    "parameters": (False, lambda v: v is None or (isinstance(v, dict) and all(_is_int(x) for x in v.values())),
                   "an object of parameter counts"),
    "constraint": (False, lambda v: v is None or v in ("exact", "soft", "none"), "exact, soft or none"),
    "pid": (False, lambda v: v is None or _is_int(v), "null or a process id"),
}


def this_process() -> dict[str, Any]:
    r"""``{"pid", "host"}`` of the calling process, as a ``running`` summary records them."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def process_alive(pid: Any, host: Any) -> bool:
    r"""Whether process ``pid`` exists on this machine (``False`` for another machine's or no process)."""
    if not _is_int(pid) or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    try:  # a killed process whose parent has not reaped it yet (a zombie) is gone too (Linux)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def write_summary(folder: str | os.PathLike[str], summary: dict[str, Any]) -> None:
    r"""Write ``folder/summary.json`` atomically (schema :data:`SUMMARY_SCHEMA`; statuses as their text)."""
    data = {"schema": SUMMARY_SCHEMA, **{k: (str(v) if isinstance(v, RunStatus) else v) for k, v in summary.items()}}
    write_json(Path(folder) / SUMMARY_FILE, data)


def _initial_from_metrics(folder: Path, metric: str) -> dict[str, float]:
    from .metrics import read_metrics

    try:
        frame = read_metrics(folder)
    except (RecordError, OSError):
        return {}
    rows = frame[(frame.step == 0) & (frame.split == "valid")]
    return {r.metric: float(r.value) for r in rows.itertuples(index=False)}


def read_summary(folder: str | os.PathLike[str]) -> dict[str, Any]:
    r"""``folder/summary.json`` (or the file itself), checked and migrated to schema :data:`SUMMARY_SCHEMA`;
    ``status`` is a :class:`~urnn_zoo.runs.status.RunStatus`, ``incomplete`` for a run whose process is gone
    (Note [Running or killed]).

    Raises:
        FileNotFoundError: no such file.
        RecordError: damaged (not JSON, a missing key, a value of the wrong type); names the file, the key and
            what to do.
    """
    path = Path(folder)
    path = path if path.name == SUMMARY_FILE and path.is_file() else path / SUMMARY_FILE
    summary, version = read_json_record(path, SUMMARY_SCHEMA, _REMEDY)
    for key, (required, ok, expected) in _FIELDS.items():
        if key not in summary:
            if required:
                raise RecordError(path, f"has no {key!r}", _REMEDY)
            continue
        if not ok(summary[key]):
            raise RecordError(path, f"has {key} = {summary[key]!r}, expected {expected}", _REMEDY)
    try:
        status = RunStatus.parse(summary["status"])
    except ValueError as exc:
        raise RecordError(path, f"has status {summary['status']!r}: {exc}", _REMEDY) from None
    if version == 0:
        summary.setdefault("initial", _initial_from_metrics(path.parent, summary["metric"]))
        if status.ok:  # runs of schema 0 were never judged (urnn_zoo.runs.divergence)
            from .divergence import divergence

            reason = divergence(summary)
            if reason is not None:
                status, summary["message"] = RunStatus.DIVERGED, reason
    if status is RunStatus.RUNNING:
        pid, host = summary.get("pid"), summary.get("host")
        if isinstance(host, str) and host != socket.gethostname():  # another machine's: this one cannot tell
            summary["message"] = (f"marked running by process {pid} on host {host!r}, which this machine cannot "
                                  "check; if that process has ended, continue the run with --resume")
        elif not process_alive(pid, host):
            status = RunStatus.INCOMPLETE
            summary["message"] = (f"stopped at step {summary['steps_done']} of {summary['steps']} without "
                                  f"finishing (its process {pid} has ended: killed?); resume it with --resume")
    summary["schema"], summary["status"] = SUMMARY_SCHEMA, status
    return summary
