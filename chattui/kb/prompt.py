"""How a knowledge base's passages are given to the model: numbered, to be cited as ``[1]``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from chattui.conversation import Attachment, AttachmentKind, Passage


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
