r"""The README of a result set (``urnn-zoo report --readme``, :mod:`urnn_zoo.report.published`), written on a real
result set: a small preset of three task plans, each checking a claim registered for the test, made by two
``compare`` commands (one claim fully run, one partly, one not at all), its records given known provenance, its
report built by the command line. Every expectation is read from the run folders' own files."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from urnn_zoo.cli import main
from urnn_zoo.compare import Preset, TaskPlan, compare
from urnn_zoo.compare.presets import PRESETS
from urnn_zoo.report import load_results, write_report
from urnn_zoo.report.claims import CLAIMS, VERDICT_RULE, Claim
from urnn_zoo.report.published import MARKER, _planned, _split_source, write_readme
from urnn_zoo.runs.environment import command_line, invoked_as
from urnn_zoo.training import train

TRAIN = dict(batch_size=4, eval_every=2, eval_batches=1, test_batches=1, log_every=1)
PAPER = "Doe, Roe and Poe, Tiny Recurrent Units, NeurIPS 2031"
COPY = Claim("readme-copy", f"{PAPER}, Figure 7 (T = 10)", "On copy at T = 10 KRU solves it and the LSTM does not.",
             "copy", {"T": 10}, "loss", outcomes={"kru": "solved", "lstm": "at the baseline"})
ADDING = Claim("readme-adding", f"{PAPER}, Table 9 (adding, T = 10, test MSE)", "KRU and EURNN reach 0.05.",
               "adding", {"T": 10}, "mse", numbers={"kru": 0.05, "eurnn_fft": 0.05})
UNRUN = Claim("readme-unrun", f"{PAPER}, Figure 8 (T = 12)", "The RNN solves copy at T = 12.", "copy", {"T": 12},
              "loss", outcomes={"rnn": "solved"})
# N = 6 is not a power of two: eurnn_fft fails there (a real failure), so the adding claim is partly run.
PRESET = Preset("readme-test", (
    TaskPlan("copy", {"T": 10}, steps=4, train=TRAIN, hidden=(8,), cells=("kru", "lstm"), claim=COPY.key),
    TaskPlan("adding", {"T": 10}, steps=4, train=TRAIN, hidden=(6,), cells=("kru", "eurnn_fft"), claim=ADDING.key),
    TaskPlan("copy", {"T": 12}, steps=4, train=TRAIN, hidden=(8,), cells=("rnn",), claim=UNRUN.key)),
    seeds=(0,), timing_hidden=(8,), timing_batch=2, timing_length=4, timing_repeats=1,
    description="three tiny claims for the README's tests")
COMMANDS = (["compare", "--preset", PRESET.name, "--tasks", "copy", "--cells", "kru", "lstm", "--no-timing"],
            ["compare", "--preset", PRESET.name, "--tasks", "adding", "--cells", "kru", "eurnn_fft", "--no-timing"])
OLD = {"commit": "1111111111" + "a" * 30, "dirty": False, "cpu": "Older CPU", "cpu_id": "Old family 1",
       "cores": 1, "memory_gib": 1.5, "platform": "OldOS-1"}
NEW = {"commit": "2222222222" + "b" * 30 + "+dirty", "dirty": True, "cpu": "Newest CPU 9000",
       "cpu_id": "New family 9", "cores": 3, "memory_gib": 7.5, "platform": "NewOS-9"}
FINISHED = ("finished", "early-stopped")
TIMES = {("copy", "kru"): (4000.0, 3000.0), ("copy", "lstm"): (500.0, None), ("adding", "kru"): (95.25, 80.0)}


def _read(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text())


def _runs(root: Path) -> dict[str, tuple[dict, dict]]:
    r"""Every run folder: name -> (config, summary), read from the files."""
    return {p.parent.name: (_read(p.parent, "config.json"), _read(p.parent, "summary.json"))
            for p in sorted(root.glob("*/summary.json"))}


def _finished(root: Path, claim: Claim) -> dict[str, dict]:
    return {name: s for name, (c, s) in _runs(root).items()
            if s["status"] in FINISHED and claim.matches(s["task"], s["task_options"])}


@pytest.fixture(scope="module")
def registered():
    r"""The test's claims and preset, registered for this module only."""
    with pytest.MonkeyPatch.context() as mp:
        for claim in (COPY, ADDING, UNRUN):
            mp.setitem(CLAIMS, claim.key, claim)
        mp.setitem(PRESETS, PRESET.name, PRESET)
        yield


@pytest.fixture(scope="module")
def result_set(registered, tmp_path_factory) -> tuple[Path, Path]:
    r"""The result set (two commands, provenance set in its records) and its report, built with ``--readme``."""
    root = tmp_path_factory.mktemp("sets") / "tiny"
    for argv in COMMANDS:
        with invoked_as(command_line([*argv, "--out", str(root)])):
            compare(PRESET, root, tasks=[argv[4]], cells=argv[6:8], jobs=1, timing=False, quiet=True)
    for i, (name, (config, summary)) in enumerate(_runs(root).items()):
        env = NEW if summary["task"] == "adding" else OLD
        config["environment"].update(env, generated=f"2031-0{1 + (env is NEW)}-0{1 + i} 10:00:00 UTC")
        config["environment"]["versions"]["torch"] = "9.9.9" if env is NEW else "0.0.1"
        (root / name / "config.json").write_text(json.dumps(config))
        # Times of hours and minutes (the runs took a second), so that a wrong sum shows through the rounding;
        # the LSTM's record is one made before CPU time was recorded.
        summary["seconds"], summary["cpu_seconds"] = TIMES[summary["task"], summary["cell"]]
        if summary["cpu_seconds"] is None:
            del summary["cpu_seconds"]
        (root / name / "summary.json").write_text(json.dumps(summary))
    report = root.parent / "report"
    assert main(["report", "--runs", str(root), "--out", str(report), "--readme", "--quiet"]) == 0
    return root, report


@pytest.fixture(scope="module")
def readme(result_set) -> str:
    return (result_set[0] / "README.md").read_text()


def _section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_a_section_per_claim_with_a_finished_run_with_its_counts_and_table(result_set, readme):
    root, report = result_set
    assert readme.startswith(MARKER + "\n")
    headings = re.findall(r"^## (.*)$", readme, flags=re.M)
    assert headings == ["Figure 7 (T = 10)", "Table 9 (adding, T = 10, test MSE)", "How it was made", "Completeness"]
    for claim, tp in ((COPY, PRESET.tasks[0]), (ADDING, PRESET.tasks[1])):
        section = _section(readme, _split_source(claim.source)[1])
        planned = len(tp.cells) * len(PRESET.seeds) * len(tp.hidden)  # one arm, one run per cell and seed
        assert f"{len(_finished(root, claim))} of {planned} planned runs finished." in section
        assert f"Claim: {claim.statement}" in section
        table = (report / "tables" / f"claim-{claim.key}.md").read_text().split("\n\n", 1)[1].strip()
        assert table in section
    assert len(_finished(root, COPY)) == 2 and len(_finished(root, ADDING)) == 1  # the fixture is as meant
    assert UNRUN.statement not in readme
    assert readme.count(VERDICT_RULE) == 1


def test_the_intro_names_the_preset_the_paper_and_the_commands_with_the_paths_as_given(result_set, readme):
    root, report = result_set
    intro = readme.split("\n## ", 1)[0]
    assert f"`{PRESET.name}` preset" in intro and f"It checks the claims of {PAPER}." in intro
    assert f"urnn-zoo report --runs {root} --out {report} --readme" in intro
    assert f"urnn-zoo train --config {root}/RUN/config.json --out DIR" in intro


def test_completeness_lists_the_partly_run_and_the_unrun_claims(result_set, readme):
    root, _ = result_set
    done = sum(len(_finished(root, c)) for c in (COPY, ADDING, UNRUN))
    section = _section(readme, "Completeness")
    assert f"- {done} of the 5 planned runs have finished." in section  # 2 copy + 2 adding + 1 unrun
    assert "- Partly run: Table 9 (adding, T = 10, test MSE): 1 of 2." in section
    assert "- Not run yet: Figure 8 (T = 12)." in section


_UNITS = {"h": 3600.0, "min": 60.0, "s": 1.0}


def _seconds(text: str) -> tuple[float, float]:
    r"""A duration the README wrote, in seconds, and half its last digit (the rounding it may carry)."""
    number, unit = re.fullmatch(r"([0-9.]+) (h|min|s)", text.strip()).groups()
    decimals = len(number.split(".")[1]) if "." in number else 0
    return float(number) * _UNITS[unit], 0.5 * 10 ** -decimals * _UNITS[unit]


def test_wall_and_cpu_times_are_the_sums_of_the_summaries(result_set, readme):
    root, _ = result_set
    rows = {}
    for line in _section(readme, "How it was made").splitlines():
        if line.startswith("| ") and not line.startswith("|  |"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    summaries = {"Figure 7 (T = 10)": list(_finished(root, COPY).values()),
                 "Table 9 (adding, T = 10, test MSE)": list(_finished(root, ADDING).values())}
    summaries["in all"] = [s for group in summaries.values() for s in group]
    assert set(rows) == set(summaries)
    for name, group in summaries.items():
        runs, wall, cpu = rows[name]
        recorded = [s["cpu_seconds"] for s in group if "cpu_seconds" in s]
        assert runs == str(len(group))
        value, rounding = _seconds(wall)
        assert value == pytest.approx(sum(s["seconds"] for s in group), abs=rounding * 1.0001)
        value, rounding = _seconds(cpu.split(" (")[0])
        assert value == pytest.approx(sum(recorded), abs=rounding * 1.0001)
        assert cpu.endswith(f"({len(recorded)} of {len(group)} runs recorded it)")
    assert rows["Figure 7 (T = 10)"][2].endswith("(1 of 2 runs recorded it)")  # the lstm record has none


def test_commands_commits_and_the_newest_machine_come_from_the_records(result_set, readme):
    root, _ = result_set
    section = _section(readme, "How it was made")
    recorded = [c["environment"]["command"] for c, s in _runs(root).values() if s["status"] in FINISHED]
    assert set(recorded) == {command_line([*argv, "--out", str(root)]) for argv in COMMANDS}
    for command in recorded:
        assert f"  - `{command}`" in section
    assert section.index(f"--tasks copy") < section.index("--tasks adding")  # oldest first
    assert "commit(s) 1111111111, 2222222222+dirty " in section
    assert ("Newest CPU 9000 (New family 9), 3 cores, 7.5 GiB, NewOS-9, torch 9.9.9" in section
            and "Older CPU" not in section)


def test_the_reports_learning_curves_are_copied_and_shown(result_set, readme):
    root, report = result_set
    assert (root / "learning-curves.png").read_bytes() == (report / "figures" / "learning_curves.png").read_bytes()
    assert "![Learning curves](learning-curves.png)" in readme


def _copy(result_set, tmp_path: Path) -> Path:
    return Path(shutil.copytree(result_set[0], tmp_path / "set"))


def test_a_generated_readme_is_overwritten_and_the_same_record_gives_the_same_readme(result_set, tmp_path):
    root = _copy(result_set, tmp_path)
    first = write_readme(root, result_set[1]).read_text()
    with (root / "README.md").open("a") as f:
        f.write("a line someone added below the marker\n")
    assert write_readme(root, result_set[1]).read_text() == first


def test_a_readme_written_by_hand_is_never_overwritten_and_nothing_is_built(result_set, tmp_path, capsys):
    root = _copy(result_set, tmp_path)
    (root / "learning-curves.png").unlink()
    own = "# My results\n\nWritten by hand; <!-- generated by me -->\n".encode()
    (root / "README.md").write_bytes(own)
    assert main(["report", "--runs", str(root), "--out", str(tmp_path / "report"), "--readme", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "argument --readme: expected" in err and "by hand" in err
    assert not (tmp_path / "report").exists()
    with pytest.raises(ValueError, match="written by hand"):
        write_readme(root, result_set[1])
    assert (root / "README.md").read_bytes() == own and not (root / "learning-curves.png").exists()


def test_readme_without_a_manifest_or_a_finished_run_is_one_line_before_any_work(result_set, tmp_path, capsys):
    src = result_set[0]
    no_manifest = tmp_path / "no-manifest"
    for name in _finished(src, COPY):
        shutil.copytree(src / name, no_manifest / name)
    failed = tmp_path / "none-finished"
    failed.mkdir()
    shutil.copy(src / "compare.json", failed / "compare.json")
    # A run there that stopped (a non-finite loss): a run, but none finished.
    train("rnn", "adding", out=failed, hidden=4, steps=3, seed=0, task_options={"T": 3}, lr=1e30, progress="none",
          **TRAIN)
    assert [s["status"] for c, s in _runs(failed).values()] == ["stopped: non-finite loss"]
    for runs, words in ((no_manifest, "without one"), (failed, "none finished")):
        out = tmp_path / f"report-{runs.name}"
        assert main(["report", "--runs", str(runs), "--out", str(out), "--readme", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "argument --readme: expected" in err and words in err
        assert not out.exists() and not (runs / "README.md").exists()


def test_without_a_registered_preset_the_planned_runs_are_the_manifests(result_set, tmp_path):
    root = _copy(result_set, tmp_path)
    manifest = _read(root, "compare.json")
    manifest["preset"] = "no-such-preset"
    (root / "compare.json").write_text(json.dumps(manifest))
    write_report(root, tmp_path / "report")
    text = write_readme(root, tmp_path / "report").read_text()
    listed = {entry["run"] for entry in manifest["runs"]}
    done = {name for name, (c, s) in _runs(root).items() if s["status"] in FINISHED}
    assert f"- {len(done & listed)} of the {len(listed)} planned runs have finished." in text
    assert "no preset `no-such-preset`" in text and "Figure 8" not in text
    assert "2 of 2 planned runs finished." in _section(text, "Figure 7 (T = 10)")


def test_each_claims_planned_runs_are_its_own_plans_grid_when_two_plans_share_a_task(registered, tmp_path,
                                                                                     monkeypatch):
    shared = Preset("readme-shared", (
        TaskPlan("copy", {"T": 10}, steps=4, train=TRAIN, hidden=(8,), cells=("kru",), claim=COPY.key),
        TaskPlan("copy", {"T": 12}, steps=4, train=TRAIN, hidden=(8,), cells=("kru",), claim=UNRUN.key)),
        seeds=(0,), timing_hidden=(8,))
    monkeypatch.setitem(PRESETS, shared.name, shared)
    res = load_results(tmp_path)
    res.manifest = {"preset": shared.name}
    groups, registered_preset = _planned(res)
    assert registered_preset and [g.claim.key for g in groups] == [COPY.key, UNRUN.key]
    for group, length in zip(groups, ("T10", "T12")):  # one run each: kru, N = 8, seed 0, at its own length
        assert len(group.runs) == 1 and f"-copy-{length}-N8-s0" in group.runs[0]


_WORDS = st.text(st.characters(codec="utf-8", exclude_characters="(),\n"), min_size=1).map(str.strip).filter(bool)


@given(paper=st.lists(_WORDS, min_size=1, max_size=4), part=_WORDS,
       inside=st.lists(_WORDS, min_size=0, max_size=3))
def test_a_claims_source_splits_into_its_paper_and_its_figure_at_the_last_comma_outside_parentheses(
        paper, part, inside):
    figure = f"{part} ({', '.join(inside)})" if inside else part
    assert _split_source(f"{', '.join(paper)}, {figure}") == (", ".join(paper), figure)
