"""Chunking follows a document's structure and keeps each passage's lines."""

from __future__ import annotations

import pytest

from chattui.kb.chunking import MAX_CELLS, Chunk, Style, chunk_text, style_for
from chattui.text_width import cells


def lines_of(text: str, chunk: Chunk) -> str:
    return "\n".join(text.splitlines()[chunk.start_line - 1 : chunk.end_line])


def check_lines(text: str, chunks: list[Chunk]) -> None:
    for chunk in chunks:
        assert lines_of(text, chunk) == chunk.text or chunk.start_line == chunk.end_line


MARKDOWN = """# Guide

## Install

Run pip install chattui.

```sh
# a comment in a fence, not a heading
pip install chattui
```

## Use

### Asking

Type a question.
"""


def test_markdown_is_cut_at_headings_under_their_path() -> None:
    chunks = chunk_text(MARKDOWN, Style.MARKDOWN)
    assert [c.heading for c in chunks] == ["Guide > Install", "Guide > Use > Asking"]
    assert "# a comment in a fence" in chunks[0].text  # the fence's line stayed inside
    assert (chunks[0].start_line, chunks[1].end_line) == (1, 16)
    check_lines(MARKDOWN, chunks)


def test_code_is_cut_at_top_level_definitions() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    code = f"import os\n\n\n@decorated\ndef first():\n{body}\n\n\nclass Second:\n{body}\n"
    chunks = chunk_text(code, style_for("mod.py"))
    headings = [c.heading for c in chunks]
    assert "def first()" in headings
    assert "class Second" in headings
    first = next(c for c in chunks if c.heading == "def first()")
    assert first.text.startswith("import os") or first.text.startswith("@decorated")
    check_lines(code, chunks)
    assert all(cells(c.text) <= MAX_CELLS + 1 for c in chunks)


def test_pdf_pages_and_long_prose() -> None:
    pages = "--- page 1 ---\nFirst page.\n\n--- page 2 ---\nSecond page."
    assert [c.heading for c in chunk_text(pages, Style.PAGES)] == ["page 1", "page 2"]
    prose = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(30))
    chunks = chunk_text(prose, Style.PROSE)
    assert len(chunks) > 5
    assert all(len(c.text) <= MAX_CELLS for c in chunks)
    assert chunks[0].text.startswith("Paragraph 0")  # cut between paragraphs
    check_lines(prose, chunks)


@pytest.mark.parametrize("char", ["中", "a"])
def test_a_single_huge_line_is_cut_by_width(char: str) -> None:
    line = char * 5000
    chunks = chunk_text(line, Style.PROSE)
    assert "".join(c.text for c in chunks) == line
    assert all(cells(c.text) <= MAX_CELLS for c in chunks)
    assert all((c.start_line, c.end_line) == (1, 1) for c in chunks)


def test_styles_by_name() -> None:
    assert style_for("notes/README.md") is Style.MARKDOWN
    assert style_for("src/app.rs") is Style.CODE
    assert style_for("letter.txt") is Style.PROSE
    assert style_for("scan.pdf", pdf=True) is Style.PAGES
    assert chunk_text("\n\n  \n", Style.PROSE) == []
