r"""The notes the code and the docs cite exist, and exist where the citation says they are.

A note is a titled comment block: the word Note and its title in square brackets, alone on its line (a ``#``
comment or a docstring paragraph heading), or opening an inline ``#`` comment followed by a colon. A citation
names the title, and where it gives the place (``... in urnn_zoo.cells.shared``, ``... of :mod:`.common```,
a docs table's ``cells/kru.py``, ...), the module or file named there must hold the note. When a note moves to
another module, every citation of it has to move with it; these tests find the ones that did not.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "urnn_zoo"
NOTE = r"Note \["  # what opens a note and a citation of it
SOURCES = sorted(
    [p for d in ("urnn_zoo", "benchmarks", "tests", "analysis", "examples") for p in (ROOT / d).rglob("*.py")]
    + [p for d in ("docs", "examples") for p in (ROOT / d).rglob("*.md")]
    + [ROOT / "README.md"]
)
# A heading: the note's title alone on its line, after an optional `#`.
HEADING = re.compile(r"^[ \t]*(?:#[ \t]*)?" + NOTE + r"([^\]\n]+)\][ \t]*$", re.M)
# An inline note: a `#` comment that opens with the title and a colon.
INLINE = re.compile(r"^[ \t]*#[ \t]*" + NOTE + r"([^\]\n]+)\]:", re.M)
# A line break inside a comment or docstring, with the next line's indentation and comment marker: citations
# wrap across lines, so they are matched on the text with these joined into one space.
WRAP = re.compile(r"[ \t]*\n[ \t]*(?:#+[ \t]*)?")
CITATION = re.compile(NOTE + r"([^\]]+)\]")
# A place after the title: `in`/`of` and a module or file, as :mod:`name`, ``name``, `name`, a Markdown link
# [`path`](...), or a bare dotted name or path (a bare word without '.' or '/' is prose, not a place).
WHERE = r"(:mod:`[^`]+`|``[^`]+``|\[`[^`]+`\]\([^)]*\)|`[^`]+`|[\w.]*[./][\w./]*\w)"
PLACED_AFTER = re.compile(NOTE + r"([^\]]+)\]\s+(?:in|of)\s+" + WHERE)
# A place just before a citation, as the docs' tables and the code write it: `path.py` then the title, or a
# module (``path.py``, urnn_zoo.engine.kernels) and a comma; matched on the text that ends where the citation starts.
PLACED_BEFORE = re.compile(r"(``?[\w./]+\.py``?,?|``?[\w./]+``?,|(?:urnn_zoo|benchmarks)(?:\.\w+)+,)\s+\(?$")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _joined(path: Path) -> str:
    return WRAP.sub(" ", _read(path))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _definitions() -> dict[str, list[Path]]:
    r"""``{title: [files that define it]}``: the files with its heading, or, for a note without a heading
    anywhere, the files with it inline."""
    headings: dict[str, list[Path]] = {}
    inline: dict[str, list[Path]] = {}
    for path in SOURCES:
        text = _read(path)
        for m in HEADING.finditer(text):
            headings.setdefault(m.group(1), []).append(path)
        for m in INLINE.finditer(text):
            inline.setdefault(m.group(1), []).append(path)
    return {**{t: ps for t, ps in inline.items() if t not in headings}, **headings}


DEFINITIONS = _definitions()


def _module_file(base: Path, dotted: str) -> Path | None:
    r"""The file of the module ``dotted`` under the folder ``base`` (``a/b.py`` or ``a/b/__init__.py``)."""
    stem = base.joinpath(*dotted.split("."))
    for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def resolve(where: str, citing: Path) -> Path | None:
    r"""The file that the place ``where`` (as :data:`WHERE` captures it) names, read from the file ``citing``.

    A relative module (``.common``) is looked up from the citing file's package; a path (``cells/kru.py``)
    next to the citing file, then in the package, then from the repository root; a module name
    (``urnn_zoo.cells.shared``, ``activations``) from the repository root, the citing file's package, then the
    package; a dotted name whose last parts are not modules (``urnn_zoo.opcount.record_external``) names its
    longest module prefix. None when nothing of that name exists.
    """
    name = re.sub(r"^:mod:`|^\[?`+|`*,?$|`+\]\([^)]*\)$", "", where)
    if name.startswith("."):
        level = len(name) - len(name.lstrip("."))
        return _module_file(citing.parents[level - 1], name.lstrip("."))
    if name.endswith(".py") or "/" in name:
        candidates = [citing.parent / name, PACKAGE / name, ROOT / name]
        return next((c for c in candidates if c.is_file()), None)
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        for base in (ROOT, citing.parent, PACKAGE):
            found = _module_file(base, ".".join(parts[:end]))
            if found is not None:
                return found
    return None


def _placed_citations() -> list[tuple[Path, str, str]]:
    r"""``(citing file, title, place)`` of every citation that says where its note is."""
    found = []
    for path in SOURCES:
        text = _joined(path)
        found += [(path, m.group(1), m.group(2)) for m in PLACED_AFTER.finditer(text)]
        for m in CITATION.finditer(text):
            before = PLACED_BEFORE.search(text, max(0, m.start() - 200), m.start())
            if before:
                found.append((path, m.group(1), before.group(1)))
    return found


def test_the_scan_finds_the_notes_and_their_citations():
    # The patterns must keep matching what the project writes, or the tests below would pass on nothing.
    assert len(DEFINITIONS) >= 60
    assert DEFINITIONS["Row-convention cells"] == [PACKAGE / "cells" / "shared.py"]
    assert DEFINITIONS["EURNN fused steps"] == [PACKAGE / "cells" / "eurnn_layers.py"]  # a docstring heading
    assert DEFINITIONS["Parametrised weights once per forward"] == [PACKAGE / "cells" / "execution.py"]  # inline
    placed = _placed_citations()
    assert len(placed) >= 50
    assert (ROOT / "docs" / "performance.md", "Why a C kernel", "`engine/kernels.py`,") in placed
    assert (ROOT / "urnn_zoo" / "workload.py", "Cost of a case", "``benchmarks/common.py``,") in placed


def test_resolve_reads_every_form_of_place():
    shared = PACKAGE / "cells" / "shared.py"
    assert resolve("urnn_zoo.cells.shared", ROOT / "urnn_zoo" / "cells" / "exprnn.py") == shared
    assert resolve(":mod:`urnn_zoo.engine`", PACKAGE / "engine" / "scan.py") == PACKAGE / "engine" / "__init__.py"
    assert resolve(":mod:`.common`", ROOT / "benchmarks" / "bench_kru.py") == ROOT / "benchmarks" / "common.py"
    assert resolve("``activations``", PACKAGE / "cells" / "rcurnn.py") == PACKAGE / "activations.py"
    assert resolve("activations.py", PACKAGE / "engine" / "step_activations.py") == PACKAGE / "activations.py"
    assert resolve("`cells/kru.py`", ROOT / "docs" / "performance.md") == PACKAGE / "cells" / "kru.py"
    link = "[`urnn_zoo/runs/divergence.py`](../urnn_zoo/runs/divergence.py)"
    assert resolve(link, ROOT / "docs" / "run-record.md") == PACKAGE / "runs" / "divergence.py"
    assert resolve("urnn_zoo.opcount.record_external,", PACKAGE / "engine" / "kernels.py") == PACKAGE / "opcount.py"
    assert resolve("``benchmarks/common.py``,", PACKAGE / "workload.py") == ROOT / "benchmarks" / "common.py"
    assert resolve("no_such_module", shared) is None


def test_every_note_heading_is_written_once():
    headings: dict[str, list[str]] = {}
    for path in SOURCES:
        for m in HEADING.finditer(_read(path)):
            headings.setdefault(m.group(1), []).append(_name(path))
    twice = {title: paths for title, paths in headings.items() if len(paths) > 1}
    assert not twice, f"notes with more than one heading (a citation cannot say which): {twice}"


def test_every_cited_note_exists():
    missing = sorted({(_name(path), m.group(1)) for path in SOURCES for m in CITATION.finditer(_joined(path))
                      if m.group(1) not in DEFINITIONS})
    assert not missing, f"citations of notes that no file defines (file, title): {missing}"


def test_every_placed_citation_names_the_module_that_holds_the_note():
    wrong = []
    for citing, title, where in _placed_citations():
        target = resolve(where, citing)
        homes = [_name(p) for p in DEFINITIONS.get(title, [])]
        if target is None:
            wrong.append(f"{_name(citing)}: the note [{title}] cited in {where}, which does not exist "
                         f"(it is in {homes})")
        elif target not in DEFINITIONS.get(title, []):
            wrong.append(f"{_name(citing)}: the note [{title}] cited in {_name(target)}, but it is in {homes}")
    assert not wrong, "citations that send the reader to the wrong module:\n" + "\n".join(wrong)
