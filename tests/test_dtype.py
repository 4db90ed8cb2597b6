r"""Precision conversions of every registered cell (Note [Precision conversion of complex cells] in cells/precision.py).

Every conversion a torch user applies (.double(), .float(), .to(dtype), .to(device, dtype), .to(tensor),
.to(complex dtype), .type(dtype), load_state_dict from the other precision) must give a working cell of the
target precision holding the same numbers: real tensors in the target dtype, complex ones in its complex
partner with their imaginary parts, integer buffers untouched. The reference for "the same numbers" is a cell
built directly in the target precision whose tensors are copied from the source one by one (Tensor.copy_,
an exact widening to float64), so float32 -> float64 must agree bit for bit, and both directions must agree
with the source precision's own computation within float32 rounding.
"""
import copy
import warnings

import pytest
import torch

import urnn_zoo as uz
from urnn_zoo.cells.base import ComplexInput, SequenceModel, complex_dtype_of

N, N_IN, T, B = 8, 3, 5, 2
# Every cell with its defaults, plus the variants that hold other kinds of tensors: a torch parametrization
# with another map or none at all, learned complex initial states, real EURNN/KRU weights, a step counter.
CASES = [(name, {}) for name in uz.cell_names()] + [
    ("fcurnn", {"parametrization": "matrix_exp", "learn_initial_state": True}),
    ("fcurnn", {"parametrization": "none"}),
    ("kru", {"learn_initial_state": True}),
    ("kru", {"complex_factors": False, "activation": "tanh"}),
    ("eurnn", {"complex_weights": False}),
    ("eurnn_fft", {"learn_initial_state": True}),
    ("rcurnn", {"strategy": "dense", "learn_initial_state": True}),
    ("exprnn", {"rebase_every": 2}),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in options.items()) for name, options in CASES]
# A float32 cell computed in float32 against the same numbers computed in float64, relative to each tensor's
# largest entry: T steps of rounding at unit roundoff 6e-8 (and expRNN's float32 matrix exponential in the
# backward) stay below this; a dropped imaginary part or a mixed precision is O(1).
FLOAT32 = 1e-4


def build(name, options, dtype, seed=0):
    r"""The cell, with every parameter moved off its structured init (zero biases, identity factors) so that
    each of its numbers shows in the outputs."""
    torch.manual_seed(seed)
    cell = uz.make_cell(name, N_IN, N, dtype=dtype, **options)
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return cell


def copy_into(target, source):
    r"""``target`` with ``source``'s tensors copied in one by one (the directly built reference)."""
    sources = dict(source.named_parameters()) | dict(source.named_buffers())
    with torch.no_grad():
        for name, t in [*target.named_parameters(), *target.named_buffers()]:
            t.copy_(sources[name])
    return target


def conversions(dtype):
    r"""Every way of converting a cell to the real precision ``dtype``, as (id, function of (cell, rebuild))."""
    cdtype = complex_dtype_of(dtype)

    def reload(cell, rebuild):
        fresh = rebuild(dtype)
        fresh.load_state_dict(cell.state_dict())
        return fresh

    return [
        (".double()" if dtype == torch.float64 else ".float()",
         lambda c, r: c.double() if dtype == torch.float64 else c.float()),
        (".to(dtype)", lambda c, r: c.to(dtype)),
        (".to(device, dtype)", lambda c, r: c.to("cpu", dtype)),
        (".to(tensor)", lambda c, r: c.to(torch.empty(0, dtype=dtype))),
        (".to(complex dtype)", lambda c, r: c.to(cdtype)),
        (".type(dtype)", lambda c, r: c.type(dtype)),
        ("load_state_dict", reload),
    ]


def convert(cell, how, rebuild):
    with warnings.catch_warnings():  # Module.to(complex dtype) warns that complex modules are new
        warnings.simplefilter("ignore", UserWarning)
        return how(cell, rebuild)


def assert_converted(before: dict, after: dict, dtype):
    r"""Each tensor of the state is in ``dtype``'s family (complex -> its partner) and holds the same numbers."""
    assert before.keys() == after.keys()
    for name, old in before.items():
        new = after[name]
        if old.is_complex():
            assert new.dtype == complex_dtype_of(dtype), (name, new.dtype)
            torch.testing.assert_close(torch.view_as_real(new), torch.view_as_real(old).to(dtype), rtol=0, atol=0)
        elif old.is_floating_point():
            assert new.dtype == dtype, (name, new.dtype)
            torch.testing.assert_close(new, old.to(dtype), rtol=0, atol=0)
        else:  # permutations, step counters
            assert new.dtype == old.dtype and torch.equal(new, old), name


def run(cell, x):
    r"""Outputs and every parameter's gradient of one forward and backward."""
    cell.zero_grad()
    out, _ = cell(x)
    out.pow(2).sum().backward()
    return out.detach(), {n: p.grad for n, p in cell.named_parameters()}


def assert_same_run(a, b, relative=0.0):
    r"""Equal outputs and gradients: exactly, or within ``relative`` times each tensor's largest entry."""
    (out_a, grads_a), (out_b, grads_b) = a, b
    assert grads_a.keys() == grads_b.keys()
    for name, x, y in [("output", out_a, out_b), *[(k, grads_a[k], grads_b[k]) for k in grads_a]]:
        atol = relative * max(1.0, y.abs().max().item())
        torch.testing.assert_close(x, y, rtol=0, atol=atol, msg=lambda m: f"{name}: {m}")


def inputs(dtype):
    return torch.randn(T, B, N_IN, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(dtype)


DIRECTIONS = [(torch.float32, torch.float64), (torch.float64, torch.float32)]
CONVERSIONS = [(source, target, how_id, how) for source, target in DIRECTIONS for how_id, how in conversions(target)]


@pytest.mark.parametrize("source, target, how_id, how", CONVERSIONS,
                         ids=[f"{str(s)[6:]}->{str(t)[6:]}-{i}" for s, t, i, _ in CONVERSIONS])
@pytest.mark.parametrize("name, options", CASES, ids=IDS)
def test_a_converted_cell_is_the_cell_built_in_the_new_precision(name, options, source, target, how_id, how):
    r"""After the conversion every tensor is in the target's family with the same numbers, and a run equals,
    exactly, that of a cell built in the target precision with those parameters; it stays within float32
    rounding of the run before the conversion."""
    cell = build(name, options, source)
    before = {k: v.clone() for k, v in cell.state_dict().items()}
    expected = run(cell, inputs(source))
    cell = convert(copy.deepcopy(cell), how, lambda dtype: build(name, options, dtype, seed=1))
    assert_converted(before, cell.state_dict(), target)
    assert cell.real_dtype == target and cell.penalty().dtype == target
    reference = copy_into(build(name, options, target, seed=2), cell)
    got = run(cell, inputs(target))
    assert_same_run(got, run(reference, inputs(target)))
    assert all(g.dtype in (target, complex_dtype_of(target)) for g in got[1].values())
    cast = (expected[0].to(target), {k: g.to(complex_dtype_of(target) if g.is_complex() else target)
                                     for k, g in expected[1].items()})
    assert_same_run(got, cast, FLOAT32)


@pytest.mark.parametrize("swap", [False, True], ids=["data-replaced", "swap-tensors"])
@pytest.mark.parametrize("name", uz.cell_names())
def test_conversion_keeps_parameter_objects_so_optimizers_and_grads_follow(name, swap, monkeypatch):
    # torch replaces each Parameter's .data (or swaps it in place under torch.__future__'s swap mode): an
    # optimizer built before the conversion still holds the cell's parameters, and existing gradients convert.
    monkeypatch.setattr(torch.__future__, "get_swap_module_params_on_conversion", lambda: swap)
    cell = build(name, {}, torch.float32)
    params = list(cell.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-2)
    run(cell, inputs(torch.float32))
    cell.double()
    assert [id(p) for p in cell.parameters()] == [id(p) for p in params]
    for p in params:
        assert p.grad.dtype == p.dtype and p.dtype in (torch.float64, torch.complex128)
    before = [p.detach().clone() for p in params]
    optimizer.zero_grad()
    run(cell, inputs(torch.float64))
    optimizer.step()
    assert all(p.dtype == b.dtype for p, b in zip(params, before))
    assert any(not torch.equal(p, b) for p, b in zip(params, before)), "the optimizer no longer moves the cell"


@pytest.mark.parametrize("name", uz.cell_names())
def test_sequence_model_converts_with_its_cell(name):
    model = SequenceModel(build(name, {}, torch.float32), 3, readout="all")
    model.double()
    assert {p.dtype for p in model.parameters()} <= {torch.float64, torch.complex128}
    y = model(inputs(torch.float64))
    assert y.dtype == torch.float64 and torch.isfinite(y).all()


@pytest.mark.parametrize("how", [lambda c: c.half(), lambda c: c.bfloat16(), lambda c: c.to(torch.float16),
                                 lambda c: c.to(torch.complex32), lambda c: c.type(torch.int32)],
                         ids=[".half()", ".bfloat16()", ".to(float16)", ".to(complex32)", ".type(int32)"])
@pytest.mark.parametrize("name", ["kru", "lstm"])
def test_other_precisions_are_rejected_before_anything_converts(name, how):
    model = SequenceModel(build(name, {}, torch.float32), 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=rf"^{name}: a cell's precision must be torch.float32 or torch.float64 "
                                         r"\(complex parts follow\), got a conversion to torch\.\w+$"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            how(model)
    after = model.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())


def test_complex_input_alone_converts_its_complex_weight():
    layer = ComplexInput(3, 4)
    weight = layer.weight.detach().clone()
    layer.double()
    assert layer.weight.dtype == torch.complex128
    torch.testing.assert_close(layer.weight, weight.to(torch.complex128), rtol=0, atol=0)
    x = inputs(torch.float64)
    torch.testing.assert_close(layer(x), x.to(torch.complex128) @ layer.weight.T, rtol=1e-12, atol=1e-12)
