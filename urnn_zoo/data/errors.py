r"""The error raised for a data file that is missing or not in the expected format."""
from __future__ import annotations

from os import PathLike

__all__ = ["DataFileError"]


class DataFileError(ValueError):
    r"""A data file (or folder) is missing or malformed.

    The message names the file and says what was expected and what was found. It subclasses
    :class:`ValueError`, so ``except ValueError`` also catches it.

    Args:
        path: the offending file or folder.
        problem: what was expected and what was found.

    Example::

        >>> raise DataFileError("/data/mnist.npz", "expected arrays x_train, y_train, x_test, y_test")
        Traceback (most recent call last):
        ...
        urnn_zoo.data.errors.DataFileError: /data/mnist.npz: expected arrays x_train, y_train, x_test, y_test
    """

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
