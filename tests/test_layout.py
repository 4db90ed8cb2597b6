r"""The package layout: the execution engine (urnn_zoo.engine), the cache folder (urnn_zoo.cache), the KRU factor
helpers (urnn_zoo.kron) and the split cell contract each live in their own module, and every import path that
existed before the split still gives the same objects."""
from __future__ import annotations

import ast
import importlib
import pickle
from pathlib import Path
from unittest import mock

import pytest

import urnn_zoo
import urnn_zoo.cells.base as base
from urnn_zoo import engine
from urnn_zoo.engine import kernels, recurrence, step_activations

# dir() of urnn_zoo.cells.base before it was split (dunder names left out), as that module defined it.
OLD_BASE_NAMES = [
    "Any", "CONSTRAINTS", "Callable", "ClassVar", "ComplexInput", "DenseMap", "DenseStepCell",
    "InadmissibleSizeError", "LinearMap", "ModReLU", "NamedTuple", "PRECISIONS", "ParamCount", "RecurrentCell",
    "SKEW_INITS", "SequenceModel", "Tensor", "_REGISTRY", "_fused_activation", "_keep_complex", "_keyword_options",
    "_load_families", "_positive_int", "_reject_unknown", "annotations", "boolean", "cell_class", "cell_names",
    "cell_options", "check", "complex_dtype_of", "frobenius_unitarity_error", "fused_recurrence", "inspect",
    "make_cell", "math", "nn", "parametrize", "real_dtype_of", "skew_init", "stored_reals", "torch",
]
OLD_BASE_ALL = [
    "InadmissibleSizeError", "ParamCount", "RecurrentCell", "DenseStepCell", "SequenceModel", "cell_names",
    "make_cell", "complex_dtype_of", "real_dtype_of", "stored_reals", "frobenius_unitarity_error", "ComplexInput",
    "PRECISIONS",
]
# Where each name of the old base module is defined now.
NEW_HOMES = {
    "urnn_zoo.cells.contract": ["CONSTRAINTS", "InadmissibleSizeError", "ParamCount", "RecurrentCell", "_REGISTRY",
                                "_fused_activation", "_keyword_options", "_positive_int", "_reject_unknown",
                                "stored_reals"],
    "urnn_zoo.cells.registry": ["_load_families", "cell_class", "cell_names", "cell_options", "make_cell"],
    "urnn_zoo.cells.precision": ["PRECISIONS", "_keep_complex", "complex_dtype_of", "real_dtype_of"],
    "urnn_zoo.cells.shared": ["ComplexInput", "DenseStepCell", "SKEW_INITS", "skew_init", "frobenius_unitarity_error"],
    "urnn_zoo.cells.sequence": ["SequenceModel"],
    "urnn_zoo.engine.recurrence": ["DenseMap", "LinearMap", "fused_recurrence"],
}
# Modules of urnn_zoo/cells that are no family: the contract and the shared parts every family may import.
NOT_FAMILIES = {"__init__", "base", "contract", "registry", "precision", "shared", "sequence", "unitarity"}
CELLS = Path(urnn_zoo.__file__).parent / "cells"


@pytest.mark.parametrize("name", OLD_BASE_NAMES)
def test_every_old_base_name_still_imports(name):
    assert hasattr(base, name), f"urnn_zoo.cells.base lost {name!r}"


def test_old_base_all_is_kept():
    assert list(base.__all__) == OLD_BASE_ALL
    for name in OLD_BASE_ALL:
        assert getattr(urnn_zoo.cells.base, name) is getattr(base, name)


@pytest.mark.parametrize("module, names", sorted(NEW_HOMES.items()))
def test_base_reexports_the_definitions_themselves(module, names):
    new = importlib.import_module(module)
    for name in names:
        assert getattr(base, name) is getattr(new, name), f"{name}: base and {module} hold different objects"


def test_size_error_keeps_its_public_name():
    # docs/cell-contract.md shows the traceback line; the error's public home stays urnn_zoo.cells.base.
    with pytest.raises(base.InadmissibleSizeError) as info:
        base.make_cell("eurnn", 3, 5)
    assert f"{type(info.value).__module__}.{type(info.value).__qualname__}" == "urnn_zoo.cells.base.InadmissibleSizeError"
    assert pickle.loads(pickle.dumps(info.value)).args == info.value.args


@pytest.mark.parametrize("old, new", [
    ("urnn_zoo.recurrence", recurrence), ("urnn_zoo.step_activations", step_activations),
    ("urnn_zoo.kernels", kernels),
])
def test_old_engine_paths_are_the_engine_modules(old, new):
    # The same module object, so a patch through the old name reaches the code the cells run.
    assert importlib.import_module(old) is new
    assert new.__name__.startswith(engine.__name__ + ".")


def test_a_patch_through_the_old_kernel_path_reaches_the_engine():
    import urnn_zoo.kernels as old_kernels

    with mock.patch.object(old_kernels, "_library", lambda: None):
        assert not kernels.available()


def test_pickles_naming_the_old_engine_paths_load():
    # Protocol-0 GLOBAL opcodes, as a pickle written before the move names the classes.
    assert pickle.loads(b"curnn_zoo.step_activations\n_ComplexModReLU\n.") is step_activations._ComplexModReLU
    assert pickle.loads(b"curnn_zoo.recurrence\nDenseMap\n.") is recurrence.DenseMap
    assert pickle.loads(b"curnn_zoo.cells.base\nSequenceModel\n.") is base.SequenceModel


def test_the_cache_folder_has_one_home():
    import urnn_zoo.cache as cache
    import urnn_zoo.data as data
    import urnn_zoo.data.cache as data_cache

    assert data_cache.cache_dir is cache.cache_dir is data.cache_dir
    assert data_cache.CACHE_ENV == cache.CACHE_ENV == data.CACHE_ENV
    assert kernels.cache_dir is cache.cache_dir


def test_kru_reexports_the_factor_helpers_from_kron():
    import urnn_zoo.cells.kru as kru
    import urnn_zoo.kron as kron

    for name in ("square_factor_sizes", "init_factor", "forms_dense", "split_in_two", "AUTO_DENSE_MAX_N",
                 "STRATEGIES", "IDENTITY_NOISE_STD"):
        assert getattr(kru, name) is getattr(kron, name)
    assert kru.INITS is kron.FACTOR_INITS


@pytest.mark.parametrize("path", sorted(p for p in CELLS.glob("*.py") if p.stem not in NOT_FAMILIES),
                         ids=lambda p: p.stem)
def test_no_family_imports_another_family(path):
    tree = ast.parse(path.read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    families = {f"urnn_zoo.cells.{p.stem}" for p in CELLS.glob("*.py") if p.stem not in NOT_FAMILIES}
    assert not (imported & families) - {f"urnn_zoo.cells.{path.stem}"}, f"{path.name} imports another family"


def test_the_engine_imports_no_cell():
    for path in Path(engine.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(m.startswith("urnn_zoo.cells") for m in modules), f"{path.name} imports a cell module"
