"""Pilot tests of what a user can do to the app: quick keys, deleted chats, failing parts, quit.

Each of these ended the app, started two replies at once, or lost a key press before the model
host and the error boundary (issue 10).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from chattui.conversation import Message, Role
from chattui.engine.base import Engine, Reply
from chattui.engine.scripted import ScriptedEngine
from chattui.sampling import GenerationOptions
from chattui.store import ConversationStore
from chattui.tui.screens.dialogs import ErrorScreen
from chattui.tui.screens.settings import SettingsScreen
from chattui.tui.widgets.messages import Notice, Welcome
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.status import State, StatusBar
from chattui.tui.widgets.transcript import Transcript
from tests.tui.conftest import SCRIPTED, AppFactory
from tests.tui.test_app import finished, notified, ready, screen, send, stored, streamed, until


def closed(engine: Engine) -> bool:
    """Whether a scripted engine was closed."""
    return isinstance(engine, ScriptedEngine) and engine.closed


LONG = "word " * 400
"""A reply that takes seconds at the delays used here: long enough to act while it streams."""


async def test_enter_twice_starts_one_reply_and_gives_the_text_back(
    app_factory: AppFactory,
) -> None:
    app = app_factory(replies=[LONG], delay=0.01)
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        prompt = chat.query_one(PromptInput)
        prompt.load_text("first")
        await pilot.press("enter")
        prompt.load_text("second")
        await pilot.press("enter")  # the first reply is still starting or streaming
        assert notified(app, "A reply is being written")
        assert prompt.text == "second"  # not lost: it waits in the prompt
        await pilot.press("escape")
        await finished(pilot)
        assert [m.role for m in stored(app)] == [Role.USER, Role.ASSISTANT]
        assert stored(app)[0].content == "first"


async def test_escape_right_after_enter_stops_the_reply(app_factory: AppFactory) -> None:
    app = app_factory(replies=[LONG], delay=0.01)
    async with app.run_test() as pilot:
        await ready(pilot)
        chat = screen(app)
        chat.query_one(PromptInput).load_text("talk")
        await pilot.press("enter", "escape")  # before the engine has begun
        await finished(pilot)
        reply = stored(app)[1]
        assert reply.info is not None and reply.info.finish_reason == "stopped"
        assert reply.content.count("word") < 400


async def test_the_last_model_asked_for_wins_and_the_old_one_is_freed_first(
    app_factory: AppFactory,
) -> None:
    engines: list[Engine] = []
    alive_at_load: list[int] = []

    class Counting(ScriptedEngine):
        def __init__(self, *args: object, **kwargs: object) -> None:
            alive_at_load.append(sum(not closed(e) for e in engines))
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    specs = [SCRIPTED, *(SCRIPTED.__class__(id=n, name=n, engine=SCRIPTED.engine) for n in "abc")]
    app = app_factory(specs=specs, engines=engines, load_delay=0.2, engine_type=Counting)
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        for name in ("a", "b", "c"):
            chat.query_one(PromptInput).load_text(f"/model {name}")
            await pilot.press("enter")
        await until(pilot, lambda: chat.host.engine is not None, "a model")
        await until(pilot, lambda: all(closed(e) for e in engines[:-1]), "the others closed")
        assert chat.host.engine is engines[-1] and chat.host.engine.model_id == "c"
        assert chat.query_one(StatusBar).model == "c"
        assert not closed(engines[-1])
        assert max(alive_at_load) == 0  # never two models in memory
        await send(pilot, "hi")
        info = stored(app)[1].info
        assert info is not None and info.model_id == "c"


async def test_quit_during_a_reply_saves_it_stopped_and_frees_the_model(
    app_factory: AppFactory,
) -> None:
    engines: list[Engine] = []
    app = app_factory(replies=[LONG], delay=0.01, engines=engines)
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        chat.query_one(PromptInput).load_text("talk")
        await pilot.press("enter")
        await until(pilot, lambda: streamed(chat).count("word") > 3, "the reply")
        await pilot.press("ctrl+q")
    reply = stored(app)[1]
    assert reply.info is not None and reply.info.finish_reason == "stopped"
    assert reply.content and reply.content.count("word") < 400
    assert [closed(e) for e in engines] == [True]


async def test_quit_while_the_model_loads_frees_it(app_factory: AppFactory) -> None:
    engines: list[Engine] = []
    app = app_factory(engines=engines, load_delay=1.0)
    async with app.run_test() as pilot:
        await until(pilot, lambda: screen(app).host.model is not None, "the load to start")
        await pilot.press("ctrl+q")
    # The load finishes after the app is gone; its worker closes what it loaded.
    await until(pilot, lambda: engines and all(closed(e) for e in engines), "the late engine")


async def test_settings_on_a_model_given_as_a_path(
    app_factory: AppFactory, demo_path: Path
) -> None:
    app = app_factory(model=str(demo_path))
    async with app.run_test(size=(100, 40)) as pilot:
        chat = await ready(pilot)
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, SettingsScreen)
        app.screen.action_apply()
        await until(pilot, lambda: app.screen is chat, "the panel to close")
        assert chat.host.engine is not None  # the same model, not reloaded or lost
        await send(pilot, "still here?")
        assert len(stored(app)) == 2


async def test_edit_then_new_chat_then_enter_sends_a_new_message(app_factory: AppFactory) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "first")
        await pilot.press("ctrl+g", "ctrl+n")
        await pilot.press("enter")  # the prompt still holds "first"
        await finished(pilot)
        assert [m.content for m in stored(app)] == ["first", "ok"]
        assert [u.text for u in chat.query_one(Transcript).users()] == ["first"]
        await pilot.press("ctrl+n", "ctrl+g")  # and with nothing of yours to edit
        assert notified(app, "no message of yours to edit")


async def test_save_as_default_with_an_unwritable_config(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    (chattui_home / "config" / "config.toml").mkdir(parents=True)  # cannot be written
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        chat = await ready(pilot)
        await pilot.press("ctrl+o")
        panel = app.screen
        assert isinstance(panel, SettingsScreen)
        from textual.widgets import Checkbox, Input

        panel.query_one("#temperature", Input).value = "0.5"
        panel.query_one("#save_as_default", Checkbox).value = True
        panel.action_apply()
        await until(pilot, lambda: notified(app, "config.toml"), "the error")
        assert app.screen is chat
        assert chat.host.options.temperature == 0.5  # applied to the chat all the same


async def test_rename_or_delete_a_chat_another_process_deleted(app_factory: AppFactory) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "soon gone")
        cid = chat.host.session.cid if chat.host.session else None
        assert cid is not None
        other = ConversationStore(app.services.paths.database)
        other.delete([cid])
        other.close()
        for key in ("f2", "f8"):
            app.clear_notifications()
            await pilot.press(key)
            await until(pilot, lambda: notified(app, "That chat is gone"), f"{key}'s warning")
            assert app.screen is chat


class _Breaks(ScriptedEngine):
    """An engine with a bug: its first reply fails after a few tokens, with an error chattui did
    not expect."""

    def stream(self, messages: Sequence[Message], options: GenerationOptions) -> Reply:
        reply = super().stream(messages, options)
        if self.turns > 1:
            return reply
        run = reply._run

        def broken(r: Reply) -> Iterator[str]:
            for count, piece in enumerate(run(r)):
                if count == 3:
                    raise RuntimeError("engine bug")
                yield piece

        reply._run = broken
        return reply


async def test_an_unexpected_error_is_shown_and_the_app_goes_on(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    app = app_factory(replies=["a b c d e f"], engine_type=_Breaks)
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        chat.query_one(PromptInput).load_text("break")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen), "the error dialog")
        text = str(app.screen.query_one(".dialog").query("Label").last().render())
        log = chattui_home / "cache" / "chattui.log"
        assert "engine bug" in text and str(log) in text
        assert "RuntimeError: engine bug" in log.read_text()
        assert log.stat().st_mode & 0o777 == 0o600  # tracebacks may quote a chat
        await pilot.press("escape")
        await finished(pilot)
        assert app.screen is chat and chat.query_one(StatusBar).state is State.READY
        saved = stored(app)[1]  # what came before the failure is kept
        assert saved.content == "a b c" and saved.info is not None
        assert saved.info.finish_reason == "error"
        assert len(app.unexpected) == 1
        app.unexpected.clear()
        await send(pilot, "again")  # the engine fails only its first reply
        assert len(stored(app)) == 4


async def test_first_screen_teaches_and_goes_when_the_chat_starts(
    app_factory: AppFactory,
) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        welcome = chat.query_one(Welcome)
        text = str(welcome.render())
        assert "Scripted" in text and "loading" not in text
        assert "Enter" in text and "/help" in text and "模型" in text and "models pull" in text
        await send(pilot, "hi")
        assert not chat.query(Welcome)
        await pilot.press("ctrl+n")
        assert chat.query(Welcome)


async def test_system_prompt_from_the_command_line(app_factory: AppFactory) -> None:
    app = app_factory(system_prompt="Answer in French.")
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "hello")
        assert chat.host.session is not None
        assert chat.host.session.system_prompt == "Answer in French."
        store = app.services.store
        assert store is not None and store.get(chat.host.session.cid or "").system_prompt


async def test_settings_of_a_reply_are_those_it_was_written_with(app_factory: AppFactory) -> None:
    app = app_factory(replies=[LONG], delay=0.005)
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "/temp 0.2")
        chat.query_one(PromptInput).load_text("talk")
        await pilot.press("enter")
        await until(pilot, lambda: streamed(chat), "the reply")
        chat.query_one(PromptInput).load_text("/temp 1.5")
        await pilot.press("enter")
        await finished(pilot)
        reply = stored(app)[1]
        assert reply.info is not None and reply.info.settings["temperature"] == 0.2
        assert chat.host.options.temperature == 1.5  # for the next reply


async def test_unknown_command_is_not_sent(app_factory: AppFactory) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        await send(pilot, "/modle smollm2")
        assert notified(app, "Unknown command /modle")
        assert chat.query_one(PromptInput).text == "/modle smollm2"
        assert stored(app) == []
        chat.query_one(PromptInput).clear()
        await send(pilot, "//etc/hosts is a path")
        assert stored(app)[0].content == "/etc/hosts is a path"


async def test_status_bar_is_live_while_a_reply_streams(app_factory: AppFactory) -> None:
    app = app_factory(replies=[LONG], delay=0.005)
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        status = chat.query_one(StatusBar)
        before = status.used
        chat.query_one(PromptInput).load_text("talk")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: status.state is State.GENERATING and status.speed > 0 and status.used > before,
            "live figures",
        )
        await pilot.press("escape")
        await finished(pilot)


async def test_roles_in_the_app(app_factory: AppFactory) -> None:
    app = app_factory(role="explain")
    async with app.run_test() as pilot:
        chat = await ready(pilot)
        roles = app.services.roles()
        session = chat.host.session
        assert session is not None and session.system_prompt == roles["explain"].system_prompt
        assert chat.host.options.temperature == 0.5
        await send(pilot, "what is self-attention?")
        store = app.services.store
        assert store is not None and store.get(session.cid or "").settings["role"] == "explain"
        await send(pilot, "/role translate")
        assert session.system_prompt == roles["translate"].system_prompt
        assert chat.host.options.temperature == 0.2
        await send(pilot, "/role")
        assert any("summarize:" in str(n.render()) for n in chat.query(Notice))
        await send(pilot, "/role poet")
        assert notified(app, "unknown role 'poet'")
        titles = {command.title for command in app.get_system_commands(chat)}
        assert {"Role: translate", "Role: explain"} <= titles


async def test_the_settings_panel_picks_a_role(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 50)) as pilot:
        chat = await ready(pilot)
        await pilot.press("ctrl+o")
        panel = app.screen
        assert isinstance(panel, SettingsScreen)
        from textual.widgets import Select

        panel.query_one("#role", Select).value = "summarize"
        panel.action_apply()
        await until(pilot, lambda: chat.host.role == "summarize", "the role")
        session = chat.host.session
        assert session is not None and session.role == "summarize"
        assert session.system_prompt == app.services.roles()["summarize"].system_prompt
        assert chat.host.options.temperature == 0.3
        await pilot.press("ctrl+o")
        panel = app.screen
        assert isinstance(panel, SettingsScreen)
        assert panel.query_one("#role", Select).value == "summarize"
        panel.query_one("#role", Select).value = ""
        panel.action_apply()
        await until(pilot, lambda: chat.host.role is None, "no role")
        assert session.role is None and chat.host.options.temperature != 0.3
