"""A closed terminal ends the app at any moment, and every reply is saved first."""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path

from chattui.conversation import Message, Role
from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from tests.cli.terminal import Terminal

SEED = 19
"""The random moments are drawn from this seed, so a failure can be replayed."""


def fresh_home(template: Path, folder: Path) -> Path:
    """A new CHATTUI_HOME holding the template's probe verdict."""
    probes = resolve_paths({"CHATTUI_HOME": str(template)}).probe_dir
    shutil.copytree(probes, resolve_paths({"CHATTUI_HOME": str(folder)}).probe_dir)
    return folder


def long_chat(home: Path, messages: int = 400) -> None:
    store = ConversationStore(resolve_paths({"CHATTUI_HOME": str(home)}).database)
    cid = store.create(title="a long chat", model_id="smollm2-135m", system_prompt=None)
    for i in range(messages // 2):
        store.add_message(cid, Message(Role.USER, f"Question {i} about rivers and lakes?"))
        store.add_message(cid, Message(Role.ASSISTANT, f"Answer {i}: " + "water flows. " * 20))
    store.close()


def unsaved_replies(home: Path) -> list[str]:
    """Replies still marked in progress (none may be, once the app is gone)."""
    database = resolve_paths({"CHATTUI_HOME": str(home)}).database
    if not database.exists():
        return []
    store = ConversationStore(database)
    try:
        return [
            f"{summary.id}: {message.content[:40]!r}"
            for summary in store.recent(limit=100)
            for message in store.get(summary.id).messages
            if message.role is Role.ASSISTANT and message.info and not message.info.finish_reason
        ]
    finally:
        store.close()


def test_closing_the_terminal_at_random_moments_leaves_no_process(
    chattui_home: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    moments = ["loading", "idle", "streaming", "opening a long chat"] * 5
    rng.shuffle(moments)
    codes: list[tuple[str, int]] = []
    for index, moment in enumerate(moments):
        home = fresh_home(chattui_home, tmp_path / f"run{index}")
        if moment == "opening a long chat":
            long_chat(home)
        term = Terminal(home, *(["-c"] if moment == "opening a long chat" else []))
        if moment == "loading":
            time.sleep(rng.uniform(0.0, 1.5))
        elif moment == "idle":
            term.wait_for("ready")
            time.sleep(rng.uniform(0.0, 0.5))
        elif moment == "streaming":
            term.wait_for("ready")
            term.type("Write a long essay about the rivers of China.\r")
            term.wait_for("generating")
            time.sleep(rng.uniform(0.0, 2.0))
        else:
            time.sleep(rng.uniform(0.2, 2.0))
        codes.append((moment, term.end()))
        print(moment, codes[-1][1])
        assert unsaved_replies(home) == [], moment
    # Gone by itself every time (-9: it had to be killed); a SIGHUP before chattui's handlers
    # are in place (Python still starting) ends it the default way.
    assert all(code in (128 + signal.SIGHUP, -signal.SIGHUP) for _, code in codes), codes
    assert sum(1 for moment, _ in codes if moment == "streaming") == 5


def test_the_reply_streaming_when_the_terminal_closes_is_saved(
    chattui_home: Path,
) -> None:
    term = Terminal(chattui_home)
    term.wait_for("ready")
    term.type("Write a long essay about the rivers of China.\r")
    term.wait_for("generating")
    time.sleep(1.0)  # some text written: it must all be kept
    assert term.end() == 128 + signal.SIGHUP
    store = ConversationStore(resolve_paths().database)
    (summary,) = store.recent()
    user, reply = store.get(summary.id).messages
    store.close()
    assert user.content == "Write a long essay about the rivers of China."
    assert reply.info is not None and reply.info.finish_reason in ("stopped", "stop", "length")


def test_closing_the_terminal_as_the_app_starts_ends_it_as_a_hangup(
    chattui_home: Path, tmp_path: Path
) -> None:
    # Closed while Textual's driver takes the terminal (the first bytes it writes), and just
    # after: the app ends as a hangup (129), never with an error from a broken lock (1).
    codes: list[int] = []
    for index, pause in enumerate((0.0, 0.0, 0.02, 0.05, 0.1, 0.2)):
        home = fresh_home(chattui_home, tmp_path / f"start{index}")
        term = Terminal(home)
        deadline = time.monotonic() + 60
        while not term.output and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(pause)
        codes.append(term.end())
    assert all(code in (128 + signal.SIGHUP, -signal.SIGHUP) for code in codes), codes
