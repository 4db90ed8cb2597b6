r"""Progress of a comparison: an overall progress bar with an ETA (tqdm) on a terminal, one line per finished
run and a heartbeat line otherwise, nothing with ``quiet``.

The ETA weighs each run by its cost (:func:`urnn_zoo.compare.grid.cost`: steps x length x N), so that a grid
whose long runs come first does not look nearly done after its short ones. The heartbeat (every
:data:`HEARTBEAT_SECONDS` without another line) says the comparison is alive during a long run.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

from urnn_zoo.runs import RunAction, RunStatus

from .grid import RunSpec, cost

__all__ = ["HEARTBEAT_SECONDS", "GridProgress", "clock"]

HEARTBEAT_SECONDS = 30.0


def clock(seconds: float) -> str:
    r"""``h:mm:ss`` or ``m:ss``.

    Example:
        >>> clock(75), clock(3725)
        ('1:15', '1:02:05')
    """
    seconds = int(round(max(seconds, 0.0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class GridProgress:
    r"""Shows a grid's progress (module docstring).

    Args:
        specs: the grid's runs. mode: ``"bar"``, ``"lines"`` or ``"none"`` (``"auto"``: a bar when stderr is
            a terminal, lines otherwise). log: where lines go (default stderr).
        heartbeat: seconds without a line before a heartbeat line (``lines`` mode).
    """

    def __init__(self, specs: list[RunSpec], mode: str = "auto", log: Callable[[str], None] | None = None,
                 heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.mode = ("bar" if sys.stderr.isatty() else "lines") if mode == "auto" else mode
        self.total, self.count = len(specs), 0
        self.cost_total = sum(cost(s) for s in specs) or 1.0
        self.cost_done = 0.0
        self.failed = 0
        self.start = self.last = time.perf_counter()
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.bar = None
        if self.mode == "bar" and self.total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, unit="run", desc="compare", file=sys.stderr, dynamic_ncols=True)
        self._thread = None
        if self.mode == "lines" and self.total:
            self._thread = threading.Thread(target=self._beat, args=(heartbeat,), name="urnn-zoo-heartbeat",
                                            daemon=True)
            self._thread.start()

    def eta(self) -> float | None:
        r"""Seconds left, from the cost done so far (``None`` before the first run that cost time)."""
        elapsed = time.perf_counter() - self.start
        if self.cost_done <= 0 or elapsed <= 0:
            return None
        return elapsed * (self.cost_total - self.cost_done) / self.cost_done

    def _status(self) -> str:
        eta = self.eta()
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"{self.count}/{self.total} runs done{failed}, {clock(time.perf_counter() - self.start)} elapsed"
                + (f", about {clock(eta)} left" if eta is not None and self.count < self.total else ""))

    def line(self, text: str) -> None:
        r"""A message (above the bar, or a line)."""
        with self._lock:
            self.last = time.perf_counter()
            if self.mode == "none":
                return
            if self.bar is not None:
                self.bar.write(text, file=sys.stderr)
            else:
                self._log(text)

    def done(self, spec: RunSpec, outcome: dict[str, Any]) -> None:
        r"""One run is over (or was reused, stopped or cancelled)."""
        self.count += 1
        if outcome.get("action") not in (RunAction.REUSED, RunAction.CANCELLED):
            self.cost_done += cost(spec)
        else:  # no time spent: it leaves the estimate
            self.cost_total = max(self.cost_total - cost(spec), self.cost_done)
        self.failed += outcome.get("status") == RunStatus.FAILED
        extra = f": {outcome['error']}" if outcome.get("error") else ""
        note = f" ({outcome['note']})" if outcome.get("note") else ""
        if self.bar is not None:
            self.bar.set_postfix_str(f"{spec.name}: {outcome['status']}", refresh=False)
            self.bar.update(1)
            if extra or note:
                self.line(f"{spec.name}: {outcome['action']}, {outcome['status']}{extra}{note}")
        else:
            self.line(f"[{self.count}/{self.total}] {spec.name}: {outcome['action']}, {outcome['status']}{extra}"
                      f"{note}; {self._status()}")

    def _beat(self, every: float) -> None:
        while not self._closed.wait(min(every, 5.0)):
            if time.perf_counter() - self.last >= every:
                self.line(f"compare: {self._status()}")

    def close(self) -> None:
        self._closed.set()
        if self.bar is not None:
            self.bar.close()
