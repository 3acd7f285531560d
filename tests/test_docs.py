"""The documentation: Sphinx build with warnings as errors, and the helpers of docs/_ext/f6d_docs.py.

The build test needs Sphinx (``pip install sphinx`` or ``bash scripts/build_docs.sh``) and is skipped
without it; the converter tests need only docutils (a Sphinx dependency) and are skipped without it.
"""
from __future__ import annotations

import html
import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
HAVE_SPHINX = importlib.util.find_spec("sphinx") is not None
HAVE_DOCUTILS = importlib.util.find_spec("docutils") is not None

needs_sphinx = pytest.mark.skipif(
    not HAVE_SPHINX, reason="Sphinx is not installed in this environment: the docs build is not tested "
                            "(pip install sphinx, or run bash scripts/build_docs.sh)")
needs_docutils = pytest.mark.skipif(
    not HAVE_DOCUTILS, reason="docutils (installed with Sphinx) is missing: docs helpers not tested")


@pytest.fixture(scope="module")
def ext():
    spec = importlib.util.spec_from_file_location("f6d_docs", DOCS / "_ext" / "f6d_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse_strict(rst: str):
    """Parse reStructuredText with docutils; any warning raises (halt_level 2)."""
    from docutils.core import publish_doctree
    from docutils.utils import SystemMessage
    try:
        return publish_doctree(rst, settings_overrides={
            "report_level": 2, "halt_level": 2, "syntax_highlight": "none",
            "warning_stream": False, "input_encoding": "unicode"})
    except SystemMessage as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"invalid reStructuredText: {exc}\n---\n{rst}")


def _markdown_tables(markdown: str) -> list[tuple[list[str], int]]:
    """(header cells, number of body rows) of each pipe table, read independently of the converter."""
    lines = markdown.splitlines()
    tables = []
    i = 0
    while i + 1 < len(lines):
        if "|" in lines[i] and re.fullmatch(r"\s*\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*\|?\s*", lines[i + 1]):
            header = [c.strip() for c in lines[i].strip().strip("|").split("|")]
            n = 0
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                n += 1
                i += 1
            tables.append((header, n))
        else:
            i += 1
    return tables


# --------------------------------------------------------------------------------------------------
# Markdown -> reStructuredText

TRICKY = """\
# Title with `code` and a_name_

Plain text with |x| bars, *stars*, snake_case_names_, a trailing colon::
and `inline code`s glued, **bold** text, [a link](https://example.org/x_y) and 3 * 4 * 5.

.. not a directive

## Table

| stage | time (s) | notes |
|---|---:|:---|
| parse | 0.39 | *emphasis?* `\\|pipe\\|` |
| a\\|b | | trailing_ |

- item one with `code`
- item two
  continued
  - nested item

1. first
2. second

```python
x = {"a": 1}  # | * _ `
```

---

> a quote with | bar

### Deeper
text
"""


@needs_docutils
def test_markdown_to_rst_gives_valid_rst_with_the_same_content(ext):
    rst = ext.markdown_to_rst(TRICKY)
    doctree = _parse_strict(rst)
    from docutils import nodes
    text = doctree.astext()
    # every special character is shown as written, nothing became markup
    for fragment in ("|x| bars", "*stars*", "snake_case_names_", "3 * 4 * 5", ".. not a directive",
                     "a trailing colon::", "*emphasis?*", "a|b", "trailing_", "a quote with | bar"):
        assert fragment in text, fragment
    literals = [n.astext() for n in doctree.findall(nodes.literal)]
    assert {"code", "inline code", "|pipe|"} <= set(literals)
    assert [n.astext() for n in doctree.findall(nodes.strong)] == ["bold"]
    assert [n.get("refuri") for n in doctree.findall(nodes.reference)] == ["https://example.org/x_y"]
    titles = [n.astext() for n in doctree.findall(nodes.title)]
    assert titles[0] == "Title with code and a_name_" and "Table" in titles and "Deeper" in titles
    (table,) = list(doctree.findall(nodes.table))
    rows = list(table.findall(nodes.row))
    assert len(rows) == 3 and all(len(list(r.findall(nodes.entry))) == 3 for r in rows)
    assert rows[0].astext().split() == ["stage", "time", "(s)", "notes"]
    (code,) = [n for n in doctree.findall(nodes.literal_block)]
    assert code.astext() == 'x = {"a": 1}  # | * _ `'
    items = [n.astext() for n in doctree.findall(nodes.list_item)]
    assert any(i.startswith("item two continued") for i in items)
    assert "nested item" in items and "first" in items and "second" in items


@needs_docutils
@pytest.mark.parametrize("relpath", ["benchmarks/RESULTS.md", "docs/atom_types.md"])
def test_repository_markdown_converts_to_valid_rst(ext, relpath):
    path = REPO / relpath
    if not path.is_file():
        pytest.skip(f"{relpath} is not in this checkout")
    markdown = path.read_text(encoding="utf-8")
    doctree = _parse_strict(ext.markdown_to_rst(markdown))
    from docutils import nodes
    tables = list(doctree.findall(nodes.table))
    expected = _markdown_tables(markdown)
    assert len(tables) == len(expected)
    for table, (header, n_rows) in zip(tables, expected):
        rows = list(table.findall(nodes.row))
        assert len(rows) == n_rows + 1
        assert [e.astext() for e in rows[0].findall(nodes.entry)] == header


# --------------------------------------------------------------------------------------------------
# docstrings: plain-text bars

@needs_docutils
def test_escape_plain_bars_only_touches_prose(ext):
    lines = [
        "Atoms with |r - CA_i| < r_max and :math:`|k|` or ``|x|``.",
        "",
        "Formula::",
        "",
        "    f = sum |a|",
        "",
        ".. math::",
        "",
        "   |k| = \\rho",
        "",
        "| a line block",
        "",
        ">>> abs(-1) | 0",
        "1",
        "",
        "Back to prose |y|.",
    ]
    out = ext.escape_plain_bars(lines)
    assert out[0] == "Atoms with \\|r - CA_i\\| < r_max and :math:`|k|` or ``|x|``."
    assert out[1:15] == lines[1:15]
    assert out[15] == "Back to prose \\|y\\|."
    # the result is valid reStructuredText in which the bars are plain text
    text = _parse_strict("\n".join(out)).astext()
    assert "|r - CA_i| < r_max" in text and "|y|" in text


# --------------------------------------------------------------------------------------------------
# the build

@needs_sphinx
def test_docs_build_with_warnings_as_errors(tmp_path, ext):
    out = tmp_path / "html"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stdout}\n{proc.stderr}"
    print(f"docs build: {seconds:.1f} s")
    for page in ("index", "theory", "tutorial", "cli", "benchmarks", "atom_types",
                 "api/fourier6d", "api/estimators"):
        assert (out / f"{page}.html").is_file(), page
    # every module on disk has its autodoc section (imported, not silently skipped)
    for package in ("fourier6d", "estimators"):
        page = (out / "api" / f"{package}.html").read_text(encoding="utf-8")
        for name in ext.package_modules(package, REPO):
            assert f'id="module-{name}"' in page, f"{name} missing from the API reference"
    # one public function per package really documented (its signature anchor exists)
    api = (out / "api" / "fourier6d.html").read_text(encoding="utf-8")
    assert 'id="fourier6d.rotation.wigner_d_real"' in api
    # the benchmark results are included from benchmarks/RESULTS.md, not copied
    results = REPO / "benchmarks" / "RESULTS.md"
    # (Sphinx's smart quotes turn ' into a typographic apostrophe)
    bench = (out / "benchmarks.html").read_text(encoding="utf-8").replace("\u2019", "'").replace("&#8217;", "'")
    if results.is_file():
        for header, n_rows in _markdown_tables(results.read_text(encoding="utf-8")):
            for cell in header:
                assert html.escape(cell, quote=False) in bench, cell
    # the CLI help is generated from the parser
    cli = (out / "cli.html").read_text(encoding="utf-8")
    assert "usage: fourier6d score" in cli
