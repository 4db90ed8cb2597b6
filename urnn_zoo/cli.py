r"""The ``urnn-zoo`` command: ``cells``, ``tasks``, ``train`` and ``show``, ``limits``
(:mod:`urnn_zoo.limits`), plus ``compare`` (:mod:`urnn_zoo.compare`) and ``report`` (:mod:`urnn_zoo.report`),
which those packages define. Every subcommand takes ``--import MODULE`` (repeatable): a module whose import
registers cells or tasks of the user's own (Note [Plug-ins] of :mod:`urnn_zoo.plugins`), imported before the
command line is read, so that their names are accepted.

Example::

    urnn-zoo cells --hidden 128 --input 10
    urnn-zoo cells --import my_cells
    urnn-zoo train --cell kru --task copy --T 100 --hidden 128 --steps 2000 --seed 0
    urnn-zoo show runs/kru-copy-T100-N128-s0
    urnn-zoo limits --hidden 512 1024 --out limits.csv
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from urnn_zoo import arguments as A

__all__ = ["main", "parse_option"]


class UsageError(ValueError):
    r"""A command-line value refused after parsing (it needed the cell or the task to judge): ``main`` prints
    ``urnn-zoo COMMAND: error: argument FLAG: ...`` and returns 2."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"argument {flag}: {message}")


def parse_option(text: str) -> tuple[str, Any]:
    r"""``"key=value"`` -> ``(key, value)``, the value read with :func:`ast.literal_eval` (a bare word stays
    a string).

    Example:
        >>> parse_option("factors=[4, 16]"), parse_option("parametrization=none")
        (('factors', [4, 16]), ('parametrization', 'none'))
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key.strip(), value


def _table(header: Sequence[str], rows: list[Sequence[Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([dict(zip(header, r)) for r in rows], indent=2)
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([header, *rows])
        return buf.getvalue().rstrip("\n")
    if fmt == "markdown":
        cells = [[str(c).replace("|", "\\|") for c in r] for r in [header, *rows]]
        lines = ["| " + " | ".join(r) + " |" for r in cells]
        lines.insert(1, "|" + "|".join("---" for _ in header) + "|")
        return "\n".join(lines)
    text = [[str(c) for c in r] for r in [header, *rows]]
    # The last column may be long (an error message): pad the others only.
    widths = [max(len(r[i]) for r in text) for i in range(len(header) - 1)]
    lines = ["  ".join([c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1]]).rstrip() for r in text]
    lines.insert(1, "  ".join(["-" * w for w in widths] + ["-" * len(text[0][-1])]))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- subcommands
def _cells(args: argparse.Namespace) -> int:
    import urnn_zoo as uz

    header = ("cell", "constraint", "kind", "stored", "dof", "recurrent_stored", "recurrent_dof", "note")
    rows = []
    for name in uz.cell_names():
        try:
            cell = uz.make_cell(name, args.input, args.hidden)
        except Exception as exc:  # a cell whose options reject this N: say why, keep the table
            rows.append((name, "", "", "", "", "", "", f"{type(exc).__name__}: {exc}"))
            continue
        c = cell.parameter_count()
        kind = "complex" if cell.is_complex else "real"
        rows.append((name, cell.constraint, kind, c.stored, c.dof, c.recurrent_stored, c.recurrent_dof, ""))
    if args.format == "text":
        print(f"cells at hidden_size N={args.hidden}, input_size={args.input} (no readout), default options; "
              "counts in real numbers (a complex entry counts 2)")
    print(_table(header, rows, args.format))
    return 0


def _tasks(args: argparse.Namespace) -> int:
    from urnn_zoo.tasks.base import make_task, task_names

    header = ("task", "readout", "metrics", "options", "data")
    rows = []
    for name in task_names():
        task = make_task(name)
        opts = ", ".join(f"{k}={v!r}" for k, v in task.spec().items()) or "-"
        rows.append((name, task.readout, ",".join(task.metric_names), opts, task.data_source))
    print(_table(header, rows, args.format))
    return 0


_TASK_FLAGS = (("T", "--T"), ("window", "--window"), ("digits", "--digits"), ("data_path", "--data-path"),
               ("form", "--form"), ("limit", "--limit"))


def _check_train(args: argparse.Namespace, task_options: dict[str, Any]) -> Path:
    r"""Judge what only the cell and the task can judge, before :func:`urnn_zoo.train` does any work: build the
    task and the cell from the options (cheap), and check the run folder's name and ``--resume``.

    Returns:
        The run folder.

    Raises:
        UsageError: a task or cell option refused (the message names it as written), ``--eval-batches 0`` on
            a task whose validation stream is endless, a run folder name that cannot be a folder, or
            ``--resume`` where no run was saved.
    """
    import torch

    from urnn_zoo.cells.base import make_cell
    from urnn_zoo.runs import CHECKPOINT_FILE, run_name
    from urnn_zoo.tasks.base import make_task

    given = [flag for key, flag in _TASK_FLAGS if getattr(args, key) is not None]
    if task_options.get("data_path") is not None:  # --data-path or --task-option data_path=...
        task_options["data_path"] = str(A.check(task_options["data_path"], A.existing_path, "data_path"))
    try:
        task = make_task(args.task, **task_options)
    except (ValueError, TypeError) as exc:
        raise UsageError("/".join(given + ["--task-option"]), f"task {args.task!r}: {exc}") from None
    cell_options = dict(args.cell_option)
    try:
        make_cell(args.cell, task.input_size, args.hidden, dtype=getattr(torch, args.dtype), **cell_options)
    except (ValueError, TypeError) as exc:  # a TypeError here comes from an option value of the wrong type
        shown = " ".join(f"{k}={v!r}" for k, v in cell_options.items())
        flag = "--cell-option" if cell_options else "--hidden"
        raise UsageError(flag, f"cell {args.cell!r} (hidden {args.hidden}{', ' + shown if shown else ''}): "
                               f"{exc}") from None
    if args.eval_batches == 0 and task.generated:
        raise UsageError("--eval-batches", f"expected a number > 0 for task {args.task!r}, whose validation "
                         "batches are generated without end (0 means the whole split), got 0")
    name = args.name or run_name(args.cell, task, args.hidden, args.seed, cell_options)
    name = A.check(name, A.run_name, "run folder name (give a shorter one with --name)")
    path = Path(args.out) / name
    if args.resume and not (path / CHECKPOINT_FILE).is_file():
        raise UsageError("--resume", f"expected a run folder with a {CHECKPOINT_FILE}, got {str(path)!r} "
                         f"({'no ' + CHECKPOINT_FILE + ' in it' if path.is_dir() else 'it does not exist'}); "
                         "leave out --resume to start this run, or give the --out and --name of the run to continue")
    return path


# What `train --config` still takes from the command line: where the run goes and how it is shown.
_CONFIG_KEEPS = ("config", "out", "name", "force", "resume", "progress", "imports", "command", "func",
                 "train_defaults")


def _train_from_config(args: argparse.Namespace) -> dict[str, Any]:
    r"""The keyword arguments of :func:`urnn_zoo.train` recorded in ``--config`` (a run's ``config.json`` or
    its folder): every training setting, so the run is repeated exactly.

    Raises:
        UsageError: a run-setting flag given beside ``--config`` (the file decides every setting).
        urnn_zoo.runs.RecordError: a damaged ``config.json`` (named).
    """
    from urnn_zoo.runs import read_config

    given = sorted(f"--{dest.replace('_', '-')}" for dest, default in args.train_defaults.items()
                   if dest not in _CONFIG_KEEPS and getattr(args, dest) != default)
    if given:
        raise UsageError("--config", f"expected only --out, --name, --force, --resume, --progress and --import "
                                     f"beside it (the file holds every training setting), got {' '.join(given)}")
    return read_config(args.config)["train"]


def _train(args: argparse.Namespace) -> int:
    from urnn_zoo.runs import RunStatus
    from urnn_zoo.training import train

    settings = _train_from_config(args) if args.config is not None else _train_settings(args)
    result = train(**settings, out=args.out, name=args.name, force=args.force, resume=args.resume,
                   progress=args.progress)
    print(result.path)
    return 0 if RunStatus.parse(result.summary["status"]).ok else 1  # stopped by a NaN, or diverged: 1


def _train_settings(args: argparse.Namespace) -> dict[str, Any]:
    r"""The keyword arguments of :func:`urnn_zoo.train` given by the flags, checked before any file is written.

    Raises:
        UsageError: ``--cell`` or ``--task`` missing, or a value only the cell or task can judge (:func:`_check_train`).
    """
    if args.cell is None or args.task is None:
        raise UsageError("--cell/--task", "expected both (or --config with a run's config.json), got "
                         f"--cell {args.cell} --task {args.task}")
    task_options = dict(args.task_option)
    for key, _ in _TASK_FLAGS:
        value = getattr(args, key)
        if value is not None:
            task_options[key] = str(value) if key == "data_path" else value
    _check_train(args, task_options)
    return dict(
        cell=args.cell, task=args.task, hidden=args.hidden, steps=args.steps, seed=args.seed,
        cell_options=dict(args.cell_option), task_options=task_options, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, constrained_lr=args.constrained_lr,
        recurrent_lr=args.recurrent_lr, alpha=args.alpha,
        penalty_weight=args.penalty_weight, clip=args.clip, eval_every=args.eval_every,
        eval_batches=None if args.eval_batches == 0 else args.eval_batches,
        test_batches=None if args.test_batches == 0 else args.test_batches, log_every=args.log_every,
        checkpoint_every=args.checkpoint_every, early_stop=args.early_stop, device=args.device, dtype=args.dtype)


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _run_record(text: str) -> Path:
    r"""``show``'s RUN: a run folder (or its summary file) whose summary can be read."""
    from urnn_zoo.training import load_summary

    path = Path(text)
    try:
        load_summary(path)
    except FileNotFoundError as exc:  # "no summary.json in X (expected a run folder written by ...)"
        raise argparse.ArgumentTypeError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"expected a run folder with a readable summary, got {text!r} "
                                         f"({_one_line(exc)})") from None
    return path


def _show(args: argparse.Namespace) -> int:
    from urnn_zoo.training import load_summary

    summaries = [load_summary(run) for run in args.runs]  # every run read before anything is printed
    for i, (run, s) in enumerate(zip(args.runs, summaries)):
        if args.json:
            print(json.dumps(s, indent=2))
            continue
        if i:
            print()
        opts = ", ".join(f"{k}={v!r}" for k, v in s["task_options"].items() if v is not None)
        counts = s["parameters"]
        print(f"run        {run}")
        print(f"cell       {s['cell']} (N={s['hidden']}, {s['constraint']} constraint, "
              f"{'complex' if s['complex'] else 'real'}) {s['cell_options']}")
        print(f"task       {s['task']} ({opts}) on {s['data_source']}")
        print(f"status     {s['status']}, {s['steps_done']} of {s['steps']} steps, {s['seconds']:.1f} s "
              f"({_fmt(s['seconds_per_step'])} s/step), seed {s['seed']}, {s['device']} {s['dtype']}")
        if s.get("message"):
            print(f"message    {s['message']}")
        print(f"parameters stored {counts['stored']}, dof {counts['dof']} (recurrent {counts['recurrent_stored']} "
              f"stored, {counts['recurrent_dof']} dof; readout included)")
        best = s.get("best_valid") or {}
        if best.get("value") is not None:
            print(f"best valid {best['metric']} {_fmt(best['value'])} at step {best['step']}")
        print(f"unitarity  ||W^H W - I||_F = {_fmt(s['unitarity_error'])} at the last evaluation")
        final = s.get("final") or {}
        where = f"test, {s['tested']} model, step {s['final_step']}" if final else "test: not evaluated yet"
        rows = [(k, _fmt(final.get(k, "")), _fmt(v)) for k, v in s["baseline"].items()]
        print(f"metrics    ({where})")
        print(_table(("metric", "final", "baseline"), rows, "text"))
    return 0


def _limits(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas
    import torch

    from urnn_zoo.limits import COLUMNS, limits_table

    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not args.force:
        raise FileExistsError(f"{out} already exists; pass --force to overwrite it (or choose another --out)")
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    table = limits_table(args.cells, args.hidden, batch=args.batch_size, length=args.length, input_size=args.input,
                         repeats=args.repeats, device=args.device, log=log)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    def shown(value: Any) -> Any:  # 4 significant digits on screen, full precision in csv/json; missing: blank
        if value is None or value is pandas.NA or (isinstance(value, float) and value != value):
            return None if args.format == "json" else ""
        return f"{value:.4g}" if isinstance(value, float) and args.format in ("text", "markdown") else value

    rows = [tuple(shown(v) for v in row) for row in table.astype(object).itertuples(index=False)]
    if args.format in ("text", "markdown"):
        print(f"limits of forward+backward of one sequence batch: B={args.batch_size}, T={args.length}, input "
              f"{args.input}, float32, loss out.pow(2).mean(), {args.device} ({torch.get_num_threads()} threads)\n"
              "limit_s = sum over operators of max(flops / gemm_flops_per_s, bytes / bytes_per_s) + ops_per_step"
              " * T * op_overhead_s; distance = measured_s / limit_s (best of --repeats)\n")
    print(_table(COLUMNS, rows, args.format))
    if out is not None and args.format in ("text", "markdown"):
        print(f"\nwrote {out}")
    return 0


# ----------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    r"""The argument parser of ``urnn-zoo`` (``cells``, ``tasks``, ``train``, ``show``, ``limits``, ``compare``,
    ``report``)."""
    parser = argparse.ArgumentParser(prog="urnn-zoo", description="Unitary and orthogonal RNNs: cells, tasks, "
                                     "training runs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("cells", help="every registered cell with its constraint and parameter counts")
    p.add_argument("--hidden", type=A.positive_int, default=128, help="hidden size N (default 128)")
    p.add_argument("--input", type=A.positive_int, default=10, help="input size (default 10)")
    p.add_argument("--format", choices=("text", "csv", "json"), default="text")
    _add_import(p)
    p.set_defaults(func=_cells)

    p = sub.add_parser("tasks", help="every registered task with its options, metrics and data")
    p.add_argument("--format", choices=("text", "csv", "json"), default="text")
    _add_import(p)
    p.set_defaults(func=_tasks)

    p = sub.add_parser("train", help="train one cell on one task and write a run folder",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cell", type=A.cell_name, default=None, help="a name from `urnn-zoo cells` (required "
                   "unless --config)")
    p.add_argument("--task", type=A.task_name, default=None, help="a name from `urnn-zoo tasks` (required "
                   "unless --config)")
    p.add_argument("--config", type=A.existing_path, default=None, metavar="CONFIG_JSON",
                   help="repeat a run exactly: every training setting from its config.json (or run folder); "
                        "only --out, --name, --force, --resume, --progress and --import may be given beside it")
    p.add_argument("--hidden", type=A.positive_int, default=128, help="hidden size N")
    p.add_argument("--steps", type=A.nonnegative_int, default=2000, help="optimizer steps")
    p.add_argument("--seed", type=A.seed, default=0, help="seeds the init, the RNGs and the batch streams")
    p.add_argument("--out", type=A.output_dir, default="runs", help="parent folder of the run folder")
    p.add_argument("--name", type=A.run_name, default=None,
                   help="run folder name, one path component (default: from cell, task, options, N, seed)")
    g = p.add_argument_group("task options (passed only when given)")
    g.add_argument("--T", type=A.positive_int, default=None, help="copy/adding delay")
    g.add_argument("--window", type=A.positive_int, default=None, help="charlm characters per sample")
    g.add_argument("--digits", default=None, help="smnist/pmnist stand-in: mnist5k or digits8x8")
    g.add_argument("--data-path", dest="data_path", type=A.existing_path, default=None,
                   help="original full-size data files")
    g.add_argument("--form", default=None, help="copy encoding: arjovsky or exprnn")
    g.add_argument("--limit", type=A.positive_int, default=None,
                   help="music stand-in: parse only the first LIMIT scores")
    g.add_argument("--task-option", type=parse_option, action="append", default=[], metavar="KEY=VALUE",
                   help="any other task option (repeatable; value read as a Python literal)")
    g = p.add_argument_group("cell")
    g.add_argument("--cell-option", type=parse_option, action="append", default=[], metavar="KEY=VALUE",
                   help="a cell option (repeatable; value read as a Python literal), e.g. capacity=4")
    g.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    g.add_argument("--device", type=A.device, default="cpu", help="cpu, cuda, cuda:K or auto")
    g = p.add_argument_group("optimization")
    g.add_argument("--batch-size", type=A.positive_int, default=50)
    g.add_argument("--optimizer", choices=("rmsprop", "adam", "cayley"), default="rmsprop",
                   help="cayley: the Stiefel Cayley step on fcurnn's raw W (parametrization=none; chosen "
                        "automatically for it), RMSprop for the rest")
    g.add_argument("--lr", type=A.nonnegative_float, default=1e-3, help="learning rate")
    g.add_argument("--constrained-lr", type=A.nonnegative_float, default=1e-4,
                   help="learning rate of parameters behind an exact constraint (and of the Cayley step)")
    g.add_argument("--recurrent-lr", type=A.nonnegative_float, default=None,
                   help="learning rate of a soft cell's recurrent parameters (KRU's factors; default: --lr)")
    g.add_argument("--alpha", type=A.float_in(0.0, 1.0, high_open=True), default=0.9,
                   help="RMSprop smoothing constant, in [0, 1)")
    g.add_argument("--penalty-weight", type=A.nonnegative_float, default=1e-3,
                   help="lambda times penalty() for soft cells")
    g.add_argument("--clip", type=A.positive_float, default=None,
                   help="clip the global gradient norm to this value > 0 (default: off)")
    g = p.add_argument_group("evaluation, logging, checkpoints")
    g.add_argument("--eval-every", type=A.positive_int, default=100, help="steps between validation evaluations")
    g.add_argument("--eval-batches", type=A.nonnegative_int, default=20,
                   help="validation batches per evaluation (0: all, finite splits only)")
    g.add_argument("--test-batches", type=A.nonnegative_int, default=0,
                   help="test batches (0: the whole test split; 100 batches of a generated task)")
    g.add_argument("--log-every", type=A.positive_int, default=10, help="steps per logged training loss")
    g.add_argument("--checkpoint-every", type=A.positive_int, default=None, help="steps between checkpoints "
                   "(default: --eval-every)")
    g.add_argument("--early-stop", type=A.positive_int, default=None, metavar="PATIENCE",
                   help="stop after PATIENCE evaluations without improvement; test the best model")
    g.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                   help="auto: a progress bar on a terminal, log lines otherwise")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--force", action="store_true", help="start over in an existing run folder")
    g.add_argument("--resume", action="store_true", help="continue the run in the folder from its checkpoint")
    _add_import(p)
    p.set_defaults(func=_train)
    p.set_defaults(train_defaults={a.dest: a.default for a in p._actions if a.dest != "help"})

    p = sub.add_parser("show", help="a run's summary")
    p.add_argument("runs", nargs="+", type=_run_record, metavar="RUN", help="run folder(s)")
    p.add_argument("--json", action="store_true", help="print summary.json as is")
    _add_import(p)
    p.set_defaults(func=_show)

    p = sub.add_parser("limits", help="each cell's estimated limit (a roofline of FLOPs and bytes, plus "
                       "per-operator overhead) and its distance to it",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="For each cell and N: FLOPs, bytes moved and operators of one forward+backward "
                       "(counted by a TorchDispatchMode; the C kernels report their own), measured GEMM FLOP/s, "
                       "copy bandwidth and per-operator overhead, the limit (per operator the slower of FLOPs / "
                       "GEMM rate and bytes / bandwidth, summed, plus operators x overhead), the measured time "
                       "and distance = measured / limit.")
    p.add_argument("--cells", nargs="+", type=A.cell_name, default=None, metavar="CELL",
                   help="cells to measure (default: every registered cell)")
    p.add_argument("--hidden", type=A.positive_int, nargs="+", default=[512, 1024], metavar="N",
                   help="hidden sizes N")
    p.add_argument("--batch-size", type=A.positive_int, default=32, help="sequences per batch B")
    p.add_argument("--length", type=A.positive_int, default=100, help="steps per sequence T")
    p.add_argument("--input", type=A.positive_int, default=10, help="input size")
    p.add_argument("--repeats", type=A.positive_int, default=3,
                   help="timed forward+backward calls per cell (the best counts)")
    p.add_argument("--device", type=A.device, default="cpu", help="cpu, cuda, cuda:K or auto")
    p.add_argument("--format", choices=("text", "markdown", "csv", "json"), default="text")
    p.add_argument("--out", type=A.output_file, default=None,
                   help="also write the table (full precision) as CSV to this file")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    _add_import(p)
    p.set_defaults(func=_limits)

    # `compare` and `report` live with their packages (imported lightly: no pandas/matplotlib until they run).
    from urnn_zoo.compare import add_compare_parser
    from urnn_zoo.report import add_report_parser

    _add_import(add_compare_parser(sub))
    _add_import(add_report_parser(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    r"""Entry point of the ``urnn-zoo`` console script; returns the exit status.

    Every value is checked before any work is done or any file written (:mod:`urnn_zoo.arguments`). Errors a
    user can fix (a value out of range, unknown names or options, an existing run folder, missing data
    files, a ``--import`` module that cannot be imported, ``compare --executor slurm|ray`` without the extra
    ``urnn_zoo[cluster]``) print one line ``urnn-zoo COMMAND: error: ...`` (argparse adds its usage line) and
    return 2; a run stopped by a non-finite loss, or one that diverged, returns 1; otherwise the subcommand's
    status (``compare``: non-zero when a run failed).

    The records the command writes (a run's ``config.json``, ``compare.json``, a report's ``provenance.json``)
    hold its command line: ``urnn-zoo`` and ``argv`` (default ``sys.argv[1:]``), Note [The command of a record]
    of :mod:`urnn_zoo.runs.environment`.
    """
    from urnn_zoo.runs.environment import command_line, invoked_as

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _pre_import(argv)
    except ValueError as exc:  # PluginError
        command = next((a for a in argv if not a.startswith("-")), "")
        print(f"urnn-zoo{' ' + command if command else ''}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed usage and the refused argument (or --help): its status
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    prog = f"urnn-zoo {args.command}"
    try:
        with invoked_as(command_line(argv)):
            status = args.func(args)
    except KeyboardInterrupt as exc:
        if not getattr(exc, "reported", False):  # compare prints its own line, with every run's status
            print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError) as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except ImportError as exc:
        from urnn_zoo.compare.executors import MissingExtraError

        if not isinstance(exc, MissingExtraError):
            raise
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        from urnn_zoo.data.errors import DataFileError

        if isinstance(exc, DataFileError):
            print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        raise
    return 0 if status is None else int(status)


def _add_import(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    r"""The ``--import`` option of a subcommand (read before parsing by :func:`_pre_import`; here for ``--help``
    and so that the parser accepts it)."""
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (repeatable): a module of your own that registers cells or tasks "
                        "(docs/own-cell.md); installed packages register theirs through entry points")
    return p


def _pre_import(argv: list[str]) -> list[str]:
    r"""Import the ``--import`` modules of ``argv`` before the command line is parsed (its cell and task names
    are checked against the registries while it is parsed).

    Raises:
        urnn_zoo.plugins.PluginError: a module that cannot be imported (one line: expected, got).
    """
    from urnn_zoo.plugins import import_modules

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--import", dest="imports", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    return import_modules(known.imports)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
