"""ScriptedEngine: a real ``Engine`` that replays canned replies, for UI tests and demos."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable, Iterator, Sequence

from chattui.conversation import Message, Role
from chattui.engine.base import FinishReason, Reply, TurnStats
from chattui.engine.context import fit_messages
from chattui.engine.tool_calls import CallWatcher
from chattui.sampling import GenerationOptions

_TOKEN = re.compile(r"\s*\S+|\s+")
"""A word with its leading whitespace: the scripted engine's notion of a token."""

_MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message, roughly."""


def split_tokens(text: str) -> list[str]:
    """Split text into the pieces the scripted engine streams (they join back to ``text``)."""
    return _TOKEN.findall(text)


class ScriptedEngine:
    """Streams its replies in turn, word by word, honouring stop, max_tokens and the context."""

    def __init__(
        self,
        replies: list[str],
        *,
        model_id: str = "scripted",
        n_ctx: int = 4096,
        delay: float = 0.0,
    ) -> None:
        """Create the engine.

        Args:
            replies: Replies to give, in turn (cycling); empty echoes the last user message.
                Asked to continue a partial reply, it gives the rest of the reply it came from.
            model_id: Id to report.
            n_ctx: Context window in (scripted) tokens.
            delay: Seconds to wait before each token, to imitate a real model.

        With ``ignore_eos`` and ``max_tokens`` a reply repeats its script up to ``max_tokens``.
        """
        self.replies = replies
        self.reads_images = False
        self.images_note = ""
        self.model_id = model_id
        self.n_ctx = n_ctx
        self.delay = delay
        self.load_seconds = 0.0
        self.turns = 0
        """Replies started so far."""
        self.closed = False
        """Whether ``close`` was called."""

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Count words plus a fixed overhead per message."""
        calls = [c.text + c.arguments + c.result for m in messages for c in m.tool_calls]
        return sum(len(split_tokens(m.prompt_text())) + _MESSAGE_OVERHEAD for m in messages) + sum(
            len(split_tokens(call)) + 2 * _MESSAGE_OVERHEAD for call in calls
        )

    def stream(self, messages: Sequence[Message], options: GenerationOptions) -> Reply:
        """Start the next scripted reply; see ``Engine.stream``."""
        fit = fit_messages(messages, self.count_tokens, self.n_ctx, options.max_tokens)
        last = messages[-1] if messages else None
        if (
            last is not None
            and last.role is Role.ASSISTANT
            and not last.tool_calls
            and self.replies
        ):
            # Continuing a partial reply: give the rest of the reply it was cut from.
            partial = messages[-1].content
            text = self.replies[(self.turns - 1) % len(self.replies)]
            text = text[len(partial) :] if text.startswith(partial) else text
            return Reply(fit, lambda reply: self._run(reply, text, options))
        if self.replies:
            text = self.replies[self.turns % len(self.replies)]
        else:
            text = messages[-1].content if messages else ""
        self.turns += 1
        return Reply(fit, lambda reply: self._run(reply, text, options))

    def _run(self, reply: Reply, text: str, options: GenerationOptions) -> Iterator[str]:
        started = time.perf_counter()
        first: float | None = None
        last: float | None = None
        count = 0
        finish = FinishReason.STOP
        ended = False
        pieces: Iterable[str] = split_tokens(text)
        # A script may write "<tool_call>{...}</tool_call>": with tools offered, that is a call.
        watcher = CallWatcher() if options.tools else None
        if options.ignore_eos and options.max_tokens is not None and text:
            pieces = itertools.cycle(pieces)  # no end of turn: the script starts over
        try:
            for piece in pieces:
                if reply.stop_requested:
                    finish = FinishReason.STOPPED
                    break
                if options.max_tokens is not None and count >= options.max_tokens:
                    finish = FinishReason.LENGTH
                    break
                if self.delay:
                    time.sleep(self.delay)
                last = time.perf_counter()
                first = first or last
                count += 1
                if watcher is not None:
                    piece = watcher.feed(piece)
                yield piece
            if watcher is not None:
                held, reply.tool_calls = watcher.finish()
                yield held
            ended = True
        finally:
            if not ended:
                finish = FinishReason.STOPPED
            now = time.perf_counter()
            reply.finish(
                TurnStats(
                    prompt_tokens=reply.fit.prompt_tokens,
                    prompt_evaluated=reply.fit.prompt_tokens,
                    completion_tokens=count,
                    time_to_first_token=(first or now) - started,
                    decode_seconds=(last or now) - (first or now),
                    finish_reason=finish,
                    dropped_messages=reply.fit.dropped,
                    seed=options.seed or 0,
                )
            )

    def close(self) -> None:
        """Nothing to free; remembered, so tests can see the engine was let go."""
        self.closed = True
