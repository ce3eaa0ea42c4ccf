"""ReplyView: the reply in flight as the transcript shows it, updated at the pace drawing allows.

It mounts the widgets of a turn (the user's message, the reply), takes the text the worker left
in the ``ReplyStream`` when woken, and hands it to the reply widget no more often than the
``Pacer`` allows: drawing competes with llama.cpp for the CPU (bench/tui_stream.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from chattui.conversation import Message
from chattui.tui.pacing import Pacer
from chattui.tui.reply_stream import Progress, ReplyStream
from chattui.tui.widgets.messages import Reply, UserMessage, Welcome, note_for
from chattui.tui.widgets.transcript import Transcript

PROGRESS_EVERY = 0.25
"""Seconds between two reports of live figures (tok/s, context) while a reply streams."""


@dataclass(frozen=True, slots=True)
class Shown:
    """The widgets of a turn, once it has ended."""

    user: UserMessage | None
    """The user's message, when the turn sent one."""
    reply: Reply | None
    """The reply."""


class ReplyView:
    """Shows one reply at a time in ``transcript``."""

    def __init__(self, transcript: Transcript, on_progress: Callable[[Progress], None]) -> None:
        """Show replies in ``transcript``; ``on_progress`` gets live figures now and then."""
        self.transcript = transcript
        self.on_progress = on_progress
        self.stream: ReplyStream | None = None
        """The reply shown, from its start until it has ended."""
        self._reply: Reply | None = None
        self._shown: dict[ReplyStream, Shown] = {}
        """The widgets of each reply not yet closed (the next may open before the last closes)."""
        self._pacer = Pacer()
        self._lock = asyncio.Lock()
        """Held while widgets change: text may arrive before the reply widget is mounted."""
        self._scheduled = False
        self._reported = 0.0

    async def open(
        self,
        stream: ReplyStream,
        user_text: str | None,
        *,
        attached: tuple[str, ...] = (),
        extend: bool = False,
        drop_reply: bool = False,
        drop_user: bool = False,
    ) -> None:
        """Make room for the reply of ``stream``.

        Args:
            stream: The reply.
            user_text: The message it answers, shown first (None: none is sent).
            attached: The names of what is attached to it (an edited message: those it had).
            extend: Append to the last reply (continuing a stopped one).
            drop_reply: Remove the last reply first (it is written again).
            drop_user: Remove the last user message first (it was edited).
        """
        transcript = self.transcript
        async with self._lock:
            self.stream = stream
            transcript.to_end()
            await transcript.query(Welcome).remove()
            replies = transcript.replies()
            if drop_reply and replies:
                await replies.pop().remove()
            users = transcript.users()
            if drop_user and users:
                attached = attached or users[-1].attached
                await users[-1].remove()
            user = UserMessage(user_text, attached=attached) if user_text is not None else None
            if user is not None:
                await transcript.mount(user)
            if extend and replies:
                self._reply = replies[-1]  # new text is appended to the stopped reply
                self._reply.border_subtitle = ""
            else:
                self._reply = Reply()
                await transcript.mount(self._reply)
            self._reply.live = True
            self._shown[stream] = Shown(user, self._reply)
        transcript.anchor()
        self._pacer.restart()
        self._reported = 0.0

    def arrived(self) -> None:
        """The stream holds new text: show it now, or when the pace of updates allows."""
        if self._scheduled:
            return
        self._scheduled = True
        delay = self._pacer.delay(time.monotonic())
        if delay > 0:  # a bare loop timer: a Textual timer is a task of its own, 20 times a second
            asyncio.get_running_loop().call_later(delay, self.transcript.call_later, self.drain)
        else:
            self.transcript.call_next(self.drain)

    async def drain(self) -> None:
        """Show what the stream holds."""
        async with self._lock:  # a timer and the end of a reply may both drain
            self._scheduled = False
            stream, reply = self.stream, self._reply
            taken = stream.take_all() if stream is not None else []
            turn = stream.turn if stream is not None else None
            if reply is not None and turn is not None and not taken and turn.reply.reasoning:
                reply.thinking(len(turn.reply.reasoning.split()))
            if stream is None or reply is None or not taken:
                return
            self._pacer.update(time.monotonic(), time.thread_time())
            for item in taken:
                if isinstance(item, str):
                    await reply.append(item)
                elif item.starting:
                    await reply.tool_started(item.call)
                else:
                    await reply.tool_ended(item.call)
            now = time.monotonic()
            if now - self._reported >= PROGRESS_EVERY:  # figures need not change 20x a second
                self._reported = now
                self.on_progress(stream.progress())

    async def close(self, stream: ReplyStream, final: Message | None) -> Shown:
        """``stream`` has ended as ``final`` (None: it never started); show it whole.

        Returns:
            The widgets of the turn.
        """
        if self.stream is stream:
            await self.drain()
        shown = self._shown.pop(stream, Shown(None, None))
        if shown.reply is not None:
            shown.reply.live = False
        if final is not None and shown.reply is not None:
            reasoning = (final.info.reasoning if final.info else None) or ""
            await shown.reply.finish(final.content, note_for(final), reasoning)
        if self.stream is stream:
            self.stream, self._reply = None, None
        return shown
