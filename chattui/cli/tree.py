"""A conversation's branches drawn as a Rich ``Tree`` (``history show --tree``).

A run of messages without alternatives stays at one level; the alternatives of a message (a
regenerated reply, an edited question) are drawn as branches under the message they follow, so a
long chat with few forks stays narrow. Each line starts with the message's id, for ``ask --from``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from rich.tree import Tree

from chattui.conversation import Conversation, Message, Outline, Role, branch_label
from chattui.terminal_text import printable
from chattui.text_width import fit

SNIPPET = 60
"""Cells of a message's first line shown."""


def draw_tree(conversation: Conversation, messages: Sequence[Message]) -> Tree:
    """Every branch of ``conversation`` (whose every message is in ``messages``)."""
    by_id = {m.id: m for m in messages if m.id is not None}
    outline = Outline({mid: m.parent_id for mid, m in by_id.items()})
    in_view = {m.id for m in conversation.messages}
    root = Tree(Text(printable(conversation.title), style="bold"), guide_style="dim")
    # Depth-first without recursion: an imported chat may nest forks very deep.
    pending: list[tuple[Tree, int]] = [
        (root, mid) for mid in reversed(outline.children.get(None, ()))
    ]
    while pending:
        parent, mid = pending.pop()
        while True:
            node = parent.add(_label(by_id[mid], mid in in_view, outline.branch(mid)))
            followers = outline.children.get(mid, ())
            if len(followers) != 1:
                pending.extend((node, child) for child in reversed(followers))
                break
            mid = followers[0]
    return root


def _label(message: Message, in_view: bool, branch: tuple[int, int] | None) -> Text:
    """``id  who  first line`` (the branch in view in bold)."""
    label = Text(no_wrap=True, overflow="ellipsis")  # one line each, whatever the script
    label.append(f"{message.id} ", style="cyan")
    if branch is not None:
        label.append(branch_label(branch) + " ", style="magenta")
    who = "you" if message.role is Role.USER else str(message.role)
    if message.role is Role.ASSISTANT and message.info is not None:
        who = message.info.model_id
    label.append(f"{printable(who)}: ", style="dim")
    first = next((line for line in message.content.splitlines() if line.strip()), "")
    label.append(fit(printable(" ".join(first.split())), SNIPPET))
    if in_view:
        label.stylize("bold")
        label.append("  ◀", style="green")
    return label
