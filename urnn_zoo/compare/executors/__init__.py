r"""Where the runs of a comparison train: this machine's process pool (``local``, the default), a SLURM cluster
through submitit (``slurm``), or a Ray cluster (``ray``); docs/cluster.md.

Every executor runs :func:`urnn_zoo.compare.execute.run_one` on each run (in a worker process, a SLURM job or a
Ray task), which writes the run's folder itself, on the file system the comparison's folder is on (shared by
every node of a cluster): whatever the executor, the run folders, ``compare.json`` and the report are those of a
local comparison. Each outcome comes back to the main process, which writes the manifest and shows progress as
for the local pool; a failed run is recorded with its error (a job that died, with its log file); Ctrl-C (or
SIGTERM) cancels what was submitted, waits up to :data:`~urnn_zoo.compare.execute.GRACE_SECONDS` for the runs
being trained to record their status, records every run's status and exits 130. The timing pass stays in the
main process, on one machine.

Example::

    urnn-zoo compare --preset paper --executor slurm --executor-option partition=gpu
    urnn-zoo compare --preset smoke --executor ray --executor-option address=auto
"""
from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from urnn_zoo import arguments as A

__all__ = ["EXECUTORS", "EXTRA", "Executor", "LocalPool", "MissingExtraError", "Option", "executor_help",
           "make_executor"]

EXECUTORS = ("local", "slurm", "ray")
EXTRA = "urnn_zoo[cluster]"


class MissingExtraError(ImportError):
    r"""An executor whose engine is not installed; the message names the optional extra that installs it."""


def require(module: str, executor: str) -> Any:
    r"""Import ``module`` (submitit, ray) for ``executor``, or raise :class:`MissingExtraError` naming the extra.

    Raises:
        MissingExtraError: ``--executor {executor} needs {module}, which is not installed: pip install
            'urnn_zoo[cluster]'`` (one line).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"--executor {executor} needs {module}, which is not installed ({exc.msg}): "
                                f"pip install '{EXTRA}'") from None


def text(value: Any) -> str:
    r"""A non-empty text without white space (a partition, an address, an account)."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError(f"expected a non-empty text without spaces, got {value!r}")
    return value


@dataclass(frozen=True)
class Option:
    r"""An ``--executor-option`` an executor accepts: its validator (from :mod:`urnn_zoo.arguments`), its
    default (``None``: the engine's or the cluster's own) and one line of help."""

    check: Callable[[Any], Any]
    default: Any
    help: str


class Executor:
    r"""Runs the specs of a grid somewhere and reports each outcome (module docstring).

    Subclasses set ``name`` and ``options`` and implement :meth:`run`; ``__init__`` takes the validated
    options. Construction checks that the engine is installed and every option is valid, and :meth:`connect`
    reaches a cluster where that can be known without submitting: both before any run is written.

    Args:
        options: ``--executor-option`` values by key (text from the command line or Python values).
        device: the comparison's device as given (``auto`` is resolved where each run trains).

    Raises:
        ValueError: an unknown option key or a refused value (``"executor option KEY: expected ..., got ..."``).
        MissingExtraError: the engine is not installed.
    """

    name: ClassVar[str]
    options: ClassVar[dict[str, Option]] = {}
    pass_through_help: ClassVar[str] = ""  # what option keys outside ``options`` mean (:meth:`passes_through`)

    def __init__(self, options: dict[str, Any] | None = None, *, device: str = "cpu") -> None:
        self.settings = self.validate(options or {})
        self.device = device

    @classmethod
    def validate(cls, options: dict[str, Any]) -> dict[str, Any]:
        r"""The options with defaults filled in, each checked by its validator."""
        if not isinstance(options, dict):
            raise ValueError(f"executor_options: expected a dict of option to value, got {options!r}")
        unknown = sorted(k for k in options if k not in cls.options and not cls.passes_through(k))
        if unknown:
            accepted = ", ".join(cls.options) or "none"
            raise ValueError(f"executor option(s) {unknown}: expected an option of --executor {cls.name} "
                             f"({accepted}), got {', '.join(map(repr, unknown))}")
        settings = {key: option.default for key, option in cls.options.items()}
        for key, value in options.items():
            check = cls.options[key].check if key in cls.options else (lambda v: v)
            settings[key] = None if value is None else A.check(value, check, f"executor option {key}")
        return settings

    @classmethod
    def passes_through(cls, key: str) -> bool:
        r"""Whether an option key outside :attr:`options` goes to the engine as it is (SLURM's ``slurm_*``)."""
        return False

    def describe(self, runs: int, in_flight: int) -> str:
        r"""The line that opens the grid: how many runs, where, with what resources, how many at once."""
        return f"{runs} runs with --executor {self.name}, {in_flight} at once"

    def in_flight(self, jobs: int | None, runs: int) -> int:
        r"""How many runs may train at once: ``jobs`` when given, else the executor's default."""
        return jobs or runs

    def record(self) -> dict[str, Any]:
        r"""What the manifest records of the executor: ``{"name", "options", ...}`` (docs/run-record.md)."""
        return {"name": self.name, "options": dict(self.settings)}

    def connect(self) -> None:
        r"""Reach the cluster before anything is written, where that can be known without submitting (Ray at an
        ``address``); nothing by default. :meth:`disconnect` undoes it.

        Raises:
            ValueError: the cluster cannot be reached (one line: expected, got).
        """

    def disconnect(self) -> None:
        r"""Let go of what :meth:`connect` (or :meth:`run`) started or connected to."""

    def run(self, specs: list, out: str, *, jobs: int | None, device: str, force: bool,
            on_done: Callable[[Any, dict[str, Any]], None] | None, command: str | None) -> list[dict[str, Any]]:
        r"""Run every spec; the outcomes in the order of ``specs`` (as :func:`~urnn_zoo.compare.execute.run_grid`).

        Raises:
            KeyboardInterrupt: on Ctrl-C, after every run's outcome was passed to ``on_done``.
        """
        raise NotImplementedError


class LocalPool(Executor):
    r"""This machine's process pool (``--jobs`` processes): :func:`urnn_zoo.compare.execute.run_grid` itself."""

    name = "local"

    def in_flight(self, jobs: int | None, runs: int) -> int:
        import os

        return jobs or max(1, os.cpu_count() or 1)

    def describe(self, runs: int, in_flight: int) -> str:
        return f"{runs} runs on this machine with {in_flight} process(es)"


def executor_class(name: str) -> type[Executor]:
    r"""The class of executor ``name`` (its module imported, not its engine)."""
    A.check(name, A.one_of(EXECUTORS, "an executor"), "executor")
    if name == "local":
        return LocalPool
    if name == "slurm":
        from .slurm import SlurmExecutor

        return SlurmExecutor
    from .raycluster import RayExecutor

    return RayExecutor


def make_executor(name: str, options: dict[str, Any] | None = None, *, device: str = "cpu") -> Executor:
    r"""The executor ``name`` (one of :data:`EXECUTORS`) with its ``--executor-option`` values, checked before any
    work is done.

    Raises:
        ValueError: an unknown executor, option or a refused value (one line: expected, got).
        MissingExtraError: submitit or ray is not installed (one line naming the extra ``urnn_zoo[cluster]``).
    """
    return executor_class(name)(options, device=device)


def executor_help() -> str:
    r"""Every executor's options with their defaults and meaning (``urnn-zoo compare --help``)."""
    lines = []
    for name in EXECUTORS[1:]:
        cls = executor_class(name)
        shown = "; ".join(f"{k} (default {o.default if o.default is not None else 'unset'}): {o.help}"
                          for k, o in cls.options.items())
        lines.append(f"{name}: {shown}{cls.pass_through_help}")
    return ". ".join(lines)
