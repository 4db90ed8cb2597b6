r"""Users' own cells and tasks: entry points (``urnn_zoo.cells``, ``urnn_zoo.tasks``) and ``--import`` reach every
tool; the contract helper ``urnn_zoo.testing`` passes the zoo's cells and catches each kind of broken cell; the
example package ``examples/urnn_zoo_example_cell`` installed in a throwaway virtualenv is found by ``urnn-zoo
cells``, ``compare``, ``report``, ``train``, the asv suite and the contract helper."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import urnn_zoo as uz
from urnn_zoo import plugins, testing
from urnn_zoo.cells.contract import _REGISTRY as CELLS
from urnn_zoo.cells.base import RecurrentCell
from urnn_zoo.compare import compare
from urnn_zoo.plugins import PluginError
from urnn_zoo.tasks.base import _REGISTRY as TASKS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "urnn_zoo_example_cell"
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")

# The contract helper on zoo cells of each kind: a real cell with torch's kernel, a gated one (stacked gates), a
# complex modReLU one (the probe of its linear part applies).
TestZooCellsContract = testing.contract_tests("rnn", "lstm", "eurnn")


# ----------------------------------------------------------------------------------------- entry points
@pytest.fixture
def distribution(tmp_path, monkeypatch):
    r"""``install(name, modules, entry_points)``: an installed distribution made by hand (a module folder and its
    ``.dist-info`` with ``entry_points.txt``, on ``sys.path``), as pip leaves one; the registries load it afresh.
    Everything it registered is removed afterwards."""
    cells, tasks = set(CELLS), set(TASKS)
    monkeypatch.setattr(plugins, "_LOADED", set())
    added: list[str] = []

    def install(name: str, modules: dict[str, str], entry_points: str) -> None:
        site = tmp_path / f"site-{name}"
        info = site / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
        for module, code in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(code))
            added.append(module)
        monkeypatch.syspath_prepend(str(site))
        plugins._LOADED.clear()

    yield install
    for module in added:
        sys.modules.pop(module, None)
    for name in set(CELLS) - cells:
        del CELLS[name]
    for name in set(TASKS) - tasks:
        del TASKS[name]


CELL_MODULE = """
    import torch
    from torch import nn
    from urnn_zoo.cells.base import RecurrentCell

    LOADS = []
    LOADS.append(1)

    class Damped(RecurrentCell):
        r'''h_t = tanh(d * h_{t-1} + U x_t), a diagonal recurrence (a test plug-in).'''
        name = "damped"

        def __init__(self, input_size, hidden_size, *, dtype=None, device=None):
            super().__init__(input_size, hidden_size, is_complex=False)
            self.d = nn.Parameter(torch.full((hidden_size,), 0.5, dtype=dtype, device=device))
            self.input = nn.Linear(input_size, hidden_size, dtype=dtype, device=device)

        def recurrent_matrix(self):
            return torch.diag(self.d)

        def prepare(self):
            return None

        def project_input(self, x):
            return self.input(x)

        def recur(self, u, h, ctx):
            return torch.tanh(self.d * h + u)

        def recurrent_parameters(self):
            return [self.d]
"""

TASK_MODULE = """
    from urnn_zoo.tasks.copy import CopyTask

    class ShortCopy(CopyTask):
        name = "short_copy"
"""


def test_an_entry_point_cell_is_in_the_registry_and_the_asv_suite(distribution):
    sys.path.insert(0, str(ROOT))
    try:
        import benchmarks.common as common
    finally:
        sys.path.remove(str(ROOT))
    distribution("damped-cells", {"damped_cells": CELL_MODULE}, """
        [urnn_zoo.cells]
        damped = damped_cells:Damped
    """)
    assert "damped" in common.registered_cell_names() and "damped_cells" not in sys.modules  # asv: no import
    assert "damped" in uz.cell_names() and "damped" in uz.cell_names()
    assert sys.modules["damped_cells"].LOADS == [1]  # loaded once, lazily
    out, _ = uz.make_cell("damped", 3, 8)(torch.randn(4, 2, 3))
    assert out.shape == (4, 2, 8)


def test_an_entry_point_task_is_in_the_registry(distribution):
    distribution("short-copy", {"short_copy_task": TASK_MODULE}, """
        [urnn_zoo.tasks]
        short_copy = short_copy_task:ShortCopy
    """)
    assert "short_copy" in uz.task_names()
    assert uz.make_task("short_copy", T=4).input_size == 10


@pytest.mark.parametrize("module,entry,text", [
    ("import no_such_dependency\n", "broken = broken_cells:Thing",
     r"entry point 'broken' = 'broken_cells:Thing' of group 'urnn_zoo.cells' \(from broken-cells 1.0\) failed to "
     r"load: ModuleNotFoundError: No module named 'no_such_dependency'; fix or uninstall that package"),
    (CELL_MODULE, "broken = broken_cells:Damped",
     r"expected a RecurrentCell subclass whose name is 'broken' \(the entry point is named as the cell\), got "
     r"class Damped registered as 'damped'"),
    (CELL_MODULE, "broken = broken_cells", r"expected a RecurrentCell subclass whose name is 'broken'.*got module "
                                           r"'broken_cells', which registers no cell 'broken'"),
    (CELL_MODULE.replace('name = "damped"', 'name = "kru"'), "kru = broken_cells:Damped",
     r"failed to load: TypeError: cell name 'kru' is already registered by KRU"),
])
def test_a_broken_entry_point_is_named_on_every_use(distribution, module, entry, text):
    distribution("broken-cells", {"broken_cells": module}, f"[urnn_zoo.cells]\n{entry}\n")
    for _ in range(2):  # not once and then silently missing
        with pytest.raises(PluginError, match=text) as caught:
            uz.cell_names()
        assert "\n" not in str(caught.value)
    assert CELLS["kru"].__module__ == "urnn_zoo.cells.kru"  # the family keeps its name


# ----------------------------------------------------------------------------------------- --import
def _cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "urnn_zoo.cli", *argv], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=300)


def test_import_brings_a_module_of_cells_to_every_command_and_every_worker(tmp_path):
    (tmp_path / "my_cells.py").write_text(textwrap.dedent(CELL_MODULE))
    listed = _cli(["cells", "--hidden", "8", "--import", "my_cells"], tmp_path)
    assert listed.returncode == 0 and any(line.startswith("damped ") for line in listed.stdout.splitlines())
    ran = _cli(["compare", "--preset", "smoke", "--import", "my_cells", "--cells", "damped", "rnn", "--tasks", "copy",
                "--jobs", "2", "--no-timing", "--progress", "none", "--out", "grid"], tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    manifest = json.loads((tmp_path / "grid" / "compare.json").read_text())
    assert {r["cell"] for r in manifest["runs"]} == {"damped", "rnn"}
    assert all(r["status"] == "finished" for r in manifest["runs"])  # the workers imported my_cells too
    refused = _cli(["cells", "--import", "not_a_module"], tmp_path)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        f"urnn-zoo cells: error: --import not_a_module: expected a module importable from {tmp_path} or the "
        "environment, got no module named 'not_a_module'"]
    unknown = _cli(["cells", "--import", "my_cells", "--import", "1x"], tmp_path)
    assert unknown.returncode == 2 and "expected a module name such as my_cells" in unknown.stderr


def test_a_cell_of_a_script_is_refused_for_cluster_jobs_before_anything_is_written(tmp_path):
    class Scripted(RecurrentCell):
        name = "scripted"

    Scripted.__module__ = "__main__"
    try:
        with pytest.raises(ValueError, match=r"cells/tasks \['scripted'\]: expected classes of an importable module"):
            compare("smoke", tmp_path / "new", cells=["scripted"], executor="slurm", quiet=True)
    finally:
        del CELLS["scripted"]
    assert not (tmp_path / "new").exists()


# ----------------------------------------------------------------------------------------- the contract helper
@pytest.fixture
def broken_cell():
    r"""``register(cls)``: a cell class registered for one test (removed afterwards)."""
    names: list[str] = []

    def register(make):
        cls = make()
        names.append(cls.name)
        return cls.name

    yield register
    for name in names:
        CELLS.pop(name, None)


def _tanh_cell(name_: str, **overrides):
    attrs = dict(
        name=name_,
        __init__=lambda self, input_size, hidden_size, *, dtype=None, device=None: _init(self, input_size,
                                                                                          hidden_size, dtype, device),
        recurrent_matrix=lambda self: self.w,
        prepare=lambda self: self.w,
        project_input=lambda self, x: self.input(x),
        recur=lambda self, u, h, w: torch.tanh(h @ w.mT + u),
        recurrent_parameters=lambda self: [self.w],
    )
    attrs.update(overrides)
    return lambda: type(f"Broken_{name_}", (RecurrentCell,), attrs)


def _init(self, input_size, hidden_size, dtype, device):
    RecurrentCell.__init__(self, input_size, hidden_size, is_complex=False)
    self.w = nn.Parameter(torch.randn(hidden_size, hidden_size, dtype=dtype, device=device) / hidden_size ** 0.5)
    self.input = nn.Linear(input_size, hidden_size, dtype=dtype, device=device)


def test_the_helper_passes_a_correct_cell(broken_cell, tmp_path):
    name = broken_cell(_tanh_cell("plain_tanh"))
    for seed in (0, 1):
        testing.check_forward_equals_steps(name, 8, seed, 4, 2)
        testing.check_unitarity(name, 8, seed)
    testing.check_parameter_count(name, 8)
    testing.check_trains_and_resumes_exactly(name, 8, tmp_path)


@pytest.mark.parametrize("defect,check", [
    ("step differs from forward", lambda n, tmp: testing.check_forward_equals_steps(n, 8, 0, 4, 2)),
    ("unitarity_error is not the error of W", lambda n, tmp: testing.check_unitarity(n, 8, 0)),
    ("declared exact but not unitary", lambda n, tmp: testing.check_unitarity(n, 8, 0)),
    ("a dof count above the stored count", lambda n, tmp: testing.check_parameter_count(n, 8)),
    ("size refused only after building", lambda n, tmp: testing.check_size_rule(n, 7)),
    ("state outside the state_dict", lambda n, tmp: testing.check_trains_and_resumes_exactly(n, 8, tmp)),
])
def test_the_helper_catches_each_kind_of_broken_cell(broken_cell, tmp_path, defect, check):
    def odd_refused_late(self, input_size, hidden_size, *, dtype=None, device=None):
        _init(self, input_size, hidden_size, dtype, device)
        if hidden_size % 2:
            raise uz.InadmissibleSizeError(f"hidden_size must be even, got {hidden_size}")

    def count_steps(self):
        self.steps += 1

    def stepping_init(self, input_size, hidden_size, *, dtype=None, device=None):
        _init(self, input_size, hidden_size, dtype, device)
        self.steps = 0  # changes what the step computes, and no checkpoint holds it

    overrides = {
        "step differs from forward": dict(step=lambda self, x, state=None: tuple(
            v + 1e-6 if i == 0 else v for i, v in enumerate(RecurrentCell.step(self, x, state)))),
        "unitarity_error is not the error of W": dict(unitarity_error=lambda self: torch.zeros(
            (), dtype=self.real_dtype)),
        "declared exact but not unitary": dict(constraint="exact"),
        "a dof count above the stored count": dict(recurrent_dof=lambda self: 10 ** 6),
        "size refused only after building": dict(__init__=odd_refused_late),
        "state outside the state_dict": dict(__init__=stepping_init, on_optimizer_step=count_steps,
                                             recur=lambda self, u, h, w: torch.tanh(h @ w.mT + u + 1e-3 * self.steps)),
    }[defect]
    name = broken_cell(_tanh_cell(f"broken_{len(CELLS)}", **overrides))
    with pytest.raises(AssertionError):
        check(name, tmp_path)


def test_contract_tests_refuses_unknown_cells():
    with pytest.raises(ValueError, match=r"expected registered cell names .*, got \['nope'\]"):
        testing.contract_tests("nope")


# ----------------------------------------------------------------------------------------- the example package
@pytest.fixture(scope="module")
def example_venv(tmp_path_factory) -> Path:
    r"""A throwaway virtualenv (not the project's) with the example package installed in it; it sees the project's
    packages (torch, urnn_zoo) through a ``.pth`` file instead of installing them again."""
    root = tmp_path_factory.mktemp("example")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    project_site = sysconfig.get_paths()["purelib"]
    # addsitedir, not a bare path: the project's own .pth files (its editable urnn_zoo) are read too.
    Path(site, "_urnn_zoo_project.pth").write_text(f"import site; site.addsitedir({project_site!r})\n")
    source = root / "urnn_zoo_example_cell"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet",
                    str(source)], check=True, timeout=300, env=ENV, cwd=root)
    return venv


def _in_venv(venv: Path, args: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "python"), *args], cwd=cwd, env={**ENV, **env}, capture_output=True,
                          text=True, timeout=600)


def test_the_example_cell_is_found_by_every_tool(example_venv, tmp_path):
    assert "givens" not in uz.cell_names()  # installed in the throwaway environment only
    cli = ["-m", "urnn_zoo.cli"]
    listed = _in_venv(example_venv, [*cli, "cells", "--hidden", "8"], tmp_path)
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith("givens "))
    assert row[:7] == ["givens", "exact", "real", "95", "95", "7", "7"], listed.stdout  # 7 angles at N = 8
    ran = _in_venv(example_venv, [*cli, "compare", "--preset", "smoke", "--cells", "givens", "rnn", "--out", "grid",
                                  "--progress", "none"], tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    manifest = json.loads((tmp_path / "grid" / "compare.json").read_text())
    givens = [r for r in manifest["runs"] if r["cell"] == "givens"]
    assert givens and all(r["status"] == "finished" for r in manifest["runs"])
    report = _in_venv(example_venv, [*cli, "report", "--runs", "grid", "--out", "report"], tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    coverage = (tmp_path / "report" / "tables" / "coverage.csv").read_text()
    assert any(line.startswith("givens,ok") for line in coverage.splitlines()), coverage
    table = (tmp_path / "report" / "tables" / "table-copy-t-5-n-8.csv").read_text()
    assert any(line.startswith("givens,") for line in table.splitlines()), table
    trained = _in_venv(example_venv, [*cli, "train", "--cell", "givens", "--task", "adding", "--T", "5", "--hidden",
                                      "8", "--steps", "2", "--eval-every", "1", "--progress", "none", "--out", "runs"],
                       tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert json.loads((tmp_path / trained.stdout.strip() / "summary.json").read_text())["cell"] == "givens"
    asv = _in_venv(example_venv, ["-c", "import sys, benchmarks.common as c; print(' '.join(c.CELLS)); "
                                        "print('urnn_zoo_example_cell' in sys.modules)"], ROOT)
    names, imported = asv.stdout.split("\n")[:2]
    assert "givens" in names.split() and imported == "False", asv.stderr  # asv's list, without importing it
    contract = _in_venv(example_venv, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                        example_venv.parent / "urnn_zoo_example_cell", HYPOTHESIS_PROFILE="quick")
    assert contract.returncode == 0, contract.stdout[-3000:]
    passed = contract.stdout.strip().splitlines()[-1]
    assert "passed" in passed and "failed" not in passed and "skipped" not in passed, passed
    print(f"the example's contract tests: {passed}")
