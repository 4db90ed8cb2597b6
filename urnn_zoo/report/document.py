r"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML file.

Blocks are tuples: ``("h1" | "h2" | "h3", text)``, ``("p", text)``, ``("list", [text, ...])``,
``("links", [(text, relative path), ...])``, ``("table", frame of strings, caption)``,
``("figure", png path, svg path, caption)`` and ``("pre", text)``. Paths are relative to the report folder.

The HTML embeds its figures (PNG as ``data:`` URIs) and its style, so the one file can be mailed or archived;
its links point only at files of the report folder (the SVG figures, the CSV/Markdown/LaTeX tables, the
BibTeX file), which the report writes before it links them.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pandas as pd

from urnn_zoo.runs import RunStatus

from .tables import to_markdown

__all__ = ["to_html", "to_md"]

Block = tuple[Any, ...]

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1180px; margin: 2em auto;
       padding: 0 1.2em; color: #1b1b1b; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.4em; font-size: 13px; }
caption { caption-side: top; text-align: left; font-size: 13px; color: #444; padding-bottom: .3em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; vertical-align: top; }
td { white-space: nowrap; }
td:last-child { white-space: normal; text-align: left; }
th { border-bottom: 2px solid #555; background: #f6f6f6; }
td:first-child, th:first-child { text-align: left; white-space: nowrap; }
td.bad { color: #a40000; text-align: left; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #444; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 12px; }
.links { font-size: 13px; }
"""


def to_md(blocks: list[Block]) -> str:
    r"""Markdown of the blocks (figures as image links to the PNG, with the SVG beside)."""
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "links":
            out.append(" · ".join(f"[{text}]({path})" for text, path in block[1]))
        elif kind == "table":
            frame, caption = block[1], block[2]
            out.append((f"*{caption}*\n\n" if caption else "") + to_markdown(frame).rstrip())
        elif kind == "figure":
            png, svg, caption = block[1:4]
            out.append(f"![{caption}]({png})\n\n*{caption}* ([SVG]({svg}))")
        elif kind == "pre":
            out.append("```\n" + block[1].rstrip() + "\n```")
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    return "\n\n".join(out) + "\n"


# Cells that mark a run without a result (tables' status texts and the record's statuses), shown in red.
_BAD = ("FAILED", "DIVERGED", *(str(s) for s in RunStatus if not s.ok and s is not RunStatus.RUNNING))


def _table_html(frame: pd.DataFrame, caption: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.astype(str).itertuples(index=False):
        cells = []
        for value in row:
            bad = value.startswith(_BAD) or " failed" in value or " diverged" in value
            attr = ' class="bad"' if bad else ""
            cells.append(f"<td{attr}>{html.escape(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def to_html(blocks: list[Block], root: Path, title: str) -> str:
    r"""One self-contained HTML page of the blocks; PNG figures under ``root`` are embedded."""
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "links":
            links = " · ".join(f'<a href="{html.escape(p)}">{html.escape(t)}</a>' for t, p in block[1])
            body.append(f'<p class="links">{links}</p>')
        elif kind == "table":
            body.append(_table_html(block[1], block[2]))
        elif kind == "figure":
            png, svg, caption = block[1:4]
            data = base64.b64encode((root / png).read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                        f'<figcaption>{html.escape(caption)} (<a href="{html.escape(svg)}">SVG</a>)'
                        f"</figcaption></figure>")
        elif kind == "pre":
            body.append(f"<pre>{html.escape(block[1])}</pre>")
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
