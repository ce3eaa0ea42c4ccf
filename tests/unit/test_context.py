from __future__ import annotations

import pytest

from chattui.conversation import Message, Role
from chattui.engine.context import fit_messages, next_trim, reply_budget
from chattui.engine.scripted import ScriptedEngine
from chattui.errors import ContextOverflowError

S, U, A = Role.SYSTEM, Role.USER, Role.ASSISTANT


def chat(turns: int, words: int = 10) -> list[Message]:
    messages = [Message(S, "be kind")]
    for i in range(turns):
        messages += [Message(U, f"q{i} " + "w " * words), Message(A, f"a{i} " + "w " * words)]
    return [*messages, Message(U, "last question")]


def test_fits_untouched() -> None:
    count = ScriptedEngine([]).count_tokens
    messages = chat(3)
    fit = fit_messages(messages, count, 4096, None)
    assert fit.messages == tuple(messages) and fit.dropped == 0
    assert fit.prompt_tokens == count(messages)


def test_drops_oldest_whole_turns_well_below_limit() -> None:
    count = ScriptedEngine([]).count_tokens
    messages = chat(40)
    n_ctx = 1024
    fit = fit_messages(messages, count, n_ctx, 100)
    kept = list(fit.messages)
    assert kept[0] == messages[0] and kept[-1] == messages[-1]
    assert kept[1].role is U  # starts on a whole turn
    assert kept[1:] == messages[len(messages) - len(kept) + 1 :]
    assert fit.dropped == len(messages) - len(kept)
    assert fit.prompt_tokens <= (n_ctx - 100) * 0.6
    assert fit.prompt_tokens == count(kept)


def test_without_system_prompt() -> None:
    count = ScriptedEngine([]).count_tokens
    messages = chat(40)[1:]
    fit = fit_messages(messages, count, 512, 64)
    assert fit.messages[0].role is U and fit.messages[-1] == messages[-1]


def test_single_message_too_long() -> None:
    count = ScriptedEngine([]).count_tokens
    messages = [Message(S, "sys"), Message(U, "word " * 5000)]
    with pytest.raises(
        ContextOverflowError, match=r"needs 5,010 tokens but the context holds 1,024 with 256 kept"
    ):
        fit_messages(messages, count, 1024, None)


def test_reply_budget() -> None:
    assert reply_budget(8192, None) == 1024
    assert reply_budget(1024, None) == 256
    assert reply_budget(8192, 50) == 50


def test_next_trim_predicts_the_cut() -> None:
    count = ScriptedEngine([]).count_tokens
    messages = chat(40)[:-1]  # a conversation between turns
    ahead = next_trim(messages, count, 1024, 100)
    assert ahead > 0 and messages[1 + ahead].role is U  # counted after the system prompt
    grown = [*messages, Message(U, "and one more question " * 30)]
    fit = fit_messages(grown, count, 1024, 100)
    assert fit.dropped >= ahead  # the prediction is the cut, or the new message needs more
    assert next_trim(chat(1)[:-1], count, 8192, None) == 0


def test_continuing_a_partial_reply_keeps_its_question() -> None:
    count = ScriptedEngine([]).count_tokens
    messages = [*chat(40), Message(A, "partial " * 10)]
    fit = fit_messages(messages, count, 1024, 100)
    assert fit.messages[-2:] == tuple(messages[-2:])
    assert fit.messages[1].role is U
