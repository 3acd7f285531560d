"""Local Sphinx extension of the fourier6d documentation.

Three directives, so that the documentation never copies what the repository already holds:

``.. f6d-markdown:: PATH``
    Include a Markdown file (``benchmarks/RESULTS.md``, ``docs/atom_types.md``) converted to
    reStructuredText by :func:`markdown_to_rst`, a small converter for the Markdown these files use
    (headings, paragraphs, pipe tables, lists, fenced code, inline code, bold, links).  PATH is relative
    to the document.  Option ``:missing:`` gives the text shown when the file does not exist (without
    it a missing file is an error); flag ``:skip-title:`` drops a leading level-1 heading.
``.. f6d-api:: PACKAGE``
    API reference of PACKAGE: one ``automodule`` per module, grouped as listed in the content
    (``Group title: module module ...``); every other module found on disk is added under
    "Other modules", so a new module is never left out of the reference (a listed module that is not
    in the checkout is skipped).
``.. f6d-cli-help::``
    The ``--help`` text of the ``fourier6d`` command and of each sub-command, taken from
    :func:`estimators.cli.build_parser` at build time.

And two autodoc rules: a ``|`` in docstring prose is an absolute value, never a substitution reference
(:func:`escape_plain_bars`); members that scikit-learn attaches to our estimators
(``set_fit_request`` ...) are not documented.

Nothing here needs a package beyond Sphinx itself (no myst-parser).
"""
from __future__ import annotations

import argparse
import os
import pkgutil
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives

# --------------------------------------------------------------------------------------------------
# Markdown -> reStructuredText

#: underline characters of Markdown heading levels 1..6 (none used by the hand-written pages,
#: which use ``=`` for titles and ``-`` for sections)
_HEADING_CHARS = "~^\"'`+"

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")
_BULLET = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _escape(text: str) -> str:
    """Escape every character that could start reStructuredText inline markup."""
    return re.sub(r"([\\*`_|:\[\]<>])", r"\\\1", text)


def _inline(text: str) -> str:
    """Markdown inline markup -> reStructuredText (code spans, links, bold); the rest escaped."""
    out = []
    pos = 0
    tokens = []
    for regex, kind in ((_CODE_SPAN, "code"), (_LINK, "link"), (_BOLD, "bold")):
        for m in regex.finditer(text):
            tokens.append((m.start(), m.end(), kind, m))
    tokens.sort(key=lambda t: (t[0], -t[1]))
    for start, end, kind, m in tokens:
        if start < pos:
            continue  # overlaps an earlier token (e.g. '**' inside a code span)
        out.append(_escape(text[pos:start]))
        if kind == "code":
            code = m.group(2).strip()
            if not code or "``" in code:
                out.append(_escape(m.group(0)))
            else:
                out.append(f"\\ ``{code}``\\ ")
        elif kind == "link":
            label = m.group(1).strip() or m.group(2)
            out.append(f"\\ `{_escape(label)} <{m.group(2)}>`__\\ ")
        else:
            inner = m.group(1) or m.group(2)
            out.append(f"\\ **{_escape(inner)}**\\ ")
        pos = end
    out.append(_escape(text[pos:]))
    return "".join(out)


_BLOCK_START = re.compile(r"^(\.\.|[-*+•‣⁃]\s|(\d+|[a-zA-Z#]|[ivxlcdmIVXLCDM]+)[.)]\s|\(\w+\)\s)")


def _block_safe(text: str) -> str:
    """Escape the start of a paragraph that reStructuredText would read as a comment, directive, list
    item, or (all one punctuation character) a transition."""
    if _BLOCK_START.match(text) or re.fullmatch(r"([!-/:-@\[-`{-~])\1{3,}", text):
        return "\\" + text
    return text


def _split_row(line: str) -> list[str]:
    row = line.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells = re.split(r"(?<!\\)\|", row)
    return [c.strip().replace("\\|", "|") for c in cells]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    ncol = len(header)
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header] + rows:
        row = (row + [""] * ncol)[:ncol]
        for j, cell in enumerate(row):
            text = _inline(cell) if cell else ""
            lead = "   * - " if j == 0 else "     - "
            lines.append((lead + text).rstrip())
    lines.append("")
    return lines


def markdown_to_rst(markdown: str) -> str:
    """Convert the Markdown subset used by the repository's ``.md`` files to reStructuredText.

    Headings become sections (underlines ``~ ^ " ' ` +`` for levels 1-6), pipe tables become
    ``list-table`` directives, fenced code becomes ``code`` directives, bullet and numbered
    items become bullet items, horizontal rules are dropped, and inline text is escaped so that
    nothing in it is read as reStructuredText markup (only code spans, links and bold are kept).
    """
    lines = _HTML_COMMENT.sub("", markdown.replace("\r\n", "\n")).split("\n")
    out: list[str] = []
    para: list[str] = []

    def flush():
        if para:
            out.append(_block_safe(_inline(" ".join(s.strip() for s in para))))
            out.append("")
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker = fence.group(1)
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i])
                i += 1
            i += 1
            lang = fence.group(2) or "text"
            if lang not in ("python", "bash", "console", "text", "json", "yaml", "ini", "csv"):
                lang = "text"
            out += [f".. code:: {lang}", ""]
            out += [("   " + b).rstrip() for b in body] if any(b.strip() for b in body) else ["   (empty)"]
            out.append("")
            continue
        if not stripped:
            flush()
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            title = _inline(heading.group(2)) or "\\ "
            char = _HEADING_CHARS[len(heading.group(1)) - 1]
            out += [title, char * max(len(title), 4), ""]
            i += 1
            continue
        if re.fullmatch(r"(\*\s*){3,}|(-\s*){3,}|(_\s*){3,}", stripped):
            flush()  # horizontal rule: dropped (a transition may not end a section)
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]) and "-" in lines[i + 1]:
            flush()
            header = _split_row(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip() and "|" in lines[i]:
                rows.append(_split_row(lines[i]))
                i += 1
            out += _table(header, rows)
            continue
        bullet = _BULLET.match(line)
        if bullet:
            flush()
            indent = len(bullet.group(1).expandtabs(4)) // 2
            item = [bullet.group(3)]
            i += 1
            while (i < len(lines) and lines[i].strip() and not _BULLET.match(lines[i])
                   and not _HEADING.match(lines[i]) and not _FENCE.match(lines[i])):
                item.append(lines[i].strip())
                i += 1
            prefix = "  " * indent
            if out and out[-1] != "" and not out[-1].lstrip().startswith("- "):
                out.append("")
            if indent and out and out[-1].lstrip().startswith("- "):
                out.append("")  # a nested list needs blank lines around it
            out.append(prefix + "- " + _inline(" ".join(s.strip() for s in item)))
            nxt = lines[i] if i < len(lines) else ""
            m_next = _BULLET.match(nxt)
            if not m_next or len(m_next.group(1).expandtabs(4)) // 2 != indent:
                out.append("")
            continue
        if stripped.startswith(">"):
            flush()
            quote = []
            while i < len(lines) and lines[i].strip().startswith(">"):
                quote.append(lines[i].strip()[1:].strip())
                i += 1
            # the empty comment ends any preceding indented block (a quote would join it)
            out += ["..", "", "   " + _inline(" ".join(q for q in quote if q)), ""]
            continue
        para.append(line)
        i += 1
    flush()
    return "\n".join(out).rstrip() + "\n"


class MarkdownInclude(Directive):
    """``.. f6d-markdown:: PATH`` -- include a Markdown file converted to reStructuredText."""

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"missing": directives.unchanged, "skip-title": directives.flag}

    def run(self):
        env = self.state.document.settings.env
        rel, path = env.relfn2path(self.arguments[0])
        path = Path(path)
        if not path.is_file():
            if "missing" in self.options:
                return [nodes.paragraph(text=self.options["missing"] or f"{self.arguments[0]} is missing.")]
            raise self.error(f"f6d-markdown: {path} does not exist")
        env.note_dependency(rel)
        markdown = path.read_text(encoding="utf-8")
        if "skip-title" in self.options:  # drop a leading level-1 heading (the page has its own)
            markdown = re.sub(r"\A\s*#\s[^\n]*\n", "", markdown, count=1)
        text = markdown_to_rst(markdown)
        self.state_machine.insert_input(text.splitlines(), str(path))
        return []


# --------------------------------------------------------------------------------------------------
# Docstrings: plain-text math

#: inline literals and interpreted text (roles such as :math:`...`), left untouched
_BACKTICK_SPAN = re.compile(r"``.+?``|(?::[\w.+-]+:)?`[^`]+`(?::[\w.+-]+:)?_{0,2}")
_DIRECTIVE = re.compile(r"^\s*\.\.\s")


def escape_plain_bars(lines: list[str]) -> list[str]:
    """Escape ``|`` in docstring prose, so that ``|r - r_n|`` reads as an absolute value.

    The docstrings of this project write formulas in plain text, where ``|x|`` is a norm, never a
    reStructuredText substitution reference.  Bars are left alone inside literal blocks (after
    ``::``), directive bodies (``.. math::``, ``.. code-block::``), doctest blocks, table or
    line-block lines (starting with ``|`` or ``+``), inline literals and roles.
    """
    out = []
    block_indent = None      # indentation of the line that opened a literal block or directive
    pending = None           # a line ended with '::' (or a directive started) at this indentation
    doctest = False
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not stripped or indent > block_indent:
                out.append(line)
                continue
            block_indent = None
        if pending is not None and stripped:
            if indent > pending:
                block_indent = pending
                pending = None
                out.append(line)
                continue
            pending = None
        if doctest:
            if stripped:
                out.append(line)
                continue
            doctest = False
        if not stripped:
            out.append(line)
            continue
        if stripped.startswith(">>>"):
            doctest = True
            out.append(line)
            continue
        if _DIRECTIVE.match(line):
            pending = indent
            out.append(line)
            continue
        if stripped.startswith(("|", "+")):
            out.append(line)
        else:
            pieces, pos = [], 0
            for m in _BACKTICK_SPAN.finditer(line):
                pieces.append(re.sub(r"(?<!\\)\|", r"\\|", line[pos:m.start()]))
                pieces.append(m.group(0))
                pos = m.end()
            pieces.append(re.sub(r"(?<!\\)\|", r"\\|", line[pos:]))
            out.append("".join(pieces))
        if stripped.endswith("::"):
            pending = indent
    return out


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = escape_plain_bars(lines)


def _skip_member(app, what, name, obj, skip, options):
    """Skip members that scikit-learn attaches to our estimator classes (``set_fit_request`` and the
    other metadata-routing methods): their docstrings point into scikit-learn's own documentation."""
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module.split(".")[0] == "sklearn":
        return True
    return None


# --------------------------------------------------------------------------------------------------
# API reference

def package_modules(package: str, root: Path) -> list[str]:
    """Dotted names of the modules of ``package`` found on disk under ``root`` (sorted)."""
    folder = root / package.replace(".", "/")
    names = []
    for info in pkgutil.iter_modules([str(folder)]):
        if info.name.startswith("__"):
            continue
        names.append(f"{package}.{info.name}")
        if info.ispkg:
            names += package_modules(f"{package}.{info.name}", root)
    return sorted(names)


class ApiReference(Directive):
    """``.. f6d-api:: PACKAGE`` with content lines ``Group title: mod mod ...``."""

    required_arguments = 1
    has_content = True

    def run(self):
        package = self.arguments[0]
        root = Path(self.state.document.settings.env.app.confdir).parent
        on_disk = package_modules(package, root)
        groups, listed = [], set()
        for line in self.content:
            if not line.strip():
                continue
            title, _, mods = line.partition(":")
            names = [f"{package}.{m}" if not m.startswith(package + ".") else m for m in mods.split()]
            # a listed module that is not (yet) in the checkout is left out; every module on disk
            # is documented whatever the list says
            names = [n for n in names if n in on_disk]
            if names:
                groups.append((title.strip(), names))
            listed.update(names)
        rest = [n for n in on_disk if n not in listed]
        if rest:
            groups.append(("Other modules", rest))
        text = []
        for title, names in groups:
            text += [title, "-" * len(title), ""]
            for name in names:
                text += [f".. automodule:: {name}", "   :members:", "   :show-inheritance:", ""]
        self.state_machine.insert_input(text, f"<f6d-api {package}>")
        return []


# --------------------------------------------------------------------------------------------------
# CLI help

def cli_help_texts(width: int = 100) -> list[tuple[str, str]]:
    """``(command, help text)`` of ``fourier6d`` and of each sub-command, in parser order."""
    from estimators.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        parser = build_parser()
        parser.prog = "fourier6d"
        texts = [("fourier6d", parser.format_help())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    texts.append((f"fourier6d {name}", sub.format_help()))
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return texts


class CliHelp(Directive):
    """``.. f6d-cli-help::`` -- the help of the command line, one section per sub-command."""

    def run(self):
        text = []
        for command, help_text in cli_help_texts():
            text += [f"``{command}``", "~" * (len(command) + 4), "", ".. code-block:: text", ""]
            text += [("   " + line).rstrip() for line in help_text.splitlines()]
            text.append("")
        self.state_machine.insert_input(text, "<f6d-cli-help>")
        return []


def setup(app):
    app.add_directive("f6d-markdown", MarkdownInclude)
    app.add_directive("f6d-api", ApiReference)
    app.add_directive("f6d-cli-help", CliHelp)
    # before napoleon (priority 500) turns numpydoc sections into fields
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    app.connect("autodoc-skip-member", _skip_member)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
