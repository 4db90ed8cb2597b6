r"""Reports (README, "The comparison report"): runs and asv results into tidy pandas frames (:mod:`.load`), tables laid out like
the KRU paper's (:mod:`.tables`), seaborn figures (:mod:`.figures`), provenance (:mod:`.provenance`), BibTeX
for every model (:mod:`.bibtex`), and the report folder itself (:mod:`.build`): ``report.md`` and a
self-contained ``report.html``; a published result set's ``README.md`` (:mod:`.published`, ``--readme``).

Example::

    urnn-zoo report --runs runs/quick --asv .asv/results --out reports/quick

    >>> from urnn_zoo.report import load_results, write_report             # doctest: +SKIP
    >>> res = load_results("runs/quick")                                    # doctest: +SKIP
    >>> write_report("runs/quick", "reports/quick")["html"]                 # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import sys

import importlib
from typing import Any

__all__ = ["Results", "add_report_parser", "asv_timings", "build_report", "load_asv", "load_results", "load_runs",
           "load_timings", "write_readme", "write_report"]

# Imported on first use (PEP 562), so that building the `urnn-zoo` parser does not import pandas or matplotlib.
_LAZY = {"Results": "load", "load_results": "load", "load_runs": "load", "load_timings": "load",
         "asv_timings": "asv", "load_asv": "asv", "build_report": "build", "write_report": "build",
         "write_readme": "published"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _main(args: argparse.Namespace) -> int:
    from .build import write_report

    if args.readme:  # refused before the report is built (a README written by hand is never overwritten)
        from urnn_zoo.cli import UsageError

        from .published import readme_problem

        problem = readme_problem(args.runs)
        if problem:
            raise UsageError("--readme", problem)
    log = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    paths = write_report(args.runs, args.out, args.asv, args.title, log=log)
    print(paths["html"])
    if args.readme:
        from .published import write_readme

        print(write_readme(args.runs, args.out))
    return 0


def add_report_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    r"""Add the ``report`` subcommand to the ``urnn-zoo`` parser (its ``func`` runs it, returns the status).

    ``--runs`` and ``--asv`` must be existing folders and ``--out`` a folder that can be written: argparse
    refuses anything else with one line and exit status 2, before anything is read. ``--readme`` then writes
    the result set's ``README.md`` (:func:`urnn_zoo.report.published.write_readme`); it is refused with one
    line, before the report is built, when ``--runs`` has no manifest or no finished run, or holds a README
    that ``--readme`` did not write."""
    p = subparsers.add_parser(
        "report", help="tables, figures, provenance and BibTeX from runs (and asv results)",
        description="Load run folders (and asv results) into tidy frames and write report.md, a self-contained "
                    "report.html, tables (CSV, Markdown, LaTeX), figures (PNG, SVG), the tidy data, "
                    "provenance.json and references.bib into --out.")
    from urnn_zoo import arguments as A

    p.add_argument("--runs", type=A.existing_dir, default="runs",
                   help="folder of run folders, e.g. the --out of urnn-zoo compare (default runs)")
    p.add_argument("--asv", type=A.existing_dir, default=None, help="asv results folder (.asv/results), optional")
    p.add_argument("--out", type=A.output_dir, required=True, help="report folder")
    p.add_argument("--title", default=None, help="report title")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--readme", action="store_true",
                   help="then write the result set's README.md into --runs (a comparison's folder) from its record "
                        "and this report; a README.md written by hand is never overwritten")
    p.set_defaults(func=_main)
    return p
