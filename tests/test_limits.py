"""urnn_zoo.opcount and urnn_zoo.limits: the operator counter, FLOP formulas, the limit formula, a small cell's row, the CLI."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from urnn_zoo import limits
from urnn_zoo.cli import main
from urnn_zoo.limits import COLUMNS, cell_limit, limit_seconds
from urnn_zoo.opcount import OperatorCounter, count_operators, is_counted, operator_flops

aten = torch.ops.aten
ROOT = Path(__file__).resolve().parents[1]


def test_counts_a_known_function_exactly():
    a, b, w = torch.randn(4, 3), torch.randn(4, 3), torch.randn(3, 5)

    def fn():
        y = a + b                                          # 1
        y = y.view(2, 6).view(4, 3).t().t().unsqueeze(0).squeeze(0)
        y = torch.add(y, 1.0)                              # 2
        y = y.expand(4, 3).detach()[1:].select(0, 0).unbind(0)[0] + y.transpose(0, 1)[0, 0]  # 3
        return a @ w                                       # 4

    count = count_operators(fn)
    assert count.operators == 4
    assert count.by_operator == {"aten.add": 3, "aten.mm": 1}
    assert count.flops == 2 * 4 * 3 * 5 and count.flops_by_operator == {"aten.mm": 120}


def test_counts_the_backward_too():
    x = torch.randn(3, 4, requires_grad=True)
    w = torch.randn(4, 2)
    count = count_operators(lambda: (x @ w).sum().backward())
    # forward mm, sum; backward: ones_like, expand (a view), mm for x's gradient (w needs none)
    assert count.by_operator.get("aten.mm") == 2 and "aten.expand" not in count.by_operator
    assert count.flops == 2 * (2 * 3 * 4 * 2)


@pytest.mark.parametrize("op", [aten.view.default, aten.as_strided.default, aten.select.int, aten.unbind.int,
                                aten.expand.default, aten.detach.default, aten._unsafe_view.default,
                                aten.transpose.int, aten.permute.default, aten.t.default, aten.alias.default,
                                aten.slice.Tensor, aten.unsqueeze.default, aten.squeeze.dim, aten.view_as_real.default,
                                aten.view_as_complex.default, aten._conj.default, aten.conj.default,
                                aten.lift_fresh.default, aten.split.Tensor, aten.diagonal.default,
                                aten.promote_types.default])
def test_views_and_metadata_are_not_counted(op):
    assert not is_counted(op)


@pytest.mark.parametrize("op", [aten.add.Tensor, aten.add_.Tensor, aten.copy_.default, aten.addmm.out,
                                aten.clone.default, aten._to_copy.default, aten.empty_like.default,
                                aten.mkldnn_rnn_layer.default, aten._linalg_solve_ex.default])
def test_data_operators_are_counted(op):
    assert is_counted(op)


@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (32, 64, 16)])
def test_mm_flops_real_and_complex(m, k, n):
    a, b = torch.randn(m, k), torch.randn(k, n)
    assert operator_flops(aten.mm.default, (a, b), {}, a @ b) == 2 * m * k * n
    ac, bc = a.to(torch.complex64), b.to(torch.complex64)
    assert operator_flops(aten.mm.default, (ac, bc), {}, ac @ bc) == 4 * 2 * m * k * n
    with OperatorCounter() as counter:
        ac @ bc
    assert counter.result().flops == 8 * m * k * n
    c = torch.randn(m, n)
    assert operator_flops(aten.addmm.default, (c, a, b), {}, c + a @ b) == 2 * m * k * n
    x = torch.randn(2, m, k)
    assert count_operators(lambda: x @ b).flops == 2 * 2 * m * k * n  # matmul -> one mm on (2m, k) rows


def test_linear_algebra_flops():
    n, k = 6, 2
    a = torch.randn(n, n) + n * torch.eye(n)
    rhs = torch.randn(n, k)
    assert count_operators(lambda: torch.linalg.solve(a, rhs)).flops == 2 * n ** 3 // 3 + 2 * n * n * k
    assert count_operators(lambda: torch.linalg.solve(a, rhs[:, 0])).flops == 2 * n ** 3 // 3 + 2 * n * n
    batched = torch.stack([a, a, a])
    assert count_operators(lambda: torch.linalg.solve(batched, rhs)).flops == 3 * (2 * n ** 3 // 3 + 2 * n * n * k)
    assert count_operators(lambda: torch.linalg.solve_triangular(a.triu(), rhs, upper=True)).flops == n * n * k
    # matrix_exp: torch's degree-18 Taylor polynomial (5 products) and s = ceil(log2(4 / θ18)) = 1 squaring
    assert operator_flops(aten.linalg_matrix_exp.default, (4 * torch.eye(n),), {}, None) == 2 * n ** 3 * 6
    assert operator_flops(aten.linalg_matrix_exp.default, (torch.zeros(n, n),), {}, None) == 0
    assert operator_flops(aten.linalg_matrix_exp.default, (0.3 * torch.eye(n),), {}, None) == 2 * n ** 3 * 3


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


def test_limit_formula():
    assert limit_seconds(2e9, 1000, 1e10, 2e-6) == pytest.approx(0.2 + 0.002)
    assert limit_seconds(0, 10, 1e9, 1e-6) == pytest.approx(1e-5)


def test_small_cell_row_is_sensible():
    row = cell_limit("kru", 8, batch=2, length=3, repeats=1, gemm_flops_per_s=1e9, op_overhead_s=1e-6)
    assert tuple(row) == COLUMNS and row["error"] == ""
    assert row["cell"] == "kru" and row["N"] == 8
    assert row["ops_per_step"] > 0 and row["flops"] > 0 and row["measured_s"] > 0
    ops = row["ops_per_step"] * 3
    assert ops == int(ops)
    assert row["limit_s"] == pytest.approx(row["flops"] / 1e9 + ops * 1e-6)
    assert row["distance"] == pytest.approx(row["measured_s"] / row["limit_s"]) and row["distance"] > 0


def test_measured_rates_are_positive():
    assert 0 < limits.gemm_throughput(8, 6, repeats=2, min_seconds=0) < math.inf
    assert 0 < limits.operator_overhead(calls=5, blocks=3) < 1e-2


def test_table_and_a_rejected_size():
    table = limits.limits_table(["rnn", "eurnn_fft"], (6,), batch=2, length=2, repeats=1)
    assert list(table.columns) == list(COLUMNS) and list(table["cell"]) == ["rnn", "eurnn_fft"]
    rnn, fft = table.iloc[0], table.iloc[1]
    assert rnn["error"] == "" and rnn["distance"] > 0
    assert fft["error"].startswith("ValueError") and "power of two" in fft["error"]
    assert math.isnan(fft["distance"]) and fft["flops"] is pd.NA and int(rnn["flops"]) == rnn["flops"]
    with pytest.raises(ValueError, match="expected one of"):
        limits.limit_rows(["nope"], (8,))
    with pytest.raises(ValueError, match="length=0"):
        limits.limit_rows(["rnn"], (8,), length=0)


def test_workload_options():
    assert limits.workload_options("kru", 512) == {"factors": [16, 32]}
    assert limits.workload_options("kru", 1024) == {"factors": [32, 32]}
    assert limits.workload_options("kru", 64) == {} and limits.workload_options("rnn", 512) == {}


TINY = ["--cells", "rnn", "--hidden", "6", "--batch-size", "2", "--length", "2", "--repeats", "1", "--quiet"]


def test_cli_prints_and_writes_then_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "limits.csv"
    assert main(["limits", *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "distance" in printed and any(line.startswith("rnn ") for line in printed.splitlines())
    written = out.read_text()
    assert written.splitlines()[0] == ",".join(COLUMNS) and written.splitlines()[1].startswith("rnn,6,")

    assert main(["limits", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and str(out) in err
    assert out.read_text() == written

    assert main(["limits", *TINY, "--out", str(out), "--force", "--format", "markdown"]) == 0
    assert "| cell | N |" in capsys.readouterr().out


def test_cli_json_keeps_a_failed_row(capsys):
    assert main(["limits", *TINY, "--cells", "rnn", "eurnn_fft", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["cell"] for r in rows] == ["rnn", "eurnn_fft"] and rows[0]["flops"] > 0
    assert rows[1]["distance"] is None and "power of two" in rows[1]["error"]


def test_cli_rejects_an_unknown_cell(capsys):
    assert main(["limits", "--cells", "nope", "--hidden", "8", "--quiet"]) == 2
    assert "unknown cell 'nope'" in capsys.readouterr().err


def test_bench_limits_starts_without_torch():
    code = "import sys; import benchmarks.bench_limits; assert 'torch' not in sys.modules, 'torch imported'"
    env = {k: v for k, v in os.environ.items() if k != "URNN_ZOO_BENCH_QUICK"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)
