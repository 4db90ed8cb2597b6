r"""Training one cell on one task (DESIGN §6): optimizers, evaluation, run folders, checkpoints, exact resume.

Public entry :func:`train` (``uz.train``); :func:`load_summary` and :func:`load_config` read a run back.

A run folder (``out/name``; the name defaults to :func:`run_name`, e.g. ``kru-copy-T100-N128-s0``) holds:

- ``config.json``: every argument of :func:`train` that shapes the run (cell and task options with their
  defaults filled in), plus ``environment`` (versions, platform, commit). ``train(**load_config(p)["train"])``
  reruns it.
- ``metrics.csv``: tidy rows ``step, split, metric, value, seconds``. ``split`` is ``train`` (``loss``: mean
  task loss over the last ``log_every`` steps, without the penalty), ``valid`` (the task's metrics every
  ``eval_every`` steps and at the last step), ``test`` (the final evaluation) or ``model`` (properties of the
  cell at each evaluation: ``unitarity_error``, and ``penalty`` for soft cells). ``seconds``: wall time of
  the run so far (resumes included).
- ``summary.json``: ``cell``, ``task``, ``baseline`` and ``final`` (test metrics), status (``running``,
  ``finished``, ``early-stopped``, ``stopped: non-finite loss``, ``stopped: non-finite gradient``,
  ``interrupted``), steps done, seconds, parameter counts, data source, best validation value.
- ``checkpoint.pt``: model, optimizer(s), RNG states (torch, CUDA, numpy, python), the loop's state.

Note [Exact resume]
    The training batch stream is a deterministic function of the seed (Note [Seeds and streams] of
    :mod:`urnn_zoo.tasks.base`), so its position is just the step: a resumed run re-creates the stream and
    skips the ``step`` batches already used. Evaluation streams are re-created at every evaluation and never
    touch a global RNG. With model, optimizer states, RNG states and the loop's accumulators restored, a run
    interrupted at a checkpoint and resumed produces the same numbers as an uninterrupted one (same machine,
    same thread count). Rows written after the last checkpoint, and ``test`` rows, are dropped on resume.

Note [Learning rates]
    Parameters behind an exact constraint (``cell.recurrent_parameters()`` of a ``constraint == "exact"``
    cell) get ``constrained_lr``; everything else gets ``lr``. Soft cells (KRU) train their factors at ``lr``
    and add ``penalty_weight · cell.penalty()`` to the loss. A cell whose ``stiefel_parameters()`` is not empty
    (fcurnn with ``parametrization="none"``) has those parameters updated by the multiplicative Cayley step
    (:class:`urnn_zoo.optim.StiefelCayley`, learning rate ``constrained_lr``) and by no other optimizer;
    ``optimizer="cayley"`` asks for that explicitly (RMSprop for the rest).
"""
from __future__ import annotations

import csv
import json
import math
import os
import platform
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from urnn_zoo.cells.base import SequenceModel, make_cell
from urnn_zoo.cells.base import cell_options as _cell_defaults
from urnn_zoo.tasks.base import Task, make_task

__all__ = ["RunExistsError", "ResumeMismatchError", "TrainResult", "evaluate", "load_config", "load_summary",
           "run_name", "train"]

OPTIMIZERS = ("rmsprop", "adam", "cayley")
RUN_FILES = ("config.json", "metrics.csv", "summary.json", "checkpoint.pt")
METRIC_FIELDS = ("step", "split", "metric", "value", "seconds")
GENERATED_TEST_BATCHES = 100  # test batches of an endless generated stream when test_batches is None
RESUMABLE = ("steps", "device")  # config keys a resume may change (train further, move to a GPU)
CHECKPOINT_FORMAT = 1


class RunExistsError(FileExistsError):
    r"""The run folder already holds a run and neither ``force`` nor ``resume`` was given."""


class ResumeMismatchError(ValueError):
    r"""``resume`` was asked for a folder whose ``config.json`` differs from the requested run."""


@dataclass(frozen=True)
class TrainResult:
    r"""What :func:`train` returns: the run folder and its summary (the content of ``summary.json``)."""

    path: Path
    summary: dict[str, Any]


# ----------------------------------------------------------------------------------------- reading runs
def _run_file(path: str | os.PathLike[str], file: str) -> Path:
    path = Path(path)
    target = path if path.name == file else path / file
    if not target.is_file():
        raise FileNotFoundError(f"no {file} in {path} (expected a run folder written by urnn-zoo train)")
    return target


def load_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    r"""The ``summary.json`` of a run.

    Args:
        path: the run folder (or the summary file itself).

    Example::

        >>> load_summary("runs/kru-copy-T100-N128-s0")["final"]        # doctest: +SKIP
        {'loss': 0.0012, 'accuracy': 1.0}
    """
    return json.loads(_run_file(path, "summary.json").read_text())


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    r"""The ``config.json`` of a run: ``{"train": kwargs of train(), "environment": {...}}``."""
    return json.loads(_run_file(path, "config.json").read_text())


# ----------------------------------------------------------------------------------------- naming
def _token(key: str | None, value: Any) -> str:
    text = Path(value).stem if key == "data_path" else str(value)
    text = re.sub(r"[^A-Za-z0-9.+]+", "_", text).strip("_")
    return text if key is None else f"{key}{text}" if isinstance(value, (int, float)) else f"{key}={text}"


def run_name(cell: str, task: Task, hidden: int, seed: int, cell_opts: dict[str, Any] | None = None) -> str:
    r"""The default run folder name: cell, its non-default options, task, its size options (int defaults,
    e.g. ``T``, ``window``) and non-default options, ``N``, seed.

    Example::

        >>> run_name("kru", make_task("copy", T=100), 128, 0)
        'kru-copy-T100-N128-s0'
    """
    defaults = _cell_defaults(cell)
    parts = [cell] + [_token(k, v) for k, v in (cell_opts or {}).items() if defaults.get(k, object()) != v]
    parts.append(task.name)
    for key, value in task.spec().items():
        default = type(task).options.get(key)
        if value is None or (value == default and not isinstance(default, int)):
            continue
        parts.append(value if key in ("digits", "form") and isinstance(value, str) else _token(key, value))
    return "-".join(parts + [f"N{hidden}", f"s{seed}"])


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


# ----------------------------------------------------------------------------------------- setup helpers
def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def _environment() -> dict[str, Any]:
    import urnn_zoo

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"urnn_zoo": urnn_zoo.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "commit": commit,
            "threads": torch.get_num_threads()}


def _prepare_folder(path: Path, config: dict[str, Any], force: bool, resume: bool) -> bool:
    r"""Check or clear the run folder; returns whether to resume from its checkpoint."""
    if force and resume:
        raise ValueError("give either force (start over) or resume (continue), not both")
    if not path.exists() or not any(path.iterdir()):
        return False
    if force:
        for name in RUN_FILES + ("checkpoint.pt.tmp", "summary.json.tmp"):
            (path / name).unlink(missing_ok=True)
        return False
    if not resume:
        raise RunExistsError(f"run folder {path} already exists and is not empty; use --force to start the run "
                             f"over (deletes its results) or --resume to continue it")
    if not (path / "checkpoint.pt").is_file() or not (path / "config.json").is_file():
        raise RunExistsError(f"cannot resume {path}: it has no checkpoint.pt/config.json; use --force to start over")
    old = load_config(path)["train"]
    keys = sorted(k for k in set(old) | set(config) if k not in RESUMABLE and old.get(k) != config.get(k))
    if keys:
        diffs = "; ".join(f"{k}: {old.get(k)!r} in the folder, {config.get(k)!r} now" for k in keys)
        raise ResumeMismatchError(f"cannot resume {path}: its config differs in {', '.join(keys)} ({diffs})")
    return True


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _rng_state(device: torch.device) -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
            "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])


def _make_optimizers(model: SequenceModel, cfg: dict[str, Any]):
    cell = model.cell
    stiefel = list(getattr(cell, "stiefel_parameters", lambda: [])())
    if cfg["optimizer"] == "cayley" and not stiefel:
        raise ValueError(f"optimizer 'cayley' (the Stiefel Cayley step) needs a cell with a raw unitary "
                         f"recurrent matrix (fcurnn with parametrization='none'); cell {cell.name!r} has none")
    skip = {id(p) for p in stiefel}
    constrained = [p for p in cell.recurrent_parameters() if id(p) not in skip] if cell.constraint == "exact" else []
    skip |= {id(p) for p in constrained}
    rest = [p for p in model.parameters() if id(p) not in skip]
    groups = [g for g in ({"params": rest, "lr": cfg["lr"]}, {"params": constrained, "lr": cfg["constrained_lr"]})
              if g["params"]]
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
    r"""One run: model, optimizers, loop state, metrics file, checkpoints and progress display."""

    def __init__(self, path: Path, cfg: dict[str, Any], task: Task, progress: str) -> None:
        self.path, self.cfg, self.task = path, cfg, task
        self.device, self.dtype = torch.device(cfg["device"]), getattr(torch, cfg["dtype"])
        seed = cfg["seed"]
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        self.cell = make_cell(cfg["cell"], task.input_size, cfg["hidden"], dtype=self.dtype, device=self.device,
                              **cfg["cell_options"])
        self.model = SequenceModel(self.cell, task.output_size, readout=task.readout)
        self.opt, self.cayley = _make_optimizers(self.model, cfg)
        self.soft = self.cell.constraint == "soft" and cfg["penalty_weight"] != 0
        self.metric = task.metric_names[0]  # lower is better for every task's first metric
        self.baseline = task.baseline()
        self.mode = ("bar" if sys.stderr.isatty() else "lines") if progress == "auto" else progress
        self.step, self.seconds, self.train_seconds = 0, 0.0, 0.0
        self.acc_loss, self.acc_n, self.recent_loss = 0.0, 0, float("nan")
        self.best, self.best_step, self.bad, self.best_state = None, None, 0, None
        self.valid: dict[str, float] = {}
        self.unitarity = float("nan")
        self.status, self.message, self.bar, self.stopped_at = "running", None, None, None

    # ------------------------------------------------------------------ files
    def _row(self, split: str, metric: str, value: float) -> None:
        self.writer.writerow([self.step, split, metric, repr(float(value)), f"{self.seconds:.3f}"])

    def _open_metrics(self, resuming: bool) -> None:
        file = self.path / "metrics.csv"
        rows = []
        if resuming and file.is_file():
            with file.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step and r["split"] != "test"]

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as f:
                csv.writer(f).writerows([METRIC_FIELDS, *([r[k] for k in METRIC_FIELDS] for r in rows)])

        _atomic_write(file, write)  # a crash right after a resume loses no row
        self.metrics_file = file.open("a", newline="")
        self.writer = csv.writer(self.metrics_file)

    def _state(self) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "step": self.step, "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(), "cayley": self.cayley.state_dict() if self.cayley else None,
                "rng": _rng_state(self.device), "best_model": self.best_state,
                "loop": {"seconds": self.seconds, "train_seconds": self.train_seconds, "acc_loss": self.acc_loss,
                         "acc_n": self.acc_n, "recent_loss": self.recent_loss, "best": self.best,
                         "best_step": self.best_step, "bad": self.bad, "valid": self.valid,
                         "unitarity": self.unitarity}}

    def save(self) -> None:
        self.metrics_file.flush()  # rows up to this step are on disk before the checkpoint that covers them
        state = self._state()
        _atomic_write(self.path / "checkpoint.pt", lambda p: torch.save(state, p))
        self.write_summary()

    def load(self) -> None:
        ck = torch.load(self.path / "checkpoint.pt", map_location="cpu", weights_only=True)
        if ck.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{self.path / 'checkpoint.pt'}: checkpoint format {ck.get('format')!r}, "
                             f"expected {CHECKPOINT_FORMAT}")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        if self.cayley is not None:
            self.cayley.load_state_dict(ck["cayley"])
        _set_rng_state(ck["rng"])
        self.step, self.best_state = ck["step"], ck["best_model"]
        for key, value in ck["loop"].items():
            setattr(self, key, value)

    def write_summary(self, final: dict[str, float] | None = None, final_step: int | None = None) -> dict:
        cfg, counts = self.cfg, self.model.parameter_count()
        summary = {
            "cell": cfg["cell"], "task": cfg["task"], "hidden": cfg["hidden"], "seed": cfg["seed"],
            "cell_options": cfg["cell_options"], "task_options": cfg["task_options"],
            "constraint": self.cell.constraint, "complex": self.cell.is_complex,
            "status": self.status, "message": self.message, "steps": cfg["steps"], "steps_done": self.step,
            "stopped_at": self.stopped_at,
            "seconds": round(self.seconds, 3), "train_seconds": round(self.train_seconds, 3),
            "seconds_per_step": self.train_seconds / self.step if self.step else None,
            "metric": self.metric, "baseline": self.baseline, "final": final, "final_step": final_step,
            "tested": "best-valid" if cfg["early_stop"] else "last", "valid": self.valid,
            "best_valid": {"metric": self.metric, "value": self.best, "step": self.best_step},
            "unitarity_error": self.unitarity, "parameters": counts._asdict(),
            "cell_parameters": self.cell.parameter_count()._asdict(),
            "data_source": self.task.data_source, "is_stand_in": self.task.is_stand_in,
            "device": cfg["device"], "dtype": cfg["dtype"],
        }
        summary = _jsonable(summary)
        _atomic_write(self.path / "summary.json", lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))
        return summary

    # ------------------------------------------------------------------ display
    def log(self, text: str) -> None:
        if self.mode == "bar" and self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        elif self.mode != "none":
            print(text, file=sys.stderr, flush=True)

    def _show(self, evaluated: bool) -> None:
        valid = {f"valid {k}": f"{v:.4g}" for k, v in self.valid.items()}
        if self.bar is not None:
            self.bar.set_postfix({"train loss": f"{self.recent_loss:.4g}", **valid}, refresh=False)
        elif self.mode == "lines" and evaluated:
            shown = "  ".join(f"{k} {v}" for k, v in valid.items())
            self.log(f"{self.path.name} step {self.step}/{self.cfg['steps']}  train loss {self.recent_loss:.4g}  "
                     f"{shown}  ({self.seconds:.1f} s)")

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, split: str, max_batches: int | None) -> dict[str, float]:
        return evaluate(self.model, self.task, split, batch_size=self.cfg["batch_size"], seed=self.cfg["seed"],
                        max_batches=max_batches, device=self.device, dtype=self.dtype)

    def validate(self) -> bool:
        r"""Evaluate on the validation split, log it; returns whether early stopping triggers."""
        self.valid = self.evaluate("valid", self.cfg["eval_batches"])
        for k, v in self.valid.items():
            self._row("valid", k, v)
        with torch.no_grad():
            self.unitarity = float(self.cell.unitarity_error())
            self._row("model", "unitarity_error", self.unitarity)
            if self.cell.constraint == "soft":
                self._row("model", "penalty", float(self.cell.penalty()))
        value = self.valid[self.metric]
        if self.best is None or value < self.best:
            self.best, self.best_step, self.bad = value, self.step, 0
            if self.cfg["early_stop"]:
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.bad += 1
        return bool(self.cfg["early_stop"]) and self.bad >= self.cfg["early_stop"]

    # ------------------------------------------------------------------ the loop
    def run(self, resuming: bool) -> TrainResult:
        if resuming:
            self.load()
        self._open_metrics(resuming)
        try:
            return self._loop(resuming)
        except KeyboardInterrupt:
            self.status, self.message = "interrupted", f"interrupted at step {self.step}; resume with --resume"
            self.write_summary()
            raise
        finally:
            self.metrics_file.close()
            if self.bar is not None:
                self.bar.close()

    def _loop(self, resuming: bool) -> TrainResult:
        cfg, task, model = self.cfg, self.task, self.model
        steps, every = cfg["steps"], cfg["eval_every"]
        stream = task.batches("train", cfg["batch_size"], cfg["seed"])
        for _ in range(self.step):  # Note [Exact resume]
            next(stream)
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=steps, initial=self.step, desc=self.path.name, file=sys.stderr, dynamic_ncols=True)
        self.log(f"{'resuming' if resuming else 'training'} {self.path} at step {self.step} of {steps}: "
                 f"{task.describe()}; baseline " + ", ".join(f"{k} {v:.4g}" for k, v in self.baseline.items()))
        start, base = time.perf_counter(), self.seconds
        if not resuming:
            self.seconds = base + time.perf_counter() - start
            self.validate()
            self.save()
        params = [p for p in model.parameters()]
        clip = cfg["clip"]
        stopped = False
        while self.step < steps and not stopped:
            x, y = _to(*next(stream), self.device, self.dtype)
            tick = time.perf_counter()
            loss = task.loss(model(x), y)
            objective = loss + cfg["penalty_weight"] * self.cell.penalty() if self.soft else loss
            if not math.isfinite(float(objective.detach())):
                return self._stop_non_finite("loss", objective)
            self.opt.zero_grad(set_to_none=True)
            if self.cayley is not None:
                self.cayley.zero_grad(set_to_none=True)
            objective.backward()
            if clip:
                norm = torch.nn.utils.clip_grad_norm_(params, clip)
            else:
                norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            if not math.isfinite(float(norm)):
                return self._stop_non_finite("gradient", norm)
            self.opt.step()
            if self.cayley is not None:
                self.cayley.step()
            self.cell.on_optimizer_step()
            self.step += 1
            now = time.perf_counter()
            self.train_seconds += now - tick
            self.seconds = base + now - start
            self.acc_loss, self.acc_n = self.acc_loss + float(loss.detach()), self.acc_n + 1
            if self.step % cfg["log_every"] == 0:
                self.recent_loss = self.acc_loss / self.acc_n
                self._row("train", "loss", self.recent_loss)
                self.acc_loss, self.acc_n = 0.0, 0
            evaluated = self.step % every == 0 or self.step == steps
            if evaluated and self.validate():
                self.status = "early-stopped"
                self.message = (f"no better valid {self.metric} in {cfg['early_stop']} evaluations; "
                                f"best {self.best:.6g} at step {self.best_step}")
                stopped = True
            if stopped or self.step % cfg["checkpoint_every"] == 0 or self.step == steps:
                self.save()
            if self.bar is not None:
                self.bar.update(1)
            self._show(evaluated)
        if self.status == "running":
            self.status = "finished"
        if cfg["early_stop"] and self.best_state is not None:
            model.load_state_dict(self.best_state)
            final_step = self.best_step
        else:
            final_step = self.step
        return self._finish(final_step)

    def _finish(self, final_step: int) -> TrainResult:
        batches = self.cfg["test_batches"]
        if batches is None and self.task.generated:
            batches = GENERATED_TEST_BATCHES
        final = self.evaluate("test", batches)
        for k, v in final.items():
            self._row("test", k, v)
        self.metrics_file.flush()
        summary = self.write_summary(final, final_step)
        shown = ", ".join(f"{k} {v:.4g} (baseline {self.baseline.get(k, float('nan')):.4g})" for k, v in final.items())
        self.log(f"{self.path.name}: {self.status} at step {self.step}; test {shown}; {self.seconds:.1f} s")
        return TrainResult(self.path, summary)

    def _stop_non_finite(self, what: str, value: torch.Tensor) -> TrainResult:
        failed = self.stopped_at = self.step + 1
        self.status = f"stopped: non-finite {what}"
        ck = torch.load(self.path / "checkpoint.pt", map_location="cpu", weights_only=True)
        self.model.load_state_dict(ck["model"])
        self.message = (f"the {what} was {float(value.detach())} at step {failed}; training stopped. The last good "
                        f"checkpoint (step {ck['step']}) is kept, and the test metrics are those of its model")
        self.log(f"{self.path.name}: {self.status}: {self.message}")
        return self._finish(ck["step"])


# ----------------------------------------------------------------------------------------- the entry point
def train(cell: str, task: str, *, out: str | os.PathLike[str] = "runs", name: str | None = None,
          hidden: int = 128, steps: int = 2000, seed: int = 0, cell_options: dict[str, Any] | None = None,
          task_options: dict[str, Any] | None = None, batch_size: int = 50, optimizer: str = "rmsprop",
          lr: float = 1e-3, constrained_lr: float = 1e-4, alpha: float = 0.9, penalty_weight: float = 1e-3,
          clip: float | None = None, eval_every: int = 100, eval_batches: int | None = 20,
          test_batches: int | None = None, log_every: int = 10, checkpoint_every: int | None = None,
          early_stop: int | None = None, device: str = "cpu", dtype: str = "float32", force: bool = False,
          resume: bool = False, progress: str = "auto") -> TrainResult:
    r"""Train a registered cell on a registered task and write a run folder (module docstring).

    Args:
        cell, task: names from :func:`urnn_zoo.cell_names` and :func:`urnn_zoo.task_names`.
        out: parent folder of the run folder. name: the run folder's name (default :func:`run_name`).
        hidden: N. steps: optimizer steps. seed: seeds the init, the RNGs and every batch stream.
        cell_options, task_options: passed to :func:`urnn_zoo.make_cell` and :func:`urnn_zoo.make_task`.
        batch_size: B for training and evaluation.
        optimizer: ``"rmsprop"`` (α = ``alpha``), ``"adam"`` or ``"cayley"`` (Note [Learning rates]).
        lr: learning rate of every parameter not behind an exact constraint.
        constrained_lr: learning rate of the parameters behind an exact constraint (and of the Cayley step).
        penalty_weight: λ for soft cells' ``penalty()``.
        clip: clip the global gradient norm to this value (``None``: no clipping).
        eval_every: steps between evaluations on the validation split (and one at the last step).
        eval_batches: validation batches per evaluation (``None``: the whole split, finite splits only).
        test_batches: test batches of the final evaluation (``None``: the whole split, or
            ``GENERATED_TEST_BATCHES`` of a generated stream).
        log_every: steps per ``train`` loss row. checkpoint_every: steps between checkpoints
            (default ``eval_every``; also at step 0 and at the end).
        early_stop: stop after this many evaluations without a better validation value of the task's first
            metric, then test the best model (``None``: no early stopping; the last model is tested).
        device: ``"cpu"`` or ``"cuda"``. dtype: ``"float32"`` or ``"float64"``.
        force: delete an existing run's files first. resume: continue from the folder's checkpoint.
        progress: ``"auto"`` (a bar on a terminal, log lines otherwise), ``"bar"``, ``"lines"``, ``"none"``.

    Returns:
        :class:`TrainResult` with the folder path and the summary.

    Raises:
        RunExistsError: the folder holds a run and neither ``force`` nor ``resume`` is set.
        ResumeMismatchError: ``resume`` on a folder whose config differs (the message names the keys).

    Example::

        >>> result = train("lstm", "adding", hidden=32, steps=200, task_options={"T": 20})   # doctest: +SKIP
        >>> result.summary["final"]["mse"] < result.summary["baseline"]["mse"]
        True
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if progress not in ("auto", "bar", "lines", "none"):
        raise ValueError(f"progress must be 'auto', 'bar', 'lines' or 'none', got {progress!r}")
    for key, value, low in (("hidden", hidden, 1), ("steps", steps, 0), ("seed", seed, 0),
                            ("batch_size", batch_size, 1), ("eval_every", eval_every, 1), ("log_every", log_every, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{key} must be an int >= {low}, got {value!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device")
    task_obj = make_task(task, **(task_options or {}))
    cell_options_arg = dict(cell_options or {})
    resolved_cell = {**_cell_defaults(cell), **cell_options_arg}
    config = _jsonable(dict(
        cell=cell, task=task, hidden=hidden, steps=steps, seed=seed, cell_options=resolved_cell,
        task_options=task_obj.spec(), batch_size=batch_size, optimizer=optimizer, lr=lr,
        constrained_lr=constrained_lr, alpha=alpha, penalty_weight=penalty_weight, clip=clip,
        eval_every=eval_every, eval_batches=eval_batches, test_batches=test_batches, log_every=log_every,
        checkpoint_every=checkpoint_every or eval_every, early_stop=early_stop, device=device, dtype=dtype))
    path = Path(out) / (name or run_name(cell, task_obj, hidden, seed, cell_options_arg))
    run = _Run(path, config, task_obj, progress)  # builds the model: bad options fail before any file is written
    resuming = _prepare_folder(path, config, force, resume)
    path.mkdir(parents=True, exist_ok=True)
    _atomic_write(path / "config.json", lambda p: p.write_text(
        json.dumps({"train": config, "environment": _environment()}, indent=2) + "\n"))
    return run.run(resuming)
