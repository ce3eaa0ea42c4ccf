from __future__ import annotations

import threading

from chattui.conversation import Message, Role
from chattui.engine.base import FinishReason
from chattui.engine.scripted import ScriptedEngine, split_tokens
from chattui.sampling import GenerationOptions


def test_split_tokens_round_trip() -> None:
    text = "  hello  world\n\nbye "
    assert "".join(split_tokens(text)) == text


def test_replies_in_turn_and_stats() -> None:
    engine = ScriptedEngine(["one two three", "four"])
    messages = [Message(Role.USER, "hi")]
    first = engine.stream(messages, GenerationOptions())
    assert "".join(first) == "one two three"
    assert first.stats.completion_tokens == 3 and first.stats.finish_reason is FinishReason.STOP
    assert "".join(engine.stream(messages, GenerationOptions())) == "four"


def test_echo_when_no_replies() -> None:
    engine = ScriptedEngine([])
    assert "".join(engine.stream([Message(Role.USER, "say this")], GenerationOptions())) == (
        "say this"
    )


def test_stop_and_max_tokens() -> None:
    engine = ScriptedEngine(["a b c d e f"])
    reply = engine.stream([Message(Role.USER, "x")], GenerationOptions())
    pieces = []
    for piece in reply:
        pieces.append(piece)
        if len(pieces) == 2:
            reply.stop()
    assert len(pieces) == 2 and reply.stats.finish_reason is FinishReason.STOPPED
    limited = engine.stream([Message(Role.USER, "x")], GenerationOptions(max_tokens=3))
    assert "".join(limited) == "a b c" and limited.stats.finish_reason is FinishReason.LENGTH


def test_stop_from_another_thread() -> None:
    engine = ScriptedEngine(["w "], delay=0.001)
    endless = GenerationOptions(max_tokens=10**9, ignore_eos=True)  # only a stop ends it
    reply = engine.stream([Message(Role.USER, "x")], endless)
    streaming = threading.Event()

    def stop_once_streaming() -> None:
        streaming.wait()
        reply.stop()

    stopper = threading.Thread(target=stop_once_streaming)
    stopper.start()
    pieces = []
    for piece in reply:
        pieces.append(piece)
        streaming.set()
    stopper.join()
    assert reply.stats.finish_reason is FinishReason.STOPPED
    assert pieces and reply.text == "".join(pieces) and set(reply.text.split()) == {"w"}


def test_ignore_eos_repeats_the_script_up_to_max_tokens() -> None:
    engine = ScriptedEngine(["a b"])
    reply = engine.stream(
        [Message(Role.USER, "x")], GenerationOptions(max_tokens=5, ignore_eos=True)
    )
    assert "".join(reply) == "a ba ba" and reply.stats.finish_reason is FinishReason.LENGTH
