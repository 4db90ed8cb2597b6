"""Training (urnn_zoo.training): learning is real on every task, resume is exact, run folders are safe.

The per-task learning runs are short seeded runs (seconds each on one core) of a cell that learns the task
quickly at a small size; each must end clearly below the task's memoryless baseline.
"""
import csv
import signal

import pytest
import torch

from urnn_zoo import training
from urnn_zoo.runs import RunStatus
from urnn_zoo.tasks.adding import AddingTask
from urnn_zoo.training import (
    ResumeMismatchError,
    RunExistsError,
    RunNotFoundError,
    _make_optimizers,
    load_config,
    load_summary,
    run_name,
    train,
)
from urnn_zoo.runs import load_checkpoint
from urnn_zoo.tasks.base import make_task
from urnn_zoo.cells.base import cell_names

QUIET = dict(progress="none")


def rows(path):
    with open(path / "metrics.csv", newline="") as f:
        return [(int(r["step"]), r["split"], r["metric"], float(r["value"])) for r in csv.DictReader(f)]


def model_state(path):
    return torch.load(path / "checkpoint.pt", weights_only=True)["model"]


# ------------------------------------------------------------------------------------------ learning is real
# (task, cell, train kwargs, metric, bound as a fraction of the baseline)
LEARNING = [
    ("copy", "kru", dict(hidden=32, steps=300, lr=1e-2, clip=1.0, task_options={"T": 5}), "loss", 0.3),
    ("adding", "lstm", dict(hidden=32, steps=300, lr=1e-2, optimizer="adam", task_options={"T": 10}), "mse", 0.3),
    ("smnist", "lstm", dict(hidden=32, steps=200, lr=1e-2, task_options={"digits": "digits8x8"}), "loss", 0.8),
    ("pmnist", "lstm", dict(hidden=32, steps=200, lr=1e-2, task_options={"digits": "digits8x8"}), "loss", 0.8),
    ("charlm", "lstm", dict(hidden=64, steps=150, lr=1e-2, task_options={"window": 20}), "bpc", 0.8),
    ("music", "rnn", dict(hidden=32, steps=300, lr=3e-3, batch_size=10, task_options={"limit": 20}), "nll", 0.93),
]


@pytest.mark.slow
@pytest.mark.parametrize("task, cell, kwargs, metric, fraction", LEARNING, ids=[t[0] for t in LEARNING])
def test_short_run_beats_the_memoryless_baseline(tmp_path, task, cell, kwargs, metric, fraction):
    result = train(cell, task, out=tmp_path, seed=0, eval_every=100, eval_batches=4, test_batches=10,
                   **kwargs, **QUIET)
    s = result.summary
    assert s["status"] == "finished" and s["steps_done"] == kwargs["steps"]
    assert s["final"][metric] < fraction * s["baseline"][metric], (s["final"], s["baseline"])
    if "accuracy" in s["final"]:
        assert s["final"]["accuracy"] > 2 * s["baseline"]["accuracy"]


# ------------------------------------------------------------------------------------------ exact resume
RESUME = [
    ("kru", "copy", dict(task_options={"T": 3}, hidden=8)),  # soft cell: penalty, complex parameters
    ("fcurnn", "adding", dict(task_options={"T": 6}, hidden=4, cell_options={"parametrization": "none"})),
    ("lstm", "smnist", dict(task_options={"digits": "digits8x8"}, hidden=8)),  # epochs of a finite split
]


@pytest.mark.parametrize("cell, task, kwargs", RESUME, ids=[r[0] for r in RESUME])
def test_resumed_run_reproduces_an_uninterrupted_one(tmp_path, cell, task, kwargs):
    common = dict(seed=3, lr=1e-2, constrained_lr=1e-2, batch_size=8, eval_every=10, log_every=5,
                  eval_batches=2, test_batches=2, **kwargs, **QUIET)
    whole = train(cell, task, out=tmp_path / "a", steps=40, **common)
    train(cell, task, out=tmp_path / "b", steps=20, **common)
    resumed = train(cell, task, out=tmp_path / "b", steps=40, resume=True, **common)
    assert rows(resumed.path) == rows(whole.path)
    a, b = model_state(whole.path), model_state(resumed.path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.summary["final"] == whole.summary["final"]
    assert resumed.summary["steps_done"] == 40


@pytest.mark.cuda
def test_resume_on_cuda_is_exact(tmp_path):
    common = dict(seed=2, hidden=8, lr=1e-2, batch_size=8, eval_every=5, eval_batches=1, test_batches=1,
                  task_options={"T": 4}, device="cuda", **QUIET)
    whole = train("kru", "copy", out=tmp_path / "a", steps=10, **common)
    train("kru", "copy", out=tmp_path / "b", steps=5, **common)
    resumed = train("kru", "copy", out=tmp_path / "b", steps=10, resume=True, **common)
    assert rows(resumed.path) == rows(whole.path)


def test_resume_after_an_interruption_drops_rows_past_the_checkpoint(tmp_path, monkeypatch):
    common = dict(seed=1, hidden=8, lr=1e-2, batch_size=8, eval_every=10, log_every=2, eval_batches=2,
                  test_batches=2, steps=30, task_options={"T": 6}, **QUIET)
    whole = train("lstm", "adding", out=tmp_path / "a", **common)
    original, calls = AddingTask.loss, [0]

    def interrupt_at_step_25(self, outputs, targets):
        if torch.is_grad_enabled():
            calls[0] += 1
            if calls[0] == 25:
                raise KeyboardInterrupt
        return original(self, outputs, targets)

    monkeypatch.setattr(AddingTask, "loss", interrupt_at_step_25)
    with pytest.raises(KeyboardInterrupt):
        train("lstm", "adding", out=tmp_path / "b", **common)
    folder = whole.path.parent.parent / "b" / whole.path.name
    interrupted = load_summary(folder)
    assert interrupted["status"] == "incomplete" and "--resume" in interrupted["message"]
    assert "step 24" in interrupted["message"] and "checkpoint is at step 20" in interrupted["message"]
    assert max(r[0] for r in rows(folder)) == 24  # rows past the checkpoint (step 20), dropped on resume
    monkeypatch.setattr(AddingTask, "loss", original)
    resumed = train("lstm", "adding", out=tmp_path / "b", resume=True, **common)
    assert rows(resumed.path) == rows(whole.path)


def test_a_second_ctrl_c_during_the_interrupted_write_still_leaves_the_run_incomplete(tmp_path, monkeypatch):
    r"""A cluster job gets SIGINT twice (the terminal's Ctrl-C, then the cancel): the second, arriving while the
    interrupted run writes its summary, must not leave the run marked running by a process no longer training it."""
    common = dict(seed=1, hidden=8, lr=1e-2, batch_size=8, eval_every=10, log_every=2, eval_batches=2,
                  test_batches=2, steps=30, task_options={"T": 6}, **QUIET)
    original, calls, sent = AddingTask.loss, [0], []

    def interrupt_at_step_25(self, outputs, targets):
        if torch.is_grad_enabled():
            calls[0] += 1
            if calls[0] == 25:
                raise KeyboardInterrupt
        return original(self, outputs, targets)

    write = training._Run.write_summary

    def second_ctrl_c(self, *args, **kwargs):
        if self.status is RunStatus.INCOMPLETE and not sent:
            sent.append(True)
            signal.raise_signal(signal.SIGINT)
        return write(self, *args, **kwargs)

    monkeypatch.setattr(AddingTask, "loss", interrupt_at_step_25)
    monkeypatch.setattr(training._Run, "write_summary", second_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            train("lstm", "adding", out=tmp_path, **common)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent
    summary = load_summary(tmp_path / "lstm-adding-T6-N8-s1")
    assert summary["status"] == "incomplete" and "step 24" in summary["message"]


# ------------------------------------------------------------------------------------------ the run folder
def test_run_folder_layout(tmp_path):
    result = train("kru", "copy", out=tmp_path, hidden=8, steps=20, eval_every=10, log_every=5, eval_batches=2,
                   test_batches=2, batch_size=4, task_options={"T": 4}, **QUIET)
    assert result.path == tmp_path / "kru-copy-T4-N8-s0"
    assert sorted(p.name for p in result.path.iterdir()) == ["checkpoint.pt", "config.json", "metrics.csv",
                                                            "summary.json"]
    cfg = load_config(result.path)
    assert cfg["train"]["task_options"] == {"T": 4, "form": "arjovsky"}
    assert cfg["train"]["cell_options"]["init"] == "unitary"  # defaults filled in
    assert {"torch", "numpy", "urnn_zoo"} <= set(cfg["environment"]["versions"])
    assert {"python", "commit", "platform", "torch_threads"} <= set(cfg["environment"])
    assert cfg["schema"] == 1
    s = load_summary(result.path)
    assert s == result.summary
    assert (s["cell"], s["task"], s["status"], s["steps_done"]) == ("kru", "copy", "finished", 20)
    assert set(s["final"]) == set(s["baseline"]) == {"loss", "accuracy"}
    assert s["parameters"]["stored"] > s["cell_parameters"]["stored"]  # the readout head is counted
    assert s["data_source"] and s["seconds"] > 0
    table = rows(result.path)
    splits = {(split, metric) for _, split, metric, _ in table}
    assert {("train", "loss"), ("valid", "loss"), ("valid", "accuracy"), ("test", "loss"),
            ("model", "unitarity_error"), ("model", "penalty")} <= splits
    assert sorted({step for step, split, _, _ in table if split == "valid"}) == [0, 10, 20]
    # Rerunning from config.json gives the same numbers.
    again = train(**cfg["train"], out=tmp_path / "again", **QUIET)
    assert again.summary["final"] == s["final"]


def test_existing_folder_needs_force_or_resume(tmp_path):
    kwargs = dict(out=tmp_path, hidden=4, steps=2, eval_every=1, eval_batches=1, test_batches=1, batch_size=2,
                  task_options={"T": 3}, **QUIET)
    first = train("rnn", "adding", **kwargs)
    with pytest.raises(RunExistsError, match="--force.*--resume") as info:
        train("rnn", "adding", **kwargs)
    assert str(first.path) in str(info.value)
    with pytest.raises(ResumeMismatchError, match=r"lr.*0\.001.*0\.5"):
        train("rnn", "adding", resume=True, **{**kwargs, "lr": 0.5})
    forced = train("rnn", "adding", force=True, **{**kwargs, "lr": 0.5})
    assert load_config(forced.path)["train"]["lr"] == 0.5
    # Resuming a finished run with more steps trains further.
    longer = train("rnn", "adding", resume=True, **{**kwargs, "lr": 0.5, "steps": 4})
    assert longer.summary["steps_done"] == 4


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    original, calls = AddingTask.loss, [0]

    def nan_at_step_7(self, outputs, targets):
        loss = original(self, outputs, targets)
        if torch.is_grad_enabled():
            calls[0] += 1
            if calls[0] >= 7:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(AddingTask, "loss", nan_at_step_7)
    result = train("lstm", "adding", out=tmp_path, hidden=4, steps=20, eval_every=5, eval_batches=1,
                   test_batches=1, batch_size=2, task_options={"T": 3}, **QUIET)
    s = result.summary
    assert s["status"] == "stopped: non-finite loss"
    assert s["stopped_at"] == 7 and s["steps_done"] == 6 and s["final_step"] == 5
    assert "step 7" in s["message"] and "after 6 steps" in s["message"] and "(step 5)" in s["message"]
    assert all(torch.isfinite(v).all() for v in model_state(result.path).values())
    assert load_checkpoint(result.path).loop.step == 5
    # The test rows carry the step of the model tested (the checkpoint's), not the step training stopped at.
    assert {step for step, split, _, _ in rows(result.path) if split == "test"} == {5}
    assert s["final"]["mse"] == s["final"]["mse"]  # tested on the checkpoint's finite model


def test_early_stopping_tests_the_best_model(tmp_path):
    # lr = 0: the validation value never improves on the first evaluation.
    result = train("rnn", "adding", out=tmp_path, hidden=4, steps=100, lr=0.0, eval_every=5, eval_batches=1,
                   test_batches=1, batch_size=2, early_stop=2, task_options={"T": 3}, **QUIET)
    s = result.summary
    assert s["status"] == "early-stopped" and s["steps_done"] == 10
    assert s["tested"] == "best-valid" and s["final_step"] == 0


def test_learning_rate_groups_and_the_cayley_step(tmp_path):
    torch.manual_seed(0)
    import urnn_zoo as uz

    base = dict(optimizer="rmsprop", lr=1e-3, constrained_lr=1e-5, alpha=0.9)
    exact = uz.SequenceModel(uz.make_cell("fcurnn", 2, 4), 1)
    main, cayley = _make_optimizers(exact, base)
    assert cayley is None and sorted(g["lr"] for g in main.param_groups) == [1e-5, 1e-3]
    soft = uz.SequenceModel(uz.make_cell("kru", 2, 4), 1)
    main, cayley = _make_optimizers(soft, base)
    assert [g["lr"] for g in main.param_groups] == [1e-3]  # soft KRU factors use the main lr
    main, _ = _make_optimizers(soft, {**base, "recurrent_lr": 1e-5})  # ... unless given their own
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in main.param_groups}
    assert by_lr[1e-5] == {id(p) for p in soft.cell.factors}
    assert by_lr[1e-3] == {id(p) for p in soft.parameters()} - by_lr[1e-5]
    main, _ = _make_optimizers(exact, {**base, "recurrent_lr": 1e-5})  # no soft parameters: no such group
    assert sorted(g["lr"] for g in main.param_groups) == [1e-5, 1e-3]
    raw = uz.SequenceModel(uz.make_cell("fcurnn", 2, 4, parametrization="none"), 1)
    main, cayley = _make_optimizers(raw, {**base, "optimizer": "adam"})
    assert cayley is not None and isinstance(main, torch.optim.Adam)
    assert all(p is not raw.cell.weight for g in main.param_groups for p in g["params"])
    with pytest.raises(ValueError, match="cayley"):
        _make_optimizers(soft, {**base, "optimizer": "cayley"})
    # A Cayley-trained run stays unitary.
    result = train("fcurnn", "adding", out=tmp_path, hidden=8, steps=20, lr=1e-2, constrained_lr=1e-2,
                   optimizer="cayley", eval_every=10, eval_batches=1, test_batches=1, batch_size=4,
                   task_options={"T": 5}, cell_options={"parametrization": "none"}, dtype="float64", **QUIET)
    assert result.summary["unitarity_error"] < 1e-12


def test_run_name_and_argument_errors(tmp_path):
    assert run_name("kru", make_task("copy", T=100), 128, 0) == "kru-copy-T100-N128-s0"
    assert run_name("lstm", make_task("smnist", digits="digits8x8"), 64, 2) == "lstm-smnist-digits8x8-N64-s2"
    assert run_name("fcurnn", make_task("adding", T=50), 16, 0, {"parametrization": "none"}) == \
        "fcurnn-parametrization=none-adding-T50-N16-s0"
    assert run_name("lstm", make_task("charlm", window=20), 8, 0) == "lstm-charlm-window20-N8-s0"
    with pytest.raises(ValueError, match="optimizer"):
        train("rnn", "adding", out=tmp_path, optimizer="sgd")
    with pytest.raises(ValueError, match="unknown option"):
        train("rnn", "adding", out=tmp_path, cell_options={"capacity": 2}, steps=1)
    with pytest.raises(ValueError, match="task: expected a registered task"):
        train("rnn", "nope", out=tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(FileNotFoundError, match="summary.json"):
        load_summary(tmp_path)


def test_resume_of_a_run_that_does_not_exist_names_the_folder(tmp_path):
    with pytest.raises(RunNotFoundError, match=r"cannot resume .*nope: there is no such run folder.*--resume"):
        train("rnn", "adding", out=tmp_path, name="nope", steps=2, resume=True, task_options={"T": 3}, **QUIET)
    assert not (tmp_path / "nope").exists()


def test_a_run_that_failed_before_its_first_checkpoint_does_not_block_a_rerun(tmp_path, monkeypatch):
    kwargs = dict(out=tmp_path, hidden=4, steps=2, eval_every=1, eval_batches=1, test_batches=1, batch_size=2,
                  task_options={"T": 3}, **QUIET)

    def broken(self, outputs, targets):
        raise RuntimeError("the evaluation broke")

    monkeypatch.setattr(AddingTask, "metrics", broken)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        train("rnn", "adding", **kwargs)
    folder = tmp_path / "rnn-adding-T3-N4-s0"
    assert folder.is_dir() and not (folder / "checkpoint.pt").exists()  # what the failure left
    monkeypatch.undo()
    result = train("rnn", "adding", **kwargs)  # no --force needed: there was nothing to keep
    assert result.summary["status"] == "finished"


@pytest.mark.parametrize("name", cell_names())
def test_constrained_parameters_are_recurrent_and_all_of_an_exact_cells(name):
    import urnn_zoo as uz

    cell = uz.make_cell(name, 3, 8)
    recurrent = {id(p) for p in cell.recurrent_parameters()}
    constrained = {id(p) for p in cell.constrained_parameters()}
    assert constrained <= recurrent
    if cell.constraint == "exact":
        assert constrained == recurrent
    elif name != "nnrnn":  # nnRNN's basis P trains at its own rate; no other inexact cell has such a part
        assert not constrained
    assert isinstance(cell.stiefel_parameters(), list)
