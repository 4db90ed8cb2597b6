"""Shared pytest configuration: the Hypothesis profile (``hypothesis_profiles``) and small helpers."""
import os

import pytest
import torch

import hypothesis_profiles  # noqa: F401  (registers and loads the Hypothesis profile before any test module)

# Tests are small; one intra-op thread per pytest worker avoids oversubscribing the 2 cores.
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _private_data_cache(tmp_path_factory):
    r"""Derived data caches (parsed chorales, digits) go to a temporary folder, never the user's cache."""
    if "URNN_ZOO_CACHE" in os.environ:  # an explicit cache (e.g. CI's) is kept
        yield
        return
    os.environ["URNN_ZOO_CACHE"] = str(tmp_path_factory.mktemp("urnn_zoo_cache"))
    yield
    del os.environ["URNN_ZOO_CACHE"]


def pytest_collection_modifyitems(config, items):
    r"""Skip tests marked ``cuda`` cleanly when no GPU is present."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skipif(True, reason="needs a CUDA device; none is present")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped cleanly without one)")
    config.addinivalue_line("markers", "slow: a short training run (seconds, not minutes)")
