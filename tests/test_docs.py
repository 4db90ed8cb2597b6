r"""The user documentation in ``docs/`` stays true: every example in it runs and prints what the page says,
and every relative link points at a file that exists."""
import doctest
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def test_the_docs_exist():
    assert {p.name for p in PAGES} >= {"README.md", "cell-contract.md", "conventions.md", "parameter-counting.md"}


@pytest.fixture
def registry_restored():
    r"""A page may register an example cell; the registry is put back so no other test sees it."""
    from urnn_zoo.cells import base

    saved = dict(base._REGISTRY)
    yield
    base._REGISTRY.clear()
    base._REGISTRY.update(saved)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_examples_in_the_page_run_as_written(page, registry_restored):
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {page.name} failed (run " \
                               f"`python -m doctest {page}` to see them)"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    missing = [l for l in links if "://" not in l and not (page.parent / l).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


ROOT = DOCS.parent
# The code, the docs, and the configuration files, whose comments a user reads as well.
SOURCES = [p for d in ("urnn_zoo", "benchmarks", "tests", "analysis", "examples")
           for p in sorted((ROOT / d).rglob("*.py"))] \
    + [ROOT / "README.md", ROOT / "Makefile", *PAGES] \
    + sorted((ROOT / "examples").rglob("*.md")) + sorted((ROOT / "examples").rglob("*.toml")) \
    + [ROOT / name for name in ("asv.conf.json", "constraints.txt", "pyproject.toml", "CITATION.cff", ".ci/run")]
# Documents a user of the project never has (the developers' design notes, their paper reference, the tracker),
# and a name taken from the tracker (a quoted value spelt as the tracker's word); spelt in pieces so that this file
# does not match itself.
INTERNAL = re.compile("DES" + "IGN|refer" + "ence §|iss" + r"ue [0-9]|the iss" + "ue|[\"'`]iss" + "ue[\"'`]")


def _anchors(page: Path) -> set[str]:
    r"""GitHub's anchors of a Markdown page's headings: lower case, punctuation but '-' dropped, spaces '-'."""
    headings = re.findall(r"^#+\s+(.*?)\s*$", page.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_nothing_points_at_documents_users_do_not_have():
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in SOURCES
            for i, line in enumerate(p.read_text().splitlines(), 1) if INTERNAL.search(line)]
    assert not hits, f"pointers to internal documents or issues: {hits}"


def test_docs_pages_cited_in_the_code_exist_with_their_anchors():
    cited = {(p.relative_to(ROOT), m.group(1), m.group(2)) for p in SOURCES
             for m in re.finditer(r"docs/([\w-]+\.md)(?:#([\w-]+))?", p.read_text())}
    assert len(cited) >= 20
    bad = [(str(src), page, anchor) for src, page, anchor in cited
           if not (DOCS / page).is_file() or (anchor and anchor not in _anchors(DOCS / page))]
    assert not bad, f"citations of missing docs pages or headings: {bad}"
