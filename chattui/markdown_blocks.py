"""Where a streaming Markdown text can be cut: the prefix made of blocks that are complete.

Shared by ``ask`` on a terminal (which prints finished blocks once) and the TUI (which renders
finished blocks as Markdown and shows the growing tail as plain text).
"""

from __future__ import annotations

import re

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
