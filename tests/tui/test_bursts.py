"""Keystrokes that arrive together become one paste; a person's keys stay keys."""

from __future__ import annotations

from textual import events
from textual.message import Message

from chattui.tui.bursts import CONTINUE, IDLE, Bursts


def key(character: str) -> events.Key:
    names = {"\r": "enter", "\t": "tab", " ": "space"}
    return events.Key(names.get(character, character), None if character == "\r" else character)


def keys(text: str) -> list[Message]:
    return [key(c) for c in text]


def described(posted: list[Message]) -> list[str]:
    return [m.text if isinstance(m, events.Paste) else m.key for m in posted]  # type: ignore[attr-defined]


def test_a_read_full_of_keys_is_a_paste_and_its_last_enter_waits() -> None:
    posted: list[Message] = []
    bursts = Bursts(posted.append)
    bursts.read(keys("line one\rline two 第二行\r"))
    assert described(posted) == ["line one\nline two 第二行"]
    assert bursts.wait() == CONTINUE  # the Enter waits to see whether text follows
    bursts.read(keys("three\r"))  # the next piece of the paste: the Enter was a line break
    assert described(posted)[1:] == ["\nthree"]
    bursts.idle()  # nothing more came: the last Enter is pressed (the message is sent)
    assert described(posted)[2:] == ["enter"]
    assert bursts.wait() == IDLE


def test_keys_typed_one_read_at_a_time_stay_keys() -> None:
    posted: list[Message] = []
    bursts = Bursts(posted.append)
    for character in "hi\r":
        bursts.read([key(character)])
    assert described(posted) == ["h", "i", "enter"]


def test_other_events_end_a_paste_and_keep_their_place() -> None:
    posted: list[Message] = []
    bursts = Bursts(posted.append)
    ctrl = events.Key("ctrl+r", None)
    bursts.read([*keys("ab\r"), ctrl, *keys("c")])
    assert described(posted) == ["ab", "enter", "ctrl+r", "c"]


def test_send_keys_text_then_enter_in_one_write_sends() -> None:
    posted: list[Message] = []
    bursts = Bursts(posted.append)
    bursts.read(keys("hello\r"))
    bursts.idle()
    assert described(posted) == ["hello", "enter"]
