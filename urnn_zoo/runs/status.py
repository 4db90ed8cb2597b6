r"""The status of a run, one vocabulary for ``summary.json``, ``compare.json``, the report and the command line.

A run is ``running`` while a process trains it (its ``summary.json`` names the process), ``incomplete`` when it
stopped before its last step without a result (interrupted, or killed: a ``running`` record whose process is
gone reads as ``incomplete``) and can be resumed, or it ended:

- ``finished`` / ``early-stopped``: a result (``ok``);
- ``diverged``: it ran to its end, but its result is garbage (:mod:`urnn_zoo.runs.divergence`);
- ``stopped: non-finite loss`` / ``stopped: non-finite gradient``: training stopped on a NaN or infinity;
- ``failed``: a comparison could not train it (the error is recorded);
- ``pending``: a comparison has not started it.
"""
from __future__ import annotations

import enum

__all__ = ["RunStatus", "TextEnum"]

# Statuses written by urnn_zoo before the record had a schema, and what they mean now.
_LEGACY = {"interrupted": "incomplete"}


class TextEnum(str, enum.Enum):
    r"""An enum whose members are their text: ``str()``, f-strings and JSON give the value (``enum.StrEnum``
    does this from Python 3.11 on; the project supports 3.10)."""

    __str__ = str.__str__
    __format__ = str.__format__


class RunStatus(TextEnum):
    r"""A run's status; its value is the text written in the record files (``str(status)``)."""

    PENDING = "pending"
    RUNNING = "running"
    INCOMPLETE = "incomplete"
    FINISHED = "finished"
    EARLY_STOPPED = "early-stopped"
    DIVERGED = "diverged"
    STOPPED_LOSS = "stopped: non-finite loss"
    STOPPED_GRADIENT = "stopped: non-finite gradient"
    FAILED = "failed"

    @classmethod
    def parse(cls, text: object) -> "RunStatus":
        r"""The status written as ``text`` (statuses of records without a schema version included).

        Raises:
            ValueError: ``text`` names no status (the message lists them).

        Example:
            >>> RunStatus.parse("interrupted")
            <RunStatus.INCOMPLETE: 'incomplete'>
        """
        if isinstance(text, cls):
            return text
        value = _LEGACY.get(text, text) if isinstance(text, str) else text
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"expected a run status ({', '.join(s.value for s in cls)}), got {text!r}") from None

    @classmethod
    def non_finite(cls, what: str) -> "RunStatus":
        r"""The status of a run stopped by a non-finite ``"loss"`` or ``"gradient"``."""
        return {"loss": cls.STOPPED_LOSS, "gradient": cls.STOPPED_GRADIENT}[what]

    @property
    def ok(self) -> bool:
        r"""A result to tabulate: ``finished`` or ``early-stopped``."""
        return self in (RunStatus.FINISHED, RunStatus.EARLY_STOPPED)

    @property
    def ended(self) -> bool:
        r"""Training is over for good (a comparison reuses the run as it is): ok, diverged or stopped."""
        return self.ok or self in (RunStatus.DIVERGED, RunStatus.STOPPED_LOSS, RunStatus.STOPPED_GRADIENT)

    @property
    def stopped(self) -> bool:
        r"""Stopped by a non-finite loss or gradient."""
        return self in (RunStatus.STOPPED_LOSS, RunStatus.STOPPED_GRADIENT)
