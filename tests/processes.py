r"""Child processes of a test: each in its own process group with default signal handlers, and killed with
its whole group when the test ends, passed or failed (the autouse fixture ``_no_process_outlives_its_test`` of
tests/conftest.py), so that a failed wait never leaves a long run training beside the rest of the suite."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess

_STARTED: list[subprocess.Popen] = []


def child_env() -> dict[str, str]:
    r"""The environment of a child: this one (the suite's private data cache included), one thread per
    library, unbuffered output."""
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def start(argv: list[str], **popen: object) -> subprocess.Popen:
    r"""Start ``argv`` as a text-mode process in a new session (its own process group) with the default SIGINT
    handler (a background job of a non-interactive shell would ignore SIGINT, and a test of Ctrl-C could not
    fail); ``popen`` are further ``subprocess.Popen`` arguments (pipes, ``cwd``). It is killed when the test
    ends (:func:`kill_started`)."""
    proc = subprocess.Popen(argv, env=child_env(), start_new_session=True, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)
    _STARTED.append(proc)
    return proc


def kill_started() -> None:
    r"""SIGKILL the process group of every process :func:`start` started that still runs, and reap it."""
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
