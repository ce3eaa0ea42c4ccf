"""Snapshots of each screen at a fixed size and theme (pytest-textual-snapshot)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import OptionList

from chattui.catalog import ModelSpec
from chattui.conversation import Conversation, Message, ReplyInfo, Role
from chattui.tui.screens.settings import SettingsScreen
from tests.tui.conftest import AppFactory
from tests.tui.test_app import ready, until

SIZE = (110, 32)


def saved_chat(app: Any) -> None:
    """Put a fixed conversation in the store, two hours old (so its age reads the same)."""
    then = datetime.now(UTC) - timedelta(hours=2, minutes=1)
    stamp = then.isoformat(timespec="microseconds")
    app.services.store.import_conversation(
        Conversation(
            id="",
            title="Python hello world",
            created_at=stamp,
            updated_at=stamp,
            model_id="scripted",
            messages=(
                Message(
                    Role.USER, "Write hello world in Python, with **markup** [b]in[/b] it.", stamp
                ),
                Message(
                    Role.ASSISTANT,
                    'Here it is:\n\n```python\nprint("Hello, world!")\n```\n\n- short\n- *simple*',
                    stamp,
                    ReplyInfo(model_id="scripted", finish_reason="stop"),
                ),
                Message(Role.USER, "Thanks!", stamp),
                Message(
                    Role.ASSISTANT,
                    "You're welcome",
                    stamp,
                    ReplyInfo(model_id="scripted", finish_reason="stopped"),
                ),
            ),
        )
    )


async def wait_ready(pilot: Pilot[None]) -> None:
    await ready(pilot)
    await pilot.pause()


def test_main_screen(snap_compare: Any, app_factory: AppFactory) -> None:
    app = app_factory(continue_latest=True)
    saved_chat(app)
    assert snap_compare(app, terminal_size=SIZE, run_before=wait_ready)


def test_settings_panel(snap_compare: Any, app_factory: AppFactory) -> None:
    app = app_factory()

    async def open_settings(pilot: Pilot[None]) -> None:
        await wait_ready(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen), "the panel")

    assert snap_compare(app, terminal_size=(110, 48), run_before=open_settings)


def test_sidebar_filtered(snap_compare: Any, app_factory: AppFactory) -> None:
    app = app_factory()
    saved_chat(app)

    async def search(pilot: Pilot[None]) -> None:
        await wait_ready(pilot)
        await pilot.click("#filter")
        await pilot.press(*"hello")
        options = pilot.app.screen.query_one("#chats", OptionList)
        await until(pilot, lambda: options.option_count == 1, "the filtered list")

    assert snap_compare(app, terminal_size=SIZE, run_before=search)


def test_no_model_screen(snap_compare: Any, app_factory: AppFactory, tmp_path: Path) -> None:
    app = app_factory(specs=[ModelSpec(id="absent", name="Absent", file="absent.gguf")])

    async def settle(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: pilot.app.screen.query("#no-model"), "the notice")

    assert snap_compare(app, terminal_size=SIZE, run_before=settle)
