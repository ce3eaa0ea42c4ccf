"""Keystrokes from a real terminal: a paste typed as keys is one message; stray bytes are text."""

from __future__ import annotations

import os
import time
from pathlib import Path

from chattui.conversation import Role
from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from tests.cli.terminal import Terminal

TYPIST = """
[[models]]
id = "typist"
name = "Typist"
engine = "scripted"
n_ctx = 100000
replies = ["Got it."]
"""


def replied(store: ConversationStore) -> bool:
    """Whether the newest chat holds a finished reply."""
    recent = store.recent()
    if not recent:
        return False
    messages = store.get(recent[0].id).messages
    last = messages[-1] if messages else None
    return (
        last is not None
        and last.role is Role.ASSISTANT
        and bool(last.info and last.info.finish_reason)
    )


def typist(home: Path) -> Terminal:
    """The app on the scripted "typist" model in a real terminal, ready for keys."""
    catalog = resolve_paths().user_catalog
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text(TYPIST)
    term = Terminal(home, "-m", "typist")
    term.wait_for("ready")
    return term


def wait_for_reply(store: ConversationStore) -> None:
    """Wait (at most two minutes) until the newest chat holds a finished reply."""
    deadline = time.monotonic() + 120
    while not replied(store) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_60_kb_typed_into_a_real_terminal_is_one_message(chattui_home: Path) -> None:
    lines = [f"Line {i}: the river flows to the sea. 河流流向大海。" for i in range(1200)]
    text = "\n".join(lines)
    assert len(text.encode()) > 60_000
    term = typist(chattui_home)
    term.type(text.replace("\n", "\r") + "\r")  # as a terminal types a paste: CR for each line
    store = ConversationStore(resolve_paths().database)
    wait_for_reply(store)
    assert term.end() == 129
    (summary,) = store.recent()
    messages = store.get(summary.id).messages
    store.close()
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT]
    assert messages[0].content == text


def test_bytes_that_are_not_utf8_are_typed_as_replacement_characters(chattui_home: Path) -> None:
    # A terminal set to Latin-1 sends é as one byte; the app used to lose its keyboard and end.
    term = typist(chattui_home)
    os.write(term.master, b"caf\xe9 \xff\xfe ")
    term.type("ok\r")
    store = ConversationStore(resolve_paths().database)
    wait_for_reply(store)
    assert term.process.poll() is None
    assert term.end() == 129
    (summary,) = store.recent()
    messages = store.get(summary.id).messages
    store.close()
    assert [m.content for m in messages] == ["caf\ufffd \ufffd\ufffd ok", "Got it."]
