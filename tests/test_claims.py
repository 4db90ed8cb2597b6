r"""Paper against zoo: a run's outcome against the memoryless baseline, the verdict of each claim's rows, and
the report's section, on synthetic results whose expected verdicts follow from the stated rule."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from urnn_zoo.compare.presets import preset
from urnn_zoo.report.build import build_report
from urnn_zoo.report.claims import CLAIMS, OUTCOMES, Claim, claim_table, outcome
from urnn_zoo.report.load import Results
from urnn_zoo.runs import ASV_COLUMNS, CURVE_COLUMNS, FINAL_COLUMNS, RUN_COLUMNS, TIMING_COLUMNS, typed_frame


@given(baseline=st.floats(1e-6, 1e3), ratio=st.floats(0, 10))
def test_outcome_is_read_off_the_ratio_to_the_baseline(baseline, ratio):
    value = ratio * baseline
    expected = ("solved" if value <= baseline / 10 else "above the baseline" if value > 1.1 * baseline else
                "at the baseline" if value >= 0.9 * baseline else "below the baseline")
    assert outcome(value, baseline) == expected


@pytest.mark.parametrize("baseline", [0, -1.0, float("nan"), float("inf"), None, "0.02"])
def test_outcome_refuses_a_baseline_that_is_not_a_positive_number(baseline):
    with pytest.raises(ValueError, match="baseline: expected a finite number > 0"):
        outcome(0.01, baseline)


def test_a_claim_is_a_figure_or_a_table():
    with pytest.raises(ValueError, match="not both"):
        Claim("x", "s", "t", "copy", {}, "loss", outcomes={"kru": "solved"}, numbers={"kru": 1.0})
    with pytest.raises(ValueError, match="not neither"):
        Claim("x", "s", "t", "copy", {}, "loss")
    with pytest.raises(ValueError, match="outcomes must be among"):
        Claim("x", "s", "t", "copy", {}, "loss", outcomes={"kru": "great"})
    for claim in CLAIMS.values():
        assert set(claim.outcomes.values()) <= set(OUTCOMES) and claim.cells


def _results(rows: list[tuple], task: str, options: dict, metric: str, baseline: float,
             stand_in: bool = False) -> Results:
    r"""Results of finished runs (cell, seed, test value[, hidden]) on one task, each with a validation curve
    that reaches its test value at step 300."""
    runs, finals, curves = [], [], []
    for cell, seed, value, *hidden in rows:
        name = f"{cell}-s{seed}-{hidden[0] if hidden else 8}"
        runs.append({"run": name, "cell": cell, "variant": "", "task": task, "task_options": json.dumps(options),
                     "hidden": hidden[0] if hidden else 8, "seed": seed, "status": "finished", "ok": True,
                     "data_source": "stand-in digits" if stand_in else "the paper's", "stand_in": stand_in})
        finals.append({"run": name, "split": "test", "metric": metric, "value": value, "baseline": baseline})
        for step, v in ((0, baseline), (100, baseline), (300, value)):
            curves.append({"run": name, "cell": cell, "variant": "", "task": task, "step": step, "split": "valid",
                           "metric": metric, "value": v})
    return Results(runs=typed_frame(runs, RUN_COLUMNS), finals=typed_frame(finals, FINAL_COLUMNS),
                   curves=typed_frame(curves, CURVE_COLUMNS), timings=typed_frame([], TIMING_COLUMNS),
                   asv=typed_frame([], ASV_COLUMNS), manifest={})


def test_a_figure_claims_verdicts_follow_every_seeds_outcome():
    claim = CLAIMS["kru-figure1-copy"]
    b = 0.0204
    res = _results([("kru", 0, 1e-6), ("kru", 1, 3e-6), ("fcurnn", 0, 1e-6), ("fcurnn", 1, 0.015),
                    ("lstm", 0, 0.0203), ("lstm", 1, 0.0205), ("rnn", 0, 0.0005), ("rcurnn", 0, 0.0203),
                    ("rcurnn", 1, 1.2)], "copy", {"T": 1000}, "loss", b)
    table = claim_table(res, claim).set_index("cell")
    assert table.loc["kru (KRU)", "verdict"] == "reproduced"
    # mean 2e-6, stdev √2·1e-6 = 1.414e-6: written as the report's tables write it, in scientific notation
    assert table.loc["kru (KRU)", "ours"] == "2.00e-06 ± 1.4e-06 (n=2)"
    assert table.loc["kru (KRU)", "steps to a tenth of the baseline"] == "300"
    assert table.loc["fcurnn (FC-uRNN)", "verdict"] == "not reproduced"  # one seed only below the baseline
    assert table.loc["fcurnn (FC-uRNN)", "outcomes"] == "solved, below the baseline"
    assert table.loc["lstm (LSTM)", "verdict"] == "reproduced"
    assert table.loc["lstm (LSTM)", "steps to a tenth of the baseline"] == "never"
    assert table.loc["rnn (RNN)", "verdict"] == "not reproduced"  # the paper's RNN stays at the baseline
    assert table.loc["rcurnn (RC-uRNN)", "verdict"] == "not reproduced"  # a loss spike is no baseline
    assert table.loc["rcurnn (RC-uRNN)", "outcomes"] == "at the baseline, above the baseline"


def test_runs_of_another_length_are_not_the_claims():
    res = _results([("kru", 0, 1e-6)], "copy", {"T": 500}, "loss", 0.04)
    assert claim_table(res, CLAIMS["kru-figure1-copy"]).verdict.eq("not run").all()


@pytest.mark.parametrize("stand_in", [True, False])
def test_a_tables_number_is_compared_on_the_papers_data_only(stand_in):
    claim = CLAIMS["kru-table2-pmnist"]  # accuracy: higher is better; KRU 94.5 %, LSTM 91.3 %
    kru = [0.945 - claim.tolerance - 0.002, 0.945 - claim.tolerance - 0.004]  # worse by more than the tolerance
    lstm = [0.913 - claim.tolerance / 2, 0.913 + 0.02]  # mean within it
    rows = [("kru", s, v) for s, v in enumerate(kru)] + [("lstm", s, v) for s, v in enumerate(lstm)]
    res = _results(rows, "pmnist", {"digits": "mnist5k"}, "accuracy", 0.1, stand_in=stand_in)
    table = claim_table(res, claim).set_index("cell")
    if stand_in:
        assert set(table.verdict) == {"not comparable", "not run"}
    else:
        assert table.loc["kru (KRU)", "verdict"] == "not reproduced"
        assert table.loc["lstm (LSTM)", "verdict"] == "reproduced"
    assert table.loc["kru (KRU)", "paper"] == "94.5 %"
    assert table.loc["eurnn (EURNN (tunable))", "verdict"] == "not run"


def test_the_report_of_a_preset_lists_each_of_its_claims(tmp_path):
    res = _results([("kru", 0, 1e-6), ("kru", 1, 2e-6)], "copy", {"T": 1000}, "loss", 0.0204)
    res.manifest = {"preset": "reproduce"}
    md = build_report(res, tmp_path / "report")["markdown"].read_text()
    section = md.split("## Paper against zoo", 1)[1].split("\n## ", 1)[0]
    assert "Figure 1 (T = 1000)" in section and "| kru (KRU) |" in section and "reproduced" in section
    assert "recurrent_lr=1e-05" in section  # the cells' own settings, with the reason
    table2 = md.split("Table 2 (pixel MNIST", 1)[1].split("\n### ", 1)[0]
    kru_steps = next(tp for tp in preset("reproduce").tasks if tp.task == "smnist").settings_of("kru").steps
    assert "kru: factors=[2, 2, 2, 2, 2, 2, 2, 2, 2]" in table2 and f", {kru_steps} steps:" in table2  # its own steps
    assert (tmp_path / "report" / "tables" / "claim-kru-figure1-copy.csv").is_file()
    quick = _results([("kru", 0, 0.5)], "copy", {"T": 50}, "loss", 0.4)
    quick.manifest = {"preset": "quick"}
    assert "Paper against zoo" not in build_report(quick, tmp_path / "quick")["markdown"].read_text()
