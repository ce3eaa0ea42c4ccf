"""Branches in the app: versions of a message, switching, fork, delete, two writers, 80x24."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Input, OptionList

from chattui.conversation import Role
from chattui.text_width import cells
from chattui.tui.app import ChatApp
from chattui.tui.screens.chat import ChatScreen
from chattui.tui.screens.dialogs import ConfirmScreen
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.sidebar import Sidebar
from chattui.tui.widgets.status import StatusBar
from chattui.tui.widgets.transcript import Transcript
from tests.cli.conftest import run
from tests.remote.servers import FaultServer, write_endpoints
from tests.tui.conftest import AppFactory
from tests.tui.test_app import finished, notified, ready, send, stored, until


def the_store(app: ChatApp):  # type: ignore[no-untyped-def]
    store = app.services.store
    assert store is not None
    return store


def cid_of(chat: ChatScreen) -> str:
    assert chat.host.session is not None and chat.host.session.cid is not None
    return chat.host.session.cid


def shown(chat: ChatScreen) -> list[str]:
    """The texts of the branch in view, mounted or not."""
    return [item.text for item in chat.query_one(Transcript).items()]


def branches(chat: ChatScreen) -> list[str]:
    return [item.branch for item in chat.query_one(Transcript).items()]


async def test_regenerate_keeps_the_old_reply_and_the_keys_switch_versions(
    app_factory: AppFactory,
) -> None:
    app = app_factory(replies=["first answer", "second answer", "third answer"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "question")
        await pilot.press("ctrl+r")
        await finished(pilot)
        assert shown(chat) == ["question", "second answer"]
        assert branches(chat) == ["", "‹ 2/2 ›"]
        assert chat.query_one(StatusBar).branch == "‹ 2/2 ›"
        store, cid = the_store(app), cid_of(chat)
        assert sorted(m.content for m in store.tree(cid)) == [
            "first answer",
            "question",
            "second answer",
        ]
        await pilot.press("alt+left")
        await until(pilot, lambda: shown(chat) == ["question", "first answer"], "version 1")
        assert branches(chat) == ["", "‹ 1/2 ›"]
        assert [m.content for m in stored(app)] == ["question", "first answer"]  # saved
        await pilot.press("alt+left")
        assert notified(app, "first version")
        await send(pilot, "a follow-up on the first")  # continues the branch in view
        assert [m.content for m in stored(app)] == [
            "question",
            "first answer",
            "a follow-up on the first",
            "third answer",
        ]
        await pilot.press("alt+right")
        await until(pilot, lambda: shown(chat) == ["question", "second answer"], "version 2")
        await pilot.press("alt+left")  # back: the newest branch under the first answer
        await until(pilot, lambda: len(shown(chat)) == 4, "the first answer's branch")


async def test_edit_adds_a_version_of_the_question(app_factory: AppFactory) -> None:
    app = app_factory(replies=["answer one", "answer two"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "first wording")
        await pilot.press("ctrl+g")
        chat.query_one(PromptInput).load_text("second wording")
        await pilot.press("enter")
        await finished(pilot)
        assert shown(chat) == ["second wording", "answer two"]
        assert branches(chat) == ["‹ 2/2 ›", ""]
        await pilot.press("alt+left")
        await until(pilot, lambda: shown(chat) == ["first wording", "answer one"], "the old")
        assert len(the_store(app).tree(cid_of(chat))) == 4


async def test_continue_keeps_the_stopped_version(app_factory: AppFactory) -> None:
    full = " ".join(f"w{i}" for i in range(300))
    app = app_factory(replies=[full], delay=0.005)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        prompt = chat.query_one(PromptInput)
        prompt.load_text("go")
        await pilot.press("enter")
        await until(pilot, lambda: len(chat.host.stream.turn.text.split()) > 10, "some words")  # type: ignore[union-attr]
        await pilot.press("escape")
        await finished(pilot)
        stopped = stored(app)[1].content
        await pilot.press("ctrl+t")
        await finished(pilot)
        assert stored(app)[1].content == full
        tree = the_store(app).tree(cid_of(chat))
        assert [m.content for m in tree] == ["go", stopped, full]
        assert branches(chat) == ["", "‹ 2/2 ›"]


async def test_fork_copies_the_branch_in_view_into_a_new_chat(app_factory: AppFactory) -> None:
    app = app_factory(replies=["one", "two", "three"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "question")
        await pilot.press("ctrl+r")
        await finished(pilot)
        await pilot.press("alt+left")
        await until(pilot, lambda: shown(chat) == ["question", "one"], "version 1")
        original = cid_of(chat)
        await pilot.press("f5")
        await until(pilot, lambda: cid_of(chat) != original, "the fork")
        assert shown(chat) == ["question", "one"] and branches(chat) == ["", ""]
        await send(pilot, "more")
        store = the_store(app)
        assert [m.content for m in store.get(cid_of(chat)).messages][-2:] == ["more", "three"]
        assert len(store.tree(original)) == 3  # the original is untouched
        assert notified(app, "Forked")


async def test_delete_a_branch_asks_first(app_factory: AppFactory) -> None:
    app = app_factory(replies=["keep me", "delete me"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "question")
        await pilot.press("ctrl+r")
        await finished(pilot)
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen), [n.message for n in app._notifications]
        await pilot.press("n")
        assert len(the_store(app).tree(cid_of(chat))) == 3
        await pilot.press("f9")
        await pilot.press("y")
        await until(pilot, lambda: shown(chat) == ["question", "keep me"], "the other version")
        assert [m.content for m in the_store(app).tree(cid_of(chat))] == ["question", "keep me"]
        assert branches(chat) == ["", ""]


async def test_a_search_hit_in_another_branch_opens_that_branch(app_factory: AppFactory) -> None:
    app = app_factory(replies=["about walruses", "about penguins"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "animals?")
        await pilot.press("ctrl+r")
        await finished(pilot)
        assert shown(chat) == ["animals?", "about penguins"]
        await pilot.press("ctrl+n")
        chat.query_one("#filter", Input).value = "walruses"
        options = chat.query_one("#chats", OptionList)
        sidebar = chat.query_one(Sidebar)
        await until(
            pilot,
            lambda: [e.message_id is not None for e in sidebar._entries.values()] == [True],
            "the hit",
        )
        options.highlighted = 0
        options.action_select()
        await until(pilot, lambda: shown(chat) == ["animals?", "about walruses"], "its branch")
        hit = chat.query_one(Transcript).messages()[0]
        assert hit.has_class("hit") and hit.branch == "‹ 1/2 ›"
        assert [m.content for m in stored(app)] == ["animals?", "about walruses"]


async def test_ask_writes_to_the_open_chat_then_the_app_regenerates_and_edits(
    app_factory: AppFactory, scripted_models: Path
) -> None:
    """Two processes on one chat: every message either wrote stays, and the app shows both."""
    app = app_factory(model="echo")
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "from the app")
        cid = cid_of(chat)
        result = await asyncio.to_thread(run, "ask", "-m", "echo", "--cid", cid, "from ask")
        assert result.code == 0, result.stderr
        await pilot.press("ctrl+r")  # the app regenerates its own reply
        await finished(pilot)
        assert notified(app, "Another chattui added 2 messages")
        await pilot.press("ctrl+g")
        chat.query_one(PromptInput).load_text("edited in the app")
        await pilot.press("enter")
        await finished(pilot)
        tree = the_store(app).tree(cid)
        contents = [m.content for m in tree]
        hello = "Hello **there**."  # what the app's scripted engine answers
        assert contents.count("from the app") == 1
        assert contents.count(hello) == 3  # its reply, the regenerated one, the edit's
        assert contents.count("from ask") == 2  # ask's question and its echo
        assert contents.count("edited in the app") == 1 and len(contents) == 7
        assert shown(chat) == ["edited in the app", hello]
        await pilot.press("alt+left")  # the first version of the question
        await until(pilot, lambda: shown(chat)[0] == "from the app", "the first question")
        assert shown(chat) == ["from the app", hello]
        assert branches(chat) == ["‹ 1/2 ›", "‹ 2/2 ›"]
        await pilot.press("alt+left")  # the first reply, and ask's turn after it
        await until(pilot, lambda: "from ask" in shown(chat), "ask's turn")
        assert shown(chat) == ["from the app", hello, "from ask", "from ask"]


async def test_a_failed_regenerate_leaves_the_reply_in_place_and_selected(
    fault: FaultServer, chattui_home: Path, app_factory: AppFactory
) -> None:
    write_endpoints(chattui_home, f'id = "f"\nbase_url = "{fault.url("down-after-first")}"')
    app = app_factory(model="f/fault-model", real=True)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "Hello")
        assert shown(chat) == ["Hello", "Hello, world"]
        await pilot.press("ctrl+r")  # the server is down now: the connection drops
        await finished(pilot)
        assert any(n.title == "Reply failed" for n in app._notifications)
        await until(pilot, lambda: shown(chat) == ["Hello", "Hello, world"], "the reply again")
        assert branches(chat) == ["", ""]
        saved = stored(app)
        assert [m.content for m in saved] == ["Hello", "Hello, world"]
        assert len(the_store(app).tree(cid_of(chat))) == 2


async def test_80_by_24_hides_the_sidebar_and_keeps_the_status(app_factory: AppFactory) -> None:
    app = app_factory(replies=["one two three four five", "six seven eight nine ten"])
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await ready(pilot)
        sidebar = chat.query_one(Sidebar)
        assert not sidebar.display
        await send(pilot, "question")
        await pilot.press("ctrl+r")
        await finished(pilot)
        status = chat.query_one(StatusBar)
        line = str(status.render())
        assert line.startswith("Scripted  ·  ‹ 2/2 ›  ·  ready  ·  ")
        assert "tok/s" in line and "ctx " in line
        status.model = "Qwen2.5-Coder-32B-Instruct-abliterated-GGUF-Q4_K_M (via my endpoint)"
        status.dropped = 12
        await pilot.pause()
        line = str(status.render())
        assert cells(line) <= status.content_size.width
        assert line.startswith("Qwen2.5") and "…" in line  # the name is shortened first
        assert "‹ 2/2 ›" in line and "tok/s" in line and "ctx " in line
        transcript = chat.query_one(Transcript)
        width = transcript.size.width
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert sidebar.display and transcript.size.width == width  # over the chat
        assert [m.role for m in stored(app)] == [Role.USER, Role.ASSISTANT]
