r"""Whether a run that ran to its end diverged: its result is garbage although no value became NaN.

Note [Diverged]
    A run that finished (or early-stopped) is ``diverged`` when

    1. its final value of the task's first metric (lower is better for every task) is not finite, or is more
       than :data:`DIVERGENCE_FACTOR` (10) times the larger of the memoryless baseline and the untrained
       model's validation value (step 0). The untrained model is in the reference because it can sit far
       above the baseline without anything having gone wrong: on copy with T = 1000 the baseline is
       10·ln 8/1020 = 0.020 nats while a uniform prediction over 9 classes costs ln 9 = 2.2; a run only
       diverged when training made it an order of magnitude worse than both (with ``lr`` 1e6 copy losses
       reach 1e5 to 1e12). Without the untrained value (a record of schema 0 without ``metrics.csv``) the
       baseline alone is the reference.
    2. its cell is exactly unitary or orthogonal by construction (``constraint == "exact"``) and its last
       unitarity error ‖WᴴW − I‖_F exceeds τ = N·sqrt(eps) of its dtype (float32: 3.5e-4·N, float64:
       1.5e-8·N), or is not finite. At exact unitarity one evaluation gives about N·eps (measured after 150
       training steps at N = 64: 1e-6 to 7e-6 in float32, 2e-15 to 2e-14 in float64, every exact cell);
       sqrt(eps) leaves a factor 3e3 (float32) to 7e7 (float64) above that for rounding accumulated over long
       runs, while an exact cell that diverged is off by O(1) or more (expRNN with ``lr`` 1e6: 156.5 at
       N = 128).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["DIVERGENCE_FACTOR", "divergence", "unitarity_tolerance"]

DIVERGENCE_FACTOR = 10.0


def unitarity_tolerance(dtype: str, hidden: int) -> float:
    r"""τ = N·sqrt(eps) of ``dtype`` (Note [Diverged]): the largest ‖WᴴW − I‖_F of an exact cell that has
    not diverged.

    Example:
        >>> round(unitarity_tolerance("float32", 100), 4)
        0.0345
    """
    return hidden * math.sqrt(float(np.finfo(np.dtype(dtype)).eps))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def divergence(summary: dict[str, Any]) -> str | None:
    r"""Why a run diverged (Note [Diverged]), one clause per criterion met, joined by ``; ``; ``None`` when it
    did not, or when the summary has no final value to judge (an unfinished run).

    Args:
        summary: a run's summary (``metric``, ``final``, ``baseline``, ``initial``, ``constraint``,
            ``unitarity_error``, ``dtype``, ``hidden``).
    """
    metric, final = summary.get("metric"), summary.get("final") or {}
    if metric not in final:
        return None
    reasons = []
    value = _number(final[metric])
    if value is None or not math.isfinite(value):
        reasons.append(f"its final test {metric} is {final[metric]!r}")
    else:
        references = [(name, float(v)) for name, v in (
            ("the memoryless baseline", (summary.get("baseline") or {}).get(metric)),
            ("the untrained model", (summary.get("initial") or {}).get(metric)))
            if _number(v) is not None and math.isfinite(float(v))]
        if references:
            name, reference = max(references, key=lambda item: item[1])
            if value > DIVERGENCE_FACTOR * reference:
                reasons.append(f"its final test {metric} {value:.4g} is more than {DIVERGENCE_FACTOR:g} times that "
                               f"of {name} ({reference:.4g})")
    error = _number(summary.get("unitarity_error"))
    hidden, dtype = summary.get("hidden"), summary.get("dtype")
    if summary.get("constraint") == "exact" and error is not None and isinstance(hidden, int) and dtype:
        tolerance = unitarity_tolerance(dtype, hidden)
        if not math.isfinite(error) or error > tolerance:
            reasons.append(f"its cell is exactly unitary by construction, but its unitarity error "
                           f"||W^H W - I||_F is {error:.4g}, above the {dtype} tolerance {tolerance:.3g} at "
                           f"N={hidden}")
    return "; ".join(reasons) or None
