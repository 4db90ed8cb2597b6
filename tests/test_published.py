r"""The published result sets still hold: each run's first recorded numbers are what today's code computes.

A published set (``results/<preset>/``, docs/reproducing.md) is cited by its float32 numbers, so later work (speed
work above all: fused paths, kernels, cached buffers) must keep them. For one seed of every cell, option set, task
and N of every published set, the run is repeated from its own ``config.json`` for its first logged steps, and the
numbers the record holds are compared with the repeat's:

- the validation metrics at step 0 (the initialisation, the data stream and the forward pass);
- the first ``train`` loss row, at step ``log_every`` (the backward pass and the optimizer), where the record says
  those steps took at most :data:`TRAIN_REPLAY_SECONDS` (a run with slower steps is checked at step 0 only,
  which keeps this file to about a minute on two cores).

The expected values are the record's, written by the code of the commit it names; nothing here is computed by the
code under test in advance.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from urnn_zoo import train

RESULTS = Path(__file__).resolve().parent.parent / "results"
TRAIN_REPLAY_SECONDS = 20.0
# float32: on the machine that recorded them the repeats are bit-identical (measured: every difference 0.0). On
# another CPU (another instruction set changes the summation order) rounding differences of ~1e-7 relative grow
# through the first logged steps, but not to 1e-3: a drift above that is a change of the maths, not of rounding.
RTOL = 1e-3


def _published_runs() -> list[Path]:
    r"""One seed (the smallest) of every run configuration in every published set, among its finished runs (a
    set being built holds runs still training)."""
    chosen: dict[tuple, tuple[int, Path]] = {}
    for config_path in sorted(RESULTS.glob("*/*/config.json")):
        summary = config_path.parent / "summary.json"
        if not summary.is_file() or json.loads(summary.read_text()).get("status") != "finished":
            continue
        train_kwargs = json.loads(config_path.read_text())["train"]
        key = (config_path.parent.parent.name,
               json.dumps({k: v for k, v in train_kwargs.items() if k != "seed"}, sort_keys=True))
        if key not in chosen or train_kwargs["seed"] < chosen[key][0]:
            chosen[key] = (train_kwargs["seed"], config_path.parent)
    return sorted(path for _, path in chosen.values())


def _recorded(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("run", _published_runs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_published_run_repeats_its_first_numbers(run: Path, tmp_path: Path) -> None:
    config = json.loads((run / "config.json").read_text())
    kwargs = dict(config["train"])
    rows = _recorded(run)
    first_train = next(r for r in rows if r["split"] == "train")
    replay_training = float(first_train["seconds"]) <= TRAIN_REPLAY_SECONDS
    steps = int(first_train["step"]) if replay_training else 0
    kwargs.update(steps=steps, test_batches=1, checkpoint_every=None, early_stop=None, progress="none")
    threads = torch.get_num_threads()
    torch.set_num_threads(config["environment"]["torch_threads"])
    try:
        repeat = _recorded(train(out=tmp_path, name="repeat", **kwargs).path)
    finally:
        torch.set_num_threads(threads)

    def values(rs, step, split):
        return {r["metric"]: float(r["value"]) for r in rs if int(r["step"]) == step and r["split"] == split}

    expected, got = values(rows, 0, "valid"), values(repeat, 0, "valid")
    assert expected and got.keys() == expected.keys()
    for metric, value in expected.items():
        assert got[metric] == pytest.approx(value, rel=RTOL, abs=1e-9), f"step 0 valid {metric}"
    if replay_training:
        step = int(first_train["step"])
        assert values(repeat, step, "train")["loss"] == pytest.approx(float(first_train["value"]), rel=RTOL), \
            f"train loss at step {step}"
