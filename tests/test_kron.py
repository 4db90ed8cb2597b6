"""Property tests of urnn_zoo.kron: Kronecker algebra (docs/conventions.md#kronecker-products), penalty,
closed-form error."""
import functools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from urnn_zoo.kron import (
    factor_shapes, factor_sizes, kron_apply, kron_dense, kron_penalty, kron_unitarity_error,
    random_unitary,
)

EXACT = [torch.float64, torch.complex128]
ALL = [*EXACT, torch.float32, torch.complex64]
MAX_N = 256
seeds = st.integers(0, 2**32 - 1)


@st.composite
def shape_lists(draw, square=False, min_size=1, max_size=4, arity=2):
    r"""1 to 5 factor shapes with entries in [min_size, max_size], every mode product ≤ MAX_N."""
    count = draw(st.integers(1, 5))
    prods, shapes = [1] * arity, []
    for _ in range(count):
        cap = [min(max_size, MAX_N // p) for p in prods]
        if min(cap) < min_size:
            break
        if square:
            k = draw(st.integers(min_size, min(cap)))
            dims = (k,) * arity
        else:
            dims = tuple(draw(st.integers(min_size, c)) for c in cap)
        prods = [p * d for p, d in zip(prods, dims)]
        shapes.append(dims)
    return shapes


def make(shapes, dtype, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(*s, dtype=dtype, generator=g) for s in shapes]


def unitaries(sizes, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return [random_unitary(k, dtype=dtype, generator=g) for k in sizes]


def eps(dtype):
    return torch.finfo(dtype).eps


def dense_error(factors):
    w = kron_dense(factors)
    return torch.linalg.matrix_norm(w.mH @ w - torch.eye(w.shape[1], dtype=w.dtype)).item()


# ---- apply and the algebra of ⊗ -------------------------------------------------------------

@given(shape_lists(), st.sampled_from(ALL), seeds, st.lists(st.integers(0, 3), max_size=2))
def test_apply_matches_dense(shapes, dtype, seed, batch):
    # Bound: |y - Wx| ≤ 10·N·eps · (|W| |x|) elementwise; float32 runs at its own eps (≈ 3e-4 rel. at N=256).
    factors = make(shapes, dtype, seed)
    x = torch.randn(*batch, math.prod(q for _, q in shapes), dtype=dtype,
                    generator=torch.Generator().manual_seed(seed + 1))
    w = kron_dense(factors)
    y = kron_apply(factors, x)
    assert y.shape == (*batch, w.shape[0]) and y.dtype == dtype
    scale = x.abs() @ w.abs().T
    assert torch.all((y - x @ w.T).abs() <= 10 * w.shape[1] * eps(dtype) * scale + 1e-30)


@given(shape_lists(), seeds)
def test_apply_promotes_real_input_with_complex_factors(shapes, seed):
    factors = make(shapes, torch.complex128, seed)
    x = torch.randn(3, math.prod(q for _, q in shapes), dtype=torch.float64)
    y = kron_apply(factors, x)
    assert y.dtype == torch.complex128
    torch.testing.assert_close(y, x.to(torch.complex128) @ kron_dense(factors).T, rtol=1e-12, atol=1e-12)


@given(shape_lists(arity=3), st.sampled_from(EXACT), seeds)
def test_mixed_product_rule(shapes, dtype, seed):
    # (⊗A_f)(⊗C_f) = ⊗(A_f C_f) with A_f: P_f x Q_f, C_f: Q_f x R_f.
    a = make([(p, q) for p, q, _ in shapes], dtype, seed)
    c = make([(q, r) for _, q, r in shapes], dtype, seed + 1)
    torch.testing.assert_close(kron_dense(a) @ kron_dense(c), kron_dense([x @ y for x, y in zip(a, c)]),
                               rtol=1e-12, atol=1e-12)


@given(shape_lists(), st.sampled_from(EXACT), seeds)
def test_conjugate_transpose_distributes(shapes, dtype, seed):
    factors = make(shapes, dtype, seed)
    w = kron_dense(factors)
    # Elementwise to rounding of one complex product per fold: |error| ≤ 4·F·eps·(⊗|W_f|).
    bound = 4 * len(factors) * eps(dtype) * kron_dense([f.abs() for f in factors]).mT
    assert torch.all((kron_dense([f.mH for f in factors]) - w.mH).abs() <= bound)
    torch.testing.assert_close(kron_dense(factors), functools.reduce(torch.kron, factors), rtol=0, atol=0)
    x = torch.randn(2, w.shape[0], dtype=dtype, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(kron_apply([f.mH for f in factors], x), x @ w.conj(), rtol=1e-12, atol=1e-12)


@given(shape_lists(), st.sampled_from(EXACT), seeds)
def test_norms_multiply_and_singular_values_are_products(shapes, dtype, seed):
    factors = make(shapes, dtype, seed)
    w = kron_dense(factors)
    fro = math.prod(torch.linalg.matrix_norm(f).item() for f in factors)
    spec = math.prod(torch.linalg.matrix_norm(f, ord=2).item() for f in factors)
    assert torch.linalg.matrix_norm(w).item() == pytest.approx(fro, rel=1e-12)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(spec, rel=1e-12)
    products = torch.ones(1, dtype=torch.float64)
    for f in factors:
        products = torch.outer(products, torch.linalg.svdvals(f)).flatten()
    dense = torch.linalg.svdvals(w)
    expected = torch.zeros_like(dense)  # ∏min(P_f, Q_f) ≤ min(∏P_f, ∏Q_f): the rest are zero
    expected[: products.numel()] = products.sort(descending=True).values
    torch.testing.assert_close(dense, expected, rtol=0, atol=10 * w.shape[1] * eps(dtype) * spec)


# ---- penalty and the closed-form unitarity error -----------------------------------------------

@given(shape_lists(square=True), st.sampled_from(EXACT), seeds)
def test_penalty_is_zero_for_unitary_factors(shapes, dtype, seed):
    sizes = [p for p, _ in shapes]
    assert kron_penalty(unitaries(sizes, dtype, seed)).item() <= 10 * max(sizes) * eps(dtype)


@given(shape_lists(square=True), st.sampled_from(EXACT), seeds, st.data(),
       st.floats(1e-3, 1.0), st.booleans())
def test_penalty_is_positive_off_unitarity(shapes, dtype, seed, data, delta, shrink):
    sizes = [p for p, _ in shapes]
    factors = unitaries(sizes, dtype, seed)
    f = data.draw(st.integers(0, len(sizes) - 1))
    s = 1 / (1 + delta) if shrink else 1 + delta
    factors[f] = factors[f] * s
    # Only factor f is off: ‖s²I − I‖² = Q_f (s² − 1)².
    assert kron_penalty(factors).item() == pytest.approx(sizes[f] * (s * s - 1) ** 2, rel=1e-9)


@given(shape_lists(), st.sampled_from(EXACT), seeds)
def test_penalty_equals_sum_formula(shapes, dtype, seed):
    # Independent form: ‖W^H W − I_Q‖² = Σσ⁴ − 2Σσ² + Q over the singular values of W.
    factors = make(shapes, dtype, seed)
    expected = sum(((s := torch.linalg.svdvals(f)) ** 4 - 2 * s**2).sum().item() + f.shape[1] for f in factors)
    penalty = kron_penalty(factors)
    assert penalty.dtype == torch.float64 and penalty.dim() == 0
    assert penalty.item() == pytest.approx(expected, rel=1e-10, abs=1e-10)


@given(shape_lists(square=True), st.sampled_from(EXACT), seeds, st.data(),
       st.sampled_from([0.0, 1e-12, 1e-8, 1e-3, 0.5]))
def test_unitarity_error_matches_dense_near_unitarity(shapes, dtype, seed, data, delta):
    sizes = [p for p, _ in shapes]
    factors = unitaries(sizes, dtype, seed)
    f = data.draw(st.integers(0, len(sizes) - 1))
    factors[f] = factors[f] * (1 + delta)
    dense, closed = dense_error(factors), kron_unitarity_error(factors).item()
    assert abs(closed - dense) <= 1e-12 * max(1.0, dense)


@given(shape_lists(), st.sampled_from(EXACT), seeds, st.sampled_from([0.1, 1.0, 3.0]))
def test_unitarity_error_matches_dense_far_from_unitarity(shapes, dtype, seed, scale):
    factors = make(shapes, dtype, seed, scale)
    dense, closed = dense_error(factors), kron_unitarity_error(factors).item()
    assert abs(closed - dense) <= 1e-12 * max(1.0, dense)


def test_naive_closed_form_misses_the_bound_at_unitarity():
    # Why the stable recursion exists: ∏‖G_f‖² − 2·Re∏tr G_f + N cancels to a rounding floor ≈ sqrt(N·eps),
    # ~1e-7 in float64 (measured: 3e-8 to 6e-7), where the true error is ~1e-15. Eight 2x2 orthogonal
    # factors (N = 256) over 10 seeds: the naive form misses the 1e-12 bound on most (clamped-to-0 cases
    # pass by luck); the stable form meets it on all.
    misses = 0
    for seed in range(10):
        factors = unitaries([2] * 8, torch.float64, seed)
        grams = [f.mH @ f for f in factors]
        naive = (torch.stack([torch.linalg.matrix_norm(g) ** 2 for g in grams]).prod()
                 - 2 * torch.stack([g.trace() for g in grams]).prod() + 256).clamp(min=0).sqrt().item()
        dense = dense_error(factors)
        assert abs(kron_unitarity_error(factors).item() - dense) <= 1e-12
        misses += abs(naive - dense) > 1e-12
    assert misses >= 3


# ---- factor sizes and shapes ----------------------------------------------------------------

@pytest.mark.parametrize("n, m, expected", [
    (411, 2, [3, 137]), (993, 2, [3, 331]), (128, 2, [8, 16]), (500, 2, [20, 25]), (45, 3, [3, 3, 5]),
    (64, 2, [4, 16]), (256, 2, [16, 16]), (1024, 2, [16, 64]), (512, 9, [2] * 9), (1, 1, [1]), (1, 4, [1]),
    (12, 5, [2, 2, 3]), (100, 4, [2, 2, 5, 5]), (97, 3, [97]),
])
def test_factor_sizes_examples(n, m, expected):
    assert factor_sizes(n, m) == expected


def _is_prime(k):
    return k > 1 and all(k % d for d in range(2, math.isqrt(k) + 1))


@given(st.integers(1, 5000), st.integers(1, 14))
def test_factor_sizes_invariants(n, m):
    sizes = factor_sizes(n, m)
    assert math.prod(sizes) == n and 1 <= len(sizes) <= m and sizes == sorted(sizes)
    assert all(n % k == 0 for k in sizes)
    if n > 1:
        assert all(k > 1 for k in sizes)
    primes = factor_sizes(n, 64)  # more slots than prime factors: exactly the prime factorisation
    assert all(_is_prime(p) for p in primes) or primes == [1]
    if len(sizes) < m:
        assert sizes == primes
    elif m > 1:
        # The rule one step at a time: m - 1 factors = the m-factor answer with its two smallest merged.
        assert factor_sizes(n, m - 1) == sorted([sizes[0] * sizes[1], *sizes[2:]])


@pytest.mark.parametrize("n, m, match", [
    (0, 2, "n must be a positive int, got 0"), (-4, 2, "n must be a positive int"),
    (2.5, 2, r"n must be a positive int, got 2\.5 \(float\)"), ("8", 2, "n must be a positive int"),
    (True, 2, "n must be a positive int"), (8, 0, "max_factors must be a positive int, got 0"),
    (8, None, "max_factors must be a positive int, got None"),
])
def test_factor_sizes_rejects_bad_input(n, m, match):
    with pytest.raises(ValueError, match=match):
        factor_sizes(n, m)


def test_factor_shapes_normalises():
    assert factor_shapes([2, (3, 4), [5, 1]]) == [(2, 2), (3, 4), (5, 1)]
    assert factor_shapes([4, 16], n=64) == [(4, 4), (16, 16)]
    assert factor_shapes([(2, 3), (3, 2)], n=6) == [(2, 3), (3, 2)]


@pytest.mark.parametrize("spec, n, match", [
    ([4, 8], 64, r"\[4, 8\] must have ∏P = ∏Q = n = 64, got ∏P = 32 and ∏Q = 32"),
    ([(2, 3), 4], 8, "got ∏P = 8 and ∏Q = 12"),
    ([], None, "non-empty list"), ("22", None, "non-empty list"), (4, None, "non-empty list"),
    ([0], None, "must be a positive int, got 0"), ([(1, 2, 3)], None, r"int or a \(P, Q\) pair"),
    ([(2, 0)], None, "Q of factor 0 must be a positive int"), ([2.0], None, "positive int"),
])
def test_factor_shapes_rejects_bad_spec(spec, n, match):
    with pytest.raises(ValueError, match=match):
        factor_shapes(spec, n)


def test_apply_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"last dimension ∏Q_f = 6 .* got x of shape \(2, 5\)"):
        kron_apply([torch.eye(2), torch.eye(3)], torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"factor 1 must be a non-empty matrix \(2-D\), got shape \(3,\)"):
        kron_apply([torch.eye(2), torch.ones(3)], torch.randn(2, 6))
    with pytest.raises(ValueError, match="at least one Kronecker factor"):
        kron_penalty([])


# ---- random unitaries, gradients, devices ----------------------------------------------------

@given(st.integers(1, 16), st.sampled_from(ALL), seeds)
def test_random_unitary(n, dtype, seed):
    u = random_unitary(n, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    assert u.shape == (n, n) and u.dtype == dtype
    torch.testing.assert_close(u.mH @ u, torch.eye(n, dtype=dtype), rtol=0, atol=10 * n * eps(dtype))
    again = random_unitary(n, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(u, again)


@pytest.mark.parametrize("dtype", EXACT)
def test_gradients_flow(dtype):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 3, dtype=dtype, generator=g, requires_grad=True)
    b = torch.randn(3, 2, dtype=dtype, generator=g, requires_grad=True)
    x = torch.randn(2, 6, dtype=dtype, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, x: kron_apply([a, b], x), (a, b, x))
    assert torch.autograd.gradcheck(lambda a, b: kron_penalty([a, b]), (a, b))
    assert torch.autograd.gradcheck(lambda a, b: kron_unitarity_error([a, b]), (a, b))


@pytest.mark.cuda
def test_apply_on_cuda_matches_cpu():
    factors = make([(2, 3), (4, 2), (3, 3)], torch.complex64, 0)
    x = torch.randn(5, 18, dtype=torch.complex64)
    y = kron_apply([f.cuda() for f in factors], x.cuda())
    assert y.device.type == "cuda"
    torch.testing.assert_close(y.cpu(), kron_apply(factors, x), rtol=1e-5, atol=1e-5)
    assert random_unitary(3, dtype=torch.float32, device="cuda").device.type == "cuda"
