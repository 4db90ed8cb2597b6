"""urnn_zoo.limits: the roofline limit formula, the measured rates, a small cell's row, the table and the CLI (the
counter itself: tests/test_opcount.py)."""
import json
import math
import os
import subprocess
import sys
from unittest import mock
from pathlib import Path

import pandas as pd
import pytest
import torch

import urnn_zoo as uz
from urnn_zoo import limits
from urnn_zoo.cli import main
from urnn_zoo.limits import COLUMNS, cell_limit, limit_seconds, roofline_seconds
from urnn_zoo.opcount import count_operators

ROOT = Path(__file__).resolve().parents[1]


def test_limit_formula():
    # a GEMM of 2 GFLOP moving 1 MB (compute-bound: 0.2 s at 10 GFLOP/s), ten copies of 400 MB (0.4 s each at 1 GB/s)
    costs = {(2e9, 1e6): 1, (0, 4e8): 10}
    assert roofline_seconds(costs, 1e10, 1e9) == pytest.approx(0.2 + 10 * 0.4)
    assert limit_seconds(costs, 11, 1e10, 1e9, 1e-3) == pytest.approx(4.2 + 11e-3)
    assert limit_seconds(costs, 11, 1e10, 1e9, 1.0, overlapped=True) == pytest.approx(11.0)  # dispatch hides kernels
    assert limit_seconds(costs, 11, 1e10, 1e9, 1e-3, overlapped=True) == pytest.approx(4.2)
    assert limit_seconds({}, 10, 1e9, 1e9, 1e-6) == pytest.approx(1e-5)
    # one operator both compute- and memory-heavy: the slower of the two, not their sum
    assert roofline_seconds({(1e9, 3e9): 2}, 1e9, 1e9) == pytest.approx(2 * 3.0)


def test_small_cell_row_is_sensible():
    rates = dict(batch=2, length=3, repeats=1, gemm_flops_per_s=1e9, bytes_per_s=1e10, op_overhead_s=1e-6)
    row = cell_limit("kru", 8, **rates)
    assert tuple(row) == COLUMNS and row["error"] == ""
    assert row["cell"] == "kru" and row["N"] == 8
    assert row["ops_per_step"] > 0 and row["flops"] > 0 and row["bytes"] > 0 and row["measured_s"] > 0
    assert row["bytes_per_s"] == 1e10
    ops = row["ops_per_step"] * 3
    assert ops == int(ops)
    roofline = row["limit_s"] - ops * 1e-6  # between the roofline of the totals and no overlap at all
    assert max(row["flops"] / 1e9, row["bytes"] / 1e10) * (1 - 1e-12) <= roofline
    assert roofline <= (row["flops"] / 1e9 + row["bytes"] / 1e10) * (1 + 1e-12)
    assert row["distance"] == pytest.approx(row["measured_s"] / row["limit_s"]) and row["distance"] > 0
    # with one rate made unlimited, the roofline is exactly the other term of the totals
    assert cell_limit("kru", 8, **rates | dict(bytes_per_s=math.inf))["limit_s"] == pytest.approx(
        row["flops"] / 1e9 + ops * 1e-6)
    assert cell_limit("kru", 8, **rates | dict(gemm_flops_per_s=math.inf))["limit_s"] == pytest.approx(
        row["bytes"] / 1e10 + ops * 1e-6)


def test_limit_counts_the_kru_backward_gemms():
    # the fused KRU backward accumulates its factor gradients with in-place GEMMs (addmm_, baddbmm_): they are in
    # the row's FLOPs, T·8·B·N·(p + q) for the two accumulators of a complex [p, q] pair
    T, B, p, q = 3, 2, 2, 4
    row = cell_limit("kru", p * q, options=dict(factors=[p, q], strategy="factored"), batch=B, length=T, repeats=1,
                     gemm_flops_per_s=1e9, bytes_per_s=1e10, op_overhead_s=1e-6)
    cell = uz.make_cell("kru", 10, p * q, factors=[p, q], strategy="factored")
    x = torch.randn(T, B, 10)
    count = count_operators(lambda: cell(x)[0].pow(2).mean().backward())
    in_place = count.flops_by_operator["aten.addmm_"] + count.flops_by_operator["aten.baddbmm_"]
    assert in_place == T * 8 * B * p * q * (p + q)
    assert row["flops"] == count.flops


def test_bad_rates_and_sizes_are_rejected_before_any_work():
    with pytest.raises(ValueError, match="expected positive rates, got gemm_flops_per_s=0 and bytes_per_s=1000000000.0"):
        roofline_seconds({(1, 1): 1}, 0, 1e9)
    with pytest.raises(ValueError, match="bytes_per_s=-1"):
        limit_seconds({}, 1, 1e9, -1, 1e-6)
    with pytest.raises(ValueError, match="at least 1, got n=8, batch=0, length=5, repeats=2"):
        limits.memory_bandwidth(8, 0, 5, repeats=2)


def test_measured_rates_are_positive():
    assert 0 < limits.gemm_throughput(8, 6, repeats=2, min_seconds=0) < math.inf
    assert 0 < limits.memory_bandwidth(8, 2, 5, repeats=2, min_seconds=0) < math.inf
    assert 0 < limits.operator_overhead(calls=5, blocks=3) < 1e-2


def test_table_and_a_rejected_size():
    table = limits.limits_table(["rnn", "eurnn_fft"], (6,), batch=2, length=2, repeats=1)
    assert list(table.columns) == list(COLUMNS) and list(table["cell"]) == ["rnn", "eurnn_fft"]
    rnn, fft = table.iloc[0], table.iloc[1]
    assert rnn["error"] == "" and rnn["distance"] > 0
    assert fft["error"].startswith("InadmissibleSizeError: eurnn_fft:") and "power of two" in fft["error"]
    assert math.isnan(fft["distance"]) and fft["flops"] is pd.NA and int(rnn["flops"]) == rnn["flops"]
    with pytest.raises(ValueError, match="expected one of"):
        limits.limit_rows(["nope"], (8,))
    with pytest.raises(ValueError, match="length=0"):
        limits.limit_rows(["rnn"], (8,), length=0)


def test_workload_options():
    table = {128: [8, 16], 512: [16, 32], 1024: [32, 32], 2048: [32, 64]}  # two factors as balanced as N allows
    for n, factors in table.items():
        assert limits.workload_options("kru", n) == {"factors": factors} and math.prod(factors) == n
        uz.cells.base.cell_class("kru").check_size(n, **limits.workload_options("kru", n))
    assert limits.workload_options("kru", 64) == {} and limits.workload_options("rnn", 512) == {}


def test_one_workload_behind_compare_limits_and_the_benchmarks():
    from benchmarks import bench_kru, common
    from urnn_zoo import workload
    from urnn_zoo.compare import timing

    assert (common.BATCH, common.SEQ_LEN, common.INPUT, common.SEED) == (32, 100, 10, 0)
    assert (workload.BATCH, workload.LENGTH, workload.INPUT_SIZE, workload.SEED) == (32, 100, 10, 0)
    assert limits.KRU_FACTORS is workload.KRU_FACTORS and limits.workload_options is workload.workload_options
    if not common.QUICK:
        assert bench_kru.KRU_FACTORS == {n: list(f) for n, f in workload.KRU_FACTORS.items()}
    # compare times KRU at the table's factors (its default at N = 1024 would be [16, 64])
    with mock.patch("urnn_zoo.cells.base.make_cell", wraps=uz.cells.base.make_cell) as made:
        timing.time_cell("kru", 1024, batch=1, length=1, repeats=1)
    assert made.call_args.args[:3] == ("kru", 10, 1024) and made.call_args.kwargs["factors"] == [32, 32]


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
