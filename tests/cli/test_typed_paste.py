"""A paste that arrives as keystrokes (no bracketed paste) lands in the prompt whole and fast."""

from __future__ import annotations

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


def test_60_kb_typed_into_a_real_terminal_is_one_message(chattui_home: Path) -> None:
    catalog = resolve_paths().user_catalog
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text(TYPIST)
    lines = [f"Line {i}: the river flows to the sea. 河流流向大海。" for i in range(1200)]
    text = "\n".join(lines)
    assert len(text.encode()) > 60_000
    term = Terminal(chattui_home, "-m", "typist")
    term.wait_for("ready")
    term.type(text.replace("\n", "\r") + "\r")  # as a terminal types a paste: CR for each line
    store = ConversationStore(resolve_paths().database)
    deadline = time.monotonic() + 120
    while not replied(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert term.end() == 129
    (summary,) = store.recent()
    messages = store.get(summary.id).messages
    store.close()
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT]
    assert messages[0].content == text
