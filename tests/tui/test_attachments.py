"""Attaching in the app: /file, @path (typed, Tab-completed), a dropped file, chips, /files."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot

from chattui.config import Config
from chattui.tui.widgets.attachments import AttachmentBar
from chattui.tui.widgets.messages import UserMessage
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.transcript import Transcript
from tests.tui.conftest import AppFactory
from tests.tui.test_app import finished, notified, ready, send, stored, until


@pytest.fixture
def notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A notes file in the current folder, and a project folder beside it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.md").write_text("# Notes\nThe launch is on the ninth of March.\n")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "main.py").write_text("print('hi')\n")
    return tmp_path / "notes.md"


def chips(bar: AttachmentBar) -> list[tuple[str, int | None]]:
    return [(a.name, a.tokens) for a in bar.items]


def counted(bar: AttachmentBar, count: int) -> bool:
    return len(bar.items) == count and all(a.tokens for a in bar.items)


async def attach(pilot: Pilot[None], command: str, count: int) -> AttachmentBar:
    """Run ``/file ...`` and wait until the bar holds ``count`` counted chips."""
    bar = pilot.app.screen.query_one(AttachmentBar)
    await send(pilot, command)
    await until(pilot, lambda: counted(bar, count), f"{count} chips counted")
    return bar


async def test_slash_file_shows_a_chip_and_the_message_takes_it(
    app_factory: AppFactory, notes: Path
) -> None:
    app = app_factory(replies=["noted"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        assert not chat.query_one(AttachmentBar).has_class("some")
        bar = await attach(pilot, "/file notes.md project", 2)
        shown = str(bar.render())
        assert "notes.md" in shown and "text" in shown and "tokens" in shown
        assert "project" in shown and "folder" in shown
        await send(pilot, "When is the launch?")
        user = stored(app)[0]
        assert user.content == "When is the launch?"
        assert [a.name for a in user.attachments] == ["notes.md", "project"]
        assert "ninth of March" in user.attachments[0].text
        assert bar.items == []
        widget = chat.query_one(Transcript).query(UserMessage).last()
        assert "📎 notes.md, project" in str(widget.render())


async def test_typed_and_completed_mentions_become_chips(
    app_factory: AppFactory, notes: Path
) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        bar = chat.query_one(AttachmentBar)
        prompt = chat.query_one(PromptInput)
        prompt.focus()
        await pilot.press(*"read @no")
        await pilot.press("tab")
        assert prompt.text == "read @notes.md "
        await until(pilot, lambda: counted(bar, 1), "the completed mention's chip")
        await pilot.press(*"and @proj", "tab")
        assert prompt.text == "read @notes.md and @project/"  # a folder: go on typing
        await pilot.press("enter")
        await finished(pilot)
        assert [a.name for a in stored(app)[0].attachments] == ["notes.md", "project/"]
        assert stored(app)[0].content == "read @notes.md and @project/"


async def test_names_with_spaces_complete_escaped_and_attach(
    app_factory: AppFactory, notes: Path
) -> None:
    (notes.parent / "我的 文档").mkdir()
    (notes.parent / "我的 文档" / "会议 记录.md").write_text("会议定在三月九日。\n")
    app = app_factory(replies=["ok", "ok"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        bar = chat.query_one(AttachmentBar)
        prompt = chat.query_one(PromptInput)
        prompt.focus()
        await pilot.press(*"read @我", "tab")
        assert prompt.text == "read @我的\\ 文档/"  # a folder: go on typing
        await pilot.press("tab")
        assert prompt.text == "read @我的\\ 文档/会议\\ 记录.md "
        await until(pilot, lambda: counted(bar, 1), "the completed mention's chip")
        await pilot.press("enter")
        await finished(pilot)
        assert [a.name for a in stored(app)[0].attachments] == ["我的 文档/会议 记录.md"]
        # /file completes its path the same way, and takes a path with spaces typed as it is.
        await pilot.press(*"/file 我", "tab")
        assert prompt.text == "/file 我的\\ 文档/"
        prompt.clear()
        await attach(pilot, "/file 我的 文档/会议 记录.md", 1)
        await attach(pilot, "/file notes.md '我的 文档'", 3)
        assert [name for name, _ in chips(bar)] == [
            "我的 文档/会议 记录.md", "notes.md", "我的 文档"
        ]  # fmt: skip


async def test_a_mention_nobody_has_is_text(app_factory: AppFactory, notes: Path) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await send(pilot, "ask @alice about it")
        assert stored(app)[0].attachments == ()


async def test_a_dropped_file_is_attached_not_typed(app_factory: AppFactory, notes: Path) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        prompt = chat.query_one(PromptInput)
        prompt.focus()
        pilot.app.post_message(events.Paste(f"'{notes}' "))  # as a terminal sends it
        bar = chat.query_one(AttachmentBar)
        await until(pilot, lambda: counted(bar, 1), "the dropped file's chip")
        assert prompt.text == "" and chips(bar)[0][0] == str(notes)
        pilot.app.post_message(events.Paste("just some text"))
        await until(pilot, lambda: prompt.text == "just some text", "the pasted text")


async def test_files_lists_and_removes(app_factory: AppFactory, notes: Path) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        bar = await attach(pilot, "/file notes.md project", 2)
        await send(pilot, "/files")
        assert notified(app, "1. notes.md (text,") and notified(app, "2. project (folder,")
        await send(pilot, "/files rm 1")
        assert [a.name for a in bar.items] == ["project"]
        await send(pilot, "/files rm 5")
        assert notified(app, "there are 1 attachments")
        await send(pilot, "/files clear")
        assert bar.items == []
        await send(pilot, "/file notes.md")  # asked again after being removed
        await until(pilot, lambda: counted(bar, 1), "the chip again")


async def test_what_cannot_be_attached_is_one_notification(
    app_factory: AppFactory, notes: Path
) -> None:
    (notes.parent / "blob.bin").write_bytes(b"\x00\x01" * 50)
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "/file missing.txt")
        await until(pilot, lambda: notified(app, "missing.txt: no such file"), "the error")
        await send(pilot, "/file blob.bin")
        await until(pilot, lambda: notified(app, "a binary file"), "the binary refused")
        assert chat.query_one(AttachmentBar).items == []


async def test_attachments_that_do_not_fit_come_back_with_the_text(
    app_factory: AppFactory, notes: Path
) -> None:
    (notes.parent / "big.txt").write_text("word " * 6000)
    app = app_factory(replies=["ok"], config=Config(context_size=1024))
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        bar = await attach(pilot, "/file big.txt", 1)
        await send(pilot, "summarize")
        assert notified(app, "the attachments do not fit")
        assert chat.query_one(PromptInput).text == "summarize"
        assert [a.name for a in bar.items] == ["big.txt"]
        assert stored(app) == []


async def test_names_and_text_from_files_are_never_markup(
    app_factory: AppFactory, notes: Path
) -> None:
    hostile = notes.parent / "[bold]x[red]\x1b[31m.txt"
    hostile.write_text("[red]not markup[/red] \x1b]52;c;SGVsbG8=\x07")
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        bar = await attach(pilot, f"/file '{hostile.name}'", 1)
        shown = str(bar.render())
        assert "[bold]x[red]" in shown and "\x1b" not in shown
        await send(pilot, "what is it?")
        widget = chat.query_one(Transcript).query(UserMessage).last()
        assert "[bold]x[red]" in str(widget.render()) and "\x1b" not in str(widget.render())


async def test_a_file_changed_after_attaching_is_not_sent_stale(
    app_factory: AppFactory, notes: Path
) -> None:
    app = app_factory(replies=["ok"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        bar = await attach(pilot, "/file notes.md", 1)
        notes.write_text("# Notes\nThe launch moved to April.\n")
        await send(pilot, "When is the launch?")
        assert notified(app, "notes.md changed since it was attached; /file notes.md reads it")
        assert stored(app) == [] and chat.query_one(PromptInput).text == "When is the launch?"
        await send(pilot, "/file notes.md")
        await until(pilot, lambda: counted(bar, 1) and "April" in bar.items[0].text, "re-read")
        chat.query_one(PromptInput).clear()
        await send(pilot, "When is the launch?")
        assert "April" in stored(app)[0].attachments[0].text


async def test_attach_send_regenerate_and_reopen_on_the_real_engine(
    app_factory: AppFactory, notes: Path
) -> None:
    from chattui.sampling import Sampling

    short = Config(sampling=Sampling(max_tokens=6, temperature=0.0, seed=1))
    app = app_factory(real=True, config=short)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        bar = await attach(pilot, "/file notes.md", 1)
        tokens = bar.items[0].tokens
        assert tokens is not None and 10 < tokens < 40
        await send(pilot, "When is the launch?")
        assert stored(app)[0].attachments[0].tokens == tokens
        used = chat.host.session.history[-1].info  # type: ignore[union-attr]
        assert used is not None and (used.prompt_tokens or 0) > tokens
        await pilot.press("ctrl+r")
        await finished(pilot)
        assert len(stored(app)) == 2 and stored(app)[0].attachments[0].tokens == tokens
    app = app_factory(real=True, config=short, continue_latest=True)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        first = chat.query_one(Transcript).query(UserMessage).first()
        assert "📎 notes.md" in str(first.render())


async def test_an_image_in_the_app_on_a_local_vision_model(
    app_factory: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vision_catalog: str
) -> None:
    from chattui.sampling import Sampling
    from tests.engine.projector import IMAGE_POSITIONS
    from tests.engine.test_vision import image

    monkeypatch.chdir(tmp_path)
    (tmp_path / "red.png").write_bytes(image((220, 20, 20)).data)
    short = Config(sampling=Sampling(max_tokens=6, temperature=0.0, seed=1))
    app = app_factory(real=True, config=short, model=vision_catalog)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        bar = await attach(pilot, "/file red.png", 1)
        tokens = bar.items[0].tokens
        assert tokens is not None and tokens >= IMAGE_POSITIONS
        assert "image" in str(bar.render())
        await send(pilot, "What is in it?")
        user = stored(app)[0]
        assert user.attachments[0].kind == "image" and user.attachments[0].tokens == tokens
        used = chat.host.session.history[-1].info  # type: ignore[union-attr]
        assert used is not None and (used.prompt_tokens or 0) > tokens
        await pilot.press("ctrl+r")
        await finished(pilot)
        assert len(stored(app)) == 2
