"""The app on a model served by llama-cpp-python's own OpenAI-compatible server (issue 11)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Collapsible, Select

from chattui.config import Config
from chattui.sampling import Sampling
from chattui.tui.app import ChatApp
from chattui.tui.screens.settings import SettingsScreen
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.sidebar import Sidebar
from chattui.tui.widgets.transcript import Transcript
from tests.remote.servers import FaultServer, write_endpoints
from tests.tui.conftest import AppFactory
from tests.tui.test_app import finished, ready, send, send_and_stop, stored, until


async def test_the_app_chats_with_the_server_and_stops_a_reply(
    lab: str, app_factory: AppFactory
) -> None:
    endless = Sampling(temperature=0.0, max_tokens=2000, ignore_eos=True)
    app = app_factory(model="lab/smollm", real=True, config=Config(sampling=endless))
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        assert chat.host.engine is not None and chat.host.engine.model_id == "lab/smollm"
        await send_and_stop(pilot, "Count to a thousand.", lambda text: len(text) > 20)
        saved = stored(app)
        assert len(saved) == 2 and saved[1].info is not None
        assert saved[1].info.finish_reason == "stopped" and saved[1].info.endpoint == "lab"
        assert chat.query_one(Transcript).replies()[-1].text == saved[1].content
        chat.host.set_options(Sampling(max_tokens=6).over(endless).resolve())
        await send(pilot, "Thanks.")
        last = stored(app)[3]
        assert len(stored(app)) == 4 and last.info is not None
        assert last.info.finish_reason == "length"  # max_tokens reached the server


async def test_reasoning_is_shown_folded_above_the_reply_and_saved(
    fault: FaultServer, chattui_home: Path, app_factory: AppFactory
) -> None:
    write_endpoints(chattui_home, f'id = "f"\nbase_url = "{fault.url("reasoning")}"')
    app = app_factory(model="f/fault-model", real=True)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "Hello")
        saved = stored(app)[1]
        assert saved.content == "Hi!" and saved.info is not None
        assert saved.info.reasoning == "The user greets; answer briefly."
        folded = chat.query_one(Transcript).replies()[-1].query_one(Collapsible)
        assert folded.collapsed and folded.title == "Reasoning (5 words)"
        await pilot.press("ctrl+n")
        chat.query_one(Sidebar).post_message(Sidebar.Opened(app_cid(app)))
        await until(pilot, lambda: chat.query_one(Transcript).replies(), "the chat again")
        again = chat.query_one(Transcript).replies()[-1].query_one(Collapsible)
        assert again.title == "Reasoning (5 words)"  # from the store


def app_cid(app: ChatApp) -> str:
    store = app.services.store
    assert store is not None
    latest = store.latest_id()
    assert latest is not None
    return latest


async def test_model_switches_to_a_remote_model_listed_in_the_settings_panel(
    lab: str, app_factory: AppFactory
) -> None:
    short = Sampling(temperature=0.0, max_tokens=5)
    app = app_factory(real=True, config=Config(sampling=short))
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        assert chat.host.engine is not None and chat.host.engine.model_id == "smollm2-135m"
        await until(pilot, lambda: chat.served == ["lab/smollm"], "the endpoint's models")
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, SettingsScreen)
        select = app.screen.query_one("#model", Select)
        assert ("lab/smollm (remote)", "lab/smollm") in [(str(p), v) for p, v in select._options]
        await pilot.press("escape")
        chat.query_one(PromptInput).load_text("/model lab/smollm")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: chat.host.engine is not None and chat.host.engine.model_id == "lab/smollm",
            "the remote model",
        )
        await ready(pilot)
        await send(pilot, "Hello?")
        reply = stored(app)[1]
        assert reply.info is not None and reply.info.endpoint == "lab"
        assert reply.info.model_id == "lab/smollm" and reply.info.server_model == "smollm"


async def test_the_reply_says_the_model_is_thinking_before_its_answer(
    fault: FaultServer, chattui_home: Path, app_factory: AppFactory
) -> None:
    write_endpoints(chattui_home, f'id = "f"\nbase_url = "{fault.url("slow-reasoning")}"')
    app = app_factory(model="f/fault-model", real=True)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        chat.query_one(PromptInput).load_text("Hello")
        await pilot.press("enter")
        transcript = chat.query_one(Transcript)
        await until(
            pilot,
            lambda: (
                transcript.replies()
                and str(transcript.replies()[-1].border_subtitle) == "thinking… 5 words"
            ),
            "the thinking line",
        )
        fault.release.set()
        await finished(pilot)
        reply = transcript.replies()[-1]
        assert reply.text == "Done thinking." and "thinking" not in str(reply.border_subtitle)
        assert stored(app)[1].info.reasoning == "Let me think about it."  # type: ignore[union-attr]
