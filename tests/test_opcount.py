"""urnn_zoo.opcount: what counts as an operator, FLOPs against textbook formulas (GEMMs, elementwise, the fused
maps' hand-derived totals), bytes moved, the C kernels' declared costs, and no uncounted operator on a hot path."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.engine import kernels
from urnn_zoo.cells.eurnn import LayersMap
from urnn_zoo.cells.kru import KroneckerPairMap
from urnn_zoo.opcount import (OperatorCounter, count_operators, counting, is_counted, operator_bytes, operator_flops,
                              record_external)
from urnn_zoo.engine.recurrence import DenseMap, StepRecord

aten = torch.ops.aten
dims = st.integers(1, 6)
seeds = st.integers(0, 2**31 - 1)
DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def _randn(gen, *shape, dtype):
    return torch.randn(*shape, generator=gen, dtype=dtype)


# ------------------------------------------------------------------------------------- what is an operator
def test_counts_a_known_function_exactly():
    a, b, w = torch.randn(4, 3), torch.randn(4, 3), torch.randn(3, 5)

    def fn():
        y = a + b                                          # 1: 12 adds
        y = y.view(2, 6).view(4, 3).t().t().unsqueeze(0).squeeze(0)
        y = torch.add(y, 1.0)                              # 2: 12 adds
        y = y.expand(4, 3).detach()[1:].select(0, 0).unbind(0)[0] + y.transpose(0, 1)[0, 0]  # 3: one add
        return a @ w                                       # 4: 2·4·3·5

    count = count_operators(fn)
    assert count.operators == 4
    assert count.by_operator == {"aten.add": 3, "aten.mm": 1}
    assert count.flops_by_operator == {"aten.mm": 120, "aten.add": 12 + 12 + 1} and count.flops == 145
    assert count.uncounted == ()


def test_counts_the_backward_too():
    x = torch.randn(3, 4, requires_grad=True)
    w = torch.randn(4, 2)
    count = count_operators(lambda: (x @ w).sum().backward())
    # forward mm, sum (6 adds); backward: ones_like, expand (a view), mm for x's gradient (w needs none)
    assert count.by_operator.get("aten.mm") == 2 and "aten.expand" not in count.by_operator
    assert count.flops_by_operator == {"aten.mm": 2 * (2 * 3 * 4 * 2), "aten.sum": 6}


@pytest.mark.parametrize("op", [aten.view.default, aten.as_strided.default, aten.select.int, aten.unbind.int,
                                aten.expand.default, aten.detach.default, aten._unsafe_view.default,
                                aten.transpose.int, aten.permute.default, aten.t.default, aten.alias.default,
                                aten.slice.Tensor, aten.unsqueeze.default, aten.squeeze.dim, aten.view_as_real.default,
                                aten.view_as_complex.default, aten._conj.default, aten.conj.default,
                                aten.lift_fresh.default, aten.split.Tensor, aten.diagonal.default,
                                aten.unsafe_split.Tensor, aten.unsafe_chunk.default, aten.promote_types.default])
def test_views_and_metadata_are_not_counted(op):
    assert not is_counted(op)


@pytest.mark.parametrize("op", [aten.add.Tensor, aten.add_.Tensor, aten.copy_.default, aten.addmm.out,
                                aten.addmm_.default, aten.clone.default, aten._to_copy.default,
                                aten.empty_like.default, aten.mkldnn_rnn_layer.default, aten._linalg_solve_ex.default])
def test_data_operators_are_counted(op):
    assert is_counted(op)


# --------------------------------------------------------------------------------------- GEMM family
# Each entry: (builder of the call from (gen, b, m, k, n, dtype), the aten operator it must reach, textbook FLOPs of a
# real call: 2 per multiply-add, BLAS's convention; an (m, k) x (k, n) product has m·k·n multiply-adds).
def _gemm_cases():
    def mats(g, b, m, k, n, dt):
        return _randn(g, m, k, dtype=dt), _randn(g, k, n, dtype=dt), _randn(g, m, n, dtype=dt)

    def batches(g, b, m, k, n, dt):
        return _randn(g, b, m, k, dtype=dt), _randn(g, b, k, n, dtype=dt), _randn(g, b, m, n, dtype=dt)

    def vecs(g, b, m, k, n, dt):
        return _randn(g, m, k, dtype=dt), _randn(g, k, dtype=dt), _randn(g, m, dtype=dt)

    def outer(g, b, m, k, n, dt):
        return _randn(g, m, n, dtype=dt), _randn(g, m, dtype=dt), _randn(g, n, dtype=dt)

    mkn = lambda b, m, k, n: 2 * m * k * n  # noqa: E731
    bmkn = lambda b, m, k, n: 2 * b * m * k * n  # noqa: E731
    return {
        "mm": (lambda *s: (lambda a, w, c: lambda: torch.mm(a, w))(*mats(*s)), "aten.mm", mkn),
        "mm out=": (lambda *s: (lambda a, w, c: lambda: torch.mm(a, w, out=c))(*mats(*s)), "aten.mm", mkn),
        "addmm": (lambda *s: (lambda a, w, c: lambda: torch.addmm(c, a, w))(*mats(*s)), "aten.addmm", mkn),
        "addmm out=": (lambda *s: (lambda a, w, c: lambda: torch.addmm(c, a, w, beta=0.5, out=c.clone()))(*mats(*s)),
                       "aten.addmm", mkn),
        "addmm_": (lambda *s: (lambda a, w, c: lambda: c.addmm_(a, w))(*mats(*s)), "aten.addmm_", mkn),
        "linear": (lambda *s: (lambda a, w, c: lambda: F.linear(a, w.mT, c[0]))(*mats(*s)), "aten.addmm", mkn),
        "bmm": (lambda *s: (lambda a, w, c: lambda: torch.bmm(a, w))(*batches(*s)), "aten.bmm", bmkn),
        "bmm out=": (lambda *s: (lambda a, w, c: lambda: torch.bmm(a, w, out=c))(*batches(*s)), "aten.bmm", bmkn),
        "baddbmm": (lambda *s: (lambda a, w, c: lambda: torch.baddbmm(c, a, w))(*batches(*s)), "aten.baddbmm", bmkn),
        "baddbmm out=": (lambda *s: (lambda a, w, c: lambda: torch.baddbmm(c, a, w, out=c.clone()))(*batches(*s)),
                         "aten.baddbmm", bmkn),
        "baddbmm_": (lambda *s: (lambda a, w, c: lambda: c.baddbmm_(a, w))(*batches(*s)), "aten.baddbmm_", bmkn),
        "addbmm": (lambda *s: (lambda a, w, c: lambda: torch.addbmm(c[0], a, w))(*batches(*s)), "aten.addbmm", bmkn),
        "addbmm out=": (lambda *s: (lambda a, w, c: lambda: torch.addbmm(c[0], a, w, out=c[0].clone()))(*batches(*s)),
                        "aten.addbmm", bmkn),
        "addbmm_": (lambda *s: (lambda a, w, c: lambda: c[0].addbmm_(a, w))(*batches(*s)), "aten.addbmm_", bmkn),
        "einsum": (lambda *s: (lambda a, w, c: lambda: torch.einsum("bik,bkj->bij", a, w))(*batches(*s)),
                   "aten.bmm", bmkn),
        "mv": (lambda *s: (lambda a, v, c: lambda: torch.mv(a, v))(*vecs(*s)), "aten.mv", lambda b, m, k, n: 2 * m * k),
        "mv out=": (lambda *s: (lambda a, v, c: lambda: torch.mv(a, v, out=c))(*vecs(*s)), "aten.mv",
                    lambda b, m, k, n: 2 * m * k),
        "addmv": (lambda *s: (lambda a, v, c: lambda: torch.addmv(c, a, v))(*vecs(*s)), "aten.addmv",
                  lambda b, m, k, n: 2 * m * k),
        "addmv out=": (lambda *s: (lambda a, v, c: lambda: torch.addmv(c, a, v, out=c.clone()))(*vecs(*s)),
                       "aten.addmv", lambda b, m, k, n: 2 * m * k),
        "addmv_": (lambda *s: (lambda a, v, c: lambda: c.addmv_(a, v))(*vecs(*s)), "aten.addmv_",
                   lambda b, m, k, n: 2 * m * k),
        "addr": (lambda *s: (lambda c, u, v: lambda: torch.addr(c, u, v))(*outer(*s)), "aten.addr",
                 lambda b, m, k, n: 2 * m * n),
        "addr out=": (lambda *s: (lambda c, u, v: lambda: torch.addr(c, u, v, out=c.clone()))(*outer(*s)), "aten.addr",
                      lambda b, m, k, n: 2 * m * n),
        "addr_": (lambda *s: (lambda c, u, v: lambda: c.addr_(u, v))(*outer(*s)), "aten.addr_",
                  lambda b, m, k, n: 2 * m * n),
        "dot": (lambda *s: (lambda a, v, c: lambda: torch.dot(v, v.flip(0)))(*vecs(*s)), "aten.dot",
                lambda b, m, k, n: 2 * k),
        "dot out=": (lambda *s: (lambda a, v, c: lambda: torch.dot(v, v.flip(0), out=c[0].clone()))(*vecs(*s)),
                     "aten.dot", lambda b, m, k, n: 2 * k),
        "vdot": (lambda *s: (lambda a, v, c: lambda: torch.vdot(v, v.flip(0)))(*vecs(*s)), "aten.vdot",
                 lambda b, m, k, n: 2 * k),
    }


GEMMS = _gemm_cases()


@given(st.sampled_from(sorted(GEMMS)), dims, dims, dims, dims, st.sampled_from(DTYPES), seeds)
def test_gemm_family_flops_are_the_textbook_formula(case, b, m, k, n, dtype, seed):
    build, name, textbook = GEMMS[case]
    if case == "einsum" and k == 1:  # no sum to contract: torch runs the outer product as one element-wise mul,
        name, textbook = "aten.mul", lambda b, m, k, n: b * m * n  # b·m·n multiplies and no add
    fn = build(torch.Generator().manual_seed(seed), b, m, k, n, dtype)
    count = count_operators(fn)
    # a complex multiply-add is 4 real multiplies and 4 real adds: 4x the real one
    expected = textbook(b, m, k, n) * (4 if dtype.is_complex else 1)
    assert count.by_operator.get(name) == 1, count.by_operator
    assert count.flops_by_operator[name] == expected
    assert count.uncounted == ()


def test_operator_flops_of_in_place_gemms_on_their_own():
    a, b, c = torch.randn(4, 5), torch.randn(5, 6), torch.zeros(4, 6)
    assert operator_flops(aten.addmm_.default, (c, a, b), {}, c) == 2 * 4 * 5 * 6 == 240
    x, y, z = torch.randn(3, 4, 5), torch.randn(3, 5, 6), torch.zeros(3, 4, 6)
    assert operator_flops(aten.baddbmm_.default, (z, x, y), {}, z) == 2 * 3 * 4 * 5 * 6


def test_linear_algebra_flops():
    n, k = 6, 2
    a = torch.randn(n, n) + n * torch.eye(n)
    rhs = torch.randn(n, k)
    solve = lambda *args: count_operators(lambda: torch.linalg.solve(*args)).flops_by_operator  # noqa: E731
    assert solve(a, rhs)["aten._linalg_solve_ex"] == 2 * n ** 3 // 3 + 2 * n * n * k
    assert solve(a, rhs[:, 0])["aten._linalg_solve_ex"] == 2 * n ** 3 // 3 + 2 * n * n
    assert solve(torch.stack([a, a, a]), rhs)["aten._linalg_solve_ex"] == 3 * (2 * n ** 3 // 3 + 2 * n * n * k)
    triangular = count_operators(lambda: torch.linalg.solve_triangular(a.triu(), rhs, upper=True))
    assert triangular.flops_by_operator["aten.linalg_solve_triangular"] == n * n * k
    # matrix_exp: torch's degree-18 Taylor polynomial (5 products) and s = ceil(log2(4 / θ18)) = 1 squaring
    assert operator_flops(aten.linalg_matrix_exp.default, (4 * torch.eye(n),), {}, None) == 2 * n ** 3 * 6
    assert operator_flops(aten.linalg_matrix_exp.default, (torch.zeros(n, n),), {}, None) == 0
    assert operator_flops(aten.linalg_matrix_exp.default, (0.3 * torch.eye(n),), {}, None) == 2 * n ** 3 * 3


@given(st.integers(1, 7), st.integers(0, 7), st.integers(1, 3), st.sampled_from(DTYPES), seeds)
def test_householder_product_flops_are_lapacks(n, extra_rows, batch, dtype, seed):
    m = n + extra_rows
    gen = torch.Generator().manual_seed(seed)
    a, tau = _randn(gen, batch, m, n, dtype=dtype), _randn(gen, batch, n, dtype=dtype)
    count = count_operators(lambda: torch.linalg.householder_product(a, tau))
    k = n  # LAPACK Working Note 41, xORGQR with k reflectors into an m x n Q: 4mnk − 2(m + n)k² + 4k³/3
    expected = round((4 * m * n * k - 2 * (m + n) * k * k + 4 * k ** 3 / 3) * batch) * (4 if dtype.is_complex else 1)
    assert count.flops_by_operator["aten.linalg_householder_product"] == expected


def test_fft_flops_are_real_flops():
    z = torch.randn(2, 8, dtype=torch.complex64)
    assert count_operators(lambda: torch.fft.fft(z)).flops == 2 * 5 * 8 * 3  # not x4


def test_fused_lstm_flops():
    t, b, i, h = 3, 2, 5, 4
    lstm = torch.nn.LSTM(i, h)
    x = torch.randn(t, b, i)
    count = count_operators(lambda: lstm(x)[0].sum().backward())
    if "aten.mkldnn_rnn_layer" not in count.by_operator:
        pytest.skip("torch took another LSTM path here")
    assert count.flops_by_operator["aten.mkldnn_rnn_layer"] == 2 * t * b * 4 * h * (i + h)
    assert count.flops_by_operator["aten.mkldnn_rnn_layer_backward"] == 2 * 2 * t * b * 4 * h * (i + h)


# ---------------------------------------------------------------------------------- elementwise FLOPs
# (call on x, y, z of one shape, real arithmetic operations per element of the result)
ELEMENTWISE = {
    "add": (lambda x, y, z: x + y, 1), "sub_": (lambda x, y, z: x.sub_(y), 1), "mul": (lambda x, y, z: x * y, 1),
    "add alpha": (lambda x, y, z: torch.add(x, y, alpha=2), 2),             # x + 2y: a multiply and an add
    "addcmul": (lambda x, y, z: torch.addcmul(x, y, z), 2),                 # x + y·z
    "addcmul out=": (lambda x, y, z: torch.addcmul(x, y, z, out=torch.empty_like(x)), 2),
    "addcmul value": (lambda x, y, z: torch.addcmul(x, y, z, value=-1), 3),
    "neg": (lambda x, y, z: -x, 1), "div": (lambda x, y, z: x / y, 1),
}
REAL_ONLY = {
    "tanh_backward": (lambda x, y, z: torch.ops.aten.tanh_backward(x, y), 3),  # ḡ·(1 − y²): square, subtract, multiply
    "gt": (lambda x, y, z: x > y, 1), "relu": (lambda x, y, z: torch.relu(x), 1),
}


@given(st.lists(dims, min_size=1, max_size=3), st.sampled_from(sorted(ELEMENTWISE) + sorted(REAL_ONLY)),
       st.sampled_from(DTYPES), seeds)
def test_elementwise_flops_per_element(shape, case, dtype, seed):
    if case in REAL_ONLY and dtype.is_complex:
        dtype = torch.float64
    fn, per_element = (ELEMENTWISE | REAL_ONLY)[case]
    gen = torch.Generator().manual_seed(seed)
    x, y, z = (_randn(gen, *shape, dtype=dtype) for _ in range(3))
    count = count_operators(lambda: fn(x, y, z))
    # a complex operation counts as 4 real ones (the rule of the complex multiply-add)
    expected = per_element * torch.Size(shape).numel() * (4 if dtype.is_complex else 1)
    assert count.operators == 1 + case.endswith("out=") and count.flops == expected


@given(st.lists(dims, min_size=1, max_size=3), st.integers(0, 2), st.sampled_from(DTYPES), seeds)
def test_reductions_count_one_per_input_element(shape, dim, dtype, seed):
    x = _randn(torch.Generator().manual_seed(seed), *shape, dtype=dtype)
    dim = min(dim, len(shape) - 1)
    scale = 4 if dtype.is_complex else 1
    assert count_operators(lambda: x.sum(dim)).flops == x.numel() * scale
    assert count_operators(lambda: x.mean()).flops == x.numel() * scale


def test_conjugation_is_one_negation_per_complex_element():
    w = torch.randn(3, 5, dtype=torch.complex64)
    assert count_operators(lambda: torch.conj_physical(w)).flops == 15
    assert count_operators(lambda: w.conj().resolve_conj()).flops == 15  # a copy out of a conjugate view
    assert count_operators(lambda: w.clone()).flops == 0
    assert count_operators(lambda: torch.conj_physical(w.real)).flops == 0


def test_data_movement_and_integer_data_count_no_flops_and_are_not_uncounted():
    x, i = torch.randn(4, 5), torch.arange(20).reshape(4, 5)
    for fn in (lambda: x.clone(), lambda: torch.cat([x, x]), lambda: torch.gather(x, 1, i % 5), lambda: i + i,
               lambda: torch.zeros(3), lambda: x.to(torch.float64)):
        count = count_operators(fn)
        assert count.flops == 0 and count.uncounted == ()


def test_an_operator_without_a_rule_is_reported():
    x = torch.randn(4, 5)
    count = count_operators(lambda: torch.special.bessel_j0(x))
    assert count.uncounted == ("aten.special_bessel_j0",) and count.flops == 0 and count.operators == 1


# --------------------------------------------------------------------------------------------- bytes
@given(dims, dims, st.sampled_from(DTYPES), seeds)
def test_bytes_of_elementwise_and_gemm_calls(m, n, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    a, b, row = _randn(gen, m, n, dtype=dtype), _randn(gen, m, n, dtype=dtype), _randn(gen, n, dtype=dtype)
    size = a.element_size()  # bytes of one number of this dtype (a complex number: two reals)
    assert count_operators(lambda: a + b).bytes_moved == 3 * m * n * size          # read a, b; write the sum
    assert count_operators(lambda: a + row).bytes_moved == (2 * m * n + n) * size  # the broadcast row read once
    assert count_operators(lambda: a + row.expand(m, n)).bytes_moved == (2 * m * n + n) * size  # stride 0
    # clone reads a and writes the copy; add_ reads the copy and b and writes the copy
    assert count_operators(lambda: a.clone().add_(b)).bytes_moved == 5 * m * n * size
    out = torch.empty_like(a)
    assert count_operators(lambda: torch.add(a, b, out=out)).bytes_moved == 3 * m * n * size  # out= is written only
    assert count_operators(lambda: out.copy_(a)).bytes_moved == 2 * m * n * size  # copy_ does not read its target
    assert count_operators(lambda: a * a).bytes_moved == 2 * m * n * size       # one tensor passed twice, read once
    assert count_operators(lambda: torch.empty_like(a)).bytes_moved == 0        # allocated, never written
    w = _randn(gen, n, m, dtype=dtype)
    assert count_operators(lambda: a @ w).bytes_moved == (m * n + n * m + m * m) * size


def test_operator_bytes_on_its_own():
    a, c = torch.ones(4, 8), torch.zeros(4, 8)
    assert operator_bytes(aten.mul.Tensor, (a, a), {}, a * a) == 2 * 32 * 4
    assert operator_bytes(aten.add.out, (a, a), {"out": c}, c) == 2 * 32 * 4
    assert operator_bytes(aten.empty.memory_format, ([4, 8],), {}, c) == 0


# --------------------------------------------------------------------- the fused maps, derived by hand
def _drive(lmap, tensors, T, B, N, dtype, gen):
    r"""One forward+backward of a LinearMap as the fused loop runs it: T forward steps adding u_t, T adjoint steps
    (the maps here gather gradients every step), then the tensors' gradients; counted from the first map call."""
    r = lambda *s: _randn(gen, *s, dtype=dtype)  # noqa: E731
    h0, h, u, g_z = r(B, N), r(T, B, N), r(T, B, N), r(T, B, N)
    saved = [torch.empty(T, B, N, dtype=dtype) for _ in range(lmap.forward_saved)]
    z = torch.empty(T, B, N, dtype=dtype)
    with OperatorCounter() as counter:
        forward, prev = lmap.forward_fn(tensors, saved), h0
        for t in range(T):
            forward(prev, u[t], z[t], t)
            prev = h[t]
        record = StepRecord(h0, h, saved)
        adjoint = lmap.adjoint_fn(tensors, record)
        for t in range(T - 1, -1, -1):
            adjoint(g_z[t], None, None, t)
        lmap.tensor_grads(tensors, [True] * len(tensors), record, g_z)
    return counter.result()


steps = st.integers(1, 3)
batch_sizes = st.integers(1, 3)


@given(steps, batch_sizes, st.integers(1, 6), st.sampled_from(DTYPES), seeds)
def test_dense_map_flops(T, B, N, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    count = _drive(DenseMap(), [_randn(gen, N, N, dtype=dtype)], T, B, N, dtype, gen)
    c = 4 if dtype.is_complex else 1  # real FLOPs of one multiply-add, halved
    # per step: z = h Wᵀ + u (B·N² multiply-adds), ḡ = ġ conj(W) (B·N²); gradient Σ_t h_{t−1}^H ġ_t (T·B·N²);
    # conj(W) materialised once for the adjoint (N² negations, complex only).
    expected = 3 * T * 2 * c * B * N * N + (N * N if dtype.is_complex else 0)
    assert count.flops == expected and count.uncounted == ()


@given(steps, batch_sizes, st.integers(1, 5), st.integers(1, 5), st.sampled_from(DTYPES), seeds)
def test_kronecker_pair_map_flops(T, B, p, q, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    N, c, cplx = p * q, 4 if dtype.is_complex else 1, dtype.is_complex
    count = _drive(KroneckerPairMap(), [_randn(gen, p, p, dtype=dtype), _randn(gen, q, q, dtype=dtype)], T, B, N, dtype,
                   gen)
    # a row as X (p, q); L = A ⊗ B maps X to A X Bᵀ. Forward step: V = X Bᵀ (B·p·q·q multiply-adds), A V + u
    # (B·p·p·q), conj(V) saved (B·N negations, complex only). Adjoint step: Ŵ = A^H G (B·p·p·q), ∂A += G V^H
    # (B·p·q·p), ∂Bᵀ += X^H Ŵ (q·B·p·q), Ŵ conj(B) (B·p·q·q). Then ∂A = Σ over the batch of (p, p): B·p² adds.
    # A^H and conj(B) are materialised once (p² + q² negations, complex only).
    forward = 2 * c * B * N * (q + p) + (B * N if cplx else 0)
    adjoint = 2 * c * B * N * (p + p + q + q)
    expected = T * (forward + adjoint) + c * B * p * p + ((p * p + q * q) if cplx else 0)
    assert count.flops == expected and count.uncounted == ()
    assert count.flops_by_operator["aten.addmm_"] == T * 2 * c * B * p * q * q
    assert count.flops_by_operator["aten.baddbmm_"] == T * 2 * c * B * p * p * q


def _pairings(layers, n, gen):
    # an involution per layer: a random perfect matching of the n coordinates, each pair swapped
    perms = []
    for _ in range(layers):
        order, perm = torch.randperm(n, generator=gen), torch.arange(n)
        perm[order[0::2]], perm[order[1::2]] = order[1::2], order[0::2]
        perms.append(perm)
    return torch.stack(perms)


@given(steps, batch_sizes, st.integers(1, 4), st.integers(1, 4), st.sampled_from(DTYPES), seeds)
def test_eurnn_layers_map_flops(T, B, L, half, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    N, c, cplx = 2 * half, 4 if dtype.is_complex else 1, dtype.is_complex
    tensors = [_randn(gen, L, N, dtype=dtype), _randn(gen, L, N, dtype=dtype)]
    with pytest.MonkeyPatch.context() as m:  # the torch operators' counts (the C layer kernel's: test_layers_kernel)
        m.setattr(kernels, "_library", lambda: None)
        count = _drive(LayersMap(_pairings(L, N, gen)), tensors, T, B, N, dtype, gen)
    # a layer is y = a ⊙ x + b ⊙ x[perm]: per element a multiply and a multiply-add (3), the last layer also adds u
    # (+1). Adjoint step: the layer inputs recomputed (3 per element for L − 1 layers), then per layer ḡ conjugated
    # (1 negation, complex only), ∂a += x ⊙ conj(ḡ) and ∂b += x[perm] ⊙ conj(ḡ) (2 + 2), conj(b) ⊙ ḡ (1) and the
    # multiply-add with conj(a) (2). Then ∂a, ∂b summed over the batch (L·B·N adds each); conj(a), conj(b)
    # materialised once (2·L·N negations, complex only).
    forward = B * N * c * (3 * L + 1)
    adjoint = B * N * (c * 3 * (L - 1) + L * (c * 7 + (1 if cplx else 0)))
    expected = T * (forward + adjoint) + 2 * c * L * B * N + (2 * L * N if cplx else 0)
    assert count.flops == expected and count.uncounted == ()


def test_kru_cell_counts_its_in_place_gradient_gemms():
    T, B, p, q = 4, 3, 2, 3
    cell = uz.make_cell("kru", 2, p * q, factors=[p, q], strategy="factored")
    x = torch.randn(T, B, 2)
    count = count_operators(lambda: cell(x)[0].pow(2).sum().backward())
    # per adjoint step ∂A += G V^H (B·p·q·p complex multiply-adds) and ∂Bᵀ += X^H Ŵ (q·B·p·q): 8 real FLOPs each
    assert count.flops_by_operator["aten.baddbmm_"] == T * 8 * B * p * q * p
    assert count.flops_by_operator["aten.addmm_"] == T * 8 * q * B * p * q


# ------------------------------------------------------------------------------------------ C kernels
@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from([torch.complex64, torch.complex128]),
       st.booleans(), st.booleans())
def test_kernel_costs_follow_the_modrelu_maths(B, N, dtype, emit, rows):
    # forward per element (Note [modReLU Jacobian]): m = √(x² + y² + ε): 2 squares, 2 adds, 1 root; 1/(m + ε): 2;
    # m + b: 1; the test m + b > 0, decided without the root as q > −b·|b|: 1 multiply, 1 comparison; s = k·(m + b): 1; h = z·s: 2 multiplies.
    # backward: the forward's factors again without h = z·s (11) and c = k·(ε − b)/((m + ε)·m): 3; ḡ + rows: 2;
    # r = Re(z̄ ḡ) = x·gx + y·gy: 3; acc += r·k: 2; t = c·r: 1; s·ḡ + z·t: 2 x 3.
    real = 4 if dtype == torch.complex64 else 8
    size = B * N
    forward_flops = size * (5 + 2 + 1 + 2 + 1 + 2)
    # reads z and b; writes h and the emitted [Re h; Im h] row
    forward_bytes = real * (2 * size + N + 2 * size + (2 * size if emit else 0))
    assert kernels.modrelu_cost("forward", B, N, dtype, emit=emit) == (forward_flops, forward_bytes)
    backward_flops = size * ((5 + 2 + 1 + 2 + 1) + 3 + (2 if rows else 0) + 3 + 2 + 1 + 6)
    # reads g, rows, z, acc, b and ε − b; writes gz and acc
    backward_bytes = real * (size * (2 + (2 if rows else 0) + 2 + 1 + 2 + 1) + 2 * N)
    assert kernels.modrelu_cost("backward", B, N, dtype, rows=rows) == (backward_flops, backward_bytes)


def test_kernel_cost_rejects_bad_arguments():
    with pytest.raises(ValueError, match="expected direction 'forward' or 'backward'.*got 'sideways'"):
        kernels.modrelu_cost("sideways", 2, 3, torch.complex64)
    with pytest.raises(ValueError, match="complex64 or complex128, got 'forward' and torch.float32"):
        kernels.modrelu_cost("forward", 2, 3, torch.float32)


def test_the_counter_sees_the_c_kernels():
    if not kernels.available():
        pytest.skip("the C kernels are not built here (no compiler, or URNN_ZOO_KERNELS=0)")
    T, B, N = 5, 3, 8
    cell = uz.make_cell("kru", 2, N, factors=[2, 4], strategy="factored")
    x = torch.randn(T, B, 2)
    count = count_operators(lambda: cell(x)[0].pow(2).sum().backward())
    fwd, bwd = "urnn_zoo.kernels.modrelu_forward", "urnn_zoo.kernels.modrelu_backward"
    assert count.by_operator[fwd] == T and count.by_operator[bwd] == T
    # training forward: emits the output row; backward: recomputes the factors and adds the output's gradient rows
    assert count.flops_by_operator[fwd] == T * 13 * B * N and count.flops_by_operator[bwd] == T * 28 * B * N
    assert count.bytes_by_operator[fwd] == T * 4 * (6 * B * N + N)
    assert count.bytes_by_operator[bwd] == T * 4 * (10 * B * N + 2 * N)
    assert not counting()


def test_record_external_reaches_every_active_counter_and_only_those():
    record_external("nobody", 1, 1)  # no counter: nothing to do
    with OperatorCounter() as outer:
        with OperatorCounter() as inner:
            record_external("k", 10, 80)
        record_external("k", 1, 8)
    assert inner.result().flops == 10 and inner.result().bytes_moved == 80
    assert outer.result().by_operator == {"k": 2} and outer.result().costs == {(10, 80): 1, (1, 8): 1}
    assert not counting()
    with pytest.raises(ValueError, match="non-negative FLOPs and bytes from 'k', got flops=-1 and bytes_moved=8"):
        record_external("k", -1, 8)


# ------------------------------------------------------------------------------ no operator left uncounted
HOT_PATHS = [(name, {}) for name in uz.cell_names()] + [
    ("kru", dict(factors=[2, 4], strategy="factored")), ("kru", dict(factors=[2, 4], strategy="dense")),
    ("kru", dict(factors=[2, 4], complex_factors=False, activation="tanh", strategy="factored")),
    ("kru_lstm", dict(factors=[2, 4], strategy="factored")), ("eurnn", dict(complex_weights=False)),
    ("eurnn", dict(strategy="band")), ("eurnn", dict(strategy="dense")), ("eurnn_fft", dict(strategy="dense")),
    ("exprnn", dict(map="cayley")), ("fcurnn", dict(parametrization="matrix_exp")),
    ("ornn", dict(method="householder_product")), ("ornn", dict(activation="modrelu")),
]


@pytest.mark.parametrize("name,options", HOT_PATHS, ids=[f"{n}-{o}" for n, o in HOT_PATHS])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "loop"])
def test_every_operator_of_every_cell_has_a_flop_rule(name, options, fused):
    cell = uz.make_cell(name, 3, 8, **options)
    cell.fused = fused
    x = torch.randn(3, 2, 3)
    count = count_operators(lambda: (cell(x)[0].pow(2).mean() + cell.penalty()).backward())
    assert count.uncounted == (), f"{name} {options}: no FLOP rule for {count.uncounted}"
    assert count.flops > 0 and count.bytes_moved > 0
