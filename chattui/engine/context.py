"""Fitting a conversation into the context window by dropping its oldest whole turns."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chattui.conversation import Message, Role
from chattui.engine.base import ContextFit
from chattui.errors import ContextOverflowError

TRIM_TARGET = 0.6
"""After trimming, the prompt uses at most this share of the room left for it, so the next
trims are many turns away (each trim re-evaluates the whole prompt)."""

DEFAULT_REPLY_BUDGET = 1024
"""Tokens reserved for the reply when no ``max_tokens`` is set (at most a quarter of n_ctx)."""


def reply_budget(n_ctx: int, max_tokens: int | None) -> int:
    """Tokens to keep free for the reply when planning the prompt."""
    return min(max_tokens or DEFAULT_REPLY_BUDGET, max(1, n_ctx // 4))


def fit_messages(
    messages: Sequence[Message],
    count: Callable[[Sequence[Message]], int],
    n_ctx: int,
    max_tokens: int | None,
) -> ContextFit:
    """Keep as much recent history as fits, always keeping the system prompt and last message.

    Args:
        messages: The conversation, ending with the new user message (or with a partial reply
            to continue after it).
        count: Counts the prompt tokens of a message list with the model's tokenizer.
        n_ctx: Context window in tokens.
        max_tokens: The reply's token limit, if any.

    Returns:
        The messages to send and what was dropped.

    Raises:
        ContextOverflowError: Even the system prompt and the last message alone do not fit.
    """
    budget = reply_budget(n_ctx, max_tokens)
    room = n_ctx - budget
    total = count(messages)
    if total <= room:
        return ContextFit(tuple(messages), 0, total, budget)

    head, body, starts = _cut_points(messages)

    def kept(start: int) -> list[Message]:
        return head + body[start:]

    minimal = count(kept(starts[-1]))
    if minimal > room:
        raise ContextOverflowError(
            f"the message needs {minimal:,} tokens but the context holds {n_ctx:,} with "
            f"{budget:,} kept for the reply; shorten it or raise the context size (--ctx)"
        )
    target = int(room * TRIM_TARGET)
    # Token counts fall as more turns are dropped: binary search for the first cut that fits.
    chosen = _first_fitting(starts, lambda s: count(kept(s)) <= target)
    if chosen is None:
        chosen = _first_fitting(starts, lambda s: count(kept(s)) <= room)
    start = chosen if chosen is not None else starts[-1]
    kept_messages = kept(start)
    return ContextFit(tuple(kept_messages), start, count(kept_messages), budget)


def next_trim(
    messages: Sequence[Message],
    count: Callable[[Sequence[Message]], int],
    n_ctx: int,
    max_tokens: int | None,
) -> int:
    """How many of the oldest messages will be left out when the context fills up.

    The same cut ``fit_messages`` will make, computed ahead so the user can see it coming.
    """
    if not messages:
        return 0
    head, body, starts = _cut_points(messages)
    target = int((n_ctx - reply_budget(n_ctx, max_tokens)) * TRIM_TARGET)
    chosen = _first_fitting(starts, lambda s: count(head + body[s:]) <= target)
    return chosen if chosen is not None else starts[-1]


def _cut_points(messages: Sequence[Message]) -> tuple[list[Message], list[Message], list[int]]:
    """Split off the system prompt and list where the kept history may start.

    A cut starts on a user turn, up to the newest user message (which always stays, with the
    reply being continued after it, if any).
    """
    head = list(messages[:1]) if messages and messages[0].role is Role.SYSTEM else []
    body = list(messages[len(head) :])
    users = [i for i, m in enumerate(body) if m.role is Role.USER]
    newest = users[-1] if users else len(body) - 1
    return head, body, sorted({*(i for i in users if 0 < i <= newest), newest})


def _first_fitting(starts: list[int], fits: Callable[[int], bool]) -> int | None:
    low, high = 0, len(starts)
    while low < high:
        mid = (low + high) // 2
        if fits(starts[mid]):
            high = mid
        else:
            low = mid + 1
    return starts[low] if low < len(starts) else None
