r"""Which sizes a cell family admits, declared on the class (docs/cell-contract.md#errors): the error
:class:`InadmissibleSizeError`, the contract's classmethods :meth:`SizeContract.check_size` and
:meth:`SizeContract.size_rule`, and the checks of a family's keyword options that they share with the registry.

A caller can ask before building (``compare``'s budget search, the timings, the limits table, the benchmarks), and
a cell's ``__init__`` asks the same question, so both give the same error.
"""
from __future__ import annotations

import inspect
from typing import Any

__all__ = ["InadmissibleSizeError", "SizeContract", "check_count"]


class InadmissibleSizeError(ValueError):
    r"""A hidden size N (or a size option that depends on it: KRU's factors, oRNN's m, scoRNN's rho) that a cell
    family does not accept; raised by :meth:`RecurrentCell.check_size` before anything is built.

    Example:
        >>> from urnn_zoo.cells.registry import make_cell
        >>> make_cell("eurnn", 3, 5)
        Traceback (most recent call last):
            ...
        urnn_zoo.cells.base.InadmissibleSizeError: eurnn: hidden_size must be an even int >= 2 (disjoint 2x2 units), got 5
    """


# The error's public home (its name in tracebacks and in docs/cell-contract.md) stays urnn_zoo.cells.base,
# which re-exports it, as numpy names its public objects by their public module.
InadmissibleSizeError.__module__ = "urnn_zoo.cells.base"


def check_count(option: str, meaning: str, value: Any, low: int, hidden_size: int) -> None:
    r"""A size option counting parts of an N-dimensional map (oRNN's reflections, scoRNN's −1 entries): None
    (the family's default) or an int in [``low``, N].

    Raises:
        InadmissibleSizeError: ``value`` is another value (the message names ``option`` and says what it counts).
    """
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= hidden_size):
        raise InadmissibleSizeError(
            f"{option} ({meaning}) must be an int in [{low}, hidden_size={hidden_size}], got {value!r}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _keyword_options(cls: type) -> dict[str, Any]:
    r"""A family's options: the keyword-only arguments of its ``__init__`` with their defaults."""
    params = inspect.signature(cls.__init__).parameters
    skip = {"self", "input_size", "hidden_size", "dtype", "device"}
    return {k: p.default for k, p in params.items() if k not in skip and p.kind is p.KEYWORD_ONLY}


def _reject_unknown(cls: type, accepted: dict[str, Any], options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listed = ", ".join(f"{k}={v!r}" for k, v in accepted.items()) or "none"
        raise ValueError(f"cell {cls.name!r} got unknown option(s) {unknown}; it accepts: {listed}")


class SizeContract:
    r"""The admissible-size part of :class:`~urnn_zoo.cells.contract.RecurrentCell` (which inherits it): a family
    declares its rule by overriding :meth:`size_rule`; :meth:`check_size` runs it with the options' defaults
    filled in."""

    name: str

    @classmethod
    def check_size(cls, hidden_size: int, **options: Any) -> None:
        r"""Raise :class:`InadmissibleSizeError` unless the family accepts N = ``hidden_size`` with ``options``.

        Builds nothing: a caller can ask before building (``compare``'s budget search, the timings, the
        limits table, the benchmarks), and the cell's ``__init__`` asks the same question, so both give the
        same error. Options left out take the ``__init__`` defaults; options that do not bear on the size are
        accepted and ignored. The rule itself is the family's :meth:`size_rule`.

        Args:
            hidden_size: N.
            **options: any of the family's options (:func:`cell_options`).

        Raises:
            InadmissibleSizeError: N is not a positive int, or the family's rule rejects it (one line: what was
                expected, what was given).
            ValueError: an option the family does not have, or a size option that is malformed whatever N is
                (e.g. KRU ``factors`` that are not a list of ints).

        Example:
            >>> from urnn_zoo.cells.registry import cell_class
            >>> cell_class("eurnn_fft").check_size(12)
            Traceback (most recent call last):
                ...
            urnn_zoo.cells.base.InadmissibleSizeError: eurnn_fft: hidden_size must be a power of two >= 2 (FFT style), got 12
        """
        if not _positive_int(hidden_size):
            raise InadmissibleSizeError(f"hidden_size must be a positive int, got {hidden_size!r}")
        defaults = _keyword_options(cls)
        _reject_unknown(cls, defaults, options)
        cls.size_rule(hidden_size, {**defaults, **options})

    @classmethod
    def admits(cls, hidden_size: int, **options: Any) -> bool:
        r"""Whether the family accepts N = ``hidden_size`` with ``options``: :meth:`check_size` as a question.

        Raises:
            ValueError: as :meth:`check_size`, for an unknown or malformed option.

        Example:
            >>> from urnn_zoo.cells.registry import cell_class
            >>> cell_class("eurnn_fft").admits(12), cell_class("eurnn_fft").admits(16)
            (False, True)
        """
        try:
            cls.check_size(hidden_size, **options)
        except InadmissibleSizeError:
            return False
        return True

    @classmethod
    def size_rule(cls, hidden_size: int, options: dict[str, Any]) -> None:
        r"""The family's admissible sizes, declared by overriding this (default: every N >= 1).

        Called by :meth:`check_size` with N already a positive int and ``options`` holding every option of the
        family (defaults filled in). Raises :class:`InadmissibleSizeError` for a size it rejects.
        """
