"""The cell contract (docs/cell-contract.md) over every registered cell: a new cell is covered by registering it.

Every property that a user's cell is checked for too is one ``check_*`` function of :mod:`urnn_zoo.testing`,
called here on every zoo cell; what holds for the zoo's cells alone (its gated cells' four gates, the declared
fused activation, h0, the row convention) is asserted here besides."""
import ast
import math
from pathlib import Path
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

import urnn_zoo as uz
from urnn_zoo import testing
from urnn_zoo.cells import base, registry
from urnn_zoo.cells.execution import FusedActivation
from urnn_zoo.cells.shared import RowMatrixCell
from urnn_zoo.engine.recurrence import ACTIVATIONS, _FusedRecurrence
from hypothesis_profiles import examples

CELLS = uz.cell_names()
N = testing.contract_size(CELLS)  # the smallest N >= 8 all admit
seeds = testing.SEEDS
GATED = ("kru_lstm", "lstm")  # the zoo's gated cells: state (h, c), four gates i, f, g, o


def build(name, dtype=torch.float64, seed=0, hidden=N, **options):
    return testing.build_cell(name, hidden, dtype, seed, **options)


sequence = testing.input_sequence


def test_registry_has_every_family_of_design():
    expected = {"kru", "kru_lstm", "lstm", "rnn"}
    assert expected <= set(CELLS)
    assert list(CELLS) == sorted(CELLS)


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown cell 'nope'.*kru"):
        uz.make_cell("nope", 1, 4)


# ----------------------------------------------------------------------------- the contract's properties
@pytest.mark.parametrize("name", CELLS)
def test_unknown_options_and_precisions_are_refused(name):
    testing.check_options_refused(name, N)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_dtypes(name, dtype):
    testing.check_shapes_and_dtypes(name, N, dtype)
    # The zoo's gated cells are exactly the ones with an (h, c) state, and stack four real gates (the check
    # allows any k·N rows for a gated cell of a user's own).
    cell = build(name, dtype)
    w = cell.recurrent_matrix()
    assert isinstance(cell.initial_state(2), tuple) == (name in GATED)
    assert w.shape == ((4 * N, N) if name in GATED else (N, N))
    assert not (name in GATED and w.is_complex())


@pytest.mark.parametrize("name", CELLS)
@settings(max_examples=examples(4))
@given(seed=seeds, T=st.integers(1, 6), B=st.integers(1, 4))
def test_forward_equals_loop_of_step(name, seed, T, B):
    testing.check_forward_equals_steps(name, N, seed, T, B)  # and state=None is initial_state(B), to the bit


@pytest.mark.parametrize("name", CELLS)
@settings(max_examples=examples(3))
@given(seed=seeds)
def test_gradients_are_finite_and_reach_every_parameter(name, seed):
    testing.check_gradients(name, N, seed)


@pytest.mark.parametrize("name", CELLS)
def test_state_dict_round_trip(name):
    testing.check_state_dict_round_trip(name, N)


@pytest.mark.parametrize("name", CELLS)
@settings(max_examples=examples(3))
@given(seed=seeds)
def test_batch_elements_are_independent(name, seed):
    testing.check_batch_independence(name, N, seed)


@pytest.mark.parametrize("name", CELLS)
def test_bad_input_rejected_with_a_clear_error(name):
    testing.check_bad_input_refused(name, N)


@pytest.mark.parametrize("name", CELLS)
def test_parameter_count_is_consistent(name):
    testing.check_parameter_count(name, N)  # and SequenceModel's readouts and head


@pytest.mark.parametrize("name", CELLS)
@settings(max_examples=examples(3))
@given(seed=seeds)
def test_unitarity_error_is_the_error_of_the_recurrent_matrix(name, seed):
    testing.check_unitarity(name, N, seed)


@pytest.mark.slow
@pytest.mark.parametrize("name", CELLS)
def test_trains_and_resumes_exactly(name, tmp_path):
    testing.check_trains_and_resumes_exactly(name, N, tmp_path)


def test_sequence_model_rejects_bad_readout():
    with pytest.raises(ValueError, match="readout must be 'last' or 'all', got 'first'"):
        uz.SequenceModel(build("rnn"), 2, readout="first")


@pytest.mark.parametrize("name", [n for n in CELLS if testing.uses_modrelu(n, N)])
@settings(max_examples=examples(4))
@given(seed=seeds)
def test_recurrent_matrix_is_the_map_the_step_applies(name, seed):
    testing.check_recurrent_matrix_is_applied(name, N, seed)  # Note [Probing the linear part]


def test_the_probe_runs_on_the_families_whose_papers_use_modrelu():
    # the uRNNs (Arjovsky et al. 2016; Wisdom et al. 2016), EURNN (Jing et al. 2017), KRU (Jose et al. 2018),
    # scoRNN (Helfrich et al. 2018) and expRNN (Lezcano-Casado & Martínez-Rubio 2019): the probe above is not empty
    papers = {"eurnn", "eurnn_fft", "exprnn", "fcurnn", "kru", "rcurnn", "scornn"}
    assert papers <= {n for n in CELLS if testing.uses_modrelu(n, N)}


@pytest.mark.cuda
@pytest.mark.parametrize("name", CELLS)
def test_runs_on_cuda(name):
    testing.check_runs_on_cuda(name, N)


# ----------------------------------------------------------------------------- the checks can fail
def _wrapped(name, method, change):
    r"""Patch the method ``method`` of the cell class ``name`` with ``change(original)`` (undone on exit)."""
    cls = base.cell_class(name)
    return mock.patch.object(cls, method, change(getattr(cls, method)))


def _ignoring_options(original):
    return classmethod(lambda cls, hidden, **options: original.__func__(cls, hidden))


# Each defect breaks a registered cell in one way a check is for (an assertion the zoo's tests made before the
# checks made it for every cell, or a refusal that is not raised, or not as the error promised); the check must
# report it as an AssertionError, as every check promises.
BROKEN = {
    "stacked W on a one-tensor state": (
        lambda: _wrapped("rnn", "recurrent_matrix", lambda f: lambda self: torch.cat([f(self), f(self)])),
        lambda: testing.check_shapes_and_dtypes("rnn", N, torch.float64)),
    "real W of a complex cell": (
        lambda: _wrapped("eurnn", "recurrent_matrix", lambda f: lambda self: f(self).real),
        lambda: testing.check_shapes_and_dtypes("eurnn", N, torch.float64)),
    "a (T, input_size) sequence taken for one batch": (
        lambda: _wrapped("rnn", "forward", lambda f: lambda self, x, state=None: f(
            self, x[:, None] if x.dim() == 2 else x, state)),
        lambda: testing.check_bad_input_refused("rnn", N)),
    "a (T, B, input_size) input taken by step": (
        lambda: _wrapped("rnn", "step", lambda f: lambda self, x, state=None: f(
            self, x[0] if x.dim() == 3 else x, state)),
        lambda: testing.check_bad_input_refused("rnn", N)),
    "a given state not checked (a (1, N) one broadcasts over the batch)": (
        lambda: mock.patch.object(base.RecurrentCell, "check_state", lambda *args: None),
        lambda: testing.check_bad_input_refused("kru", N)),
    "an unknown option passed on to the cell": (
        lambda: mock.patch.object(registry, "_reject_unknown", lambda *args: None),
        lambda: testing.check_options_refused("rnn", N)),
    "a size rule that ignores the options": (
        lambda: _wrapped("kru", "check_size", _ignoring_options),
        lambda: testing.check_size_rule("kru", 8, factors=[3, 3])),
}


@pytest.mark.parametrize("defect", list(BROKEN))
def test_each_check_reports_a_broken_cell_with_an_assertion_error(defect):
    patch, check = BROKEN[defect]
    check()  # the unbroken cell passes
    with patch(), pytest.raises(AssertionError):
        check()


# ----------------------------------------------------------------------------- admissible sizes
# Draws of the options a family's size rule reads (those the family has; every other option keeps its default,
# so building the cell can fail on the size alone). Sizes that are not positive ints are drawn too.
SIZE_OPTIONS = {
    "factors": st.none() | st.lists(st.integers(1, 5) | st.tuples(st.integers(1, 4), st.integers(1, 4)),
                                    min_size=1, max_size=3),
    "num_factors": st.integers(1, 4),
    "m": st.none() | st.integers(-1, 26),
    "rho": st.none() | st.integers(-1, 26),
}
ODD_SIZES = (0, -3, 8.0, True, "8", None)


@pytest.mark.parametrize("name", CELLS)
@settings(deadline=None)
@given(data=st.data())
def test_check_size_raises_exactly_when_building_raises_a_size_error(name, data):
    options = {k: data.draw(SIZE_OPTIONS[k], label=k) for k in uz.cell_options(name) if k in SIZE_OPTIONS}
    products = [math.prod(f if isinstance(f, int) else f[0] for f in options.get("factors") or [1])]
    n = data.draw(st.integers(1, 24) | st.sampled_from(ODD_SIZES + tuple(products)), label="N")
    # the same error (type, one-line message) from check_size and from building, before any module is built
    testing.check_size_rule(name, n, **options)


def test_inadmissible_size_error_is_a_value_error_exported_by_the_package():
    assert uz.InadmissibleSizeError is base.InadmissibleSizeError and issubclass(uz.InadmissibleSizeError, ValueError)
    with pytest.raises(ValueError, match=r"cell 'kru' got unknown option\(s\) \['bogus'\]"):
        base.cell_class("kru").check_size(8, bogus=1)


# ----------------------------------------------------------------------------- declared plug-in points
# Every cell with its default options, and the options that change which σ its step applies or whether it has a
# linear map for the fused loop.
DECLARATION_CASES = [(name, {}) for name in CELLS] + [
    ("kru", {"activation": "tanh", "complex_factors": False}), ("kru", {"complex_factors": False}),
    ("kru", {"strategy": "factored"}), ("ornn", {"activation": "modrelu"}), ("ornn", {"activation": "tanh"}),
    ("eurnn", {"complex_weights": False}), ("eurnn", {"strategy": "band"}), ("eurnn", {"strategy": "layers"}),
    ("eurnn_fft", {"complex_weights": False}), ("rcurnn", {"strategy": "fft"}), ("rcurnn", {"strategy": "dense"}),
]


def spy_fused():
    r"""Count the calls of the fused loop (a pass-through mock of ``_FusedRecurrence.apply``)."""
    return mock.patch.object(_FusedRecurrence, "apply", wraps=_FusedRecurrence.apply)


def reference_sigma(kind, bias, eps, z):
    r"""σ written from the papers, independent of urnn_zoo.activations: modReLU (Arjovsky, Shah, Bengio, ICML 2016,
    arXiv 1511.06464) with the zoo's ε (docs/conventions.md#modrelu): ReLU(m + b)·z/(m + ε), m = √(|z|² + ε), for
    a complex z; sign(z)·ReLU(|z| + b) for a real z; and tanh."""
    if kind == "tanh":
        return torch.tanh(z)
    if z.is_complex():
        m = torch.sqrt(z.real ** 2 + z.imag ** 2 + eps)
        return torch.relu(m + bias) * z / (m + eps)
    return torch.sign(z) * torch.relu(z.abs() + bias)


@pytest.mark.parametrize("name, options", DECLARATION_CASES,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}"
                              for n, o in DECLARATION_CASES])
@settings(deadline=None)
@given(seed=seeds, eps=st.floats(1e-8, 1e-1))
def test_the_declared_fused_activation_is_what_the_step_applies(name, options, seed, eps):
    # The expected value is the cell's own per-step reference, recur (cell.fused plays no part in it), against
    # σ(W h + u) for the σ the cell declares, W its recurrent matrix and σ written above from the papers.
    options = {**options, **({"eps": eps} if "eps" in uz.cell_options(name) else {})}
    cell = build(name, seed=seed, **options)
    declared = cell.fused_activation()
    with spy_fused() as spy:
        cell(sequence(seed))
    if declared is None:  # nothing declared: the per-step loop runs, whatever map the cell has
        assert spy.call_count == 0
        return
    with torch.no_grad():
        fused = cell.fused_map(cell.prepare())
    assert spy.call_count == (fused is not None)  # declared and mapped: the fused loop runs
    assert isinstance(declared, FusedActivation) and declared.kind in ACTIVATIONS
    assert (declared.bias is None) == (declared.kind == "tanh")
    g = torch.Generator().manual_seed(seed)
    if declared.bias is not None:  # the live parameter: a copy of it would leave the step's bias where it was
        with torch.no_grad():
            declared.bias.uniform_(-0.5, 0.5, generator=g)
        assert any(declared.bias is p for p in cell.parameters())
    h = torch.randn(3, N, dtype=cell.state_dtype, generator=g)
    u = torch.randn(3, N, dtype=cell.state_dtype, generator=g)
    bias = None if declared.bias is None else declared.bias.detach()
    with torch.no_grad(), torch.nn.utils.parametrize.cached():
        stepped = cell.recur(u, h, cell.prepare())
        expected = reference_sigma(declared.kind, bias, declared.eps, h @ cell.recurrent_matrix().mT + u)
    torch.testing.assert_close(stepped, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, learn", [(n, learn) for n in CELLS for learn in (False, True)
                                         if learn is False or "learn_initial_state" in uz.cell_options(n)])
def test_the_initial_state_is_the_declared_h0(name, learn):
    # h0 is declared by the contract on every cell: None (zeros) unless the family learns h_0.
    options = {"learn_initial_state": learn} if "learn_initial_state" in uz.cell_options(name) else {}
    cell = build(name, **options)
    assert (cell.h0 is not None) == learn
    state = cell.initial_state(4)
    if not isinstance(state, Tensor):  # gated cells: the pair (h, c), zeros
        assert all(torch.equal(s, torch.zeros(4, N, dtype=cell.state_dtype)) for s in state)
        return
    if learn:
        assert dict(cell.named_parameters())["h0"] is cell.h0 and cell.h0.shape == (N,)
        with torch.no_grad():
            cell.h0.copy_(torch.randn(N, dtype=cell.state_dtype, generator=torch.Generator().manual_seed(1)))
        assert torch.equal(cell.initial_state(4), cell.h0.detach().expand(4, N))
        assert torch.equal(cell(sequence(2))[0], cell(sequence(2), cell.h0.detach().expand(3, N).clone())[0])
    else:
        assert "h0" not in dict(cell.named_parameters())
        assert torch.equal(state, torch.zeros(4, N, dtype=cell.state_dtype))


def test_the_row_convention_families_share_one_definition():
    # Note [Row-convention cells]: scoRNN's, nnRNN's and expRNN's codes multiply row states by W_row. One definition gives
    # them prepare() = W_row and recurrent_matrix() = W_rowᵀ; that this is the map the step applies is
    # test_recurrent_matrix_is_the_map_the_step_applies, and W_row against each paper's formula is in
    # tests/test_scornn.py and tests/test_nnrnn.py.
    families = {n for n in CELLS if issubclass(base.cell_class(n), RowMatrixCell)}
    assert {"scornn", "nnrnn", "exprnn"} <= families
    for name in families:
        cls = base.cell_class(name)
        assert cls.prepare is RowMatrixCell.prepare and cls.recurrent_matrix is RowMatrixCell.recurrent_matrix
        cell = build(name)
        with torch.no_grad():
            w_row = cell.row_matrix()
            assert torch.equal(cell.prepare(), w_row) and torch.equal(cell.recurrent_matrix(), w_row.T)


def _probes(tree, names):
    r"""Lines of getattr/hasattr calls whose object is one of ``names``: probes of an object's optional attributes."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
            and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in names]


@pytest.mark.parametrize("path", sorted(Path(uz.__file__).parent.rglob("*.py")), ids=lambda p: p.name)
def test_no_module_probes_a_cells_optional_features(path):
    # A cell's optional parts are declared on the contract (fused_map, fused_activation, h0, stiefel_parameters,
    # ...). In urnn_zoo/cells and urnn_zoo/engine `self` is a cell or a part of one; elsewhere `cell` and `model`
    # name cells (a `self` there is another object, such as a run's settings).
    names = ("self", "cell", "model") if path.parent.name in ("cells", "engine") else ("cell", "model")
    lines = _probes(ast.parse(path.read_text()), names)
    assert not lines, f"{path.name} probes attributes with getattr/hasattr at lines {lines}"
