r"""Validators of command-line and Python-API argument values, run before any work is done.

Each validator takes the text argparse hands to a ``type=`` callable (or, through :func:`check`, a Python
value), returns the value converted, and raises :class:`argparse.ArgumentTypeError` with a one-line message
``expected ..., got ...`` when the value is outside the accepted set. argparse turns that into
``urnn-zoo train: error: argument --clip: expected a finite number > 0, got '-1'`` and exit status 2.

Example::

    parser.add_argument("--steps", type=nonnegative_int)
    check(steps, nonnegative_int, "steps")          # Python API: ValueError("steps: expected ...")

Validators with a parameter are built by a factory: :func:`int_at_least`, :func:`float_in`,
:func:`one_of`.

Hand-written on purpose: argparse has no range, device or path types, and the libraries that do (click's
``IntRange``/``Path``, pydantic's constrained types) would bring a second command-line framework or a model
layer for a dozen small checks, and would not give the ``expected ..., got ...`` message argparse prints.
"""
from __future__ import annotations

import argparse
import contextvars
import functools
import math
import numbers
import os
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

__all__ = [
    "MAX_NAME_CHARS", "SEED_LIMIT", "boolean", "cell_name", "check", "device", "existing_dir", "existing_path",
    "finite_float", "float_in", "int_at_least", "nonnegative_float", "nonnegative_int", "one_of", "output_dir",
    "output_file", "positive_float", "positive_int", "probability", "run_name", "seed", "task_name",
]

T = TypeVar("T")
MAX_NAME_CHARS = 200
_NAME_MAX_BYTES = 255  # NAME_MAX of Linux/macOS file systems: longest single path component in bytes
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
SEED_LIMIT = 2**64  # torch.manual_seed takes seeds below 2**64


# Set by :func:`check`: the value is a Python value, so a number must be a number, not its text.
_PYTHON_VALUES: contextvars.ContextVar[bool] = contextvars.ContextVar("python_values", default=False)


def _fail(expected: str, got: Any, why: str = "") -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"expected {expected}, got {got!r}" + (f" ({why})" if why else ""))


def check(value: Any, validator: Callable[[Any], T], what: str) -> T:
    r"""Apply a validator of this module to a Python value: the converted value, or ``ValueError`` naming
    ``what``. Numbers must be numbers here: the text ``"3"`` is refused where a number is expected (the
    command line's texts go through the validators directly, as argparse ``type=``).

    Args:
        value: the value to check (a Python value or a command-line text).
        validator: a function of this module (``positive_int``, ``device``, ...).
        what: the argument's name, put first in the message (e.g. ``"eval_batches"``).

    Raises:
        ValueError: ``"{what}: expected ..., got ..."`` when the validator rejects the value.

    Example:
        >>> check(3, positive_int, "steps")
        3
        >>> check(-1, positive_int, "steps")
        Traceback (most recent call last):
        ...
        ValueError: steps: expected an integer > 0, got -1
    """
    token = _PYTHON_VALUES.set(True)
    try:
        return validator(value)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"{what}: {exc}") from None
    finally:
        _PYTHON_VALUES.reset(token)


# ----------------------------------------------------------------------------------------- numbers
def _as_int(value: Any, expected: str) -> int:
    if isinstance(value, str) and not _PYTHON_VALUES.get():
        if not value.isascii() or not _INT_TEXT.fullmatch(value.strip()):  # int() also takes "١٢" and "1_0"
            raise _fail(expected, value)
        return int(value.strip())
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    raise _fail(expected, value)


def int_at_least(low: int) -> Callable[[Any], int]:
    r"""A validator of integers ``>= low``: decimal text (``"12"``, ``"+3"``) or a Python int (not a bool).

    Example:
        >>> int_at_least(2)("2")
        2
    """
    expected = f"an integer >= {low}" if low not in (0, 1) else ("an integer >= 0" if low == 0 else
                                                                 "an integer > 0")

    def validate(value: Any) -> int:
        k = _as_int(value, expected)
        if k < low:
            raise _fail(expected, value)
        return k

    validate.__name__ = f"int_at_least_{low}"
    return validate


positive_int = int_at_least(1)
positive_int.__name__ = "positive_int"
positive_int.__doc__ = r"""An integer > 0 (a count, a size, a number of steps per ...)."""
nonnegative_int = int_at_least(0)
nonnegative_int.__name__ = "nonnegative_int"
nonnegative_int.__doc__ = r"""An integer >= 0."""


def seed(value: Any) -> int:
    r"""A seed: an integer in ``[0, 2**64)`` (the range :func:`torch.manual_seed` accepts)."""
    k = _as_int(value, "a seed: an integer in [0, 2**64)")
    if not 0 <= k < SEED_LIMIT:
        raise _fail("a seed: an integer in [0, 2**64)", value)
    return k


def _as_float(value: Any, expected: str) -> float:
    if isinstance(value, str) and not _PYTHON_VALUES.get():
        if not value.isascii() or "_" in value:  # float() also takes "١٫٥" and "1_0"
            raise _fail(expected, value)
        try:
            x = float(value)
        except ValueError:
            raise _fail(expected, value) from None
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        x = float(value)
    else:
        raise _fail(expected, value)
    if not math.isfinite(x):
        raise _fail(expected, value)
    return x


def float_in(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False
             ) -> Callable[[Any], float]:
    r"""A validator of finite real numbers in an interval (``low_open``/``high_open``: exclude the bound).

    Text is read by :class:`float` (``"1e-3"``, ``"0.5"``); ``nan`` and ``inf`` are rejected.

    Example:
        >>> float_in(0, 1, high_open=True)("0.9")
        0.9
    """
    left, right = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
    if low == -math.inf and high == math.inf:
        expected = "a finite number"
    elif high == math.inf:
        expected = f"a finite number {'>' if low_open else '>='} {low:g}"
    else:
        expected = f"a number in {left}{low:g}, {high:g}{right}"

    def validate(value: Any) -> float:
        x = _as_float(value, expected)
        if x < low or (low_open and x == low) or x > high or (high_open and x == high):
            raise _fail(expected, value)
        return x

    validate.__name__ = f"float_in_{left}{low:g}_{high:g}{right}"
    return validate


positive_float = float_in(0.0, low_open=True)
positive_float.__name__ = "positive_float"
positive_float.__doc__ = r"""A finite number > 0 (a learning rate, a clipping norm)."""
nonnegative_float = float_in(0.0)
nonnegative_float.__name__ = "nonnegative_float"
nonnegative_float.__doc__ = r"""A finite number >= 0 (a penalty weight)."""
finite_float = float_in(-math.inf)
finite_float.__name__ = "finite_float"
finite_float.__doc__ = r"""Any finite real number (an initial bias)."""
probability = float_in(0.0, 1.0)
probability.__name__ = "probability"
probability.__doc__ = r"""A number in [0, 1]."""


def boolean(value: Any) -> bool:
    r"""``True`` or ``False`` (a Python or numpy bool; not ``0``/``1`` and not text, so that an option written
    ``flag=false`` on a command line, read as the text ``'false'``, is refused instead of taken as true)."""
    kind = type(value)
    if isinstance(value, bool) or (kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")):
        return bool(value)
    raise _fail("True or False", value)


# ----------------------------------------------------------------------------------------- names
def one_of(choices: Callable[[], Iterable[str]] | Iterable[str], what: str) -> Callable[[Any], str]:
    r"""A validator of a name from a list; ``choices`` may be a function, called only when a value is checked
    (so that a registry is imported lazily).

    Example:
        >>> one_of(("cpu", "cuda"), "device")("cpu")
        'cpu'
    """
    def validate(value: Any) -> str:
        names = tuple(choices() if callable(choices) else choices)
        if not isinstance(value, str) or value not in names:
            raise _fail(f"{what} (one of {', '.join(names)})", value)
        return value

    validate.__name__ = f"one_of_{what.replace(' ', '_')}"
    return validate


def cell_name(value: Any) -> str:
    r"""A registered cell name (:func:`urnn_zoo.cell_names`); the registry is imported on the first check."""
    from urnn_zoo.cells.base import cell_class

    if not isinstance(value, str):
        raise _fail("a cell name", value)
    try:
        cell_class(value)
    except ValueError as exc:  # "unknown cell 'x'; expected one of ..."
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def task_name(value: Any) -> str:
    r"""A registered task name (:func:`urnn_zoo.task_names`)."""
    from urnn_zoo.tasks.base import task_names

    return one_of(task_names, "a task")(value)


def device(value: Any) -> str:
    r"""A torch device name: ``"cpu"``, ``"cuda"``, ``"cuda:K"`` or ``"auto"`` (CUDA when torch sees a CUDA
    device, else CPU); returns the name, ``"auto"`` resolved.

    Raises:
        argparse.ArgumentTypeError: another name, or CUDA when torch sees no CUDA device, or ``K`` not below
            the number of CUDA devices (the message says how many torch sees).
    """
    import torch

    expected = "a device: cpu, cuda, cuda:K or auto"
    if not isinstance(value, (str, torch.device)):
        raise _fail(expected, value)
    text = str(value)
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return text
    match = re.fullmatch(r"cuda(?::(0|[1-9][0-9]*))?", text)
    if match is None:
        raise _fail(expected, value)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise _fail("cpu or auto", value, "torch sees no CUDA device")
    if match.group(1) is not None and int(match.group(1)) >= count:
        raise _fail(f"cuda or cuda:K with K < {count}", value, f"torch sees {count} CUDA device{'s' * (count > 1)}")
    return text


def run_name(value: Any) -> str:
    r"""A name that becomes one folder name: not empty, not ``.`` or ``..``, no ``/``, ``\``, NUL or other
    control character, at most ``MAX_NAME_CHARS`` (200) characters and 255 bytes in the file-system encoding.
    """
    expected = (f"a name of 1 to {MAX_NAME_CHARS} characters without '/', '\\' or control characters, "
                "not '.' or '..'")
    if not isinstance(value, str) or not value or value in (".", ".."):
        raise _fail(expected, value)
    if len(value) > MAX_NAME_CHARS:
        raise _fail(expected, value, f"{len(value)} characters")
    if any(c in "/\\" or unicodedata.category(c) == "Cc" for c in value):  # Cc: NUL, \n, \t, DEL, C1 ...
        raise _fail(expected, value)
    try:
        encoded = os.fsencode(value)
    except UnicodeError:  # a lone surrogate the file-system encoding cannot write
        raise _fail(f"{expected}, encodable in {sys.getfilesystemencoding()}", value) from None
    if len(encoded) > _NAME_MAX_BYTES:
        raise _fail(f"a name of at most {_NAME_MAX_BYTES} bytes in {sys.getfilesystemencoding()}", value,
                    f"{len(encoded)} bytes")
    return value


# ----------------------------------------------------------------------------------------- paths
def _os_errors_refused(validator: Callable[[Any], Path]) -> Callable[[Any], Path]:
    r"""Turn an ``OSError`` raised while looking at the path (a name too long, a loop of links) into the
    validator's refusal."""
    @functools.wraps(validator)
    def validate(value: Any) -> Path:
        try:
            return validator(value)
        except OSError as exc:
            raise _fail("a usable path", value, exc.strerror or type(exc).__name__) from None

    return validate


def _as_path(value: Any, expected: str) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, (str, os.PathLike)) and str(value) != "" and "\0" not in str(value):
        return Path(value)
    raise _fail(expected, value)


@_os_errors_refused
def existing_dir(value: Any) -> Path:
    r"""An existing folder; returns it as a :class:`~pathlib.Path`."""
    path = _as_path(value, "an existing folder")
    if not path.is_dir():
        raise _fail("an existing folder", value, "a file" if path.exists() else "it does not exist")
    return path


@_os_errors_refused
def existing_path(value: Any) -> Path:
    r"""An existing file or folder; returns it as a :class:`~pathlib.Path`."""
    path = _as_path(value, "an existing file or folder")
    if not path.exists():
        raise _fail("an existing file or folder", value, "it does not exist")
    return path


def _blocking_file(path: Path) -> Path | None:
    r"""The first existing non-folder among the ancestors of ``path`` (it would make ``mkdir`` fail)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _unwritable(path: Path) -> Path | None:
    r"""The nearest existing ancestor of ``path`` (or ``path``) when the user may not write into it."""
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    return existing if existing is not None and not os.access(existing, os.W_OK | os.X_OK) else None


# Note [Paths with ..]
# ``new/../f`` does not exist while ``new`` is missing, but names ``f`` once ``mkdir -p`` has made ``new``.
# :func:`os.path.realpath` resolves the existing part (links included) and the missing tail lexically,
# which is what the made folders (real folders, never links) will give; so the checks run on the path as
# written and as resolved. A file path can also name a folder that its own ``mkdir -p`` makes
# (``new/../new``): its resolution is then one of its resolved parents.
def _as_made(path: Path) -> list[Path]:
    r"""``path`` as written and as it will resolve once its missing folders exist (Note [Paths with ..])."""
    return [path, Path(os.path.realpath(path))]


@_os_errors_refused
def output_dir(value: Any) -> Path:
    r"""A folder to write into: an existing folder, or a path that can be created (no file on the way, and the
    nearest existing folder writable)."""
    expected = "a folder to write into (an existing folder or a new path)"
    path = _as_path(value, expected)
    for target in _as_made(path):
        if target.exists() and not target.is_dir():
            raise _fail(expected, value, f"{target} is a file" if target != path else "a file")
        blocking = _blocking_file(target)
        if blocking is not None:
            raise _fail(expected, value, f"{blocking} is a file")
        locked = _unwritable(target)
        if locked is not None:
            raise _fail(expected, value, f"{locked} is not writable")
    return path


@_os_errors_refused
def output_file(value: Any) -> Path:
    r"""A file to write: not an existing folder, no file among its parents, its folder writable. Whether an
    existing file may be overwritten is the caller's decision (a ``--force`` flag)."""
    expected = "a file path to write (not a folder)"
    path = _as_path(value, expected)
    if str(value).endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise _fail(expected, value, "a folder")
    if Path(os.path.realpath(path)) in {Path(os.path.realpath(p)) for p in path.parents}:
        raise _fail(expected, value, "a folder its own parents make")
    for target in _as_made(path):
        if target.is_dir():
            raise _fail(expected, value, "a folder" if target == path else f"{target} is a folder")
        blocking = _blocking_file(target)
        if blocking is not None:
            raise _fail(expected, value, f"{blocking} is a file")
        locked = _unwritable(target.parent)
        if locked is not None:
            raise _fail(expected, value, f"{locked} is not writable")
    return path
