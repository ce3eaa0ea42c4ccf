"""Tools in the app: /tools, the approval dialog, calls folded in replies, saved and reopened."""

from __future__ import annotations

import json
from dataclasses import replace

from textual.pilot import Pilot
from textual.widgets import Collapsible, Static

from chattui.config import Config
from chattui.conversation import ToolOutcome
from chattui.tui.screens.approval import ApprovalDialog
from chattui.tui.widgets.messages import Reply
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.tool_steps import ToolSteps
from chattui.tui.widgets.transcript import Transcript
from tests.tools.conftest import stdio
from tests.tui.conftest import AppFactory
from tests.tui.test_app import finished, notified, ready, screen, send, stored, until

CONFIG = Config(mcp_servers=(stdio("t"),))


def call(name: str, **arguments: object) -> str:
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"Let me check.<tool_call>{body}</tool_call>"


async def ask(pilot: Pilot[None], text: str) -> None:
    """Send ``text`` and wait until a tool call is asked about."""
    chat = screen(pilot.app)  # type: ignore[arg-type]
    chat.query_one(PromptInput).load_text(text)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, ApprovalDialog), "the question")


def steps_of(pilot: Pilot[None]) -> ToolSteps:
    chat = screen(pilot.app)  # type: ignore[arg-type]
    return chat.query_one(Transcript).replies()[-1].query_one(ToolSteps)


def titles(steps: ToolSteps) -> list[str]:
    return [str(c._title.label) for c in steps.query(Collapsible)]


async def test_a_call_is_asked_run_folded_saved_and_reopened(app_factory: AppFactory) -> None:
    app = app_factory(replies=[call("t__add", a=2, b=40), "It is **42**."], config=CONFIG)
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "/tools")
        assert notified(app, "Tools are off for this chat.") and notified(app, "Tool servers: t")
        await send(pilot, "/tools on")
        await ask(pilot, "What is 2 + 40?")
        dialog = app.screen
        assert isinstance(dialog, ApprovalDialog)

        def shown() -> str:
            return " ".join(str(s.render()) for s in dialog.query(Static))

        await until(pilot, lambda: '"a": 2' in shown(), "the arguments")
        assert "Run add from tool server t?" in shown()
        await pilot.press("y")
        await finished(pilot)
        steps = steps_of(pilot)
        assert titles(steps)[0].startswith('⚙ t.add {"a": 2, "b": 40} → 42.0')
        assert "Let me check." in str(steps.query(".said").first().render())
        reply = screen(app).query_one(Transcript).replies()[-1]
        assert reply.text == "It is **42**."
        saved = stored(app)[-1]
        assert saved.content == "It is **42**."
        assert [(c.name, c.result, c.outcome) for c in saved.tool_calls] == [
            ("t__add", "42.0", ToolOutcome.RAN)
        ]
        # Opened with Enter on its title: the arguments and the whole result.
        folded = steps.query(Collapsible).first()
        folded._title.focus()
        await pilot.press("enter")
        await until(pilot, lambda: not folded.collapsed, "the call to open")
        # Reopened, the chat shows the call folded again.
        chat = screen(app)
        chat.open_saved(app.services.store.get(app.services.store.latest_id()))  # type: ignore[union-attr]
        await until(pilot, lambda: bool(chat.query(ToolSteps)), "the reopened chat")
        assert titles(chat.query_one(ToolSteps))[0].startswith("⚙ t.add")


async def test_deny_and_always(app_factory: AppFactory) -> None:
    replies = [
        call("t__echo", text="one"),
        call("t__echo", text="two"),
        call("t__add", a=1, b=1),
        "ok",
    ]
    app = app_factory(replies=replies, config=CONFIG)
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "/tools on")
        await ask(pilot, "go")
        await pilot.press("a")  # echo, always
        await until(pilot, lambda: isinstance(app.screen, ApprovalDialog), "add's question")
        await pilot.press("n")  # add: no
        await finished(pilot)
        outcomes = [(c.name, c.outcome) for c in stored(app)[-1].tool_calls]
        assert outcomes == [
            ("t__echo", ToolOutcome.RAN),
            ("t__echo", ToolOutcome.RAN),
            ("t__add", ToolOutcome.DENIED),
        ]
        assert "[denied]" in titles(steps_of(pilot))[-1]


async def test_esc_stops_a_running_call(app_factory: AppFactory) -> None:
    app = app_factory(
        replies=[call("t__sleep", seconds=60), "never"],
        config=replace(CONFIG, auto_approve=("t.sleep",)),
    )
    async with app.run_test(size=(110, 40)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "/tools on")
        chat.query_one(PromptInput).load_text("wait")
        await pilot.press("enter")
        await until(pilot, lambda: bool(chat.query(".running")), "the call to run")
        await pilot.press("escape")
        await finished(pilot)
        (step,) = stored(app)[-1].tool_calls
        assert step.outcome is ToolOutcome.STOPPED
        assert "[stopped]" in titles(steps_of(pilot))[0]


async def test_a_hostile_result_is_shown_as_text(app_factory: AppFactory) -> None:
    app = app_factory(
        replies=[call("t__shout"), "done"], config=replace(CONFIG, auto_approve=("t.*",))
    )
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "/tools on")
        await send(pilot, "shout")
        steps = steps_of(pilot)
        title = titles(steps)[0]
        assert "[bold red]loud[/]" in title and "\x1b" not in title
        result = str(steps.query(".result").first().render())
        assert "[@click=app.quit]x[/]" in result and "\x1b" not in result
        assert app.is_running


async def test_tools_on_without_servers_is_refused(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "/tools on")
        assert notified(app, "No tool server is configured")
        await send(pilot, "/tools maybe")
        assert notified(app, "/tools takes on or off")


async def test_a_server_that_cannot_start_is_said_and_the_chat_goes_on(
    app_factory: AppFactory,
) -> None:
    broken = Config(mcp_servers=(stdio("t"), stdio("gone", "--exit")))
    app = app_factory(
        replies=[call("t__add", a=1, b=2), "three"], config=replace(broken, auto_approve=("t.*",))
    )
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "/tools on")
        await send(pilot, "1 + 2")
        assert notified(app, "tool server 'gone' did not start")
        assert stored(app)[-1].tool_calls[0].result == "3.0"


async def test_the_demo_model_calls_under_its_grammar_in_the_app(app_factory: AppFactory) -> None:
    app = app_factory(real=True, model="smollm2", config=CONFIG)
    async with app.run_test(size=(110, 40)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "/tools on")
        host = chat.host
        host.set_options(replace(host.options, tool_choice="required", max_tokens=32, seed=5))
        await ask(pilot, "What is 2 + 40? Use the add tool.")
        await pilot.press("n")
        await finished(pilot)
        first = stored(app)[-1].tool_calls[0]
        assert first.outcome is ToolOutcome.DENIED
        assert json.loads(first.arguments) is not None and first.name.startswith("t__")
        assert isinstance(screen(app).query_one(Transcript).replies()[-1], Reply)
