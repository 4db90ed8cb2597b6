r"""Hypothesis profiles of the test suite, and :func:`examples`, the per-test example budget.

Profiles (selected by ``HYPOTHESIS_PROFILE``; ``ci`` when ``CI`` is set, ``dev`` otherwise):

- ``dev``: 25 examples per property, random.
- ``ci``: 25 examples per property, derandomised, no example database (a CI run is reproducible).
- ``thorough``: 500 examples per property, for long local runs.

A test whose examples are expensive takes a share of the profile's budget with ``@settings(max_examples=
examples(k))`` instead of pinning a constant: a ``settings`` object given to a test wins over the loaded
profile, so a constant would run the same count under every profile.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Note [Hypothesis profiles]
# `deadline=None` always: torch's first call of an operator (and oneDNN's JIT) can take far longer
# than later calls, which Hypothesis would report as a flaky deadline.
BASE_EXAMPLES = 25  # the dev and ci budget; `examples(k)` means "k examples where the profile gives 25"
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=BASE_EXAMPLES, **_COMMON)
settings.register_profile(
    "ci", max_examples=BASE_EXAMPLES, derandomize=True, database=None, print_blob=True, **_COMMON
)
settings.register_profile("thorough", max_examples=20 * BASE_EXAMPLES, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
settings.load_profile(PROFILE)


def examples(k: int) -> int:
    r"""The example count of a test that runs ``k`` examples under the 25-example profiles (``dev``, ``ci``),
    scaled by the loaded profile's budget: ``k`` under ``dev``/``ci``, ``20·k`` under ``thorough``.

    Raises:
        ValueError: ``k`` is not a positive integer.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"examples(k): expected a positive integer k, got {k!r}")
    return max(1, round(k * settings.default.max_examples / BASE_EXAMPLES))
