r"""Hypothesis profiles of the example's tests: ``HYPOTHESIS_PROFILE=quick`` for a fast run (urnn_zoo's CI)."""
import os

from hypothesis import settings

settings.register_profile("quick", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
