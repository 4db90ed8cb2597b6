"""The `urnn-zoo` command (urnn_zoo.cli): cells, tasks, train, show; called in-process through main()."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import urnn_zoo as uz
from urnn_zoo.cli import main, parse_option
from urnn_zoo.tasks.base import task_names

TINY = ["--hidden", "4", "--steps", "4", "--eval-every", "2", "--eval-batches", "1", "--test-batches", "1",
        "--batch-size", "2", "--progress", "none"]


def test_parse_option():
    assert parse_option("factors=[4, 16]") == ("factors", [4, 16])
    assert parse_option("parametrization=none") == ("parametrization", "none")
    assert parse_option("complex_factors=False") == ("complex_factors", False)
    assert parse_option(" eps = 1e-3") == ("eps", 1e-3)
    for bad in ("novalue", "=3"):
        with pytest.raises(Exception, match="key=value"):
            parse_option(bad)


def test_cells_lists_every_cell_with_counts(capsys):
    assert main(["cells", "--hidden", "8", "--input", "3"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[3:]}
    assert set(lines) == set(uz.cell_names())
    cell = uz.make_cell("lstm", 3, 8)
    c = cell.parameter_count()
    assert lines["lstm"][:7] == ["lstm", "none", "real", str(c.stored), str(c.dof), str(c.recurrent_stored),
                                 str(c.recurrent_dof)]
    assert main(["cells", "--hidden", "8", "--input", "3", "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert {row["cell"] for row in table} == set(uz.cell_names())


def test_cells_prints_a_rejected_size_in_its_row(capsys, monkeypatch):
    make_cell = uz.make_cell

    def picky(name, *args, **kwargs):
        if name == "rnn":
            raise ValueError("rnn: hidden_size must be a power of two, got 6")
        return make_cell(name, *args, **kwargs)

    monkeypatch.setattr(uz, "make_cell", picky)
    assert main(["cells", "--hidden", "6", "--input", "2"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("rnn "))
    assert "ValueError: rnn: hidden_size must be a power of two, got 6" in row
    assert any(line.startswith("lstm ") for line in out.splitlines())


def test_tasks_lists_every_task(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    names = {line.split()[0] for line in out.splitlines()[2:]}
    assert names == set(task_names())
    assert "T=100" in out and "stand-in" in out


def test_train_then_show(tmp_path, capsys):
    args = ["train", "--cell", "lstm", "--task", "adding", "--T", "5", "--seed", "1", "--out", str(tmp_path),
            "--cell-option", "forget_bias=0.5", *TINY]
    assert main(args) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert folder == tmp_path / "lstm-forget_bias0.5-adding-T5-N4-s1"
    config = json.loads((folder / "config.json").read_text())["train"]
    assert config["cell_options"]["forget_bias"] == 0.5 and config["task_options"] == {"T": 5}
    assert config["batch_size"] == 2 and config["optimizer"] == "rmsprop" and config["alpha"] == 0.9
    assert config["constrained_lr"] == 1e-4 and config["penalty_weight"] == 1e-3 and config["clip"] is None

    assert main(["show", str(folder)]) == 0
    out = capsys.readouterr().out
    for text in ("lstm", "adding", "finished", "mse", "baseline", "stored"):
        assert text in out
    assert main(["show", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps_done"] == 4


def test_train_errors_are_one_line(tmp_path, capsys):
    base = ["train", "--cell", "rnn", "--task", "adding", "--T", "4", "--out", str(tmp_path), *TINY]
    assert main(base) == 0
    capsys.readouterr()
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and "--resume" in err
    assert main([*base, "--resume", "--lr", "0.1"]) == 2
    assert "differs in lr" in capsys.readouterr().err
    assert main([*base, "--force", "--lr", "0.1"]) == 0
    capsys.readouterr()
    assert main(["train", "--cell", "nope", "--task", "adding", "--out", str(tmp_path)]) == 2
    assert "unknown cell 'nope'" in capsys.readouterr().err
    assert main(["train", "--cell", "rnn", "--task", "smnist", "--T", "5", "--out", str(tmp_path)]) == 2
    assert "unknown option" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "missing")]) == 2
    assert "summary.json" in capsys.readouterr().err


def test_train_progress_lines_go_to_stderr(tmp_path, capsys):
    args = ["train", "--cell", "kru", "--task", "copy", "--T", "3", "--out", str(tmp_path), *TINY[:-2],
            "--progress", "lines", "--log-every", "1"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "step 2/4" in captured.err and "step 4/4" in captured.err and "finished" in captured.err
    assert captured.out.strip().endswith("kru-copy-T3-N4-s0")


def test_console_script_is_installed(tmp_path):
    script = Path(sys.executable).parent / "urnn-zoo"
    if not script.exists():
        pytest.skip(f"{script} not found: install the project (pip install -e .) to get the console script")
    done = subprocess.run([str(script), "cells", "--hidden", "8", "--input", "2"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "kru" in done.stdout and "recurrent_dof" in done.stdout


def test_compare_and_report_are_subcommands():
    from urnn_zoo.cli import build_parser

    parser = build_parser()
    for argv in (["compare", "--preset", "smoke"], ["report", "--out", "reports/x"]):
        assert callable(parser.parse_args(argv).func)
