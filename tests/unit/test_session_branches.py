"""ChatSession on the tree: versions kept, empty ones taken back, another writer's turns seen."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from chattui.catalog import EngineKind, ModelSpec, ResolvedModel
from chattui.chat import ChatSession
from chattui.conversation import Message, Role
from chattui.engine.base import Reply
from chattui.engine.scripted import ScriptedEngine
from chattui.errors import GenerationError, UsageError
from chattui.sampling import GenerationOptions
from chattui.store import ConversationStore

MODEL = ResolvedModel(ModelSpec(id="scripted", name="S", engine=EngineKind.SCRIPTED), None)


class DownAfterFirst(ScriptedEngine):
    """Answers once, then fails before a word, as a server that went down."""

    def _run(self, reply: Reply, text: str, options: GenerationOptions) -> Iterator[str]:
        if self.turns > 1:
            raise GenerationError("cannot reach the server")
        yield from super()._run(reply, text, options)


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "chats.db")


def session(store: ConversationStore, engine: ScriptedEngine) -> ChatSession:
    return ChatSession(engine, MODEL, GenerationOptions(), store=store)


def contents(messages: Sequence[Message]) -> list[str]:
    return [m.content for m in messages]


def test_a_regenerate_stopped_before_its_first_word_leaves_no_version(
    store: ConversationStore,
) -> None:
    chat = session(store, ScriptedEngine(["first", "second"]))
    list(chat.send("q"))
    turn = chat.regenerate()
    turn.stop()
    list(turn)
    assert turn.withdrawn and contents(chat.history) == ["q", "first"]
    assert chat.cid is not None and contents(store.get(chat.cid).messages) == ["q", "first"]
    assert len(store.tree(chat.cid)) == 2
    assert chat.branch(chat.history[-1]) is None


def test_a_failed_regenerate_leaves_the_reply_selected(store: ConversationStore) -> None:
    chat = session(store, DownAfterFirst(["first"]))
    list(chat.send("q"))
    turn = chat.regenerate()
    with pytest.raises(GenerationError):
        list(turn)
    assert turn.withdrawn and contents(chat.history) == ["q", "first"]
    assert chat.cid is not None and store.leaf(chat.cid) == chat.history[-1].id
    failed = chat.send("another")
    with pytest.raises(GenerationError):
        list(failed)
    # a new question is kept (it can be answered again); its empty failed reply is not
    assert contents(chat.history) == ["q", "first", "another"]
    assert contents(store.get(chat.cid).messages) == ["q", "first", "another"]


def test_a_stopped_reply_to_a_new_question_is_kept_as_stopped(store: ConversationStore) -> None:
    chat = session(store, ScriptedEngine(["answer"]))
    turn = chat.send("q")
    turn.stop()
    list(turn)
    assert not turn.withdrawn
    reply = chat.history[-1]
    assert reply.info is not None and reply.info.finish_reason == "stopped"


def test_refresh_counts_what_another_process_added(tmp_path: Path) -> None:
    path = tmp_path / "chats.db"
    mine = session(ConversationStore(path), ScriptedEngine(["a"]))
    list(mine.send("q"))
    other = ConversationStore(path)
    assert mine.cid is not None and mine.refresh() == 0
    last = mine.history[-1].id
    asked = other.add_message(mine.cid, Message(Role.USER, "from ask"), parent=last)
    other.add_message(mine.cid, Message(Role.ASSISTANT, "its answer"), parent=asked)
    assert mine.refresh() == 2
    assert contents(mine.history) == ["q", "a"]  # the branch in view stays as it was seen
    list(mine.send("mine"))
    assert mine.branch(mine.history[-2]) == (2, 2)
    assert len(other.tree(mine.cid)) == 6


def test_switching_versions_is_saved_and_survives_reopening(store: ConversationStore) -> None:
    chat = session(store, ScriptedEngine(["one", "two"]))
    list(chat.send("q"))
    list(chat.regenerate())
    assert chat.show_sibling(chat.history[-1], -1)
    assert not chat.show_sibling(chat.history[-1], -1)  # already the first
    assert chat.cid is not None
    again = ChatSession(
        ScriptedEngine([]),
        MODEL,
        GenerationOptions(),
        store=store,
        conversation=store.get(chat.cid),
    )
    assert contents(again.history) == ["q", "one"] and again.branch(again.history[-1]) == (1, 2)


def test_switching_reads_only_what_the_branch_in_view_lacks(tmp_path: Path) -> None:
    path = tmp_path / "chats.db"
    store = ConversationStore(path)
    chat = session(store, ScriptedEngine(["one", "two", "three"]))
    list(chat.send("q"))
    list(chat.send("more"))
    first = chat.history[1]
    list(chat.regenerate())  # "three" beside "two"
    assert chat.cid is not None
    read: list[list[int]] = []
    messages = store.messages

    def counting(cid: str, ids: Sequence[int]) -> list[Message]:
        read.append(list(ids))
        return messages(cid, ids)

    store.messages = counting  # type: ignore[method-assign]
    assert chat.show_sibling(chat.history[-1], -1)
    assert contents(chat.history) == ["q", "one", "more", "two"]
    assert len(read) == 1 and len(read[0]) == 1  # "two" alone: the rest was in view
    assert chat.history[1] is first
    # Another process deletes the version about to be shown: the tree is read again.
    other = ConversationStore(path)
    three = chat.outline.neighbour(chat.history[-1].id or 0, 1)
    assert three is not None
    assert other.delete_branch(chat.cid, three) is not None
    with pytest.raises(UsageError, match="no longer in conversation"):
        chat.show_sibling(chat.history[-1], 1)
    assert contents(chat.history) == ["q", "one", "more", "two"]
    assert chat.branch(chat.history[-1]) is None  # the versions left: one
    assert contents(store.get(chat.cid).messages) == ["q", "one", "more", "two"]


def test_regenerate_and_edit_keep_what_was_attached(store: ConversationStore) -> None:
    from chattui.conversation import Attachment, AttachmentKind

    notes = Attachment("notes.txt", AttachmentKind.TEXT, 9, "0" * 64, "the notes")
    chat = session(store, ScriptedEngine(["one", "two", "three"]))
    list(chat.send("q", [notes]))
    list(chat.regenerate())
    assert chat.cid is not None
    asked = chat.history[0]
    assert asked.attachments[0].text == "the notes" and (asked.attachments[0].tokens or 0) > 0
    assert "the notes" in chat.prompt_messages()[0].as_chat_dict()["content"]
    list(chat.edit_last("q, asked again"))
    again = store.get(chat.cid).messages[0]
    assert again.content == "q, asked again" and again.attachments == asked.attachments
    assert [m.attachments for m in store.tree(chat.cid) if m.role is Role.USER] == [
        asked.attachments,
        asked.attachments,
    ]
