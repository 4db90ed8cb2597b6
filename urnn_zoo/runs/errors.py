r"""The errors of the run record: a bad record file, an existing run, a resume that cannot happen.

Every message names the file or folder and says what to do (``--resume``, ``--force``); each class derives
from the built-in error the command line already turns into one line and exit status 2 (``ValueError``,
``FileExistsError``, ``FileNotFoundError``).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["NewerRecordError", "RecordError", "ResumeMismatchError", "RunExistsError", "RunNotFoundError"]


class RecordError(ValueError):
    r"""A record file that cannot be read as its schema says: truncated, binary, wrong columns or types, or
    written by a newer version of urnn_zoo.

    Attributes:
        path: the file. problem: what is wrong with it. remedy: what to do about it.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str, remedy: str) -> None:
        self.path, self.problem, self.remedy = Path(path), problem, remedy
        super().__init__(f"{self.path}: {problem}; {remedy}")


class NewerRecordError(RecordError):
    r"""A record file written by a newer version of urnn_zoo (a newer schema): readable only by upgrading, and
    never deleted or overwritten without ``--force``."""


class RunExistsError(FileExistsError):
    r"""The run folder already holds a run and neither ``force`` nor ``resume`` was given."""


class ResumeMismatchError(ValueError):
    r"""``resume`` was asked for a folder whose ``config.json`` differs from the requested run."""


class RunNotFoundError(FileNotFoundError):
    r"""``resume`` was asked for a run folder that does not exist or holds no run."""
