"""Text from outside is shown as text: markup, click actions and escape sequences do nothing."""

from __future__ import annotations

import time
from pathlib import Path

from textual.content import Content
from textual.widgets import Input, OptionList

from chattui.conversation import Conversation, Message, ReplyInfo, Role
from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from chattui.tui.screens.dialogs import ConfirmScreen, TextScreen
from chattui.tui.widgets.messages import Reply
from tests.cli.terminal import Terminal
from tests.tui.conftest import AppFactory
from tests.tui.test_app import ready, until

CLICK = "[@click=app.quit]Quit[/]"
OSC52 = "\x1b]52;c;ZXZpbA==\x07"
"""Sets the terminal's clipboard, where a terminal obeys it."""
TITLE = f"{CLICK} [b]bold[/b] {OSC52}"
MODEL = f"[/INST] [@click=screen.export('~/.bashrc')] \x1b[31mred{OSC52}"


def hostile_import(home: Path) -> str:
    """A chat as `history import` would store it from someone else's file."""
    store = ConversationStore(resolve_paths({"CHATTUI_HOME": str(home)}).database)
    now = "2026-01-01T00:00:00+00:00"
    info = ReplyInfo(model_id=MODEL, finish_reason="stopped")
    cid = store.import_conversation(
        Conversation(
            id="x",
            title=TITLE,
            created_at=now,
            updated_at=now,
            model_id=MODEL,
            system_prompt=None,
            settings={},
            messages=(
                Message(Role.USER, f"hi {CLICK} {OSC52}", now),
                Message(Role.ASSISTANT, f"A reply [b]not bold[/b] {OSC52}", now, info),
            ),
        )
    )
    store.close()
    return cid


async def test_a_hostile_import_is_shown_literally(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    hostile_import(chattui_home)
    app = app_factory(continue_latest=True, model="scripted")
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        reply = chat.query_one(Reply)
        subtitle = Content.from_markup(reply.border_subtitle or "").plain  # what is drawn
        assert "[/INST] [@click=screen.export('~/.bashrc')] ␛[31mred␛]52" in subtitle
        await pilot.press("ctrl+b")
        chats = chat.query_one("#chats", OptionList)
        await until(pilot, lambda: chats.option_count == 1, "the saved chats")
        label = str(chats.get_option_at_index(0).prompt)
        assert label.startswith(f"{CLICK} [b]bold[/b] ␛]52;c;ZXZpbA==␇")
        chats.focus()
        chats.highlighted = 0
        for key, dialog in (("f2", TextScreen), ("f8", ConfirmScreen)):
            await pilot.press(key)
            await until(pilot, lambda d=dialog: isinstance(app.screen, d), key)  # type: ignore[misc]
            shown = "".join(str(w.render()) for w in app.screen.query("Label"))
            shown += "".join(field.value for field in app.screen.query(Input))
            assert CLICK in shown and "␛]52" in shown and "\x1b" not in shown
            await pilot.press("escape")
        await pilot.press("ctrl+b")
        for name in ("[llama3]", "[/INST]", CLICK):
            chat.slash_model(name)
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("'[llama3]'" in m for m in messages), messages
        assert any("[/INST]" in m for m in messages), messages
        assert any(CLICK in m for m in messages), messages
        assert app.is_running and app.unexpected == []


def test_a_hostile_import_in_a_real_terminal(chattui_home: Path) -> None:
    """What reaches the terminal: the escape sequences in the chat never do."""
    cid = hostile_import(chattui_home)
    term = Terminal(chattui_home, "-c", "-m", "smollm2")
    term.wait_for("ready")
    term.type("\x02")  # Ctrl+B: the saved chats, with the hostile title
    deadline = time.monotonic() + 30
    while not term.seen("bold") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert term.process.poll() is None  # no click action quit it
    assert term.end() == 129
    drawn = bytes(term.output)
    assert b"\x1b]52" not in drawn and b"\x1b[31mred" not in drawn
    assert "␛]52".encode() in drawn
    store = ConversationStore(resolve_paths().database)
    assert store.get(cid).title == TITLE  # shown safely, stored as it came
    store.close()
