"""The chat app on the real engine (SmolLM2 via llama.cpp), and `chattui` on a real terminal."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import Input, OptionList

from chattui.config import Config
from chattui.engine.llama import LlamaEngine
from chattui.sampling import Sampling
from chattui.store import ConversationStore
from chattui.tui.screens.settings import SettingsScreen
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.transcript import Transcript
from tests.tui.conftest import AppFactory
from tests.tui.test_app import (
    finished,
    notified,
    ready,
    send,
    send_and_stop,
    stored,
    streamed,
    until,
)


async def test_full_conversation_on_real_engine(app_factory: AppFactory) -> None:
    # Every reply runs to max_tokens: the first (4,000 tokens) is long enough to be stopped
    # whatever the machine's speed, the settings panel then makes the next ones short.
    endless = Sampling(temperature=0.0, max_tokens=4000, ignore_eos=True)
    app = app_factory(real=True, config=Config(sampling=endless))
    async with app.run_test(size=(100, 40)) as pilot:
        chat = await ready(pilot)
        assert chat.host.engine is not None and chat.host.engine.model_id == "smollm2-135m"
        await send_and_stop(
            pilot,
            "Write the numbers from 1 to 300 separated by commas.",
            lambda text: len(text) > 30,
        )
        partial = stored(app)[1]
        assert partial.info is not None and partial.info.finish_reason == "stopped"
        assert len(partial.content) >= 30 and (partial.info.completion_tokens or 0) < 4000
        assert chat.query_one(Transcript).replies()[-1].text == partial.content

        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings panel")
        app.screen.query_one("#max_tokens", Input).value = "60"
        assert isinstance(app.screen, SettingsScreen)
        app.screen.action_apply()
        session = chat.host.session
        assert session is not None
        await until(pilot, lambda: session.options.max_tokens == 60, "the new settings")

        await pilot.press("ctrl+t")  # continue the stopped reply
        await finished(pilot)
        continued = stored(app)
        assert len(continued) == 2 and continued[1].content.startswith(partial.content)
        assert len(continued[1].content) > len(partial.content)
        assert continued[1].info is not None and continued[1].info.finish_reason == "length"

        await pilot.press("ctrl+r")
        await finished(pilot)
        regenerated = stored(app)
        assert len(regenerated) == 2 and regenerated[1].info is not None
        assert regenerated[1].info.finish_reason == "length"
        assert regenerated[1].info.completion_tokens == 60
        assert regenerated[1].info.model_file == "SmolLM2-135M-Instruct.Q4_1.gguf"

        await send(pilot, "What is the capital city of France? Answer in one word.")
        assert len(stored(app)) == 4 and stored(app)[3].content.strip()

        await pilot.press("ctrl+n")
        assert chat.query_one(Transcript).users() == []
        options = chat.query_one("#chats", OptionList)
        options.highlighted = 0
        options.action_select()
        await until(pilot, lambda: chat.query_one(Transcript).users(), "the chat to open")
        users = [u.text for u in chat.query_one(Transcript).users()]
        assert users[0].startswith("Write the numbers") and len(users) == 2
        await send_and_stop(pilot, "Thanks!", lambda text: len(text) > 0)  # 4,000 tokens again
        assert len(stored(app)) == 6  # continued the reopened chat, same conversation


def reply_finished(home: Path) -> bool:
    """Whether the database holds a finished reply (read without disturbing the app)."""
    db = home / "data" / "chattui.db"
    if not db.exists():
        return False
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
        row = connection.execute(
            "SELECT info FROM messages WHERE role = 'assistant' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return row is not None and json.loads(row[0]).get("finish_reason") is not None


def test_chattui_opens_the_tui_on_a_terminal(chattui_home: Path) -> None:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    process = subprocess.Popen(
        [sys.executable, "-m", "chattui"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    screen = b""

    def read_until(marker: bytes, timeout: float = 60) -> None:
        nonlocal screen
        deadline = time.monotonic() + timeout
        while marker not in screen:
            assert time.monotonic() < deadline, f"no {marker!r} on screen"
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                screen += os.read(master, 65536)

    try:
        read_until(b"ready")
        screen = b""
        os.write(master, b"Say hi.\r")
        deadline = time.monotonic() + 120
        while not reply_finished(chattui_home):  # the app's own record of the reply
            assert time.monotonic() < deadline, "the reply never finished"
            if select.select([master], [], [], 0.05)[0]:
                os.read(master, 65536)  # keep the terminal drained
        os.write(master, b"\x11")  # ctrl+q
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        os.close(master)
    store = ConversationStore(chattui_home / "data" / "chattui.db")
    (summary,) = store.recent()
    assert summary.title == "Say hi." and summary.message_count == 2


async def test_sigterm_mid_reply_stops_saves_and_frees_the_model(app_factory: AppFactory) -> None:
    endless = Sampling(temperature=0.0, max_tokens=4000, ignore_eos=True)
    app = app_factory(real=True, config=Config(sampling=endless))
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        engine = chat.host.engine
        chat.query_one(PromptInput).load_text("Write a long story.")
        await pilot.press("enter")
        await until(pilot, lambda: streamed(chat), "the reply")
        os.kill(os.getpid(), signal.SIGTERM)  # the app's handler, not the default, gets it
        await until(pilot, lambda: app._exit, "the app to quit")
    assert app.terminated_by == signal.SIGTERM
    reply = stored(app)[1]
    assert reply.info is not None and reply.info.finish_reason == "stopped" and reply.content
    assert chat.host.engine is None and getattr(engine, "_llm", True) is None  # freed


def test_sigterm_restores_the_terminal(chattui_home: Path) -> None:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    process = subprocess.Popen(
        [sys.executable, "-m", "chattui"], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    screen = b""
    try:
        deadline = time.monotonic() + 60
        while b"ready" not in screen:
            assert time.monotonic() < deadline, "the app never showed 'ready'"
            if select.select([master], [], [], 0.5)[0]:
                screen += os.read(master, 65536)
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(OSError):  # EIO once the app has closed the terminal
            while select.select([master], [], [], 30)[0] and (chunk := os.read(master, 65536)):
                screen += chunk
        assert process.wait(timeout=30) == 143
    finally:
        process.kill()
        os.close(master)
    assert screen.rfind(b"\x1b[?1049l") > screen.rfind(b"\x1b[?1049h") >= 0  # main screen back
    assert screen.rfind(b"\x1b[?25h") > screen.rfind(b"\x1b[?25l")  # cursor shown


async def test_verbose_sends_llama_log_to_the_log_file(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    app = app_factory(real=True, verbose=True)
    async with app.run_test() as pilot:
        await ready(pilot)
        log = chattui_home / "cache" / "chattui.log"
        assert notified(app, str(log))
        assert "llama" in log.read_text()  # llama.cpp's own log, not on the screen


async def test_reopening_a_chat_restores_its_kv_snapshot(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    long = Config(sampling=Sampling(temperature=0.0, max_tokens=300, ignore_eos=True))
    first = app_factory(real=True, config=long)
    kv = chattui_home / "cache" / "kv"
    async with first.run_test() as pilot:
        await ready(pilot)
        await send(pilot, "Write a long story.")
        await until(pilot, lambda: list(kv.glob("*.kv")), "the snapshot")  # written after
    again = app_factory(real=True, continue_latest=True)
    async with again.run_test() as pilot:
        chat = await ready(pilot)
        engine = chat.host.engine
        assert isinstance(engine, LlamaEngine)
        # The chat's KV state is back (read in a worker: opening a chat never waits for it).
        await until(pilot, lambda: engine._llm.n_tokens > 300, "the KV snapshot")
