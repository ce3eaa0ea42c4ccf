"""Pilot tests of the chat app: what the transcript and the store hold after each action."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from textual.widgets._markdown import MarkdownParagraph

from chattui.catalog import ModelSpec
from chattui.conversation import Message, Role
from chattui.tui.app import ChatApp
from chattui.tui.screens.chat import ChatScreen
from chattui.tui.screens.dialogs import ConfirmScreen, TextScreen
from chattui.tui.screens.settings import SettingsScreen
from chattui.tui.widgets.messages import Notice, Reply, UserMessage
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.sidebar import Sidebar
from chattui.tui.widgets.status import State, StatusBar
from chattui.tui.widgets.transcript import Transcript
from tests.tui.conftest import AppFactory

WAIT_LIMIT = 120.0
"""Seconds a test waits for the app to reach a state before failing (a loaded machine is slow)."""


def screen(app: ChatApp) -> ChatScreen:
    assert isinstance(app.screen, ChatScreen)
    return app.screen


async def until(pilot: Pilot[None], condition: Callable[[], object], what: str) -> None:
    """Let the app run until ``condition()`` holds (checked between its steps)."""
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_LIMIT} s for {what}")
        # Not pilot.pause: it waits for the screen to settle, which a streaming reply never does.
        await asyncio.sleep(0.01)


async def ready(pilot: Pilot[None]) -> ChatScreen:
    chat = screen(pilot.app)  # type: ignore[arg-type]
    await until(pilot, lambda: chat.query_one(StatusBar).state is State.READY, "the model")
    return chat


async def send(pilot: Pilot[None], text: str) -> None:
    chat = screen(pilot.app)  # type: ignore[arg-type]
    prompt = chat.query_one(PromptInput)
    prompt.focus()
    prompt.load_text(text)
    await pilot.press("enter")
    await finished(pilot)


async def finished(pilot: Pilot[None]) -> None:
    chat = screen(pilot.app)  # type: ignore[arg-type]
    await pilot.pause()
    await until(pilot, lambda: not chat.host.busy and chat.view.stream is None, "the reply to end")


async def send_and_stop(
    pilot: Pilot[None], text: str, enough: Callable[[str], bool], key: str = "escape"
) -> None:
    """Send ``text``, press ``key`` once the streamed reply satisfies ``enough``, await the end."""
    chat = screen(pilot.app)  # type: ignore[arg-type]
    chat.query_one(PromptInput).load_text(text)
    await pilot.press("enter")
    await until(pilot, lambda: enough(streamed(chat)), "enough of the reply")
    await pilot.press(key)
    await finished(pilot)


def streamed(chat: ChatScreen) -> str:
    """The text of the reply in flight so far ("" before the engine has started it)."""
    stream = chat.host.stream
    turn = stream.turn if stream is not None else None
    return turn.text if turn is not None else ""


def notified(app: ChatApp, text: str) -> bool:
    """Whether a notification containing ``text`` is showing."""
    return any(text in n.message for n in app._notifications)


def stored(app: ChatApp) -> list[Message]:
    store = app.services.store
    assert store is not None
    latest = store.latest_id()
    return list(store.get(latest).messages) if latest else []


async def test_send_streams_reply_and_saves(app_factory: AppFactory) -> None:
    app = app_factory(replies=["Hello **there**, friend."])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "Hi!")
        transcript = chat.query_one(Transcript)
        assert [u.text for u in transcript.users()] == ["Hi!"]
        assert [r.text for r in transcript.replies()] == ["Hello **there**, friend."]
        messages = stored(app)
        assert [(m.role, m.content) for m in messages] == [
            (Role.USER, "Hi!"),
            (Role.ASSISTANT, "Hello **there**, friend."),
        ]
        assert messages[1].info is not None and messages[1].info.finish_reason == "stop"
        status = chat.query_one(StatusBar)
        assert status.state is State.READY and status.used > 0 and status.capacity == 4096


async def test_the_last_crash_is_told_as_the_app_opens(app_factory: AppFactory) -> None:
    notice = "the last run of chattui crashed; its stack is in /tmp/[b]log[/b]"
    app = app_factory(notice=notice)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert [n.message for n in app._notifications] == [notice]  # text, not markup


async def test_a_streaming_paragraph_grows_on_screen(app_factory: AppFactory) -> None:
    # The block being written is a plain-text tail that asks for a layout only when it gains a
    # line (transcript._GrowsInPlace): the view must still grow with it while the reply
    # streams, not only once it ends.
    text = " ".join(f"word{i}" for i in range(300))
    app = app_factory(replies=[text], delay=0.006)
    async with app.run_test(size=(80, 30)) as pilot:
        chat = await ready(pilot)
        prompt = chat.query_one(PromptInput)
        prompt.load_text("Count in words")
        await pilot.press("enter")
        heights: set[int] = set()
        blinking: set[bool] = set()
        deadline = time.monotonic() + WAIT_LIMIT  # a bound on a broken app, not a speed
        while chat.host.busy or chat.view.stream is not None:
            assert time.monotonic() < deadline, "the reply never ended"
            await asyncio.sleep(0.02)  # not pilot.pause: that repaints, and the pacer counts it
            if chat.host.busy:
                blinking.add(prompt.cursor_blink)
            tail = chat.query_one(Transcript).replies()[-1].query_one(".tail")
            if tail.display:
                heights.add(tail.size.height)
        assert len(heights) >= 3, heights  # it grew while streaming, several times
        assert blinking == {False}  # no blinking cursor while a reply streams ...
        assert prompt.cursor_blink  # ... and back afterwards
        reply = chat.query_one(Transcript).replies()[-1]
        assert reply.source == text
        await pilot.pause()  # the reply has ended: let the last layout run
        last = reply.query(MarkdownParagraph).last()

        def laid_out() -> bool:
            size = last.content_size
            return last.size.height == last.get_content_height(size, size, size.width) > 5

        await until(pilot, laid_out, "the finished paragraph laid out to its full height")


async def test_escape_stops_and_keeps_partial(app_factory: AppFactory) -> None:
    app = app_factory(replies=["word " * 400], delay=0.01)
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send_and_stop(pilot, "Tell me a lot", lambda text: text.count("word") > 5)
        reply = stored(app)[1]
        assert reply.info is not None and reply.info.finish_reason == "stopped"
        assert 5 <= reply.content.count("word") < 400
        assert chat.query_one(Transcript).replies()[-1].text == reply.content


async def test_ctrl_c_stops_the_reply_and_otherwise_says_how_to_quit(
    app_factory: AppFactory,
) -> None:
    app = app_factory(replies=["word " * 400], delay=0.01)
    async with app.run_test() as pilot:
        await ready(pilot)
        await send_and_stop(pilot, "Tell me a lot", lambda text: "word" in text, key="ctrl+c")
        reply = stored(app)[1]
        assert reply.info is not None and reply.info.finish_reason == "stopped"
        assert not app._notifications  # a stop, not a hint
        await pilot.press("ctrl+c")
        await until(pilot, lambda: notified(app, "Ctrl+Q quits chattui"), "the hint")
        assert app.is_running


async def test_regenerate_and_edit(app_factory: AppFactory) -> None:
    app = app_factory(replies=["first answer", "second answer", "third answer"])
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "question")
        await pilot.press("ctrl+r")
        await finished(pilot)
        assert [m.content for m in stored(app)] == ["question", "second answer"]
        assert [r.text for r in chat.query_one(Transcript).replies()] == ["second answer"]
        await pilot.press("ctrl+g")
        prompt = chat.query_one(PromptInput)
        assert prompt.text == "question"
        prompt.load_text("better question")
        await pilot.press("enter")
        await finished(pilot)
        assert [m.content for m in stored(app)] == ["better question", "third answer"]
        transcript = chat.query_one(Transcript)
        assert [u.text for u in transcript.users()] == ["better question"]


async def test_up_recalls_and_ctrl_j_adds_a_line(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "remember me")
        prompt = chat.query_one(PromptInput)
        await pilot.press("up")
        assert prompt.text == "remember me"
        prompt.clear()
        await pilot.press("a", "ctrl+j", "b")
        assert prompt.text == "a\nb"


async def test_a_system_prompt_or_role_changed_in_a_saved_chat_is_kept(
    app_factory: AppFactory,
) -> None:
    app = app_factory(replies=["Oui.", "Encore."])
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "hello")
        store = app.services.store
        assert store is not None and chat.host.session is not None
        cid = chat.host.session.cid
        assert cid is not None
        await send(pilot, "/system Answer in French.")
        assert store.get(cid).system_prompt == "Answer in French."  # saved at once
        await send(pilot, "/role translate")
        assert store.get(cid).settings.get("role") == "translate"
    again = app_factory(continue_latest=True)
    async with again.run_test() as pilot:
        chat = await ready(pilot)
        session = chat.host.session
        assert session is not None and session.cid == cid
        assert session.role == "translate" and session.system_prompt == store.get(cid).system_prompt


async def test_slash_commands(app_factory: AppFactory, tmp_path: Path) -> None:
    app = app_factory()
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "/system Answer in French.")
        assert (
            chat.host.session is not None and chat.host.session.system_prompt == "Answer in French."
        )
        await send(pilot, "/temp 0.3")
        assert chat.host.session.options.temperature == 0.3
        await send(pilot, "/temp 9")
        assert chat.host.session.options.temperature == 0.3
        await send(pilot, "hello")
        target = tmp_path / "chat.md"
        await send(pilot, f"/export {target}")
        assert "## User\n\nhello" in target.read_text()
        assert "Answer in French." in target.read_text()
        await send(pilot, "/help")
        assert any("/model NAME" in str(n.render()) for n in chat.query(Notice))
        await send(pilot, "/new")
        assert chat.query_one(Transcript).users() == [] and chat.host.session.cid is None
        await send(pilot, "/model smollm2")
        await until(
            pilot,
            lambda: chat.host.model is not None and chat.host.model.spec.id == "smollm2-135m",
            "the model switch",
        )
        prompt = chat.query_one(PromptInput)
        prompt.load_text("/he")
        prompt.focus()
        await pilot.press("tab")
        assert prompt.text == "/help "


async def test_sidebar_open_filter_rename_delete(app_factory: AppFactory) -> None:
    app = app_factory(replies=["reply one", "reply two"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "about walruses")
        await pilot.press("ctrl+n")
        await send(pilot, "about penguins")
        store = app.services.store
        assert store is not None
        ids = [c.id for c in store.recent()]
        assert len(ids) == 2
        sidebar = chat.query_one(Sidebar)
        chat.query_one("#filter", Input).value = "walruses"
        from textual.widgets import OptionList

        options = chat.query_one("#chats", OptionList)
        await until(pilot, lambda: options.option_count == 1, "the filtered list")
        options.highlighted = 0
        options.action_select()
        transcript = chat.query_one(Transcript)
        await until(
            pilot, lambda: [u.text for u in transcript.users()] == ["about walruses"], "the chat"
        )
        assert chat.host.session is not None and chat.host.session.cid == ids[1]
        await pilot.press("f2")
        assert isinstance(app.screen, TextScreen)
        app.screen.query_one(Input).value = "Walrus facts"
        await pilot.press("enter")
        await until(pilot, lambda: store.get(ids[1]).title == "Walrus facts", "the rename")
        assert store.snapshots is not None
        kept = store.snapshots.path(ids[1])  # the chat's KV state, as the real engine writes it
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(b"tokens of the chat's text")
        await pilot.press("f8")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: [c.id for c in store.recent()] == [ids[0]], "the delete")
        assert not kept.exists()  # a deleted chat leaves no snapshot behind
        assert sidebar.display
        await pilot.press("ctrl+b")
        assert not sidebar.display


async def test_continue_reopens_latest(app_factory: AppFactory, chattui_home: Path) -> None:
    first = app_factory(replies=["saved reply"])
    async with first.run_test() as pilot:
        await ready(pilot)
        await send(pilot, "keep this")
    again = app_factory(continue_latest=True)
    async with again.run_test() as pilot:
        chat = await ready(pilot)
        transcript = chat.query_one(Transcript)
        assert [u.text for u in transcript.users()] == ["keep this"]
        assert [r.text for r in transcript.replies()] == ["saved reply"]


async def test_model_output_is_literal(app_factory: AppFactory) -> None:
    hostile = "[bold red]x[/bold red] \x1b[31mred\x1b[0m \x9b2J"
    app = app_factory(replies=[hostile])
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "[b]me too[/b]")
        reply = chat.query_one(Transcript).replies()[-1]
        assert reply.text == hostile
        shown = reply.source
        assert "[bold red]x[/bold red]" in shown and "\x1b" not in shown and "\x9b" not in shown
        user = chat.query_one(Transcript).users()[-1]
        assert "[b]me too[/b]" in str(user.render())


async def test_no_model_still_opens(app_factory: AppFactory) -> None:
    absent = ModelSpec(id="absent", name="Absent", file="absent.gguf")
    app = app_factory(specs=[absent])
    async with app.run_test() as pilot:
        chat = screen(app)
        await until(pilot, lambda: chat.query("#no-model"), "the no-model notice")
        assert chat.query_one(StatusBar).state is State.NO_MODEL
        chat.query_one(PromptInput).load_text("hello?")
        await pilot.press("enter")
        await until(pilot, lambda: notified(app, "No model is loaded"), "the warning")
        assert chat.host.session is None and stored(app) == []


async def test_settings_panel_validates_and_saves_defaults(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    config = chattui_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("# mine\nthreads = 2\n")
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        chat = await ready(pilot)
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, SettingsScreen)
        panel = app.screen
        panel.query_one("#temperature", Input).value = "9"
        error = panel.query_one("#temperature-error")
        await until(pilot, lambda: "allowed" in str(error.render()), "the field's error")
        panel.action_apply()
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)  # not applied
        panel.query_one("#temperature", Input).value = "0.25"
        from textual.widgets import Checkbox

        panel.query_one("#save_as_default", Checkbox).value = True
        panel.action_apply()
        session = chat.host.session
        assert session is not None
        await until(pilot, lambda: session.options.temperature == 0.25, "the new settings")
        assert isinstance(app.screen, ChatScreen)
        text = config.read_text()
        assert text.startswith("# mine\nthreads = 2\n") and "temperature = 0.25" in text


async def test_theme_choice_persists(app_factory: AppFactory, chattui_home: Path) -> None:
    app = app_factory()
    async with app.run_test() as pilot:
        await ready(pilot)
        app.theme = "nord"
        config = chattui_home / "config" / "config.toml"
        await until(pilot, lambda: config.exists() and "nord" in config.read_text(), "the save")
    assert 'theme = "nord"' in config.read_text()


async def test_copy_reply_and_code(app_factory: AppFactory) -> None:
    app = app_factory(replies=["Here:\n\n```python\nprint(1)\n```\n"])
    async with app.run_test() as pilot:
        await ready(pilot)
        await send(pilot, "code please")
        await pilot.press("f3")
        assert app.clipboard.startswith("Here:")
        await pilot.press("f4")
        assert app.clipboard == "print(1)\n"


def test_user_message_widget_is_plain() -> None:
    assert UserMessage("[x]").text == "[x]"
    assert Reply("a").text == "a"


async def test_palette_offers_chat_actions(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        titles = {command.title for command in app.get_system_commands(chat)}
        assert {"Regenerate", "Settings", "Copy reply", "Delete chat", "Stop"} <= titles


async def test_model_switch_waits_for_the_reply_then_the_chat_goes_on(
    app_factory: AppFactory,
) -> None:
    app = app_factory(replies=["w " * 200, "after switch"], delay=0.005)
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        chat.query_one(PromptInput).load_text("long one")
        await pilot.press("enter")
        await until(pilot, lambda: streamed(chat), "the reply to start")
        chat.query_one(PromptInput).load_text("/model smollm2")
        await pilot.press("enter")
        await until(pilot, lambda: notified(app, "Wait for the reply"), "the refusal")
        await finished(pilot)
        assert chat.host.model is not None and chat.host.model.spec.id == "scripted"
        await send(pilot, "/model smollm2")
        await until(
            pilot,
            lambda: chat.host.engine is not None and chat.host.engine.model_id == "smollm2-135m",
            "the model switch",
        )
        await send(pilot, "next")
        messages = stored(app)
        assert len(messages) == 4  # the same conversation went on
        assert messages[3].info is not None and messages[3].info.model_id == "smollm2-135m"


async def test_continue_a_stopped_reply(app_factory: AppFactory) -> None:
    full = " ".join(f"w{i}" for i in range(300))
    app = app_factory(replies=[full], delay=0.005)
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send_and_stop(pilot, "go", lambda text: len(text.split()) > 10)
        stopped = stored(app)[1]
        assert stopped.info is not None and stopped.info.finish_reason == "stopped"
        assert len(stopped.content) < len(full)
        await pilot.press("ctrl+t")
        await finished(pilot)
        messages = stored(app)
        assert len(messages) == 2  # the same reply row, carried on
        assert messages[1].content == full
        assert messages[1].info is not None and messages[1].info.finish_reason == "stop"
        assert chat.query_one(Transcript).replies()[-1].text == full
        assert len(chat.query_one(Transcript).replies()) == 1


async def test_narrow_terminal_hides_sidebar(app_factory: AppFactory) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(50, 20)) as pilot:
        chat = await ready(pilot)
        sidebar = chat.query_one(Sidebar)
        assert not sidebar.display
        await send(pilot, "hi")
        assert chat.query_one(Transcript).replies()[-1].text == "ok"
        await pilot.press("ctrl+b")
        assert sidebar.display


async def test_history_off_saves_nothing_but_exports(
    app_factory: AppFactory, chattui_home: Path, tmp_path: Path
) -> None:
    app = app_factory(replies=["fine"])
    app.services.store = None  # what the CLI passes when save_history = false
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "private")
        assert chat.query_one(Transcript).replies()[-1].text == "fine"
        target = tmp_path / "off.md"
        await send(pilot, f"/export {target}")
        assert "private" in target.read_text() and "fine" in target.read_text()
    from chattui.store import ConversationStore

    assert ConversationStore(chattui_home / "data" / "chattui.db").recent() == []


async def test_ctrl_s_exports_and_clear_keeps_settings(
    app_factory: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = app_factory(replies=["one", "two"])
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "/system Be brief.")
        await send(pilot, "/temp 0.4")
        await send(pilot, "first chat")
        assert chat.host.session is not None
        cid = chat.host.session.cid
        await pilot.press("ctrl+s")
        exported = tmp_path / f"chattui-{cid}.md"
        await until(pilot, exported.exists, "the export")
        assert "first chat" in exported.read_text()
        await send(pilot, "/clear")
        assert chat.query_one(Transcript).users() == []
        assert chat.host.session.cid is None or chat.host.session.cid != cid
        assert chat.host.session.system_prompt == "Be brief."
        assert chat.host.session.options.temperature == 0.4
        await send(pilot, "/new")
        assert chat.host.session.system_prompt is None
        assert chat.host.session.options.temperature != 0.4


async def test_sidebar_finds_chinese_words_inside_sentences(app_factory: AppFactory) -> None:
    chinese = "ChatGPT的核心技术是基于GPT架构的Transformer模型，它使用了自注意力机制。"
    app = app_factory(replies=[chinese, "A plain answer."])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "介绍一下ChatGPT")
        await pilot.press("ctrl+n")
        await send(pilot, "something else")
        from textual.widgets import OptionList

        options = chat.query_one("#chats", OptionList)
        for query, expected in (("自注意力", 1), ("微", 0), ("Transformer", 1), ("注意力机制", 1)):
            chat.query_one("#filter", Input).value = query

            def listed(count: int = expected) -> bool:
                return options.option_count == count

            await until(pilot, listed, f"{expected} hit(s) for {query}")
        await until(
            pilot,
            lambda: "[注意力机制]" in str(options.get_option_at_index(0).prompt),
            "the match marked in the snippet",
        )


async def test_formulas_read_as_text_and_are_saved_as_written(app_factory: AppFactory) -> None:
    formula = r"$\text{softmax}(\frac{QK^T}{\sqrt{d_k}})V$"
    latex = f"Self-attention computes {formula} for each head.\n\nCode stays: `$x$`."
    app = app_factory(replies=[latex])
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "什么是自注意力？")
        reply = chat.query_one(Transcript).replies()[-1]
        assert "√" in reply.source and "ᵀ" in reply.source and "\\frac" not in reply.source
        assert "`$x$`" in reply.source
        assert reply.text == latex and stored(app)[1].content == latex
