"""Knowledge bases in the app: /kb, passages given with each question, sources under replies."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets._markdown import MarkdownParagraph

from chattui.config import Config
from chattui.conversation import AttachmentKind
from chattui.kb.bases import KnowledgeBases
from chattui.paths import resolve_paths
from chattui.sampling import Sampling
from chattui.tui.widgets.messages import Reply, Sources
from chattui.tui.widgets.transcript import Transcript
from tests.kb.conftest import make_notes
from tests.tui.conftest import AppFactory
from tests.tui.test_app import notified, ready, send, stored, until

QUESTION = "How do I install it on Linux?"


@pytest.fixture
def notes(tmp_path: Path, chattui_home: Path) -> Path:
    """A knowledge base named notes, made from a folder of English, Chinese and code."""
    folder = make_notes(tmp_path / "docs")
    KnowledgeBases(resolve_paths().kb_dir).add("notes", [str(folder)])
    return folder


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$EDITOR: a script named vi that writes down what it was asked to open."""
    opened = tmp_path / "opened.txt"
    script = tmp_path / "bin" / "vi"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\necho "$@" > {opened}.part && mv {opened}.part {opened}\n')
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)
    return opened


def sources_of(reply: Reply) -> str:
    found = reply.query(Sources)
    return str(found.first().render()) if found else ""


async def test_kb_gives_passages_and_lists_sources(
    app_factory: AppFactory, notes: Path, editor: Path
) -> None:
    app = app_factory(replies=["Use pip [1].", "Fine.", "Again."])
    async with app.run_test(size=(110, 40)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "/kb")
        assert notified(app, "No knowledge base is on.") and notified(app, "notes")
        await send(pilot, "/kb nope")
        await until(pilot, lambda: notified(app, "no knowledge base named 'nope'"), "refusal")
        await send(pilot, "/kb notes")
        assert notified(app, "answers from knowledge base notes")
        await send(pilot, QUESTION)
        question = stored(app)[0]
        assert question.content == QUESTION
        assert [a.kind for a in question.attachments] == [AttachmentKind.KNOWLEDGE]
        assert question.passages[0].shown == "notes/install.md"
        reply = chat.query_one(Transcript).replies()[-1]
        await until(pilot, lambda: "[1] notes/install.md:1-" in sources_of(reply), "sources")
        # A click on a source opens its file at its first line in $EDITOR.
        await pilot.click(Sources, offset=(4, 1))
        await until(pilot, editor.exists, "the editor")
        install = notes.resolve() / "install.md"
        assert editor.read_text().split() == ["+1", str(install)]
        editor.unlink()
        # The reply's [1] mark is a link to its source too.
        paragraph = reply.query(MarkdownParagraph).first()
        assert "Use pip [1]." in str(paragraph.render())
        await pilot.click(paragraph, offset=(9, 0))
        await until(pilot, editor.exists, "the editor from the mark")
        assert editor.read_text().split() == ["+1", str(install)]
        assert reply.text == "Use pip [1]."  # what is kept and copied is the model's text
        editor.unlink()
        await send(pilot, "/source 1")
        await until(pilot, editor.exists, "the editor again")
        await send(pilot, "/source 9")
        assert notified(app, "/source takes a number from 1 to")
        # Nothing relevant: the model is told so, and no source is listed.
        await send(pilot, "What is the capital of Mars?")
        second = stored(app)[2]
        assert second.passages == ()
        assert "nothing in it is relevant" in second.attachments[0].text
        assert sources_of(chat.query_one(Transcript).replies()[-1]) == ""
        store = app.services.store
        assert store is not None
        cid = store.latest_id()
        assert cid is not None and store.get(cid).settings.get("kb") == "notes"
        await send(pilot, "/kb off")
        await send(pilot, "And without it?")
        assert stored(app)[4].attachments == ()
        assert store.get(cid).settings.get("kb") is None


async def test_a_reopened_chat_keeps_its_base_and_sources(
    app_factory: AppFactory, notes: Path
) -> None:
    first = app_factory(replies=["Use pip [1]."])
    async with first.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await send(pilot, "/kb notes")
        await send(pilot, QUESTION)
    again = app_factory(replies=["Still pip."], continue_latest=True)
    async with again.run_test(size=(110, 40)) as pilot:
        chat = await ready(pilot)
        transcript = chat.query_one(Transcript)
        await until(pilot, lambda: transcript.replies(), "the saved reply")
        assert "[1] notes/install.md:1-" in sources_of(transcript.replies()[0])
        assert chat.host.session is not None and chat.host.session.kb == "notes"
        await send(pilot, "软件怎么安装")  # the base is still on: Chinese finds Chinese
        assert stored(again)[2].passages[0].shown == "notes/zh/说明.md"


async def test_kb_on_the_real_engine(app_factory: AppFactory, notes: Path) -> None:
    short = Sampling(temperature=0.0, max_tokens=8)
    app = app_factory(real=True, config=Config(sampling=short))
    async with app.run_test(size=(110, 40)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "/kb notes")
        await send(pilot, QUESTION)
        question, reply = stored(app)
        assert question.passages[0].shown == "notes/install.md"
        assert reply.info is not None and (reply.info.prompt_tokens or 0) > 60  # passages given
        shown = chat.query_one(Transcript).replies()[-1]
        await until(pilot, lambda: "notes/install.md" in sources_of(shown), "sources")
