"""Markdown blocks: where a streaming text can be cut, and which lines are prose, not code.

Shared by ``ask`` on a terminal (which prints finished blocks once) and the TUI (which renders
finished blocks as Markdown and shows the growing tail as plain text); knowledge bases find
headings and citation marks in the prose lines only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def split_settled(text: str) -> int:
    """Return the length of the prefix of ``text`` made of complete Markdown blocks.

    A block is complete once a blank line follows it outside a fenced code block; such a prefix
    renders the same whatever comes after it, so it can be printed for good.
    """
    settled = 0
    position = 0
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        position += len(line)
        if not line.endswith("\n"):
            break
        marker = _FENCE.match(line)
        if marker:
            if fence is None:
                fence = marker.group(1)[0] * 3
            elif marker.group(1).startswith(fence):
                fence = None
        elif fence is None and not line.strip():
            settled = position
    return settled


def prose_lines(lines: Iterable[str]) -> Iterator[tuple[str, bool]]:
    """Each line, with whether it is prose: not a code fence, nor inside a fenced block.

    A block closes at a fence of the same character at least as long as the one that opened
    it (CommonMark's rule).
    """
    fence = ""
    for line in lines:
        if opened := _FENCE.match(line):
            marker = opened.group(1)
            if not fence:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = ""
            yield line, False
        else:
            yield line, not fence
