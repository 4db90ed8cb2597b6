r"""``--executor ray``: each run is one Ray task with its own resources, on an existing Ray cluster
(``--executor-option address=...``) or on one started on this machine for the comparison and shut down after it.
Every node needs the same environment (urnn_zoo and the plug-ins installed) and the comparison's folder on a
shared file system. A task whose worker or node dies is retried by Ray (``retries`` times) and resumes its run
from the run's checkpoint (Note [Attempts of a job] of :mod:`.job`).

Options (``--executor-option key=value``), each with its default:

- ``address``: the cluster to connect to (``auto``, ``host:port`` or ``ray://host:port``); unset: start a Ray
  cluster on this machine (Note [A Ray cluster of one machine]);
- ``cpus``: CPUs per task (1), also the run's torch threads;
- ``gpus``: GPUs per task (1 when the comparison's device is ``cuda``, ``cuda:K`` or ``auto``, else 0);
- ``num_cpus``: CPUs of the cluster started on this machine (its cores);
- ``retries``: times Ray retries a task whose worker or node died (3).

``--jobs`` caps the tasks in flight (default: every run at once; Ray runs as many as the resources allow).

Note [A Ray cluster of one machine]
    Without ``address``, ``ray.init`` starts a cluster of this machine alone. Ray would bind its services to the
    machine's network address, so that other machines could join; nothing joins a cluster started for one
    comparison, so it is kept on the loopback address (127.0.0.1) by Ray's switch for single-machine clusters
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, the setting of Ray on macOS and Windows), set for this process and
    the Ray processes it starts while the cluster lives.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from urnn_zoo import arguments as A

from . import Option, require, text
from .job import JobCall, run_job
from .remote import JobEnded, JobExecutor

__all__ = ["RayExecutor"]

_SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class RayExecutor(JobExecutor):
    r"""Runs each run as a Ray task (module docstring).

    Raises:
        MissingExtraError: ray is not installed (``pip install 'urnn_zoo[cluster]'``).
        ValueError: an unknown option or a refused value.
    """

    name = "ray"
    options = {
        "address": Option(text, None, "the Ray cluster to connect to (auto, host:port, ray://host:port); unset: "
                                      "start one on this machine"),
        "cpus": Option(A.positive_int, 1, "CPUs per task, the run's torch threads"),
        "gpus": Option(A.nonnegative_float, None, "GPUs per task (1 for device cuda or auto, else 0)"),
        "num_cpus": Option(A.positive_int, None, "CPUs of a cluster started here (this machine's cores)"),
        "retries": Option(A.nonnegative_int, 3, "times a task whose worker or node died is retried"),
    }
    poll_seconds = 0.2

    def __init__(self, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.ray = require("ray", self.name)
        if self.settings["gpus"] is None:
            self.settings["gpus"] = 1 if str(self.device).startswith("cuda") or self.device == "auto" else 0
        if self.settings["address"] is not None and self.settings["num_cpus"] is not None:
            raise ValueError(f"executor option num_cpus: expected it only without address (it sizes a cluster "
                             f"started here), got num_cpus={self.settings['num_cpus']} with address="
                             f"{self.settings['address']!r}")
        self.started = False
        self.task: Any = None
        self._saved: dict[str, Any] = {}

    def describe(self, runs: int, in_flight: int) -> str:
        s = self.settings
        where = (f"the Ray cluster at {s['address']}" if s["address"] else
                 f"a Ray cluster started on this machine ({s['num_cpus'] or os.cpu_count()} CPUs, loopback only)")
        return (f"{runs} runs as Ray tasks ({s['cpus']} CPU(s), {s['gpus']:g} GPU(s) each) on {where}, "
                f"{in_flight} in flight at most")

    def threads(self, jobs: int) -> int | None:
        return self.settings["cpus"]

    def connect(self) -> None:
        if self.settings["address"] and not self.is_open:  # an existing cluster: reached before anything is written
            self.open(None)
            self.is_open = True

    def open(self, out: Path | None) -> None:
        ray, s = self.ray, self.settings
        if not ray.is_initialized():
            quiet = dict(log_to_driver=False, logging_level=logging.WARNING)
            main = threading.current_thread() is threading.main_thread()
            sigterm = signal.getsignal(signal.SIGTERM) if main else None
            try:
                if s["address"]:
                    ray.init(address=s["address"], **quiet)
                else:
                    self._single_machine(True)
                    ray.init(num_cpus=s["num_cpus"] or os.cpu_count(), include_dashboard=False, **quiet)
            except ConnectionError as exc:
                raise ValueError(f"executor option address: expected a running Ray cluster at {s['address']!r}, "
                                 f"got none ({' '.join(str(exc).split())})") from None
            finally:
                if sigterm is not None:  # ray.init takes SIGTERM over (it exits); a comparison stops as on Ctrl-C
                    signal.signal(signal.SIGTERM, sigterm)
            self.started = True
        self.task = ray.remote(run_job).options(num_cpus=s["cpus"], num_gpus=s["gpus"], max_retries=s["retries"],
                                                retry_exceptions=False)

    def _single_machine(self, on: bool) -> None:
        r"""Keep a cluster started here on the loopback address (Note [A Ray cluster of one machine])."""
        from ray._private import ray_constants

        if on:
            self._saved = {"env": os.environ.get(_SINGLE_MACHINE),
                           "constant": getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)}
            os.environ[_SINGLE_MACHINE] = "0"  # the Ray processes started from here read it at import
            if self._saved["constant"] is not None:  # this process imported ray already
                ray_constants.ENABLE_RAY_CLUSTER = False
            return
        if not self._saved:
            return
        if self._saved["env"] is None:
            os.environ.pop(_SINGLE_MACHINE, None)
        else:
            os.environ[_SINGLE_MACHINE] = self._saved["env"]
        if self._saved["constant"] is not None:
            ray_constants.ENABLE_RAY_CLUSTER = self._saved["constant"]
        self._saved = {}

    def submit(self, call: JobCall) -> Any:
        return self.task.remote(call)

    def finished(self, handles: list[Any]) -> list[Any]:
        if not handles:
            return []
        ready, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)
        return ready

    def outcome(self, handle: Any, patient: bool = True) -> dict[str, Any]:
        try:
            return self.ray.get(handle)
        except Exception as exc:  # cancelled, its worker or node died, or the task raised (ray wraps it)
            cause = getattr(exc, "cause", None) or exc
            lines = [line for line in str(cause).splitlines() if line.strip()]
            why = " ".join((lines[-1] if lines else "").split())
            raise JobEnded(f"Ray task {handle.task_id().hex()} ended without an outcome: {type(cause).__name__}"
                           f"{': ' + why if why else ''}") from None

    def cancel(self, handles: list[Any]) -> None:
        for ref in handles:
            self.ray.cancel(ref, force=False)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False
        self._single_machine(False)
        self.task = None

    def record(self) -> dict[str, Any]:
        return {**super().record(), "cluster": self.settings["address"] or "started on this machine"}
