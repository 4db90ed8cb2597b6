r"""Polyphonic music as 88-key binary piano rolls: music21's Bach chorales (stand-in) and the
Boulanger-Lewandowski pickles.

A piano roll is a bool array of shape (L, 88): ``roll[t, k]`` says whether MIDI note ``21 + k`` (A0..C8)
sounds at time step ``t``.

Sources and splits (deterministic):

- Bach chorales (stand-in): ``music21.corpus.chorales.Iterator()`` (Riemenschneider numbering, 371 scores),
  keeping the 351 four-part ones, sampled at quarter-note steps (as the JSB pickle is): step ``t`` holds the
  notes sounding at offset ``t`` quarter notes, i.e. with ``onset <= t < onset + duration``, so notes shorter
  than a quarter that start off the beat can be missed. Parsing takes ~40 s, so the rolls are cached as
  ``.npz`` in the user cache (:mod:`.cache`). The chorales (in iterator order) are shuffled with
  ``RandomState(SPLIT_SEED)`` and split 60 / 20 / 20 % (round(0.2 n) each for valid and test, the rest
  train): 211 / 70 / 70 for all 351. ``limit`` keeps only the first ``limit`` scores of the iterator (for
  tests and quick runs), split by the same rule.
- Boulanger-Lewandowski pickles (``data_path``: e.g. ``JSB Chorales.pickle``, ``Piano-midi.de.pickle``,
  ``Nottingham.pickle``, ``MuseData.pickle``): a dict with ``"train"``, ``"valid"``, ``"test"``, each a list of
  sequences, each a list of time steps, each a collection of MIDI note numbers in 21..108. Their own splits
  are used. The file is unpickled with a restricted unpickler that accepts only plain containers and
  numbers (and numpy scalars), so a hostile pickle cannot run code.
"""
from __future__ import annotations

import importlib.metadata
import io
import os
import pickle
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .cache import cached_arrays
from .errors import DataFileError

__all__ = ["KEYS", "LOWEST_NOTE", "SPLIT_SEED", "bach_chorales", "load_boulanger_pickle", "music_splits",
           "roll_from_steps"]

KEYS = 88
LOWEST_NOTE = 21
SPLIT_SEED = 1750
SPLITS = ("train", "valid", "test")
_PARTS = 4


def roll_from_steps(steps: Sequence[Sequence[int]]) -> np.ndarray:
    r"""A piano roll from a list of time steps, each a collection of MIDI note numbers in 21..108.

    Args:
        steps: e.g. ``[(60, 64, 67), (), (62,)]``.

    Returns:
        A bool array of shape (len(steps), 88).

    Raises:
        ValueError: a note is not an integer in 21..108.

    Example::

        >>> roll_from_steps([(21, 108), ()]).nonzero()
        (array([0, 0]), array([ 0, 87]))
    """
    roll = np.zeros((len(steps), KEYS), dtype=bool)
    for t, notes in enumerate(steps):
        try:
            ks = [(int(note) - LOWEST_NOTE, note) for note in notes]
        except (TypeError, ValueError):
            raise ValueError(f"time step {t}: expected a collection of MIDI note numbers, got {notes!r}") from None
        for k, note in ks:
            if isinstance(note, (str, bytes, bool)) or k + LOWEST_NOTE != note or not 0 <= k < KEYS:
                raise ValueError(f"time step {t}: expected MIDI note numbers (integers 21..108), got {note!r}")
            roll[t, k] = True
    return roll


def _score_roll(score: Any) -> np.ndarray:
    r"""The quarter-note piano roll of a music21 score (see the module docstring for the sampling rule)."""
    length = int(np.ceil(float(score.highestTime)))
    roll = np.zeros((length, KEYS), dtype=bool)
    for n in score.flatten().notes:
        duration = float(n.quarterLength)
        if duration <= 0:  # grace notes
            continue
        onset = float(n.offset)
        first, stop = int(np.ceil(onset)), int(np.ceil(onset + duration))
        for p in n.pitches:
            k = p.midi - LOWEST_NOTE
            if 0 <= k < KEYS:
                roll[first:stop, k] = True
    return roll


def _parse_chorales(limit: int | None) -> dict[str, np.ndarray]:
    from music21 import corpus

    rolls, names = [], []
    iterator = corpus.chorales.Iterator() if limit is None else corpus.chorales.Iterator(1, limit)
    for score in iterator:
        if len(score.parts) != _PARTS:
            continue
        rolls.append(_score_roll(score))
        names.append(str(score.metadata.corpusFilePath or score.metadata.movementName or len(names)))
    if not rolls:
        raise ValueError(f"no four-part chorale among the first {limit} of music21's chorale iterator")
    return {"rolls": np.concatenate(rolls), "lengths": np.array([len(r) for r in rolls], dtype=np.int64),
            "names": np.array(names, dtype=np.str_)}


def bach_chorales(limit: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    r"""The four-part Bach chorales of music21 as quarter-note piano rolls, parsed once and cached.

    Args:
        limit: read only the first ``limit`` scores of the chorale iterator (``None``: all 371). Each limit
            has its own cache entry.

    Returns:
        ``(rolls, names)``: bool arrays (L, 88) and their corpus paths (e.g. ``"bach/bwv269.mxl"``), in
        iterator order.

    Example::

        >>> rolls, names = bach_chorales(limit=3)
        >>> names[0], rolls[0].shape
        ('bach/bwv269.mxl', (63, 88))
    """
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    try:
        version = importlib.metadata.version("music21")
    except importlib.metadata.PackageNotFoundError:
        raise ImportError("the Bach chorales stand-in needs the 'music21' package, which is not installed") from None
    key = {"music21": version, "limit": limit, "parts": _PARTS, "resolution": "quarter",
           "sampling": "sounding-at-step-v1"}
    name = "bach_chorales_all" if limit is None else f"bach_chorales_limit{limit}"
    arrays = cached_arrays(name, key, lambda: _parse_chorales(limit))
    bounds = np.cumsum(arrays["lengths"])[:-1]
    return list(np.split(arrays["rolls"].astype(bool), bounds)), [str(n) for n in arrays["names"]]


class _SafeUnpickler(pickle.Unpickler):
    r"""Unpickles plain data only: containers and numbers natively, numpy scalars and arrays by name."""

    _allowed = {
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "dtype"), ("numpy", "ndarray"),
        ("_codecs", "encode"),  # protocol-2 pickles of bytes (numpy scalars' payload) written by Python 3
        ("__builtin__", "set"), ("builtins", "set"), ("__builtin__", "frozenset"), ("builtins", "frozenset"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain data is accepted")


def load_boulanger_pickle(path: str | os.PathLike[str]) -> dict[str, list[np.ndarray]]:
    r"""A Boulanger-Lewandowski music pickle as piano rolls, split as the file splits it.

    Args:
        path: e.g. ``"JSB Chorales.pickle"`` (Python 2 pickles load too).

    Returns:
        ``{"train": [...], "valid": [...], "test": [...]}``, each a list of bool arrays (L, 88).

    Raises:
        DataFileError: the file is missing, not a pickle of plain data, or not of the expected structure.

    Example::

        >>> parts = load_boulanger_pickle("~/data/JSB Chorales.pickle")   # doctest: +SKIP
        >>> [len(parts[s]) for s in ("train", "valid", "test")]  # doctest: +SKIP
        [229, 76, 77]
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFileError(path, "file not found (expected a Boulanger-Lewandowski music pickle)")
    try:
        data = _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ... on a damaged or foreign file
        raise DataFileError(path, f"expected a pickle of plain data (dict of lists of note lists): {exc}") from exc
    if not isinstance(data, dict) or not all(s in data for s in SPLITS):
        got = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise DataFileError(path, f"expected a dict with keys 'train', 'valid', 'test', got {got}")
    out: dict[str, list[np.ndarray]] = {}
    for split in SPLITS:
        sequences = data[split]
        if not isinstance(sequences, (list, tuple)) or not sequences:
            raise DataFileError(path, f"{split!r}: expected a non-empty list of sequences, got {type(sequences).__name__}")
        rolls = []
        for i, seq in enumerate(sequences):
            try:
                if not isinstance(seq, (list, tuple)) or len(seq) < 2:
                    raise ValueError("expected a list of at least 2 time steps")
                rolls.append(roll_from_steps(seq))
            except (ValueError, TypeError) as exc:
                raise DataFileError(path, f"{split!r} sequence {i}: {exc}") from exc
        out[split] = rolls
    return out


def music_splits(data_path: str | os.PathLike[str] | None = None,
                 limit: int | None = None) -> dict[str, list[np.ndarray]]:
    r"""Train / valid / test piano rolls: a Boulanger-Lewandowski pickle, or the Bach chorales stand-in.

    Args:
        data_path: a Boulanger-Lewandowski pickle, or ``None`` for the music21 chorales.
        limit: for the stand-in only, parse just the first ``limit`` scores (at least 3 four-part ones are
            needed to fill three splits).

    Returns:
        ``{"train": [...], "valid": [...], "test": [...]}`` lists of bool arrays (L, 88).

    Example::

        >>> parts = music_splits(limit=10)
        >>> [len(parts[s]) for s in ("train", "valid", "test")]
        [6, 2, 2]
    """
    if data_path is not None:
        return load_boulanger_pickle(data_path)
    rolls, _ = bach_chorales(limit)
    n = len(rolls)
    if n < 3:
        raise ValueError(f"need at least 3 four-part chorales to fill train/valid/test, got {n} (limit={limit})")
    n_held = max(1, round(0.2 * n))
    order = np.random.RandomState(SPLIT_SEED).permutation(n)
    picks = {"valid": order[:n_held], "test": order[n_held:2 * n_held], "train": order[2 * n_held:]}
    return {s: [rolls[i] for i in sorted(picks[s])] for s in SPLITS}
