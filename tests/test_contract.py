"""The cell contract (docs/cell-contract.md) over every registered cell: a new cell is covered by registering it."""
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
from urnn_zoo.activations import ModReLU
from urnn_zoo.cells import base
from urnn_zoo.cells.execution import FusedActivation
from urnn_zoo.cells.shared import RowMatrixCell
from urnn_zoo.engine.recurrence import ACTIVATIONS, _FusedRecurrence
from admissible import admits
from hypothesis_profiles import examples

CELLS = uz.cell_names()
N_IN = 3
N = next(n for n in range(8, 65) if all(admits(name, n) for name in CELLS))  # the smallest N >= 8 all admit
seeds = st.integers(0, 2**31 - 1)


def build(name, dtype=torch.float64, seed=0, hidden=N, **options):
    torch.manual_seed(seed)
    return uz.make_cell(name, N_IN, hidden, dtype=dtype, **options)


def sequence(seed, T=5, B=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, B, N_IN, generator=g, dtype=dtype)


def test_registry_has_every_family_of_design():
    expected = {"kru", "kru_lstm", "lstm", "rnn"}
    assert expected <= set(CELLS)
    assert list(CELLS) == sorted(CELLS)


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown cell 'nope'.*kru"):
        uz.make_cell("nope", 1, 4)


@pytest.mark.parametrize("name", CELLS)
def test_unknown_option_lists_the_accepted_ones(name):
    with pytest.raises(ValueError, match=rf"cell '{name}' got unknown option\(s\) \['bogus'\]; it accepts"):
        uz.make_cell(name, N_IN, N, bogus=1)


@pytest.mark.parametrize("name", CELLS)
def test_bad_dtype_rejected(name):
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        uz.make_cell(name, N_IN, N, dtype=torch.complex64)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_dtypes(name, dtype):
    cell = build(name, dtype)
    assert cell.constraint in ("exact", "soft", "none")
    assert cell.output_size == (2 * N if cell.is_complex else N)
    x = sequence(0, T=4, B=2, dtype=dtype)
    out, state = cell(x)
    assert out.shape == (4, 2, cell.output_size) and out.dtype == dtype and not out.is_complex()
    y, _ = cell.step(x[0])
    assert y.shape == (2, cell.output_size) and y.dtype == dtype
    w = cell.recurrent_matrix()
    gated = name in ("lstm", "kru_lstm")
    assert w.shape == ((4 * N, N) if gated else (N, N))
    assert w.is_complex() == (cell.is_complex and not gated)
    assert w.dtype in (dtype, uz.cells.base.complex_dtype_of(dtype))
    for scalar in (cell.penalty(), cell.unitarity_error()):
        assert scalar.dim() == 0 and not scalar.is_complex() and scalar.item() >= 0
    if cell.constraint != "soft":
        assert cell.penalty().item() == 0


@pytest.mark.parametrize("name", CELLS)
@settings(max_examples=examples(4))
@given(seed=seeds, T=st.integers(1, 6), B=st.integers(1, 4))
def test_forward_equals_loop_of_step(name, seed, T, B):
    cell = build(name, seed=seed)
    x = sequence(seed, T, B)
    state0 = cell.initial_state(B)
    out, final = cell(x, state0)
    state, ys = state0, []
    for x_t in x.unbind(0):
        y, state = cell.step(x_t, state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys), out, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.utils._pytree.tree_leaves(final), torch.utils._pytree.tree_leaves(state)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", CELLS)
def test_state_none_means_initial_state(name):
    cell = build(name)
    x = sequence(1)
    torch.testing.assert_close(cell(x)[0], cell(x, cell.initial_state(x.shape[1]))[0])


@pytest.mark.parametrize("name", CELLS)
@settings(max_examples=examples(3))
@given(seed=seeds)
def test_gradients_are_finite_and_reach_every_parameter(name, seed):
    cell = build(name, torch.float32, seed)
    out, _ = cell(sequence(seed, dtype=torch.float32))
    (out.pow(2).mean() + cell.penalty()).backward()
    for pname, p in cell.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reached {pname}"
        assert torch.isfinite(torch.view_as_real(p.grad) if p.grad.is_complex() else p.grad).all(), pname


@pytest.mark.parametrize("name", CELLS)
def test_state_dict_round_trip(name):
    a, b = build(name, seed=1), build(name, seed=2)
    x = sequence(3)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x)[0], b(x)[0], rtol=0, atol=0)


@pytest.mark.parametrize("name", CELLS)
@settings(max_examples=examples(3))
@given(seed=seeds)
def test_batch_elements_are_independent(name, seed):
    cell = build(name, seed=seed)
    x = sequence(seed, T=4, B=3)
    out, _ = cell(x)
    alone, _ = cell(x[:, 1:2])
    torch.testing.assert_close(alone[:, 0], out[:, 1], rtol=1e-10, atol=1e-12)
    x2 = x.clone()
    x2[:, 0] += 1.0
    torch.testing.assert_close(cell(x2)[0][:, 1:], out[:, 1:], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CELLS)
def test_bad_input_rejected_with_a_clear_error(name):
    cell = build(name)
    with pytest.raises(ValueError, match=rf"expected input of shape \(T, B, input_size\) with input_size={N_IN}, got shape \(5, 2, 4\)"):
        cell(torch.randn(5, 2, N_IN + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"got shape \(5, 3\)"):
        cell(torch.randn(5, N_IN, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"expected input of shape \(B, input_size\)"):
        cell.step(torch.randn(4, 2, N_IN, dtype=torch.float64))
    with pytest.raises(TypeError, match="expected a real floating input"):
        cell(torch.ones(5, 2, N_IN, dtype=torch.complex128))
    with pytest.raises(TypeError, match="expected input dtype torch.float64"):
        cell(torch.ones(5, 2, N_IN, dtype=torch.float32))


@pytest.mark.parametrize("name", CELLS)
def test_parameter_count_is_consistent(name):
    cell = build(name, torch.float32)
    c = cell.parameter_count()
    stored = sum(p.numel() * (2 if p.is_complex() else 1) for p in cell.parameters())
    assert c.stored == stored
    assert 0 < c.recurrent_dof <= c.recurrent_stored <= c.stored
    assert c.stored - c.dof == c.recurrent_stored - c.recurrent_dof
    model = uz.SequenceModel(cell, 5)
    m = model.parameter_count()
    head = cell.output_size * 5 + 5
    assert (m.stored, m.dof) == (c.stored + head, c.dof + head)
    assert (m.recurrent_stored, m.recurrent_dof) == (c.recurrent_stored, c.recurrent_dof)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("readout", ["last", "all"])
def test_sequence_model_readouts(name, readout):
    model = uz.SequenceModel(build(name, torch.float32), 7, readout=readout)
    y = model(sequence(0, T=4, B=2, dtype=torch.float32))
    assert y.shape == ((2, 7) if readout == "last" else (4, 2, 7))


def test_sequence_model_rejects_bad_readout():
    with pytest.raises(ValueError, match="readout must be 'last' or 'all', got 'first'"):
        uz.SequenceModel(build("rnn"), 2, readout="first")


def _modrelu_cells():
    return [n for n in CELLS if any(isinstance(m, ModReLU) for m in build(n, torch.float32).modules())]


@pytest.mark.parametrize("name", _modrelu_cells())
@settings(max_examples=examples(4))
@given(seed=seeds)
def test_recurrent_matrix_is_the_map_the_step_applies(name, seed):
    # Note [Probing the linear part]: modReLU(z) = z·ReLU(|z| + b)/(|z| + ε) is z·(1 + O(|b|/|z|)) for large
    # |z|, so with u = 0 and a state scaled to |h| ~ 1e8 one step returns W h to ~1e-9 relative: this checks
    # that `recurrent_matrix()` is the matrix the recurrence really applies (catches transpositions).
    cell = build(name, seed=seed)
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(2, N, generator=g, dtype=cell.state_dtype)
    scale = 1e8
    with torch.no_grad(), torch.nn.utils.parametrize.cached():
        u = torch.zeros_like(h)
        stepped = cell.recur(u, scale * h, cell.prepare()) / scale
        expected = h @ cell.recurrent_matrix().mT
    torch.testing.assert_close(stepped, expected, rtol=1e-7, atol=1e-7)


@pytest.mark.cuda
@pytest.mark.parametrize("name", CELLS)
def test_runs_on_cuda(name):
    cell = uz.make_cell(name, N_IN, N, device="cuda")
    out, _ = cell(torch.randn(4, 2, N_IN, device="cuda"))
    out.pow(2).mean().backward()
    assert out.device.type == "cuda"


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


def _outcome(call):
    try:
        call()
    except ValueError as err:
        return type(err), str(err)
    return None


@pytest.mark.parametrize("name", CELLS)
@settings(deadline=None)
@given(data=st.data())
def test_check_size_raises_exactly_when_building_raises_a_size_error(name, data):
    options = {k: data.draw(SIZE_OPTIONS[k], label=k) for k in uz.cell_options(name) if k in SIZE_OPTIONS}
    products = [math.prod(f if isinstance(f, int) else f[0] for f in options.get("factors") or [1])]
    n = data.draw(st.integers(1, 24) | st.sampled_from(ODD_SIZES + tuple(products)), label="N")
    predicted = _outcome(lambda: base.cell_class(name).check_size(n, **options))
    original = torch.nn.Module.__init__
    with mock.patch.object(torch.nn.Module, "__init__", autospec=True,
                           side_effect=lambda self, *a, **k: original(self, *a, **k)) as modules_built:
        built = _outcome(lambda: build(name, hidden=n, **options))
    assert built == predicted  # the same error (type and message) either way, or none
    if predicted is not None:
        assert modules_built.call_count == 0, "the size was rejected after a module was built"
        kind, message = predicted  # every drawn option is well formed: only the size can be wrong
        assert kind is uz.InadmissibleSizeError
        assert "\n" not in message and "got" in message  # one line: what was expected, what was given


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
