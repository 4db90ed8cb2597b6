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
