r"""Training one cell on one task (README, "Training one cell on one task"; the record it writes:
docs/run-record.md): the loop, its optimizers, evaluation and progress display.

Public entry :func:`train` (``uz.train``); :func:`load_summary` and :func:`load_config` read a run back. What a
run folder holds, how it is created, resumed and checkpointed, and every file's name, columns and schema
version are the run record's (:mod:`urnn_zoo.runs`); this module is the loop that fills it.

Note [Exact resume]
    The training batch stream is a deterministic function of the seed (Note [Seeds and streams] of
    :mod:`urnn_zoo.tasks.base`), so its position is just the step: a resumed run re-creates the stream and
    skips the ``step`` batches already used. Evaluation streams are re-created at every evaluation and never
    touch a global RNG. With model, optimizer states, RNG states and the loop's state
    (:class:`urnn_zoo.runs.LoopState`) restored, a run interrupted at a checkpoint and resumed produces the
    same numbers as an uninterrupted one (same machine, same thread count). Rows written after the last
    checkpoint, and ``test`` rows, are dropped on resume.

Note [Learning rates]
    Parameters behind an exact constraint (``cell.constrained_parameters()``: the recurrent parameters of a
    ``constraint == "exact"`` cell, and nnRNN's orthogonal basis P, which its paper trains at a separate rate)
    get ``constrained_lr``; everything else gets ``lr``. Soft cells (KRU) train their recurrent parameters
    (those not in ``constrained_parameters()``) at ``recurrent_lr`` (``None``: ``lr``) and add
    ``penalty_weight · cell.penalty()`` to the loss. A separate, smaller rate for the recurrent matrix is
    what scoRNN (1e-4 against 1e-3) and expRNN (2e-5 against 2e-4) use at T = 1000: RMSprop moves every
    entry by about its rate each step, and a phase error δ in W becomes T·δ in W^T. A cell whose
    ``stiefel_parameters()`` is not empty (fcurnn with ``parametrization="none"``) has those parameters
    updated by the multiplicative Cayley step
    (:class:`urnn_zoo.optim.StiefelCayley`, learning rate ``constrained_lr``) and by no other optimizer;
    ``optimizer="cayley"`` asks for that explicitly (RMSprop for the rest).

Note [Which model is tested]
    The test metrics are those of one model, and the ``test`` rows of ``metrics.csv`` carry its step
    (``final_step`` in the summary): the last model; the best validated one under early stopping; the last
    checkpoint's after a non-finite loss or gradient (the model that produced it is not tested). ``steps_done``
    counts the optimizer steps taken; ``stopped_at`` is the step whose loss or gradient was not finite.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from urnn_zoo import arguments as A
from urnn_zoo.cells.base import SequenceModel, make_cell
from urnn_zoo.cells.base import cell_options as _cell_defaults
from urnn_zoo.runs import (Checkpoint, LoopState, MetricsLog, ResumeMismatchError, RunConfig, RunExistsError,
                           RunNotFoundError, RunStatus, capture_environment, capture_rng, divergence,
                           load_checkpoint, open_run_folder, read_config, read_summary, restore_rng, run_name,
                           save_checkpoint, this_process, write_summary)
from urnn_zoo.runs.atomic import interrupts_held
from urnn_zoo.runs.summary import SUMMARY_SCHEMA
from urnn_zoo.runs.config import OPTIMIZERS
from urnn_zoo.tasks.base import Task, make_task

__all__ = ["OPTIMIZERS", "ResumeMismatchError", "RunExistsError", "RunNotFoundError", "TrainResult", "evaluate",
           "load_config", "load_summary", "run_name", "train"]

GENERATED_TEST_BATCHES = 100  # test batches of an endless generated stream when test_batches is None
PROGRESS = ("auto", "bar", "lines", "none")


@dataclass(frozen=True)
class TrainResult:
    r"""What :func:`train` returns: the run folder and its summary (the content of ``summary.json``)."""

    path: Path
    summary: dict[str, Any]


def load_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    r"""The ``summary.json`` of a run (:func:`urnn_zoo.runs.read_summary`: checked, migrated, a killed run
    ``incomplete``).

    Args:
        path: the run folder (or the summary file itself).

    Raises:
        FileNotFoundError: no summary. urnn_zoo.runs.RecordError: a damaged one (names the file).

    Example::

        >>> load_summary("runs/kru-copy-T100-N128-s0")["final"]        # doctest: +SKIP
        {'loss': 0.0012, 'accuracy': 1.0}
    """
    return read_summary(path)


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    r"""The ``config.json`` of a run: ``{"schema", "train": kwargs of train(), "environment": {...}}``."""
    return read_config(path)


# ----------------------------------------------------------------------------------------- evaluation
def evaluate(model: torch.nn.Module, task: Task, split: str, *, batch_size: int, seed: int,
             max_batches: int | None, device: torch.device, dtype: torch.dtype) -> dict[str, float]:
    r"""The task's metrics on (part of) a split, averaged over batches with :meth:`Task.weight`.

    Args:
        max_batches: stop after this many batches; ``None`` reads the whole split (finite splits only).
    """
    if max_batches is None and task.generated:
        raise ValueError(f"task {task.name!r} generates endless {split} batches; give a number of batches")
    totals: dict[str, float] = {}
    weight = 0.0
    with torch.no_grad():
        for i, (x, y) in enumerate(task.batches(split, batch_size, seed)):
            if max_batches is not None and i >= max_batches:
                break
            x, y = _to(x, y, device, dtype)
            w = task.weight(y)
            for k, v in task.metrics(model(x), y).items():
                totals[k] = totals.get(k, 0.0) + w * v
            weight += w
    return {k: v / weight for k, v in totals.items()}


def _to(x: torch.Tensor, y: torch.Tensor, device: torch.device, dtype: torch.dtype):
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype) if y.is_floating_point() else y.to(device)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def _make_optimizers(model: SequenceModel, cfg: Mapping[str, Any]):
    cell = model.cell
    stiefel = list(cell.stiefel_parameters())
    if cfg["optimizer"] == "cayley" and not stiefel:
        raise ValueError(f"optimizer 'cayley' (the Stiefel Cayley step) needs a cell with a raw unitary "
                         f"recurrent matrix (fcurnn with parametrization='none'); cell {cell.name!r} has none")
    skip = {id(p) for p in stiefel}
    constrained = [p for p in cell.constrained_parameters() if id(p) not in skip]
    skip |= {id(p) for p in constrained}
    recurrent_lr = cfg.get("recurrent_lr")
    soft = [p for p in cell.recurrent_parameters() if id(p) not in skip] if cell.constraint == "soft" and \
        recurrent_lr is not None else []
    skip |= {id(p) for p in soft}
    rest = [p for p in model.parameters() if id(p) not in skip]
    groups = [g for g in ({"params": rest, "lr": cfg["lr"]}, {"params": constrained, "lr": cfg["constrained_lr"]},
                          {"params": soft, "lr": recurrent_lr}) if g["params"]]
    if cfg["optimizer"] == "adam":
        main = torch.optim.Adam(groups, lr=cfg["lr"])
    else:
        main = torch.optim.RMSprop(groups, lr=cfg["lr"], alpha=cfg["alpha"])
    cayley = None
    if stiefel:
        from urnn_zoo.optim import StiefelCayley

        cayley = StiefelCayley(stiefel, lr=cfg["constrained_lr"])
    return main, cayley


# ----------------------------------------------------------------------------------------- the loop
class _Run:
    r"""One run: model, optimizers, the loop (its state a :class:`urnn_zoo.runs.LoopState`), the metrics log,
    checkpoints and the progress display."""

    def __init__(self, path: Path, cfg: RunConfig, task: Task, progress: str) -> None:
        self.path, self.cfg, self.task = path, cfg, task
        self.device, self.dtype = torch.device(cfg.device), getattr(torch, cfg.dtype)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        random.seed(cfg.seed)
        self.cell = make_cell(cfg.cell, task.input_size, cfg.hidden, dtype=self.dtype, device=self.device,
                              **cfg.cell_options)
        self.model = SequenceModel(self.cell, task.output_size, readout=task.readout)
        self.opt, self.cayley = _make_optimizers(self.model, cfg.to_dict())
        self.soft = self.cell.constraint == "soft" and cfg.penalty_weight != 0
        self.metric = task.metric_names[0]  # lower is better for every task's first metric
        self.baseline = task.baseline()
        self.mode = ("bar" if sys.stderr.isatty() else "lines") if progress == "auto" else progress
        self.loop = LoopState()
        self.saved_step: int | None = None  # the step of the checkpoint on disk
        self.best_state: dict[str, torch.Tensor] | None = None
        self.status, self.message, self.stopped_at, self.bar = RunStatus.RUNNING, None, None, None

    # ------------------------------------------------------------------ files
    def _row(self, split: str, metric: str, value: float, step: int | None = None) -> None:
        self.metrics.row(self.loop.step if step is None else step, split, metric, value, self.loop.seconds)

    def save(self) -> None:
        self.metrics.flush(sync=True)  # rows up to this step are on disk before the checkpoint that covers them
        save_checkpoint(self.path, Checkpoint(
            loop=dataclasses.replace(self.loop), model=self.model.state_dict(), optimizer=self.opt.state_dict(),
            cayley=self.cayley.state_dict() if self.cayley else None, rng=capture_rng(self.device),
            best_model=self.best_state, config=self.cfg.to_dict()))
        self.saved_step = self.loop.step
        self.write_summary()

    def load(self, ck: Checkpoint) -> None:
        self.model.load_state_dict(ck.model)
        self.opt.load_state_dict(ck.optimizer)
        if self.cayley is not None:
            self.cayley.load_state_dict(ck.cayley)
        restore_rng(ck.rng)
        self.loop, self.best_state, self.saved_step = ck.loop, ck.best_model, ck.loop.step

    def write_summary(self, final: dict[str, float] | None = None, final_step: int | None = None) -> dict:
        cfg, loop, counts = self.cfg, self.loop, self.model.parameter_count()
        summary = {
            "cell": cfg.cell, "task": cfg.task, "hidden": cfg.hidden, "seed": cfg.seed,
            "cell_options": cfg.cell_options, "task_options": cfg.task_options,
            "constraint": self.cell.constraint, "complex": self.cell.is_complex,
            "status": self.status, "message": self.message, "steps": cfg.steps, "steps_done": loop.step,
            "stopped_at": self.stopped_at,
            "seconds": round(loop.seconds, 3), "cpu_seconds": round(loop.cpu_seconds, 3),
            "train_seconds": round(loop.train_seconds, 3),
            "seconds_per_step": loop.train_seconds / loop.step if loop.step else None,
            "metric": self.metric, "baseline": self.baseline, "initial": loop.initial, "final": final,
            "final_step": final_step, "tested": "best-valid" if cfg.early_stop else "last", "valid": loop.valid,
            "best_valid": {"metric": self.metric, "value": loop.best, "step": loop.best_step},
            "unitarity_error": loop.unitarity, "parameters": counts._asdict(),
            "cell_parameters": self.cell.parameter_count()._asdict(),
            "data_source": self.task.data_source, "is_stand_in": self.task.is_stand_in,
            "device": cfg.device, "dtype": cfg.dtype,
            **(this_process() if self.status is RunStatus.RUNNING else {}),
        }
        summary = _jsonable({k: str(v) if isinstance(v, RunStatus) else v for k, v in summary.items()})
        write_summary(self.path, summary)
        return {"schema": SUMMARY_SCHEMA, **summary, "status": self.status}

    # ------------------------------------------------------------------ display
    def log(self, text: str) -> None:
        if self.mode == "bar" and self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        elif self.mode != "none":
            print(text, file=sys.stderr, flush=True)

    def _show(self, evaluated: bool) -> None:
        valid = {f"valid {k}": f"{v:.4g}" for k, v in self.loop.valid.items()}
        if self.bar is not None:
            self.bar.set_postfix({"train loss": f"{self.loop.recent_loss:.4g}", **valid}, refresh=False)
        elif self.mode == "lines" and evaluated:
            shown = "  ".join(f"{k} {v}" for k, v in valid.items())
            self.log(f"{self.path.name} step {self.loop.step}/{self.cfg.steps}  train loss "
                     f"{self.loop.recent_loss:.4g}  {shown}  ({self.loop.seconds:.1f} s)")

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, split: str, max_batches: int | None) -> dict[str, float]:
        return evaluate(self.model, self.task, split, batch_size=self.cfg.batch_size, seed=self.cfg.seed,
                        max_batches=max_batches, device=self.device, dtype=self.dtype)

    def validate(self) -> bool:
        r"""Evaluate on the validation split, log it; returns whether early stopping triggers."""
        loop = self.loop
        loop.valid = self.evaluate("valid", self.cfg.eval_batches)
        if loop.step == 0:
            loop.initial = dict(loop.valid)
        for k, v in loop.valid.items():
            self._row("valid", k, v)
        with torch.no_grad():
            loop.unitarity = float(self.cell.unitarity_error())
            self._row("model", "unitarity_error", loop.unitarity)
            if self.cell.constraint == "soft":
                self._row("model", "penalty", float(self.cell.penalty()))
        value = loop.valid[self.metric]
        if loop.best is None or value < loop.best:
            loop.best, loop.best_step, loop.bad = value, loop.step, 0
            if self.cfg.early_stop:
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            loop.bad += 1
        return bool(self.cfg.early_stop) and loop.bad >= self.cfg.early_stop

    # ------------------------------------------------------------------ the loop
    def run(self, checkpoint: Checkpoint | None) -> TrainResult:
        if checkpoint is not None:
            self.load(checkpoint)
        self.metrics = MetricsLog(self.path, None if checkpoint is None else checkpoint.loop.step)
        try:
            return self._loop(checkpoint is not None)
        except KeyboardInterrupt:
            # A second Ctrl-C (a cluster job is cancelled with SIGINT after the terminal's own) must not stop this
            # write: the run would stay marked running by a process that is no longer training it.
            with interrupts_held():
                self.status = RunStatus.INCOMPLETE
                last = ("no checkpoint yet" if self.saved_step is None else
                        f"its last checkpoint is at step {self.saved_step}")
                self.message = f"interrupted at step {self.loop.step} ({last}); resume it with --resume"
                self.write_summary()
            raise
        finally:
            self.metrics.close()
            if self.bar is not None:
                self.bar.close()

    def _loop(self, resuming: bool) -> TrainResult:
        cfg, task, model, loop = self.cfg, self.task, self.model, self.loop
        steps, every = cfg.steps, cfg.eval_every
        stream = task.batches("train", cfg.batch_size, cfg.seed)
        for _ in range(loop.step):  # Note [Exact resume]
            next(stream)
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=steps, initial=loop.step, desc=self.path.name, file=sys.stderr, dynamic_ncols=True)
        self.log(f"{'resuming' if resuming else 'training'} {self.path} at step {loop.step} of {steps}: "
                 f"{task.describe()}; baseline " + ", ".join(f"{k} {v:.4g}" for k, v in self.baseline.items()))
        start, base = time.perf_counter(), loop.seconds
        cpu_start, cpu_base = time.process_time(), loop.cpu_seconds
        if not resuming:
            loop.seconds = base + time.perf_counter() - start
            loop.cpu_seconds = cpu_base + time.process_time() - cpu_start
            self.validate()
            self.save()
        params = [p for p in model.parameters()]
        stopped = False
        while loop.step < steps and not stopped:
            x, y = _to(*next(stream), self.device, self.dtype)
            tick = time.perf_counter()
            loss = task.loss(model(x), y)
            objective = loss + cfg.penalty_weight * self.cell.penalty() if self.soft else loss
            if not math.isfinite(float(objective.detach())):
                return self._stop_non_finite("loss", objective)
            self.opt.zero_grad(set_to_none=True)
            if self.cayley is not None:
                self.cayley.zero_grad(set_to_none=True)
            objective.backward()
            if cfg.clip is not None:
                norm = torch.nn.utils.clip_grad_norm_(params, cfg.clip)
            else:
                norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            if not math.isfinite(float(norm)):
                return self._stop_non_finite("gradient", norm)
            self.opt.step()
            if self.cayley is not None:
                self.cayley.step()
            self.cell.on_optimizer_step()
            loop.step += 1
            now = time.perf_counter()
            loop.train_seconds += now - tick
            loop.seconds = base + now - start
            loop.cpu_seconds = cpu_base + time.process_time() - cpu_start
            loop.acc_loss, loop.acc_n = loop.acc_loss + float(loss.detach()), loop.acc_n + 1
            if loop.step % cfg.log_every == 0:
                loop.recent_loss = loop.acc_loss / loop.acc_n
                self._row("train", "loss", loop.recent_loss)
                loop.acc_loss, loop.acc_n = 0.0, 0
            evaluated = loop.step % every == 0 or loop.step == steps
            if evaluated and self.validate():
                self.status = RunStatus.EARLY_STOPPED
                self.message = (f"no better valid {self.metric} in {cfg.early_stop} evaluations; "
                                f"best {loop.best:.6g} at step {loop.best_step}")
                stopped = True
            if stopped or loop.step % cfg.checkpoint_every == 0 or loop.step == steps:
                self.save()
            if self.bar is not None:
                self.bar.update(1)
            self._show(evaluated)
        if self.status is RunStatus.RUNNING:
            self.status = RunStatus.FINISHED
        if cfg.early_stop and self.best_state is not None:
            model.load_state_dict(self.best_state)
            final_step = loop.best_step
        else:
            final_step = loop.step
        return self._finish(final_step)

    def _finish(self, final_step: int) -> TrainResult:
        r"""Test the model of ``final_step`` (Note [Which model is tested]), judge divergence, write the summary."""
        batches = self.cfg.test_batches
        if batches is None and self.task.generated:
            batches = GENERATED_TEST_BATCHES
        final = self.evaluate("test", batches)
        for k, v in final.items():
            self._row("test", k, v, step=final_step)
        self.metrics.flush(sync=True)
        if self.status.ok:
            reason = divergence({"metric": self.metric, "final": final, "baseline": self.baseline,
                                 "initial": self.loop.initial, "constraint": self.cell.constraint,
                                 "unitarity_error": self.loop.unitarity, "hidden": self.cfg.hidden,
                                 "dtype": self.cfg.dtype})
            if reason is not None:
                self.status, self.message = RunStatus.DIVERGED, reason
        summary = self.write_summary(final, final_step)
        shown = ", ".join(f"{k} {v:.4g} (baseline {self.baseline.get(k, float('nan')):.4g})" for k, v in final.items())
        self.log(f"{self.path.name}: {self.status} after {self.loop.step} steps; test (model of step {final_step}) "
                 f"{shown}; {self.loop.seconds:.1f} s" + (f"; {self.message}" if self.message else ""))
        return TrainResult(self.path, summary)

    def _stop_non_finite(self, what: str, value: torch.Tensor) -> TrainResult:
        failed = self.stopped_at = self.loop.step + 1
        self.status = RunStatus.non_finite(what)
        ck = load_checkpoint(self.path)
        self.model.load_state_dict(ck.model)
        self.message = (f"the {what} of step {failed} was {float(value.detach())}: training stopped after "
                        f"{self.loop.step} steps; the test metrics are those of the last checkpoint's model "
                        f"(step {ck.loop.step}), kept in checkpoint.pt")
        self.log(f"{self.path.name}: {self.status}: {self.message}")
        return self._finish(ck.loop.step)


# ----------------------------------------------------------------------------------------- the entry point
def train(cell: str, task: str, *, out: str | os.PathLike[str] = "runs", name: str | None = None,
          hidden: int = 128, steps: int = 2000, seed: int = 0, cell_options: dict[str, Any] | None = None,
          task_options: dict[str, Any] | None = None, batch_size: int = 50, optimizer: str = "rmsprop",
          lr: float = 1e-3, constrained_lr: float = 1e-4, recurrent_lr: float | None = None, alpha: float = 0.9, penalty_weight: float = 1e-3,
          clip: float | None = None, eval_every: int = 100, eval_batches: int | None = 20,
          test_batches: int | None = None, log_every: int = 10, checkpoint_every: int | None = None,
          early_stop: int | None = None, device: str = "cpu", dtype: str = "float32", force: bool = False,
          resume: bool = False, progress: str = "auto") -> TrainResult:
    r"""Train a registered cell on a registered task and write a run folder (:mod:`urnn_zoo.runs`).

    Every argument is validated, the task and the model are built, and only then is the folder made: a bad
    value raises before any file is written.

    Args:
        cell, task: names from :func:`urnn_zoo.cell_names` and :func:`urnn_zoo.task_names`.
        out: parent folder of the run folder. name: the run folder's name, one path component
            (default :func:`urnn_zoo.runs.run_name`).
        hidden: N (> 0). steps: optimizer steps (>= 0). seed: seeds the init, the RNGs and every batch stream.
        cell_options, task_options: passed to :func:`urnn_zoo.make_cell` and :func:`urnn_zoo.make_task`.
        batch_size: B (> 0) for training and evaluation.
        optimizer: ``"rmsprop"`` (α = ``alpha`` in [0, 1]), ``"adam"`` or ``"cayley"`` (Note [Learning rates]).
        lr: learning rate (>= 0) of every parameter not behind an exact constraint.
        constrained_lr: learning rate (>= 0) of the parameters behind an exact constraint (and of the Cayley
            step).
        recurrent_lr: learning rate (>= 0) of a soft cell's recurrent parameters (KRU's factors; ``None``:
            ``lr``; Note [Learning rates]).
        penalty_weight: λ (>= 0) for soft cells' ``penalty()``.
        clip: clip the global gradient norm to this value (> 0; ``None``: no clipping).
        eval_every: steps between evaluations on the validation split (and one at the last step).
        eval_batches: validation batches per evaluation (> 0; ``None``: the whole split, finite splits only).
        test_batches: test batches of the final evaluation (> 0; ``None``: the whole split, or
            ``GENERATED_TEST_BATCHES`` of a generated stream).
        log_every: steps per ``train`` loss row. checkpoint_every: steps between checkpoints
            (default ``eval_every``; also at step 0 and at the end).
        early_stop: stop after this many evaluations without a better validation value of the task's first
            metric, then test the best model (``None``: no early stopping; the last model is tested).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:K"`` or ``"auto"``. dtype: ``"float32"`` or ``"float64"``.
        force: delete an existing run's files first. resume: continue from the folder's checkpoint.
        progress: ``"auto"`` (a bar on a terminal, log lines otherwise), ``"bar"``, ``"lines"``, ``"none"``.

    Returns:
        :class:`TrainResult` with the folder path and the summary; its status is ``finished``,
        ``early-stopped``, ``diverged`` (:mod:`urnn_zoo.runs.divergence`) or ``stopped: non-finite ...``.

    Raises:
        ValueError: an argument out of range (``"<name>: expected ..., got ..."``), an unknown cell, task or
            option.
        RunExistsError: the folder holds a run and neither ``force`` nor ``resume`` is set.
        RunNotFoundError: ``resume`` of a folder that does not exist.
        ResumeMismatchError: ``resume`` on a folder whose config differs (the message names the keys).
        urnn_zoo.runs.RecordError: ``resume`` from a damaged record file (the message names it).
        KeyboardInterrupt: after writing the summary of the interrupted run (status ``incomplete``).

    Example::

        >>> result = train("lstm", "adding", hidden=32, steps=200, task_options={"T": 20})   # doctest: +SKIP
        >>> result.summary["final"]["mse"] < result.summary["baseline"]["mse"]
        True
    """
    A.check(progress, A.one_of(PROGRESS, "a progress display"), "progress")
    for flag, value in (("force", force), ("resume", resume)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag}: expected True or False, got {value!r}")
    if force and resume:
        raise ValueError("give either force (start over) or resume (continue), not both")
    out = A.check(out, A.output_dir, "out")
    if name is not None:
        A.check(name, A.run_name, "name")
    cfg = RunConfig(cell=cell, task=task, hidden=hidden, steps=steps, seed=seed,
                    cell_options=dict(cell_options or {}) if isinstance(cell_options, (dict, type(None))) else
                    cell_options, task_options=dict(task_options or {}) if isinstance(task_options, (dict, type(
                        None))) else task_options, batch_size=batch_size, optimizer=optimizer, lr=lr,
                    constrained_lr=constrained_lr, recurrent_lr=recurrent_lr, alpha=alpha, penalty_weight=penalty_weight, clip=clip,
                    eval_every=eval_every, eval_batches=eval_batches, test_batches=test_batches,
                    log_every=log_every, checkpoint_every=checkpoint_every, early_stop=early_stop, device=device,
                    dtype=dtype)
    task_obj = make_task(cfg.task, **cfg.task_options)
    if cfg.eval_batches is None and task_obj.generated:
        raise ValueError(f"eval_batches: expected an integer > 0 for task {task_obj.name!r}, whose validation "
                         f"batches are generated without end, got None")
    given = dict(cfg.cell_options)
    cfg = dataclasses.replace(cfg, cell_options=_jsonable({**_cell_defaults(cfg.cell), **given}),
                              task_options=_jsonable(task_obj.spec()),
                              checkpoint_every=cfg.checkpoint_every or cfg.eval_every)
    folder = name if name is not None else A.check(run_name(cfg.cell, task_obj, cfg.hidden, cfg.seed, given),
                                                   A.run_name, "the run's default name")
    path = Path(out) / folder
    run = _Run(path, cfg, task_obj, progress)  # builds the model: bad options fail before any file is written
    checkpoint = open_run_folder(path, cfg, capture_environment(), force=force, resume=resume)
    return run.run(checkpoint)
