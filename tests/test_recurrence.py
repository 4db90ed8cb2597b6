"""The fused recurrence (urnn_zoo.recurrence): fused vs per-step reference on every cell with a fused path,
gradcheck of fused_recurrence per linear map and activation, the no-grad forward, bad inputs, float32."""
import itertools
import math
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.engine import kernels, recurrence
from urnn_zoo.activations import EPS_RANGE, modrelu
from urnn_zoo.cells.base import cell_options
from admissible import admissible_sizes
from urnn_zoo.cells.eurnn import LayersMap
from urnn_zoo.cells.kru import KroneckerPairMap
from urnn_zoo.engine.recurrence import DenseMap, fused_recurrence
from hypothesis_profiles import examples

f64, c128 = torch.float64, torch.complex128
seeds = st.integers(0, 2**31 - 1)
KRU_FACTORS = ([2, 3], [3, 2], [2, 2], [2, 2, 2], [4, 2])
# How far z (or |z| + b) stays from modReLU's kinks in the gradcheck inputs: finite differences (eps 1e-6)
# move z by ~1e-6, so a margin of 1e-3 keeps every difference on one side of a kink.
KINK_MARGIN = 1e-3


def spy_fused():
    r"""Patch ``_FusedRecurrence.apply`` with a pass-through mock that counts calls."""
    fn = recurrence._FusedRecurrence
    return mock.patch.object(fn, "apply", wraps=fn.apply)


def assert_close(got, want, rel):
    r"""|got − want| <= rel · max(1, max|want|) elementwise: relative to the tensor's scale, so entries
    that cancel to ~0 are not held to a relative bound they cannot meet."""
    assert (got is None) == (want is None)
    if want is None:
        return
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = max(1.0, want.abs().max().item()) if want.numel() else 1.0
    torch.testing.assert_close(got, want, rtol=0.0, atol=rel * scale)


def real_view(t):
    return torch.view_as_real(t) if t.is_complex() else t


# ----------------------------------------------------------------------------------------------------------
# 1. Every cell with a fused path: fused == reference loop, values and gradients
# ----------------------------------------------------------------------------------------------------------

# (cell name, fixed options, drawer of (hidden_size, extra options) from Hypothesis `data`)
def _kru_sizes(data):
    factors = data.draw(st.sampled_from(KRU_FACTORS), label="factors")
    return data.draw(admissible_sizes("kru", 1, 8, factors=factors), label="N"), {"factors": factors}


def _even(data):
    return data.draw(admissible_sizes("eurnn", 1, 8), label="N"), {"capacity": data.draw(st.sampled_from([2, 4]))}


def _power_of_two(data):
    return data.draw(admissible_sizes("eurnn_fft", 1, 8), label="N"), {}


def _any(data):
    return data.draw(st.integers(2, 7), label="N"), {}


def _fcurnn(data):
    return _any(data)[0], {"parametrization": data.draw(st.sampled_from(["cayley", "matrix_exp", "none"]))}


def _exprnn(data):
    return _any(data)[0], {"map": data.draw(st.sampled_from(["expm", "cayley"]))}


FUSED_CASES = [
    pytest.param("kru", {"strategy": "dense"}, _kru_sizes, id="kru-dense-complex"),
    pytest.param("kru", {"strategy": "factored"}, _kru_sizes, id="kru-factored-complex"),
    pytest.param("kru", {"strategy": "dense", "complex_factors": False}, _kru_sizes, id="kru-dense-real"),
    pytest.param("kru", {"strategy": "factored", "complex_factors": False}, _kru_sizes, id="kru-factored-real"),
    pytest.param("kru", {"strategy": "dense", "complex_factors": False, "activation": "tanh"}, _kru_sizes,
                 id="kru-dense-tanh"),
    pytest.param("kru", {"strategy": "factored", "complex_factors": False, "activation": "tanh"}, _kru_sizes,
                 id="kru-factored-tanh"),
    pytest.param("eurnn", {"strategy": "layers"}, _even, id="eurnn-layers-complex"),
    pytest.param("eurnn", {"strategy": "layers", "complex_weights": False}, _even, id="eurnn-layers-real"),
    pytest.param("eurnn", {"strategy": "dense"}, _even, id="eurnn-dense-complex"),
    pytest.param("eurnn", {"strategy": "dense", "complex_weights": False}, _even, id="eurnn-dense-real"),
    pytest.param("eurnn_fft", {"strategy": "layers"}, _power_of_two, id="eurnn_fft-layers-complex"),
    pytest.param("eurnn_fft", {"strategy": "layers", "complex_weights": False}, _power_of_two,
                 id="eurnn_fft-layers-real"),
    pytest.param("eurnn_fft", {"strategy": "dense"}, _power_of_two, id="eurnn_fft-dense-complex"),
    pytest.param("eurnn_fft", {"strategy": "dense", "complex_weights": False}, _power_of_two,
                 id="eurnn_fft-dense-real"),
    pytest.param("fcurnn", {}, _fcurnn, id="fcurnn"),
    pytest.param("rcurnn", {"strategy": "dense"}, _any, id="rcurnn-dense"),
    pytest.param("exprnn", {}, _exprnn, id="exprnn"),
    pytest.param("scornn", {}, _any, id="scornn"),
    pytest.param("ornn", {"activation": "modrelu"}, _any, id="ornn-modrelu"),
    pytest.param("ornn", {"activation": "tanh"}, _any, id="ornn-tanh"),
]

EXPECTED_MAP = {"dense": DenseMap, "factored": KroneckerPairMap, "layers": LayersMap}


def _uniform_(t, bound, generator):
    with torch.no_grad():
        real_view(t).copy_((torch.rand(real_view(t).shape, dtype=f64, generator=generator) * 2 - 1) * bound)


def _losses(cell, x, state, out_weight, state_weight, inputs):
    r"""Outputs, final state and the gradients of ⟨out, w⟩ + ⟨final state, v⟩ (real pairs for complex)."""
    out, final = cell(x, state)
    loss = (out * out_weight).sum() + (real_view(final) * state_weight).sum()
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return out.detach(), final.detach(), grads


@pytest.mark.parametrize("name, options, sizes", FUSED_CASES)
@given(data=st.data(), steps=st.integers(1, 6), batch=st.integers(1, 4), seed=seeds,
       initial=st.sampled_from(["zero", "learned", "given"]))
def test_fused_path_matches_reference_loop(name, options, sizes, data, steps, batch, seed, initial):
    n, extra = sizes(data)
    options = {**options, **extra}
    learnable = "learn_initial_state" in cell_options(name)
    if initial == "learned" and learnable:
        options["learn_initial_state"] = True
    elif initial == "learned":
        initial = "given"  # the cell has no learned h0 (exprnn, scornn): pass a random state instead
    elif learnable:
        options.setdefault("learn_initial_state", False)  # ornn learns h0 by default
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    cell = uz.make_cell(name, 3, n, dtype=f64, **options)
    act = cell.fused_activation()  # the σ the cell declares for the fused loop
    assert act is not None
    if act.kind == "modrelu":
        _uniform_(act.bias, 0.5, gen)  # both branches of relu(|z| + b) occur
    if cell.h0 is not None:
        _uniform_(cell.h0, 0.5, gen)
    state = None
    if initial == "given":
        state = torch.zeros(batch, n, dtype=cell.state_dtype)
        _uniform_(state, 0.5, gen)
        state.requires_grad_()
    x = torch.randn(steps, batch, 3, dtype=f64, generator=gen, requires_grad=True)
    out_weight = torch.randn(steps, batch, cell.output_size, dtype=f64, generator=gen)
    state_weight = torch.randn(real_view(torch.zeros(batch, n, dtype=cell.state_dtype)).shape, dtype=f64,
                               generator=gen)
    params = [p for p in cell.parameters() if p.requires_grad]
    inputs = params + [x] + ([state] if state is not None else [])

    # the fused path is really taken, with the map the strategy names
    with torch.no_grad():
        fused = cell.fused_map(cell.prepare())
    assert fused is not None
    strategy = options.get("strategy", "dense")
    assert type(fused[0]) is EXPECTED_MAP[strategy]

    with spy_fused() as spy:
        out, final, grads = _losses(cell, x, state, out_weight, state_weight, inputs)
    assert spy.call_count == 1
    cell.fused = False
    with spy_fused() as spy:
        ref_out, ref_final, ref_grads = _losses(cell, x, state, out_weight, state_weight, inputs)
    assert spy.call_count == 0

    assert_close(out, ref_out, 1e-10)
    assert_close(final, ref_final, 1e-10)
    assert len(grads) == len(ref_grads)
    for got, want in zip(grads, ref_grads):
        assert_close(got, want, 1e-10)
    assert grads[len(params)] is not None  # x reaches the states


# Every registered cell with its defaults, and every value of the options that decide the execution path: the
# activation (ornn, kru) and the compute strategy (kru, eurnn, eurnn_fft, rcurnn).
PATH_VARIANTS = (
    [(name, {}) for name in uz.cell_names()]
    + [("ornn", {"activation": a}) for a in ("leaky_relu", "tanh", "modrelu")]
    + [("kru", {"complex_factors": False, "activation": "tanh"})]
    + [("kru", {"strategy": s}) for s in ("auto", "factored", "dense")]
    + [("eurnn", {"strategy": s}) for s in ("auto", "layers", "band", "dense")]
    + [("eurnn_fft", {"strategy": s}) for s in ("auto", "layers", "dense")]
    + [("rcurnn", {"strategy": s}) for s in ("auto", "fft", "dense")]
)


def _bench_fused():
    r"""``benchmarks.bench_fused``, imported as asv does: the package ``benchmarks`` of the repository root."""
    import importlib
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module("benchmarks.bench_fused")


@pytest.mark.parametrize("name, options", PATH_VARIANTS, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={x}" for k, x in v.items()) or "defaults")
@given(data=st.data(), seed=seeds)
def test_the_fused_benchmark_times_exactly_the_cells_that_take_the_fused_loop(name, options, data, seed):
    # bench_fused reports time(fused = False) / time(fused = True) only where `has_fused_path` says the switch
    # selects something; a cell whose declared activation the fused loop lacks (ornn's leaky ReLU) runs the
    # per-step loop either way and must be n/a there, not timed as "fused".
    n = data.draw(admissible_sizes(name, 2, 8, **options), label="N")
    torch.manual_seed(seed)
    cell = uz.make_cell(name, 3, n, dtype=f64, **options)
    x = torch.randn(3, 2, 3, dtype=f64, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    with spy_fused() as spy:
        cell(x)[0].sum().backward()
    assert _bench_fused().has_fused_path(cell) == (spy.call_count == 1), (name, options, spy.call_count)
    assert spy.call_count <= 1


# ----------------------------------------------------------------------------------------------------------
# 2. fused_recurrence directly: gradcheck per map and activation
# ----------------------------------------------------------------------------------------------------------

def random_involution(n, generator):
    r"""A random (n,) permutation that is its own inverse: a random set of disjoint swaps, the rest fixed."""
    order = torch.randperm(n, generator=generator)
    perm = torch.arange(n)
    pairs = int(torch.randint(0, n // 2 + 1, (), generator=generator))
    for k in range(pairs):
        i, j = order[2 * k], order[2 * k + 1]
        perm[i], perm[j] = j, i
    return perm


def make_map(kind, dtype, n, generator):
    r"""A linear map and its tensors of moderate size (spectral radius about 1), for N = n."""
    def rand(*shape):
        return torch.randn(*shape, dtype=dtype, generator=generator)

    if kind == "dense":
        return DenseMap(), [rand(n, n) / math.sqrt(n)]
    if kind == "kron":
        p = 2
        return KroneckerPairMap(), [rand(p, p) / math.sqrt(p), rand(n // p, n // p) / math.sqrt(n // p)]
    if kind == "layers":
        layers = 3
        perm = torch.stack([random_involution(n, generator) for _ in range(layers)])
        return LayersMap(perm), [rand(layers, n) * 0.7, rand(layers, n) * 0.7]
    raise ValueError(f"unknown map kind {kind!r}")


def differentiable(t):
    return t.is_floating_point() or t.is_complex()


def dense_of(lmap, tensors, n):
    r"""M with L x = x @ M on rows, from the map's own forward applied to the identity."""
    eye = torch.eye(n, dtype=tensors[0].dtype)
    return lmap.forward_fn(tensors, ())(eye, None, None, 0)


def reference_recurrence(lmap, tensors, u, h0, kind, bias, eps=1e-5):
    r"""The same recurrence with plain autograd ops (dense M, activations.modrelu / tanh); returns (h, z)."""
    m = dense_of(lmap, tensors, u.shape[-1])
    h, hs, zs = h0, [], []
    for u_t in u.unbind(0):
        z = h @ m + u_t
        h = modrelu(z, bias, eps) if kind == "modrelu" else torch.tanh(z)
        hs.append(h)
        zs.append(z)
    return torch.stack(hs), torch.stack(zs)


def kink_distance(z, bias, eps=1e-5):
    r"""Smallest distance of the pre-activations from a kink of modReLU (real: z = 0 or |z| + b = 0;
    complex: √(|z|² + ε) + b = 0)."""
    if z.is_complex():
        return (torch.sqrt(z.abs() ** 2 + eps) + bias).abs().min().item()
    return min(z.abs().min().item(), (z.abs() + bias).abs().min().item())


def gradcheck_inputs(map_kind, activation, dtype, shape, start_seed=0):
    r"""Inputs of fused_recurrence for a gradcheck: the first seed from ``start_seed`` whose pre-activations
    stay KINK_MARGIN away from modReLU's kinks and hit both of its branches (tanh takes the first seed)."""
    t, b, n = shape
    for seed in range(start_seed, start_seed + 200):
        gen = torch.Generator().manual_seed(seed)
        lmap, tensors = make_map(map_kind, dtype, n, gen)
        u = torch.randn(t, b, n, dtype=dtype, generator=gen)
        h0 = torch.randn(b, n, dtype=dtype, generator=gen) * 0.5
        bias = torch.rand(n, dtype=f64, generator=gen) - 0.5 if activation == "modrelu" else None
        if activation == "tanh":
            return lmap, tensors, u, h0, bias
        with torch.no_grad():
            _, z = reference_recurrence(lmap, tensors, u, h0, activation, bias)
        mod = torch.sqrt(z.abs() ** 2 + 1e-5) if z.is_complex() else z.abs()
        both_branches = bool((mod + bias > 0).any()) and bool((mod + bias < 0).any())
        if kink_distance(z, bias) > KINK_MARGIN and both_branches:
            return lmap, tensors, u, h0, bias
    raise AssertionError("no seed keeps the gradcheck inputs away from modReLU's kinks")


GRADCHECK_CASES = [
    pytest.param("dense", "tanh", f64, id="dense-tanh-real"),
    pytest.param("dense", "modrelu", f64, id="dense-modrelu-real"),
    pytest.param("dense", "modrelu", c128, id="dense-modrelu-complex"),
    pytest.param("kron", "modrelu", c128, id="kron-modrelu-complex"),
    pytest.param("kron", "modrelu", f64, id="kron-modrelu-real"),
    pytest.param("kron", "tanh", f64, id="kron-tanh-real"),
    pytest.param("layers", "modrelu", c128, id="layers-modrelu-complex"),
    pytest.param("layers", "modrelu", f64, id="layers-modrelu-real"),
]


@pytest.mark.parametrize("map_kind, activation, dtype", GRADCHECK_CASES)
@pytest.mark.parametrize("shape", [(1, 1, 4), (3, 2, 6)], ids=lambda s: "T{}B{}N{}".format(*s))
def test_gradcheck_fused_recurrence(map_kind, activation, dtype, shape):
    lmap, tensors, u, h0, bias = gradcheck_inputs(map_kind, activation, dtype, shape)
    leaves = [u, h0] + ([bias] if bias is not None else []) + list(tensors)
    leaves = [t.clone().requires_grad_(differentiable(t)) for t in leaves]
    k = len(tensors)

    def fn(*args):
        u_, h0_, *rest = args
        bias_ = rest[0] if bias is not None else None
        return fused_recurrence(lmap, rest[len(rest) - k:], u_, h0_, activation, bias_)

    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("map_kind, activation, dtype", GRADCHECK_CASES)
def test_fused_recurrence_matches_plain_autograd_for_every_subset_of_wanted_grads(map_kind, activation, dtype):
    r"""Values equal the plain-autograd recurrence, and each input's gradient is the same whichever other
    inputs want one (the backward skips h0's adjoint step, the map's saved buffers, ... when not wanted)."""
    lmap, tensors, u, h0, bias = gradcheck_inputs(map_kind, activation, dtype, (4, 3, 6), start_seed=1000)
    named = {"u": u, "h0": h0, **({"bias": bias} if bias is not None else {}),
             **{f"tensor{i}": t for i, t in enumerate(tensors) if differentiable(t)}}
    weight = torch.randn(real_view(u).shape, dtype=f64, generator=torch.Generator().manual_seed(7))

    def grads(wanted, fused=True):
        leaves = {k: v.clone().requires_grad_(k in wanted) for k, v in named.items()}
        ts = [leaves.get(f"tensor{i}", t) for i, t in enumerate(tensors)]  # an index tensor stays as it is
        args = (lmap, ts, leaves["u"], leaves["h0"], activation, leaves.get("bias"))
        h = fused_recurrence(*args) if fused else reference_recurrence(*args)[0]
        out = torch.autograd.grad((real_view(h) * weight).sum(), [leaves[k] for k in wanted])
        return h.detach(), dict(zip(wanted, out))

    ref_h, ref = grads(list(named), fused=False)
    full_h, full = grads(list(named))
    assert_close(full_h, ref_h, 1e-12)
    for key in named:
        assert_close(full[key], ref[key], 1e-10)
    for r in range(1, len(named)):
        for subset in itertools.combinations(named, r):
            _, part = grads(list(subset))
            for key in subset:
                assert_close(part[key], full[key], 1e-12)


@pytest.mark.parametrize("map_kind", ["dense", "kron", "layers"])
def test_adjoint_steps_are_the_conjugate_transpose(map_kind):
    r"""⟨L x, g⟩ = ⟨x, L^H g⟩ with the map's own forward and adjoint steps (random complex tensors; for
    LayersMap random involutions with fixed points)."""
    gen = torch.Generator().manual_seed(3)
    lmap, tensors = make_map(map_kind, c128, 6, gen)
    x, g = torch.randn(5, 6, dtype=c128, generator=gen), torch.randn(5, 6, dtype=c128, generator=gen)
    lx = lmap.forward_fn(tensors, ())(x, None, None, 0)
    lhg = lmap.adjoint_fn(tensors, None)(g, None, None, 0)
    torch.testing.assert_close(torch.vdot(lx.flatten(), g.flatten()), torch.vdot(x.flatten(), lhg.flatten()),
                               rtol=1e-12, atol=1e-12)


def test_complex_tanh_is_refused():
    # The fused backward of tanh is the real derivative (1 − h²)·ḡ; torch's convention for a complex state would
    # need conj(1 − h²)·ḡ, and no cell runs a complex tanh, so the function refuses it up front.
    gen = torch.Generator().manual_seed(0)
    lmap, tensors = make_map("dense", c128, 3, gen)
    u = torch.randn(3, 2, 3, dtype=c128, generator=gen)
    h0 = torch.randn(2, 3, dtype=c128, generator=gen)
    with pytest.raises(TypeError, match=r"activation='tanh' needs a real state .* got u of dtype torch.complex128"):
        fused_recurrence(lmap, tensors, u, h0, "tanh")


# ----------------------------------------------------------------------------------------------------------
# 3. The no-grad forward (saves nothing) gives the same states
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("map_kind, activation, dtype", GRADCHECK_CASES)
@settings(max_examples=examples(10))
@given(seed=seeds, steps=st.integers(1, 6), batch=st.integers(1, 4))
def test_no_grad_forward_gives_the_same_states(map_kind, activation, dtype, seed, steps, batch):
    gen = torch.Generator().manual_seed(seed)
    lmap, tensors = make_map(map_kind, dtype, 6, gen)
    u = torch.randn(steps, batch, 6, dtype=dtype, generator=gen)
    h0 = torch.randn(batch, 6, dtype=dtype, generator=gen)
    bias = torch.rand(6, dtype=f64, generator=gen) - 0.5
    leaves = [t.clone().requires_grad_(differentiable(t)) for t in (u, h0, bias, *tensors)]
    with_grad = fused_recurrence(lmap, leaves[3:], leaves[0], leaves[1], activation, leaves[2])
    assert with_grad.requires_grad
    with torch.no_grad():
        without = fused_recurrence(lmap, leaves[3:], leaves[0], leaves[1], activation, leaves[2])
    assert not without.requires_grad and without.grad_fn is None
    plain = fused_recurrence(lmap, tensors, u, h0, activation, bias)  # grad mode, but nothing requires grad
    assert not plain.requires_grad
    torch.testing.assert_close(without, with_grad.detach(), rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(plain, with_grad.detach(), rtol=1e-15, atol=1e-15)


# ----------------------------------------------------------------------------------------------------------
# 4. Bad inputs
# ----------------------------------------------------------------------------------------------------------

def _args(**changes):
    u = torch.zeros(3, 2, 4, dtype=f64)
    args = {"lmap": DenseMap(), "tensors": [torch.eye(4, dtype=f64)], "u": u, "h0": torch.zeros(2, 4, dtype=f64),
            "activation": "modrelu", "bias": torch.zeros(4, dtype=f64)}
    args.update(changes)
    return args


@pytest.mark.parametrize(
    "changes, error, pattern",
    [
        ({"activation": "relu"}, ValueError, r"activation must be one of \('modrelu', 'tanh'\), got 'relu'"),
        ({"u": torch.zeros(2, 4, dtype=f64)}, ValueError,
         r"expected u \(T, B, N\) and h0 \(B, N\), got u \(2, 4\)"),
        ({"u": torch.zeros(1, 3, 2, 4, dtype=f64)}, ValueError, r"got u \(1, 3, 2, 4\) and h0 \(2, 4\)"),
        ({"h0": torch.zeros(3, 4, dtype=f64)}, ValueError, r"expected u \(T, B, N\) and h0 \(B, N\), "
                                                           r"got u \(3, 2, 4\) and h0 \(3, 4\)"),
        ({"h0": torch.zeros(2, 5, dtype=f64)}, ValueError, r"got u \(3, 2, 4\) and h0 \(2, 5\)"),
        ({"h0": torch.zeros(4, dtype=f64)}, ValueError, r"got u \(3, 2, 4\) and h0 \(4,\)"),
        ({"h0": torch.zeros(2, 4, dtype=torch.float32)}, TypeError,
         r"h0 must have the dtype of u \(torch.float64\), got torch.float32"),
        ({"h0": torch.zeros(2, 4, dtype=c128)}, TypeError, r"dtype of u \(torch.float64\), got torch.complex128"),
        ({"bias": None}, ValueError, r"activation='modrelu' needs its bias of shape \(4,\) and dtype torch.float64, got None"),
        ({"bias": torch.zeros(3, dtype=f64)}, ValueError, r"needs its bias of shape \(4,\) .* got shape \(3,\) and dtype torch.float64"),
        ({"bias": torch.zeros(4, dtype=torch.float32)}, ValueError, r"dtype torch.float64, got shape \(4,\) and dtype torch.float32"),
        ({"u": torch.zeros(0, 2, 4, dtype=f64)}, ValueError, r"u must have at least one step, got u of shape \(0, 2, 4\)"),
    ],
    ids=["activation", "u-2d", "u-4d", "h0-batch", "h0-width", "h0-1d", "h0-float32", "h0-complex", "no-bias",
         "bias-shape", "bias-dtype", "no-steps"],
)
def test_bad_inputs_are_refused_with_a_clear_message(changes, error, pattern):
    with pytest.raises(error, match=pattern):
        fused_recurrence(**_args(**changes))


def test_tanh_ignores_a_missing_bias():
    h = fused_recurrence(**_args(activation="tanh", bias=None, u=torch.ones(3, 2, 4, dtype=f64)))
    assert h.shape == (3, 2, 4) and bool((h > 0).all())


# ----------------------------------------------------------------------------------------------------------
# 5. float32: fused and reference agree within float32 rounding
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("complex_factors", [True, False], ids=["complex", "real"])
@settings(max_examples=examples(10))
@given(seed=seeds, steps=st.integers(1, 20), batch=st.integers(1, 4))
def test_float32_kru_factored_agrees_with_reference(complex_factors, seed, steps, batch):
    r"""float32, N = 16 = 4 x 4: the fused path is as accurate as the per-step autograd loop. Against a float64
    run of the same parameters, each output, final state and gradient of the fused float32 run is off by at most
    4 times the loop's own float32 error, plus 1e-6 (outputs) or 1e-5 (gradients) of the tensor's scale.

    A fixed float32 bound cannot hold: near z = 0 modReLU's Jacobian grows like |b|/|z| (Note [modReLU
    Jacobian]), so the rounding of z, which each path does in its own order, is amplified step after step
    (measured: a draw with min |z| = 0.008 and one of 17 steps put the two float32 paths 2e-4 and 6e-4 of the
    scale apart, while each was as far from the float64 run)."""
    torch.manual_seed(seed)
    cell = uz.make_cell("kru", 3, 16, dtype=torch.float32, factors=[4, 4], strategy="factored",
                        complex_factors=complex_factors, learn_initial_state=True)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        cell.act.bias.copy_(torch.rand(16, generator=gen) - 0.5)
        real_view(cell.h0).copy_(torch.rand(real_view(cell.h0).shape, generator=gen) - 0.5)
    x = torch.randn(steps, batch, 3, generator=gen)
    out_weight = torch.randn(steps, batch, cell.output_size, generator=gen)
    state_weight = torch.randn(real_view(torch.zeros(batch, 16, dtype=cell.state_dtype)).shape, generator=gen)

    def run(c, dtype, fused):
        c.fused = fused
        xx = x.to(dtype).requires_grad_()
        params = list(c.parameters())
        with spy_fused() as spy:
            out, final, grads = _losses(c, xx, None, out_weight.to(dtype), state_weight.to(dtype), params + [xx])
        assert spy.call_count == int(fused)
        return [out, final, *grads]

    fused, ref = run(cell, torch.float32, True), run(cell, torch.float32, False)
    wide_cell = uz.make_cell("kru", 3, 16, dtype=f64, factors=[4, 4], strategy="factored",
                             complex_factors=complex_factors, learn_initial_state=True)
    wide_cell.load_state_dict({k: v.to(c128 if v.is_complex() else f64) for k, v in cell.state_dict().items()})
    wide = run(wide_cell, f64, False)
    for i, (a, b, w) in enumerate(zip(fused, ref, wide)):
        assert (a is None) == (b is None) == (w is None)
        if w is None:
            continue
        assert a.shape == b.shape == w.shape and a.dtype == b.dtype
        scale = max(1.0, w.abs().max().item())
        fused_error = (a.to(w.dtype) - w).abs().max().item() / scale
        loop_error = (b.to(w.dtype) - w).abs().max().item() / scale
        assert fused_error <= 4 * loop_error + (1e-6 if i < 2 else 1e-5), (i, fused_error, loop_error)


# ----------------------------------------------------------------------------------------------------------
# 6. Every execution path gives the same numbers at the edges of the accepted options
# ----------------------------------------------------------------------------------------------------------

# One cell per activation and linear map of the fused path (complex and real modReLU, tanh).
EDGE_CELLS = [
    ("kru", {"strategy": "dense"}), ("kru", {"strategy": "factored"}), ("eurnn", {"strategy": "layers"}),
    ("fcurnn", {}), ("rcurnn", {"strategy": "dense"}), ("kru", {"complex_factors": False}), ("exprnn", {}),
    ("ornn", {"activation": "modrelu", "learn_initial_state": False}),
    ("kru", {"complex_factors": False, "activation": "tanh"}), ("ornn", {"activation": "tanh"}),
]


def _paths(cell, x):
    r"""Outputs, final state and the gradients of every parameter and of x, on the three execution paths:
    the fused loop with the C kernel (where it runs), the fused loop on torch operators, the per-step loop."""
    results = {}
    for path in ("C kernel", "torch operators", "per-step loop"):
        cell.fused = path != "per-step loop"
        with mock.patch.object(kernels, "_library", (lambda: None) if path == "torch operators" else kernels._library):
            xx = x.clone().requires_grad_()
            out, final = cell(xx)
            loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)).sum()
            loss = loss + real_view(final).sum()
            grads = torch.autograd.grad(loss, [*cell.parameters(), xx])
        results[path] = [out.detach(), real_view(final.detach()), *grads]
    return results


@given(case=st.sampled_from(EDGE_CELLS), dtype=st.sampled_from([f64, torch.float32]), seed=seeds,
       eps=st.sampled_from([EPS_RANGE[0], EPS_RANGE[1], 1e-5]), zero_input=st.booleans(),
       bias=st.sampled_from(["zero", "positive", "negative", "large", "large negative", "kink"]))
def test_every_execution_path_gives_the_same_numbers_at_the_edges(case, dtype, seed, eps, zero_input, bias):
    r"""A zero input from a zero state keeps z = 0 at every step (modReLU's 0/0 when ε = 0, where the C kernel
    returned 0 and torch NaN); ε at both ends of its range; b = 0, ±0.1, ±1e3 and b = −√ε, where the complex
    |z| + b is exactly 0 at z = 0 (b = 0 puts the real |z| + b there). At z = 0 the backward multiplies by
    (√ε + b)/(√ε + ε) per step (Note [modReLU at a zero state]): 1e9 for b = 1e3 and ε = 1e-12, so T = 3 steps
    keep the true gradient (1e27) a float32 number (at T = 4 it overflows: NaN on all three paths)."""
    name, options = case
    options = dict(options, **({"eps": eps} if "eps" in cell_options(name) else {}))
    torch.manual_seed(seed)
    cell = uz.make_cell(name, 3, 8, dtype=dtype, **options)
    act = cell.fused_activation()  # the σ the cell declares for the fused loop
    assert act is not None
    if act.kind == "modrelu":
        kink = -math.sqrt(eps) if cell.is_complex else 0.0
        value = {"zero": 0.0, "positive": 0.1, "negative": -0.1, "large": 1e3, "large negative": -1e3,
                 "kink": kink}[bias]
        with torch.no_grad():
            act.bias.fill_(value)
            if bias == "kink" and cell.is_complex:  # −√ε as every path rounds it: √(0·0 + 0·0 + ε)
                act.bias.copy_(-torch.full_like(act.bias, eps).sqrt())
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(3, 2, 3, dtype=dtype) if zero_input else torch.randn(3, 2, 3, dtype=dtype, generator=gen)
    results = _paths(cell, x)
    reference = results["per-step loop"]
    tolerance = 1e-10 if dtype == f64 else 1e-4
    for path, values in results.items():
        for i, (got, want) in enumerate(zip(values, reference)):
            assert torch.isfinite(real_view(got)).all(), f"{path}: result {i} is not finite"
            assert_close(got, want, tolerance)


# ----------------------------------------------------------------------------------------------------------
# 7. The same maths on a GPU (skipped cleanly without one)
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("name, options, n", [
    ("kru", {"factors": [4, 4], "strategy": "factored"}, 16),
    ("kru", {"factors": [4, 4], "strategy": "dense"}, 16),
    ("eurnn", {"strategy": "layers"}, 8),
    ("eurnn_fft", {"strategy": "layers", "complex_weights": False}, 8),
    ("scornn", {}, 8),
])
def test_fused_path_matches_reference_loop_on_cuda(name, options, n):
    torch.manual_seed(0)
    cell = uz.make_cell(name, 3, n, dtype=torch.float64, device="cuda", **options)
    with torch.no_grad():
        cell.act.bias.uniform_(-0.5, 0.5)
    x = torch.randn(5, 4, 3, dtype=torch.float64, device="cuda")
    results = []
    for fused in (True, False):
        cell.fused = fused
        out, final = cell(x)
        grads = torch.autograd.grad(out.pow(2).sum() + real_view(final).sum(), list(cell.parameters()),
                                    allow_unused=True)
        results.append((out, *grads))
    assert results[0][0].device.type == "cuda"
    for got, want in zip(*results):
        assert (got is None) == (want is None)
        if got is not None:
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
