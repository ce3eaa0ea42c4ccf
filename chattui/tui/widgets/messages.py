"""The widgets of a transcript: user turns as plain text, replies as Markdown streamed in."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from markdown_it import MarkdownIt
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Region
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets._markdown import MarkdownBlock, MarkdownParagraph

from chattui.conversation import Attachment, AttachmentKind, Message, Passage, Role, ToolCall
from chattui.formulas import formulas_to_text
from chattui.kb.prompt import SOURCE_SCHEME, linked_citations
from chattui.markdown_blocks import split_settled
from chattui.terminal_text import printable
from chattui.tui.widgets.tool_steps import ToolSteps


class UserMessage(Static):
    """A user's message, shown literally (never parsed as markup)."""

    def __init__(
        self,
        text: str,
        *,
        message_id: int | None = None,
        branch: str = "",
        attached: tuple[str, ...] = (),
    ) -> None:
        """Show ``text``; ``branch`` is its place among its versions ("‹ 2/3 ›"), if any.

        ``attached`` names what was attached to it, shown on a line above the text.
        """
        self.text = text
        self.message_id = message_id
        """Its id in the store (None until saved)."""
        self.branch = branch
        self.attached = attached
        super().__init__(self._body())

    def _body(self) -> Text:
        lines = [Text(self.branch, style="bold")] if self.branch else []
        if self.attached:
            lines.append(Text("📎 " + ", ".join(printable(n) for n in self.attached), style="dim"))
        lines.append(Text(printable(self.text)))
        return Text("\n").join(lines)

    def show_branch(self, branch: str) -> None:
        """Show the message's place among its versions above it (nothing when it has none)."""
        self.branch = branch
        self.update(self._body())


@functools.cache
def _parser() -> MarkdownIt:
    """One Markdown parser shared by every reply.

    Textual otherwise builds a new parser for each streamed fragment, which was the largest
    cost of streaming (bench/tui_stream.py).
    """
    return MarkdownIt("gfm-like")


class _GrowsInPlace(Static):
    """A Static that asks for a layout of the screen only when its height changes.

    A streaming reply rewrites its last lines many times a second, and most of those writes do
    not add a line; a layout of the whole screen for each was a quarter of what streaming cost
    the UI thread (bench/tui_stream.py).
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


class _Paragraph(MarkdownParagraph, _GrowsInPlace):
    """A Markdown paragraph that lays the screen out again only when it gains a line.

    MarkdownParagraph comes first: Textual takes CSS (and type queries) from the first base.
    """


class _Body(Markdown):
    """The finished blocks of a reply, as Markdown.

    A reply shown whole (a saved chat, another version) has its blocks built as it is composed:
    Textual's Markdown parses in a thread and mounts its blocks after it is mounted, which costs
    an empty frame and a second layout of the screen for each reply that comes into view.
    """

    BLOCKS: dict[str, type[MarkdownBlock]] = {  # noqa: RUF012 - declared so by Markdown
        **Markdown.BLOCKS,
        "paragraph_open": _Paragraph,
    }
    _composed = False
    """Whether the blocks were built as the widget was composed."""

    def compose(self) -> ComposeResult:
        """The blocks of the text given at creation, built at once."""
        markdown = self._initial_markdown
        if not markdown:
            return
        self._initial_markdown = None
        self._composed = True
        self._markdown = markdown
        self._theme = self.app.theme
        lines = markdown.splitlines()
        self._last_parsed_line = len(lines) - (1 if lines and lines[-1] else 0)
        yield from self._build_from_source(markdown)

    async def _on_mount(self, event: events.Mount) -> None:  # type: ignore[override]
        """Markdown mounts its blocks here: not those composed already."""
        if self._composed:
            Widget._on_mount(self, event)
            event.prevent_default()


class _Tail(Widget):
    """The block still being written, as plain text: cheap to redraw many times a second.

    Text only grows at its end, so an update repaints the last lines, not the whole block, and
    its height grows in steps of ``STEP`` lines, so that most updates need no layout of the
    screen (which a new line otherwise costs, about every other update at 100 tokens a second).
    Those were the largest costs of streaming left (bench/tui_stream.py).
    """

    DEFAULT_CSS = "_Tail { height: auto; }"
    STEP = 8
    """Lines of room added at a time."""

    def __init__(self, *, classes: str) -> None:
        """Create an empty, hidden tail."""
        super().__init__(classes=classes)
        self.display = False
        self._text = Text()
        self._lines = 0

    def render(self) -> Text:
        """The text so far."""
        return self._text

    def show(self, text: str) -> None:
        """Show ``text`` (model text, made terminal-safe); hidden when empty."""
        if self.display != bool(text):
            self.display = bool(text)
        self._text = Text(printable(text))
        size = self.content_size
        if not (text and size.width and self.is_mounted):
            self.release()
            self._lines = 0
            self.refresh(layout=True)
            return
        lines = self.get_content_height(size, size, size.width)
        if lines > size.height:
            self.styles.min_height = -(-lines // self.STEP) * self.STEP  # lays out once
            self.refresh()
        else:  # appended text changes the last line and those after it
            first = max(0, min(self._lines, lines) - 1)
            self.refresh(Region(0, first, size.width, lines - first))
        self._lines = lines

    def release(self) -> None:
        """Give back the room kept for growth (when the screen is laid out anyway)."""
        if self.styles.min_height is not None:
            self.styles.min_height = None


class Reply(Vertical):
    """An assistant reply: Markdown for finished blocks, plain text for the one being written.

    While a reply streams, a block becomes Markdown once it is complete (a blank line outside a
    code fence ends it), so each update redraws only the growing tail instead of parsing and
    wrapping the whole last block again (bench/tui_stream.py). Model text is made terminal-safe
    before it is shown.
    """

    def __init__(
        self,
        text: str = "",
        *,
        note: str = "",
        reasoning: str = "",
        message_id: int | None = None,
        branch: str = "",
        sources: tuple[Passage, ...] = (),
        tool_calls: tuple[ToolCall, ...] = (),
    ) -> None:
        """Show ``text``; ``note`` is a short line under it (model, finish reason).

        ``reasoning``, the model's thinking before it answered, is shown folded above it;
        ``branch`` is the reply's place among its versions ("‹ 2/3 ›"), shown before the note;
        ``sources``, the passages of a knowledge base it was given, are listed under it;
        ``tool_calls``, the tools it called on its way, are shown folded before its text.
        """
        super().__init__()
        self.reasoning = reasoning
        self.sources = sources
        self.tool_calls = tool_calls
        self._steps: ToolSteps | None = ToolSteps(tool_calls) if tool_calls else None
        self.text = text
        """The whole reply, as the model wrote it."""
        self.message_id = message_id
        """Its id in the store (None until saved)."""
        self.branch = branch
        self.note = note
        """The line under it (model, how it ended), as plain text."""
        self._show_note(note)
        self._body = _Body(
            _shown(linked_citations(text, len(sources))), parser_factory=_parser, open_links=False
        )
        self._tail = _Tail(classes="tail")
        self._tail.display = False
        self._streamed = text
        """Text given to the view so far (body and tail)."""
        self._settled = len(text)
        """How much of it is in the body."""
        self.live = False
        """Whether it is being written (the transcript keeps it mounted)."""

    def compose(self) -> ComposeResult:
        """The reasoning (folded), the Markdown body and the growing tail."""
        if self.reasoning:
            yield _reasoning(self.reasoning)
        if self._steps is not None:
            yield self._steps
        yield self._body
        yield self._tail
        if self.sources:
            yield Sources(self.sources)

    @property
    def source(self) -> str:
        """The Markdown the body shows."""
        return self._body.source

    def thinking(self, words: int) -> None:
        """Say the model is reasoning (``words`` so far) before its answer begins."""
        self.border_subtitle = f"thinking… {words} words"

    async def append(self, chunk: str) -> None:
        """Show more streamed text: finished blocks as Markdown, the rest as plain text."""
        if not self._streamed and self.border_subtitle:
            self.border_subtitle = ""  # the answer begins
        self._streamed += chunk
        tail = self._streamed[self._settled :]
        cut = split_settled(tail)
        if cut:
            self._settled += cut
            self._tail.release()  # the finished block is mounted: the screen is laid out
            await self._body.append(_shown(tail[:cut]))
            tail = tail[cut:]
        self._tail.show(tail.rstrip("\n"))

    async def tool_started(self, call: ToolCall) -> None:
        """A call begins: what was written so far goes before it, the text starts afresh."""
        said, self._streamed, self._settled = self._streamed, "", 0
        await self._body.update("")
        self._tail.show("")
        if self._steps is None:
            self._steps = ToolSteps()
            await self.mount(self._steps, before=self._body)
        await self._steps.started(call, said)

    async def tool_ended(self, call: ToolCall) -> None:
        """The call has ended: shown folded."""
        if self._steps is not None:
            await self._steps.ended(call)
            self.tool_calls = (*self.tool_calls, call)

    def _show_note(self, note: str) -> None:
        """Show ``note`` under the reply: text (a saved model id is never markup)."""
        self.note = note
        line = "  ".join(part for part in (self.branch, printable(note)) if part)
        self.border_subtitle = Content(line)

    def show_branch(self, branch: str) -> None:
        """Show the reply's place among its versions under it (nothing when it has none)."""
        self.branch = branch
        if not self.live:
            self._show_note(self.note)

    async def show_sources(self, sources: tuple[Passage, ...]) -> None:
        """List under the reply the passages its question was given; its marks link to them."""
        if sources and not self.sources:
            self.sources = sources
            await self.mount(Sources(sources))
            linked = linked_citations(self.text, len(sources))
            if linked != self.text:
                await self._body.update(_shown(linked))

    def on_markdown_link_clicked(self, event: Markdown.LinkClicked) -> None:
        """A ``[1]`` mark opens its source; any other link opens as Textual would."""
        event.stop()
        href = event.href
        if href.startswith(SOURCE_SCHEME) and href[len(SOURCE_SCHEME) :].isdigit():
            number = int(href[len(SOURCE_SCHEME) :])
            if 1 <= number <= len(self.sources):
                self.post_message(Sources.Chosen(self.sources[number - 1]))
            return
        self.app.open_url(href)

    async def finish(self, text: str, note: str, reasoning: str = "") -> None:
        """The reply ended as ``text``: show it all as Markdown, with ``note`` under it."""
        if reasoning and not self.reasoning:
            self.reasoning = reasoning
            await self.mount(_reasoning(reasoning), before=self._body)
        if text.startswith(self._streamed[: self._settled]) and self._settled:
            await self._body.append(_shown(text[self._settled :]))
        else:
            await self._body.update(_shown(text))
        self._streamed, self._settled = text, len(text)
        self._tail.show("")
        self.text = text
        self._show_note(note)
        self.live = False


class Sources(Static):
    """The passages a reply was given, numbered as it cites them; a click opens one."""

    @dataclass
    class Chosen(TextualMessage):
        """A source was clicked: open its file at its first line."""

        passage: Passage

    def __init__(self, passages: tuple[Passage, ...]) -> None:
        """List ``passages`` (file names and headings are text, never markup)."""
        self.passages = passages
        lines = [Text("Sources (click one to open it)", style="bold dim")]
        lines += [
            Text(f"[{number}] ", style="dim") + Text(printable(p.cited), style="underline")
            for number, p in enumerate(passages, 1)
        ]
        shown = Text("\n").join(lines)
        shown.no_wrap, shown.overflow = True, "ellipsis"  # a line per source: clicks find it
        super().__init__(shown, classes="sources")

    def on_click(self, event: events.Click) -> None:
        """Open the source on the line clicked (the first line is the title)."""
        number = event.y
        if 1 <= number <= len(self.passages):
            self.post_message(self.Chosen(self.passages[number - 1]))


def _reasoning(text: str) -> Collapsible:
    """The model's reasoning, folded: a click or Enter on its title shows it."""
    words = len(text.split())
    return Collapsible(
        Static(Text(printable(text.strip()), style="dim")),
        title=f"Reasoning ({words} words)",
        collapsed=True,
        classes="reasoning",
    )


class Notice(Static):
    """A note from chattui itself (no model, help); shown literally, never as markup."""

    def __init__(self, text: str, *, id: str | None = None) -> None:
        """Show ``text``."""
        super().__init__(Text(printable(text)), id=id)


EXAMPLES = (
    "Explain what a hash table is, with a short example in Python.",
    "用三句话解释什么是 Transformer 模型。",
    "Summarize the plot of Hamlet in five bullet points.",
)
"""Prompts the first screen suggests (one in Chinese: many users write in it)."""


class Welcome(Static):
    """The first screen of an empty chat: the model in use, the main keys, prompts to try."""

    model: reactive[str] = reactive("")
    """Name of the model in use (or loading)."""
    loading: reactive[bool] = reactive(True)
    """Whether the model is still loading."""

    def render(self) -> Text:
        """Plain text: model names are never markup."""
        text = Text()
        text.append("chattui", style="bold")
        if self.model:
            text.append(f"  ·  {printable(self.model)}" + ("  (loading…)" if self.loading else ""))
        text.append("\n\nType a message and press Enter. For example:\n")
        for example in EXAMPLES:
            text.append(f"  • {example}\n")
        text.append(
            "\nEsc stops a reply · Ctrl+B saved chats · Ctrl+O settings · "
            "/help keys and commands · Ctrl+Q quits\n",
            style="dim",
        )
        text.append(
            "A bigger model answers better: chattui models list shows the catalog, "
            "chattui models pull qwen2.5-0.5b gets one, then /model qwen2.5-0.5b uses it.",
            style="dim",
        )
        return text


def _shown(markdown: str) -> str:
    """Model text as a reply shows it: formulas as Unicode, nothing a terminal would obey."""
    return printable(formulas_to_text(markdown))


def note_for(message: Message) -> str:
    """The short line under a reply: model, and how it ended when not normally."""
    if message.info is None:
        return ""
    finish = message.info.finish_reason or "interrupted"
    return message.info.model_id + ("" if finish == "stop" else f" · {finish}")


@dataclass(frozen=True, slots=True)
class Item:
    """A message of the transcript, as shown: what a widget is made from again."""

    user: bool
    """A user's message (else a reply)."""
    text: str
    note: str = ""
    """The line under a reply."""
    reasoning: str = ""
    """A reply's reasoning, shown folded above it."""
    id: int | None = None
    """The message's id in the store."""
    branch: str = ""
    """Its place among its versions ("‹ 2/3 ›"); empty when it has none."""
    attached: tuple[str, ...] = ()
    """The names of what was attached to it."""
    sources: tuple[Passage, ...] = ()
    """A reply's: the passages of a knowledge base its question was given."""
    tool_calls: tuple[ToolCall, ...] = ()
    """A reply's: the tools it called."""

    @classmethod
    def of(cls, message: Message, branch: str = "", sources: tuple[Passage, ...] = ()) -> Item:
        """How ``message`` is shown (``sources``: a reply's)."""
        reasoning = (message.info.reasoning if message.info else None) or ""
        user = message.role is Role.USER
        attached = tuple(attached_label(a) for a in message.attachments)
        return cls(
            user,
            message.content,
            note_for(message),
            reasoning,
            message.id,
            branch,
            attached,
            () if user else sources,
            message.tool_calls,
        )


def attached_label(attachment: Attachment) -> str:
    """How an attachment is named above its message."""
    if attachment.kind is AttachmentKind.KNOWLEDGE:
        count = len(attachment.passages)
        return f"knowledge base {attachment.name} ({count} passage{'s' if count != 1 else ''})"
    return attachment.name


def widget_for(item: Item) -> UserMessage | Reply:
    """The widget that shows ``item``."""
    if item.user:
        return UserMessage(
            item.text, message_id=item.id, branch=item.branch, attached=item.attached
        )
    return Reply(
        item.text,
        note=item.note,
        reasoning=item.reasoning,
        message_id=item.id,
        branch=item.branch,
        sources=item.sources,
        tool_calls=item.tool_calls,
    )


def item_of(widget: UserMessage | Reply) -> Item:
    """What ``widget`` shows, to be shown again once it is gone."""
    if isinstance(widget, UserMessage):
        return Item(
            True, widget.text, id=widget.message_id, branch=widget.branch, attached=widget.attached
        )
    return Item(
        False,
        widget.text,
        widget.note,
        widget.reasoning,
        widget.message_id,
        widget.branch,
        sources=widget.sources,
        tool_calls=widget.tool_calls,
    )
