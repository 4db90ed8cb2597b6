r"""BibTeX for every model family of the zoo, and who each registered cell cites.

The entries' facts (authors, titles, venues, volumes, pages) are those of the papers' published versions;
the KRU, uRNN, EURNN, oRNN, expRNN and scoRNN ones match the reference record (``reference/cells.md``
§1–§7), the proceedings pages are those of PMLR and NIPS.

:data:`FAMILIES` maps a registry name to its display name and BibTeX keys; a cell registered later without
an entry here is still reported (under its registry name) and listed as citing nothing.

Example:
    >>> cell_citations("kru_lstm")
    ('jose2018kru', 'hochreiter1997lstm')
    >>> display_name("fcurnn")
    'FC-uRNN'
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

__all__ = ["BIBTEX", "FAMILIES", "Family", "SUITE_BIBTEX", "bibtex_for", "cell_citations", "display_name", "label",
           "references"]

# The suite's own entry: the same title, authors, version and year as the repository's CITATION.cff (a test
# compares them), so that a report's references.bib cites the suite beside the models' papers.
SUITE_BIBTEX = r"""@software{urnn_zoo,
  title   = {urnn\_zoo: unitary and orthogonal recurrent networks behind one interface, property-tested, benchmarked and compared},
  author  = {{The urnn\_zoo contributors}},
  version = {0.1.0},
  year    = {2026},
  license = {MIT},
  note    = {Cite with the papers of the models used}
}"""


class Family(NamedTuple):
    r"""How a registered cell is shown and cited: display name and BibTeX keys (first: its own paper)."""

    display: str
    keys: tuple[str, ...]


BIBTEX: dict[str, str] = {
    "jose2018kru": r"""@inproceedings{jose2018kru,
  title     = {Kronecker Recurrent Units},
  author    = {Jose, Cijo and Ciss{\'e}, Moustapha and Fleuret, Fran{\c{c}}ois},
  booktitle = {Proceedings of the 35th International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {80},
  pages     = {2380--2389},
  year      = {2018},
  publisher = {PMLR},
  url       = {https://proceedings.mlr.press/v80/jose18a.html},
  eprint    = {1705.10142},
  archivePrefix = {arXiv}
}""",
    "arjovsky2016unitary": r"""@inproceedings{arjovsky2016unitary,
  title     = {Unitary Evolution Recurrent Neural Networks},
  author    = {Arjovsky, Martin and Shah, Amar and Bengio, Yoshua},
  booktitle = {Proceedings of the 33rd International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {48},
  pages     = {1120--1128},
  year      = {2016},
  publisher = {PMLR},
  url       = {https://proceedings.mlr.press/v48/arjovsky16.html},
  eprint    = {1511.06464},
  archivePrefix = {arXiv}
}""",
    "wisdom2016full": r"""@inproceedings{wisdom2016full,
  title     = {Full-Capacity Unitary Recurrent Neural Networks},
  author    = {Wisdom, Scott and Powers, Thomas and Hershey, John R. and Le Roux, Jonathan and Atlas, Les},
  booktitle = {Advances in Neural Information Processing Systems 29 (NIPS 2016)},
  pages     = {4880--4888},
  year      = {2016},
  eprint    = {1611.00035},
  archivePrefix = {arXiv}
}""",
    "jing2017eunn": r"""@inproceedings{jing2017eunn,
  title     = {Tunable Efficient Unitary Neural Networks ({EUNN}) and their application to {RNNs}},
  author    = {Jing, Li and Shen, Yichen and Dub{\v{c}}ek, Tena and Peurifoy, John and Skirlo, Scott and
               LeCun, Yann and Tegmark, Max and Solja{\v{c}}i{\'c}, Marin},
  booktitle = {Proceedings of the 34th International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {70},
  pages     = {1733--1741},
  year      = {2017},
  publisher = {PMLR},
  url       = {https://proceedings.mlr.press/v70/jing17a.html},
  eprint    = {1612.05231},
  archivePrefix = {arXiv}
}""",
    "mhammedi2017orthogonal": r"""@inproceedings{mhammedi2017orthogonal,
  title     = {Efficient Orthogonal Parametrisation of Recurrent Neural Networks Using Householder Reflections},
  author    = {Mhammedi, Zakaria and Hellicar, Andrew and Rahman, Ashfaqur and Bailey, James},
  booktitle = {Proceedings of the 34th International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {70},
  pages     = {2401--2409},
  year      = {2017},
  publisher = {PMLR},
  url       = {https://proceedings.mlr.press/v70/mhammedi17a.html},
  eprint    = {1612.00188},
  archivePrefix = {arXiv}
}""",
    "lezcano2019cheap": r"""@inproceedings{lezcano2019cheap,
  title     = {Cheap Orthogonal Constraints in Neural Networks: A Simple Parametrization of the
               Orthogonal and Unitary Group},
  author    = {Lezcano-Casado, Mario and Mart{\'i}nez-Rubio, David},
  booktitle = {Proceedings of the 36th International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {97},
  pages     = {3794--3803},
  year      = {2019},
  publisher = {PMLR},
  url       = {https://proceedings.mlr.press/v97/lezcano-casado19a.html},
  eprint    = {1901.08428},
  archivePrefix = {arXiv}
}""",
    "helfrich2018scornn": r"""@inproceedings{helfrich2018scornn,
  title     = {Orthogonal Recurrent Neural Networks with Scaled {Cayley} Transform},
  author    = {Helfrich, Kyle and Willmott, Devin and Ye, Qiang},
  booktitle = {Proceedings of the 35th International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {80},
  pages     = {1969--1978},
  year      = {2018},
  publisher = {PMLR},
  url       = {https://proceedings.mlr.press/v80/helfrich18a.html},
  eprint    = {1707.09520},
  archivePrefix = {arXiv}
}""",
    "orvieto2023resurrecting": r"""@inproceedings{orvieto2023resurrecting,
  title     = {Resurrecting Recurrent Neural Networks for Long Sequences},
  author    = {Orvieto, Antonio and Smith, Samuel L. and Gu, Albert and Fernando, Anushan and Gulcehre, Caglar and
               Pascanu, Razvan and De, Soham},
  booktitle = {Proceedings of the 40th International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {202},
  pages     = {26670--26698},
  year      = {2023},
  publisher = {PMLR},
  url       = {https://proceedings.mlr.press/v202/orvieto23a.html},
  eprint    = {2303.06349},
  archivePrefix = {arXiv}
}""",
    "kerg2019nonnormal": r"""@inproceedings{kerg2019nonnormal,
  title     = {Non-normal Recurrent Neural Network ({nnRNN}): learning long time dependencies while improving
               expressivity with transient dynamics},
  author    = {Kerg, Giancarlo and Goyette, Kyle and Puelma Touzel, Maximilian and Gidel, Gauthier and
               Vorontsov, Eugene and Bengio, Yoshua and Lajoie, Guillaume},
  booktitle = {Advances in Neural Information Processing Systems 32 (NeurIPS 2019)},
  pages     = {13613--13623},
  year      = {2019},
  url       = {https://proceedings.neurips.cc/paper/2019/hash/9d7099d87947faa8d07a272dd6954b80-Abstract.html},
  eprint    = {1905.12080},
  archivePrefix = {arXiv}
}""",
    "hochreiter1997lstm": r"""@article{hochreiter1997lstm,
  title     = {Long Short-Term Memory},
  author    = {Hochreiter, Sepp and Schmidhuber, J{\"u}rgen},
  journal   = {Neural Computation},
  volume    = {9},
  number    = {8},
  pages     = {1735--1780},
  year      = {1997},
  doi       = {10.1162/neco.1997.9.8.1735}
}""",
    "elman1990finding": r"""@article{elman1990finding,
  title     = {Finding Structure in Time},
  author    = {Elman, Jeffrey L.},
  journal   = {Cognitive Science},
  volume    = {14},
  number    = {2},
  pages     = {179--211},
  year      = {1990},
  doi       = {10.1207/s15516709cog1402_1}
}""",
}

FAMILIES: dict[str, Family] = {
    "kru": Family("KRU", ("jose2018kru",)),
    "kru_lstm": Family("KRU-LSTM", ("jose2018kru", "hochreiter1997lstm")),
    "fcurnn": Family("FC-uRNN", ("wisdom2016full",)),
    "rcurnn": Family("RC-uRNN", ("arjovsky2016unitary",)),
    "eurnn": Family("EURNN (tunable)", ("jing2017eunn",)),
    "eurnn_fft": Family("EURNN (FFT-style)", ("jing2017eunn",)),
    "ornn": Family("oRNN", ("mhammedi2017orthogonal",)),
    "exprnn": Family("expRNN", ("lezcano2019cheap",)),
    "scornn": Family("scoRNN", ("helfrich2018scornn",)),
    "nnrnn": Family("nnRNN", ("kerg2019nonnormal",)),
    "lru": Family("LRU", ("orvieto2023resurrecting",)),
    "lstm": Family("LSTM", ("hochreiter1997lstm",)),
    "rnn": Family("RNN", ("elman1990finding",)),
}


def display_name(cell: str) -> str:
    r"""The paper's name for a registered cell (``"fcurnn"`` -> ``"FC-uRNN"``); the registry name if unknown."""
    family = FAMILIES.get(cell)
    return family.display if family else cell


def label(cell: str) -> str:
    r"""How tables and legends name a cell: the registry name, then the display name in parentheses.

    Example:
        >>> label("fcurnn"), label("some_new_cell")
        ('fcurnn (FC-uRNN)', 'some_new_cell')
    """
    shown = display_name(cell)
    return cell if shown == cell else f"{cell} ({shown})"


def cell_citations(cell: str) -> tuple[str, ...]:
    r"""BibTeX keys a cell cites (empty for a cell without an entry)."""
    family = FAMILIES.get(cell)
    return family.keys if family else ()


def bibtex_for(cells: Iterable[str]) -> str:
    r"""The BibTeX entries cited by ``cells``, each once: KRU's first, then in the order of :data:`BIBTEX`.

    Args:
        cells: registry names.

    Returns:
        The entries joined by blank lines (empty string when none cites anything).
    """
    cited = {k for cell in cells for k in cell_citations(cell)}
    keys = [k for k in BIBTEX if k in cited]
    return "\n\n".join(BIBTEX[k] for k in keys) + ("\n" if keys else "")


def references(cells: Iterable[str]) -> str:
    r"""A report's ``references.bib``: the suite's own entry (:data:`SUITE_BIBTEX`), then :func:`bibtex_for`."""
    entries = bibtex_for(cells)
    return SUITE_BIBTEX + ("\n\n" + entries if entries else "\n")
