r"""The Hypothesis profile decides every property's example count (no test pins a constant that wins over it)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import hypothesis_profiles

TESTS = Path(__file__).resolve().parent

# Imports every test module under one profile and prints {test id: max_examples} for each @given test.
_PROBE = r"""
import importlib.util, inspect, json, sys
sys.path.insert(0, sys.argv[1])
import hypothesis_profiles  # loads the profile named by HYPOTHESIS_PROFILE
from hypothesis import settings

def budget(fn):
    for f in (fn, getattr(fn.hypothesis, "inner_test", None)):
        s = getattr(f, "_hypothesis_internal_use_settings", None)
        if s is not None:
            return s.max_examples
    return settings.default.max_examples

found = {}
for path in sorted(__import__("pathlib").Path(sys.argv[1]).glob("test_*.py")):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    owners = [module] + [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == path.stem]
    for owner in owners:
        for name, fn in vars(owner).items():
            if callable(fn) and hasattr(fn, "hypothesis"):
                prefix = path.stem if owner is module else f"{path.stem}::{owner.__name__}"
                found[f"{prefix}::{name}"] = budget(fn)
print(json.dumps(found))
"""


def _budgets(profile: str) -> subprocess.Popen:
    env = {**os.environ, "HYPOTHESIS_PROFILE": profile}
    return subprocess.Popen([sys.executable, "-c", _PROBE, str(TESTS)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_every_property_takes_its_example_count_from_the_profile():
    runs = {p: _budgets(p) for p in ("dev", "thorough")}
    budgets = {}
    for profile, proc in runs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        budgets[profile] = json.loads(out)
    dev, thorough = budgets["dev"], budgets["thorough"]
    assert dev.keys() == thorough.keys()
    assert len(dev) >= 60, f"expected the suite's property tests, found only {len(dev)}"
    ratio = 20  # thorough's budget over dev's (500 / 25)
    pinned = {t: (dev[t], thorough[t]) for t in dev if thorough[t] != ratio * dev[t]}
    assert not pinned, f"tests whose example count ignores the profile (dev, thorough): {pinned}"


def test_examples_scales_the_loaded_profile():
    from hypothesis import settings

    assert hypothesis_profiles.examples(hypothesis_profiles.BASE_EXAMPLES) == settings.default.max_examples
    assert hypothesis_profiles.examples(1) >= 1
