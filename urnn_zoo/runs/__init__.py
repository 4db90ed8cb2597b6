r"""The run record: what ``urnn-zoo train``, ``compare`` and ``report`` write and read, owned here.

A run folder (``<out>/<name>``, the name from :func:`run_name`, e.g. ``kru-copy-T100-N128-s0``) holds

- ``config.json`` (:mod:`.config`): the validated :class:`RunConfig` and the environment it ran in;
- ``metrics.csv`` (:mod:`.metrics`): the tidy log, one row per observation;
- ``summary.json`` (:mod:`.summary`): what the run is and how it ended, its :class:`RunStatus`;
- ``checkpoint.pt`` (:mod:`.checkpoint`): the state a run resumes from (:class:`Checkpoint`); a finished
  run's record is complete without it.

A comparison's folder holds its run folders, ``timings.csv`` (:mod:`.timings`) and ``compare.json``
(:mod:`.manifest`). Every file carries a schema version (JSON: a ``"schema"`` key; CSV: a ``schema`` column);
records written before versions existed (schema 0) are migrated on read. Every JSON file and checkpoint is
written atomically (:mod:`.atomic`), CSV appends survive a kill (:mod:`.tidy`), and a damaged file is refused
with a :class:`RecordError` that names it and says what to do. :mod:`.folder` creates, resumes and clears run
folders; :mod:`.divergence` says when a run that ended diverged; :mod:`.frames` holds the columns and dtypes
of the report's tidy frames; :mod:`.environment` captures where a record was made.
"""
from __future__ import annotations

from .atomic import write_atomic, write_json, write_text
from .checkpoint import (CHECKPOINT_FILE, CHECKPOINT_SCHEMA, Checkpoint, LoopState, capture_rng, load_checkpoint,
                         restore_rng, save_checkpoint)
from .config import CONFIG_FILE, CONFIG_SCHEMA, DTYPES, OPTIMIZERS, RESUMABLE, RunConfig, read_config, write_config
from .divergence import DIVERGENCE_FACTOR, divergence, unitarity_tolerance
from .environment import capture as capture_environment
from .errors import NewerRecordError, RecordError, ResumeMismatchError, RunExistsError, RunNotFoundError
from .folder import RUN_FILES, FolderState, clear_run_folder, folder_state, holds_run, open_run_folder
from .frames import (ASV_COLUMNS, CURVE_COLUMNS, FINAL_COLUMNS, RUN_COLUMNS, SKIPPED_COLUMNS, as_float,
                     typed_frame)
from .manifest import (MANIFEST_FILE, MANIFEST_SCHEMA, RunAction, carried_runs, own_runs, read_manifest,
                       write_manifest)
from .metrics import METRICS_FILE, METRICS_SCHEMA, SPLITS, MetricsLog, read_metrics
from .naming import run_name
from .status import RunStatus
from .summary import SUMMARY_FILE, SUMMARY_SCHEMA, read_summary, this_process, write_summary
from .timings import TIMING_COLUMNS, TIMINGS_FILE, TIMINGS_SCHEMA, read_timings, timed_cases

__all__ = [
    "ASV_COLUMNS", "CHECKPOINT_FILE", "CHECKPOINT_SCHEMA", "CONFIG_FILE", "CONFIG_SCHEMA", "CURVE_COLUMNS",
    "Checkpoint", "DIVERGENCE_FACTOR", "DTYPES", "FINAL_COLUMNS", "FolderState", "LoopState", "MANIFEST_FILE",
    "MANIFEST_SCHEMA", "METRICS_FILE", "NewerRecordError", "METRICS_SCHEMA", "MetricsLog", "OPTIMIZERS", "RESUMABLE", "RUN_COLUMNS",
    "RUN_FILES", "RecordError", "RunAction", "ResumeMismatchError", "RunConfig", "RunExistsError", "RunNotFoundError",
    "RunStatus", "SKIPPED_COLUMNS", "SPLITS", "SUMMARY_FILE", "SUMMARY_SCHEMA", "TIMINGS_FILE", "TIMINGS_SCHEMA",
    "TIMING_COLUMNS", "as_float", "capture_environment", "capture_rng", "clear_run_folder", "divergence",
    "carried_runs", "folder_state", "holds_run", "own_runs", "load_checkpoint", "open_run_folder", "read_config", "read_manifest",
    "read_metrics", "read_summary", "read_timings", "restore_rng", "run_name", "save_checkpoint", "this_process",
    "timed_cases", "typed_frame", "unitarity_tolerance", "write_atomic", "write_config", "write_json",
    "write_manifest", "write_summary", "write_text",
]
