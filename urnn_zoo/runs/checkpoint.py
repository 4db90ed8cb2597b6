r"""``checkpoint.pt``: the state a run resumes from, a versioned dataclass of the loop's state beside the
model's, the optimizers' and the random generators' states.

Schema 1 (this module): ``{"schema": 1, "loop": LoopState fields, "model", "optimizer", "cayley", "rng",
"best_model", "config"}``, saved with :func:`torch.save` and read with ``weights_only=True`` (plain containers
and tensors only). Schema 0 (urnn_zoo before the record had versions) has ``"format": 1``, the step beside a
``loop`` dict and no config; :meth:`Checkpoint.from_dict` migrates it. A finished run's record is complete
without this file (a result set may be published without checkpoints); only resuming needs it.

Note [What the loop state holds]
    Everything the training loop accumulates and would otherwise restart from zero: the step, wall and
    training seconds, the running sum of training losses since the last ``train`` row, the last reported
    training loss, the best validation value, its step and the number of evaluations since, the last
    validation metrics and unitarity error, and the validation metrics of the untrained model (``initial``,
    which :mod:`urnn_zoo.runs.divergence` compares with). With the model, optimizer and generator states
    restored, a resumed run gives the numbers of an uninterrupted one (the training module's Note
    [Exact resume]).
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import write_atomic
from .errors import NewerRecordError, RecordError

__all__ = ["CHECKPOINT_FILE", "CHECKPOINT_SCHEMA", "Checkpoint", "LoopState", "capture_rng", "load_checkpoint",
           "restore_rng", "save_checkpoint"]

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_SCHEMA = 1
_REMEDY = "the run cannot resume from it: start the run over with --force"


@dataclass
class LoopState:
    r"""The training loop's own state (Note [What the loop state holds]).

    Attributes:
        step: optimizer steps done. seconds: wall seconds of the run (resumes included).
        train_seconds: seconds spent in training steps. cpu_seconds: CPU seconds of the processes that trained
            the run (``time.process_time``, every thread; resumes included; 0 in checkpoints made before it).
        acc_loss, acc_n: sum and count of training losses since the last ``train`` row. recent_loss: the last
            ``train`` row's value.
        best, best_step, bad: best validation value of the task's first metric, its step, evaluations since.
        valid: the last validation metrics. unitarity: the last unitarity error.
        initial: the validation metrics of the untrained model (step 0).
    """

    step: int = 0
    seconds: float = 0.0
    train_seconds: float = 0.0
    cpu_seconds: float = 0.0
    acc_loss: float = 0.0
    acc_n: int = 0
    recent_loss: float = math.nan
    best: float | None = None
    best_step: int | None = None
    bad: int = 0
    valid: dict[str, float] = field(default_factory=dict)
    unitarity: float = math.nan
    initial: dict[str, float] = field(default_factory=dict)


@dataclass
class Checkpoint:
    r"""What ``checkpoint.pt`` holds.

    Attributes:
        loop: the loop's state. model: the model's ``state_dict``. optimizer: the main optimizer's state.
        cayley: the Stiefel Cayley step's state (``None`` without one). rng: :func:`capture_rng`.
        best_model: the best model's ``state_dict`` when early stopping keeps one (else ``None``).
        config: the run's configuration (``config.json``'s ``train``), from which a damaged ``config.json``
            is restored; ``None`` in schema 0.
    """

    loop: LoopState
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    cayley: dict[str, Any] | None
    rng: dict[str, Any]
    best_model: dict[str, torch.Tensor] | None = None
    config: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        r"""The dictionary :func:`torch.save` writes (schema :data:`CHECKPOINT_SCHEMA`)."""
        return {"schema": CHECKPOINT_SCHEMA, "loop": dataclasses.asdict(self.loop), "model": self.model,
                "optimizer": self.optimizer, "cayley": self.cayley, "rng": self.rng, "best_model": self.best_model,
                "config": self.config}

    @classmethod
    def from_dict(cls, data: Any, path: str | os.PathLike[str] = CHECKPOINT_FILE) -> "Checkpoint":
        r"""A checkpoint of schema 0 or 1 read back.

        Raises:
            RecordError: not a checkpoint, or a newer schema (names ``path``).
        """
        if not isinstance(data, dict):
            raise RecordError(path, f"holds a {type(data).__name__}, not a checkpoint", _REMEDY)
        if "schema" not in data and data.get("format") == 1:  # schema 0: the step beside the loop dict
            data = {**data, "schema": 0, "loop": {"step": data.get("step"), **(data.get("loop") or {})}}
        version = data.get("schema")
        if not isinstance(version, int) or version > CHECKPOINT_SCHEMA:
            raise (NewerRecordError if isinstance(version, int) else RecordError)(path, f"has checkpoint schema {version!r}; this urnn_zoo reads schema "
                                    f"{CHECKPOINT_SCHEMA} and older", "upgrade urnn_zoo, or " + _REMEDY)
        missing = [k for k in ("loop", "model", "optimizer", "rng") if k not in data]
        if missing:
            raise RecordError(path, f"lacks {', '.join(missing)}", _REMEDY)
        try:
            loop = LoopState(**data["loop"])
        except TypeError as exc:
            raise RecordError(path, f"has a loop state this urnn_zoo does not know ({exc})", _REMEDY) from None
        if not isinstance(loop.step, int) or loop.step < 0:
            raise RecordError(path, f"has step {loop.step!r}, expected an integer >= 0", _REMEDY)
        return cls(loop, data["model"], data["optimizer"], data.get("cayley"), data["rng"], data.get("best_model"),
                   data.get("config"))


def save_checkpoint(folder: str | os.PathLike[str], checkpoint: Checkpoint) -> None:
    r"""Write ``folder/checkpoint.pt`` atomically (Note [Atomic writes] of :mod:`urnn_zoo.runs.atomic`)."""
    data = checkpoint.to_dict()
    write_atomic(Path(folder) / CHECKPOINT_FILE, lambda f: torch.save(data, f), binary=True)


def load_checkpoint(folder: str | os.PathLike[str]) -> Checkpoint:
    r"""Read ``folder/checkpoint.pt`` (tensors on the CPU).

    Raises:
        FileNotFoundError: there is no checkpoint.
        RecordError: the file is truncated, damaged or not a checkpoint (names the file and says to use
            ``--force``).
    """
    path = Path(folder) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError... on a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise RecordError(path, f"cannot be read, it is truncated or damaged ({type(exc).__name__}: {first})",
                          _REMEDY) from None
    return Checkpoint.from_dict(data, path)


def capture_rng(device: torch.device) -> dict[str, Any]:
    r"""The states of torch's (and CUDA's, on a CUDA device), numpy's and Python's global generators."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
            "python": random.getstate()}


def restore_rng(state: dict[str, Any]) -> None:
    r"""Restore the generators' states of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
