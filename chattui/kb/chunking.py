"""Cutting a document into passages that follow its own structure.

Markdown is cut at its headings (each passage keeps the path of headings above it), code at its
top-level definitions, a PDF at its pages, other text at its paragraphs. A part longer than a
passage may be is cut again at blank lines, then at lines, then (a single huge line) at a width.
Small neighbours are joined, so that a passage is neither a lone heading nor a lone import.
Every passage keeps the lines it came from (1-based, inclusive).
"""

from __future__ import annotations

import enum
import itertools
import re
from dataclasses import dataclass
from pathlib import PurePath

from chattui.markdown_blocks import prose_lines
from chattui.text_width import WIDE, cells

MAX_CELLS = 1200
"""Longest passage, in terminal cells (a Chinese character takes two, as it takes more tokens)."""
HEADING_CELLS = 80
"""Longest heading kept for a code definition."""

_MARKDOWN_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_PAGE = re.compile(r"^--- page (\d+) ---$")
_CLOSING = re.compile(r"^[)\]}]")
_COMMENT = re.compile(r"^(#|//|/\*|\*|--|;|%)")
_MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdx", ".mkd", ".qmd", ".rmd"})
_PROSE_SUFFIXES = frozenset({"", ".txt", ".text", ".rst", ".org", ".adoc", ".tex", ".log"})


class Style(enum.StrEnum):
    """How a document is cut."""

    MARKDOWN = "markdown"
    CODE = "code"
    PAGES = "pages"
    """A PDF's text, under ``--- page N ---`` lines."""
    PROSE = "prose"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage of a document."""

    start_line: int
    """Its first line (1-based)."""
    end_line: int
    """Its last line (inclusive)."""
    heading: str
    """Where it is: headings joined by " > ", a definition's first line, or "page 3"."""
    text: str


@dataclass(slots=True)
class _Part:
    """Lines ``start`` to ``stop`` (0-based, exclusive) under ``heading``."""

    start: int
    stop: int
    heading: str
    weight: int = 0
    """Width of the part its heading came from (a packed passage takes its largest part's)."""


def style_for(name: str, *, pdf: bool = False) -> Style:
    """How the document ``name`` is cut (``pdf``: its text came from a PDF's pages)."""
    if pdf:
        return Style.PAGES
    suffix = PurePath(name).suffix.lower()
    if suffix in _MARKDOWN_SUFFIXES:
        return Style.MARKDOWN
    if suffix in _PROSE_SUFFIXES:
        return Style.PROSE
    from chattui.attachments.text import language_for

    return Style.CODE if language_for(name) else Style.PROSE


def chunk_text(text: str, style: Style, max_cells: int = MAX_CELLS) -> list[Chunk]:
    """The passages of ``text``, cut as ``style`` says, each at most ``max_cells`` wide.

    Passages of blank lines only are left out.
    """
    lines = text.splitlines()
    parts = {
        Style.MARKDOWN: _markdown_parts,
        Style.CODE: _code_parts,
        Style.PAGES: _page_parts,
        Style.PROSE: _paragraph_parts,
    }[style](lines)
    widths = [_width(line) + 1 for line in lines]
    pieces = [piece for part in parts for piece in _fit(part, lines, widths, max_cells)]
    chunks: list[Chunk] = []
    for part in _joined(pieces, lines, widths, max_cells, style):
        chunks.extend(_chunks(part, lines, max_cells))
    return [chunk for chunk in chunks if chunk.text.strip()]


def _markdown_parts(lines: list[str]) -> list[_Part]:
    """A part per heading (fenced code ignored), under the path of headings above it."""
    parts = [_Part(0, 0, "")]
    path: list[tuple[int, str]] = []
    for index, (line, prose) in enumerate(prose_lines(lines)):
        heading = _MARKDOWN_HEADING.match(line) if prose else None
        if heading is None:
            continue
        level = len(heading.group(1))
        path = [(depth, title) for depth, title in path if depth < level]
        path.append((level, heading.group(2).strip()))
        parts[-1].stop = index
        parts.append(_Part(index, index, " > ".join(title for _, title in path)))
    parts[-1].stop = len(lines)
    return [part for part in parts if part.stop > part.start]


def _code_parts(lines: list[str]) -> list[_Part]:
    """A part per top-level block: a line at the margin after a blank line starts one.

    Comments and decorators just above a definition stay with it; closing brackets stay with
    what they close. A part's heading is its first line that is neither comment nor decorator.
    """
    starts = [0]
    for index in range(1, len(lines)):
        line = lines[index]
        if (
            line[:1].strip()
            and not lines[index - 1].strip()
            and not _CLOSING.match(line)
            and index > starts[-1]
        ):
            starts.append(index)
    parts = []
    for start, stop in zip(starts, [*starts[1:], len(lines)], strict=True):
        heading = next(
            (
                line.strip()
                for line in lines[start:stop]
                if line.strip() and not _COMMENT.match(line.strip()) and line[:1] != "@"
            ),
            "",
        )
        parts.append(_Part(start, stop, _cut(heading.rstrip("{:").strip())))
    return parts


def _page_parts(lines: list[str]) -> list[_Part]:
    """A part per page of a PDF's text, headed "page N"."""
    parts = [_Part(0, 0, "")]
    for index, line in enumerate(lines):
        if page := _PAGE.match(line):
            parts[-1].stop = index
            parts.append(_Part(index, index, f"page {page.group(1)}"))
    parts[-1].stop = len(lines)
    return [part for part in parts if part.stop > part.start]


def _paragraph_parts(lines: list[str]) -> list[_Part]:
    """A part per paragraph (lines between blank lines)."""
    return _paragraphs(_Part(0, len(lines), ""), lines)


def _paragraphs(part: _Part, lines: list[str]) -> list[_Part]:
    """``part`` cut before each line that follows a blank one."""
    cuts = [
        index
        for index in range(part.start + 1, part.stop)
        if lines[index].strip() and not lines[index - 1].strip()
    ]
    bounds = [part.start, *cuts, part.stop]
    return [_Part(a, b, part.heading) for a, b in itertools.pairwise(bounds) if b > a]


def _fit(part: _Part, lines: list[str], widths: list[int], max_cells: int) -> list[_Part]:
    """``part`` as it is if it fits, else cut at its paragraphs, then at its lines."""
    if sum(widths[part.start : part.stop]) <= max_cells:
        return [part]
    pieces = _paragraphs(part, lines)
    if len(pieces) == 1:
        pieces = [_Part(index, index + 1, part.heading) for index in range(part.start, part.stop)]
        return _joined(pieces, lines, widths, max_cells, None)
    return [piece for p in pieces for piece in _fit(p, lines, widths, max_cells)]


def _joined(
    parts: list[_Part], lines: list[str], widths: list[int], max_cells: int, style: Style | None
) -> list[_Part]:
    """Neighbouring parts joined while they fit in a passage.

    Markdown sections and pages keep apart, but a heading with nothing under it joins the
    section after it (and takes its heading); code blocks, paragraphs and lines are packed.
    """
    joined: list[_Part] = []
    size = 0
    for part in parts:
        width = sum(widths[part.start : part.stop])
        if joined and joined[-1].stop == part.start and size + width <= max_cells:
            last = joined[-1]
            apart = style in (Style.MARKDOWN, Style.PAGES) and part.heading != last.heading
            bare = apart and sum(1 for line in lines[last.start : last.stop] if line.strip()) <= 1
            if not apart or bare:
                last.stop = part.stop
                if bare or (part.heading and (not last.heading or width > last.weight)):
                    last.heading, last.weight = part.heading, width
                size += width
                continue
        joined.append(_Part(part.start, part.stop, part.heading, width))
        size = width
    return joined


def _chunks(part: _Part, lines: list[str], max_cells: int) -> list[Chunk]:
    """``part`` as passages: one, or a single line too long for one cut by width."""
    text = "\n".join(lines[part.start : part.stop])
    if part.stop - part.start > 1 or _width(text) <= max_cells:
        return [Chunk(part.start + 1, part.stop, part.heading, text)]
    pieces: list[str] = []
    piece: list[str] = []
    used = 0
    for char in text:
        width = cells(char)
        if used + width > max_cells:
            pieces.append("".join(piece))
            piece, used = [], 0
        piece.append(char)
        used += width
    pieces.append("".join(piece))
    return [Chunk(part.start + 1, part.stop, part.heading, p) for p in pieces]


def _width(text: str) -> int:
    """About the cells ``text`` takes: a character each, two for Han, kana and Hangul.

    Quicker than measuring each character, which matters over a hundred megabytes.
    """
    return len(text) + len(WIDE.findall(text))


def _cut(heading: str) -> str:
    """A definition's first line, shortened to ``HEADING_CELLS``."""
    if cells(heading) <= HEADING_CELLS:
        return heading
    from chattui.text_width import fit

    return fit(heading, HEADING_CELLS)
