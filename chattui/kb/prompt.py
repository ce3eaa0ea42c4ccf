"""Passages given to the model numbered, to be cited as ``[1]``; a reply's marks as links."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from chattui.conversation import Attachment, AttachmentKind, Passage
from chattui.markdown_blocks import prose_lines


def knowledge_attachment(name: str, passages: Sequence[Passage]) -> Attachment:
    """The passages ``name`` found for a question, as the attachment its message carries.

    With no passage (nothing relevant), the model is told so, rather than given noise.
    """
    if passages:
        blocks = [
            f'Knowledge base "{name}": passages found for the question below. Answer from them,'
            " and cite each passage you use by its number in brackets, as [1]."
        ]
        blocks += [f"[{n}] {p.cited}\n{p.text.strip()}" for n, p in enumerate(passages, 1)]
    else:
        blocks = [
            f'Knowledge base "{name}": nothing in it is relevant to the question below. Say'
            " that the knowledge base does not answer it; do not make up an answer."
        ]
    text = "\n\n".join(blocks)
    digest = hashlib.sha256(text.encode()).hexdigest()
    size = sum(len(p.text.encode()) for p in passages)
    return Attachment(name, AttachmentKind.KNOWLEDGE, size, digest, text, passages=tuple(passages))


SOURCE_SCHEME = "chattui-source:"
"""Links to a reply's sources, as its ``[1]`` marks are shown: ``chattui-source:1``."""
_MARK = re.compile(r"(?<![\]\\A-Za-z0-9_])\[(\d{1,2})\](?![(\[:])")
"""A mark: not an index (``a[1]``, though Chinese text runs on into it), nor a link's text."""


def linked_citations(markdown: str, sources: int) -> str:
    """``markdown`` with its ``[n]`` marks (n from 1 to ``sources``) as links to those sources.

    Code (fenced or inline) is left as it is; so is a mark that is already a link.
    """
    if not sources:
        return markdown

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if not 1 <= number <= sources:
            return match.group(0)
        # Bare brackets: an escaped one would open a formula (chattui.formulas).
        return f"[[{number}]]({SOURCE_SCHEME}{number})"

    def linked(line: str) -> str:
        parts = line.split("`")  # odd parts are inline code
        return "`".join(p if i % 2 else _MARK.sub(link, p) for i, p in enumerate(parts))

    return "\n".join(
        linked(line) if prose else line for line, prose in prose_lines(markdown.split("\n"))
    )
