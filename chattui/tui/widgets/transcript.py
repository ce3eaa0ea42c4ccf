"""The transcript: user turns as plain text, replies as Markdown streamed in as they arrive."""

from __future__ import annotations

import functools

from markdown_it import MarkdownIt
from rich.text import Text
from textual.containers import VerticalScroll
from textual.visual import VisualType
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownBlock, MarkdownParagraph

from chattui.conversation import Message, Role
from chattui.terminal_text import printable


class UserMessage(Static):
    """A user's message, shown literally (never parsed as markup)."""

    def __init__(self, text: str) -> None:
        """Show ``text``."""
        super().__init__(Text(printable(text)))
        self.text = text


@functools.cache
def _parser() -> MarkdownIt:
    """One Markdown parser shared by every reply.

    Textual otherwise builds a new parser for each streamed fragment, which was the largest
    cost of streaming (bench/tui_stream.py).
    """
    return MarkdownIt("gfm-like")


class _Paragraph(MarkdownParagraph):
    """A Markdown paragraph that asks for a layout of the screen only when its height changes.

    A streaming reply rewrites its last paragraph several times a second, and most of those
    writes do not add a line; a layout of the whole screen for each was a quarter of what
    streaming cost the UI thread (bench/tui_stream.py).
    """

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        """Show ``content``; lay the screen out again only if the height changed."""
        size = self.content_size
        if not (layout and size.width and self.is_mounted):
            super().update(content, layout=layout)
            return
        before = self.get_content_height(size, size, size.width)
        super().update(content, layout=False)
        if self.get_content_height(size, size, size.width) != before:
            self.refresh(repaint=False, layout=True)  # repainting was asked; keep the height


class Reply(Markdown):
    """An assistant reply rendered as Markdown; model text is made terminal-safe first."""

    BLOCKS: dict[str, type[MarkdownBlock]] = {  # noqa: RUF012 - declared so by Markdown
        **Markdown.BLOCKS,
        "paragraph_open": _Paragraph,
    }

    def __init__(self, text: str = "", *, note: str = "") -> None:
        """Show ``text``; ``note`` is a short line under it (model, finish reason)."""
        super().__init__(printable(text), parser_factory=_parser)
        self.text = text
        self.border_subtitle = note


class Notice(Static):
    """A note from chattui itself (no model, help); shown literally, never as markup."""

    def __init__(self, text: str, *, id: str | None = None) -> None:
        """Show ``text``."""
        super().__init__(Text(printable(text)), id=id)


class Transcript(VerticalScroll):
    """The conversation so far; stays scrolled to the newest text unless the user scrolls up."""

    def show(self, messages: list[Message]) -> None:
        """Replace the content with ``messages``."""
        self.remove_children()
        self.mount_all([_widget(m) for m in messages if m.role is not Role.SYSTEM])
        self.anchor()

    def replies(self) -> list[Reply]:
        """The reply widgets in order."""
        return list(self.query(Reply))

    def users(self) -> list[UserMessage]:
        """The user message widgets in order."""
        return list(self.query(UserMessage))


def note_for(message: Message) -> str:
    """The short line under a reply: model, and how it ended when not normally."""
    if message.info is None:
        return ""
    finish = message.info.finish_reason or "interrupted"
    return message.info.model_id + ("" if finish == "stop" else f" · {finish}")


def _widget(message: Message) -> UserMessage | Reply:
    if message.role is Role.USER:
        return UserMessage(message.content)
    return Reply(message.content, note=note_for(message))
