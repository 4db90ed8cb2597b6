"""KRU and KRU-LSTM: factor sizes, strategies, inits, penalty, norm preservation and the paper's counts."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.cells.kru import AUTO_DENSE_MAX_N, split_in_two
from hypothesis_profiles import examples

seeds = st.integers(0, 2**31 - 1)
factor_lists = st.lists(st.integers(1, 4), min_size=1, max_size=4).filter(lambda f: math.prod(f) >= 2)
f64 = torch.float64


def kru(n, n_in=3, seed=0, **options):
    torch.manual_seed(seed)
    return uz.make_cell("kru", n_in, n, dtype=f64, **options)


@pytest.mark.parametrize("n, sizes", [(64, [4, 16]), (128, [8, 16]), (256, [16, 16]), (7, [7])])
def test_default_factor_sizes_follow_design(n, sizes):
    assert kru(n).sizes == sizes


def test_num_factors_uses_the_cervnet_rule():
    assert kru(512, num_factors=9).sizes == [2] * 9
    assert kru(45, num_factors=3).sizes == [3, 3, 5]


@pytest.mark.parametrize(
    "factors, match",
    [
        ([(2, 3), (3, 2)], "KRU needs square factors"),
        ([2, 2], "n = 6"),  # product 4 != N = 6
    ],
)
def test_bad_factors_rejected(factors, match):
    with pytest.raises(ValueError, match=match):
        kru(6, factors=factors)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"strategy": "fast"}, "strategy must be one of"),
        ({"init": "zeros"}, "init must be one of"),
        ({"activation": "tanh"}, "needs a real state"),
        ({"activation": "relu"}, "activation must be"),
    ],
)
def test_bad_options_rejected(options, match):
    with pytest.raises(ValueError, match=match):
        kru(8, **options)


@settings(max_examples=examples(10))
@given(factors=factor_lists, seed=seeds, complex_factors=st.booleans())
def test_strategies_give_the_same_numbers(factors, seed, complex_factors):
    n = math.prod(factors)
    x = torch.randn(5, 2, 3, dtype=f64, generator=torch.Generator().manual_seed(seed))
    outs = [
        kru(n, seed=seed, factors=factors, strategy=s, complex_factors=complex_factors)(x)[0]
        for s in ("dense", "factored", "auto")
    ]
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(outs[0], outs[2], rtol=1e-12, atol=1e-12)


def test_auto_strategy_crossover():
    assert kru(AUTO_DENSE_MAX_N).uses_dense
    assert not kru(2 * AUTO_DENSE_MAX_N).uses_dense
    assert kru(11).uses_dense  # a single (prime) factor is the dense matrix
    assert kru(11, strategy="factored").uses_dense


def test_split_in_two_balances_the_group_products():
    assert split_in_two([2] * 9) == 4  # 16 x 32
    assert split_in_two([2, 2, 5, 5]) == 3  # 20 x 5: cost N·25, against 4 x 25 (N·29) and 2 x 50 (N·52)
    assert split_in_two([8]) == 1


@settings(max_examples=examples(10))
@given(factors=factor_lists, seed=seeds, complex_factors=st.booleans())
def test_unitary_factors_preserve_the_norm_of_the_linear_part(factors, seed, complex_factors):
    n = math.prod(factors)
    cell = kru(n, seed=seed, factors=factors, complex_factors=complex_factors)
    assert cell.unitarity_error().item() <= 10 * n * torch.finfo(f64).eps
    assert cell.penalty().item() <= 10 * n * torch.finfo(f64).eps ** 2 * 1e3
    h = torch.randn(4, n, dtype=cell.state_dtype, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        wh = cell.recur(torch.zeros_like(h), 1e8 * h, cell.prepare()) / 1e8  # modReLU ~ identity (test_contract)
    torch.testing.assert_close(wh.norm(dim=-1), h.norm(dim=-1), rtol=1e-7, atol=0)


def test_inits():
    ident = kru(16, init="identity", factors=[4, 4])
    torch.testing.assert_close(ident.recurrent_matrix(), torch.eye(16, dtype=torch.complex128))
    noisy = kru(16, init="identity_noise", factors=[4, 4])
    err = (noisy.recurrent_matrix() - torch.eye(16, dtype=torch.complex128)).abs().max().item()
    assert 0 < err < 0.2
    assert noisy.penalty().item() > 0


def test_penalty_is_the_sum_over_factors_and_its_gradient_restores_unitarity():
    cell = kru(16, factors=[4, 4], init="identity_noise")
    expected = sum(
        torch.linalg.matrix_norm(w.mH @ w - torch.eye(4, dtype=w.dtype)) ** 2 for w in cell.factors
    )
    torch.testing.assert_close(cell.penalty(), expected.real)
    before = cell.penalty().item()
    opt = torch.optim.SGD(cell.factors.parameters(), lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        cell.penalty().backward()
        opt.step()
    assert cell.penalty().item() < before / 10


def test_learned_initial_state_adds_2n_reals():
    plain, learned = kru(16), kru(16, learn_initial_state=True)
    assert learned.parameter_count().stored == plain.parameter_count().stored + 32
    h = learned.initial_state(3)
    assert h.shape == (3, 16) and h.is_complex()


@given(seed=seeds, n=st.sampled_from([16, 64, 512]))
@settings(max_examples=examples(10))
def test_learned_initial_state_is_drawn_as_the_urnn_codes_draw_it(seed, n):
    # Arjovsky et al.'s and Wisdom et al.'s codes: every real part of h_0 from U(±√(3/(2N))).
    from scipy.stats import kstest

    bound = math.sqrt(3 / (2 * n))
    parts = torch.view_as_real(kru(n, seed=seed, learn_initial_state=True).h0.detach()).flatten().numpy()
    assert abs(parts).max() <= bound
    assert kstest(parts, "uniform", args=(-bound, 2 * bound)).pvalue > 1e-4


def test_real_factors():
    cell = kru(16, factors=[4, 4], complex_factors=False, activation="tanh")
    assert not cell.is_complex and cell.output_size == 16
    assert cell.parameter_count().recurrent_dof == 32


# The KRU paper's tables (Jose, Cissé, Fleuret, ICML 2018, arXiv 1705.10142, Tables 2–4), reproduced by the
# template of docs/parameter-counting.md#the-kru-papers-tables (complex input matrix, N real biases, factors,
# readout on [Re h; Im h] with biases, no learned initial state).
@pytest.mark.parametrize(
    "n, factors, n_in, n_out, total, recurrent, table",
    [
        (512, [2] * 9, 1, 10, 11_858, 72, "Table 2: ≈11K, 72"),
        (411, [3, 137], 50, 50, 120_217, 37_556, "Table 3: ≈120K, ≈38K"),
        (993, [3, 331], 50, 50, 418_783, 219_140, "Table 3: ≈418K, ≈220K"),
    ],
)
def test_parameter_counts_reproduce_the_kru_paper(n, factors, n_in, n_out, total, recurrent, table):
    torch.manual_seed(0)
    model = uz.SequenceModel(uz.make_cell("kru", n_in, n, factors=factors, strategy="dense"), n_out)
    count = model.parameter_count()
    assert (count.stored, count.recurrent_stored) == (total, recurrent), table
    assert count.dof == count.stored and count.recurrent_dof == count.recurrent_stored


def test_music_recurrent_counts_reproduce_table_4():
    kru_music = uz.make_cell("kru", 88, 100, factors=[2, 2, 5, 5], complex_factors=False)
    assert kru_music.parameter_count().recurrent_dof == 58
    kru_lstm_music = uz.make_cell("kru_lstm", 88, 45, factors=[3, 3, 5])
    assert kru_lstm_music.parameter_count().recurrent_dof == 172


# ------------------------------------------------------------------------------------------- KRU-LSTM
def test_kru_lstm_rejects_complex_factors():
    with pytest.raises(ValueError, match="expected complex_factors=False"):
        uz.make_cell("kru_lstm", 3, 8, complex_factors=True)


@settings(max_examples=examples(6))
@given(factors=factor_lists, seed=seeds, strategy=st.sampled_from(["dense", "factored"]))
def test_kru_lstm_is_an_lstm_with_the_kronecker_recurrent_matrix(factors, seed, strategy):
    n = math.prod(factors)
    torch.manual_seed(seed)
    cell = uz.make_cell("kru_lstm", 3, n, dtype=f64, factors=factors, strategy=strategy)
    ref = torch.nn.LSTM(3, n, dtype=f64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(cell.input.weight)
        ref.bias_ih_l0.copy_(cell.input.bias)
        ref.weight_hh_l0.copy_(cell.recurrent_matrix())
        ref.bias_hh_l0.zero_()
    x = torch.randn(5, 2, 3, dtype=f64, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(cell(x)[0], ref(x)[0], rtol=1e-12, atol=1e-12)


def test_kru_lstm_penalty_and_error_cover_every_gate():
    cell = uz.make_cell("kru_lstm", 3, 8, dtype=f64, factors=[2, 4])
    assert cell.penalty().item() < 1e-25 and cell.unitarity_error().item() < 1e-13
    with torch.no_grad():
        cell.factors[1][3].mul_(1.1)  # gate o, factor 1
    eye = torch.eye(4, dtype=f64)
    w = cell.factors[1][3]
    torch.testing.assert_close(cell.penalty(), torch.linalg.matrix_norm(w.T @ w - eye) ** 2, rtol=1e-10, atol=1e-20)
    gates = cell.recurrent_matrix().view(4, 8, 8)
    dense = torch.linalg.matrix_norm(gates.mT @ gates - torch.eye(8, dtype=f64)).max()
    torch.testing.assert_close(cell.unitarity_error(), dense, rtol=1e-10, atol=1e-13)
