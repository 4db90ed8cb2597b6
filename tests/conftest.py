"""Shared pytest configuration: the Hypothesis profile (``hypothesis_profiles``), the private data cache, the end
of every child process a test started (``processes``), and the ``cuda`` and ``slow`` markers."""
import os

import pytest
import torch

import hypothesis_profiles  # noqa: F401  (registers and loads the Hypothesis profile before any test module)
import processes

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


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test():
    r"""Whatever a test started with ``processes.start`` is killed with its whole process group when the test
    ends, passed or failed."""
    yield
    processes.kill_started()


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
