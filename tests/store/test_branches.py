"""The message tree: branches, the leaf in view, the migration of linear chats, two writers."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from chattui.conversation import Message, Outline, Role
from chattui.engine.kvstate import Snapshot, SnapshotStore
from chattui.errors import StoreError
from chattui.store import ConversationStore
from chattui.store_schema import MIGRATIONS, statements


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "chats.db")


def user(text: str) -> Message:
    return Message(Role.USER, text)


def reply(text: str) -> Message:
    return Message(Role.ASSISTANT, text)


def contents(store: ConversationStore, cid: str, **where: int) -> list[str]:
    return [m.content for m in store.get(cid, **where).messages]


def test_a_sibling_keeps_the_old_version_and_becomes_the_leaf(store: ConversationStore) -> None:
    cid = store.create(title="t", model_id=None, system_prompt=None)
    q = store.add_message(cid, user("q"))
    first = store.add_message(cid, reply("first"), parent=q)
    second = store.add_message(cid, reply("second"), parent=q)
    chat = store.get(cid)
    assert [m.content for m in chat.messages] == ["q", "second"]
    assert chat.leaf_id == second and chat.outline.branch(second) == (2, 2)
    assert chat.outline.siblings(first) == (first, second)
    assert contents(store, cid, leaf=first) == ["q", "first"]
    store.set_leaf(cid, first)
    assert contents(store, cid) == ["q", "first"]
    assert store.leaf(cid) == first


def test_a_parent_from_another_chat_is_refused(store: ConversationStore) -> None:
    a = store.create(title="a", model_id=None, system_prompt=None)
    b = store.create(title="b", model_id=None, system_prompt=None)
    mid = store.add_message(a, user("in a"))
    with pytest.raises(StoreError, match="not in conversation"):
        store.add_message(b, reply("x"), parent=mid)
    store.set_leaf(b, mid)  # ignored: not b's
    assert store.leaf(b) is None and contents(store, b) == []


def test_through_opens_the_newest_branch_that_holds_a_message(store: ConversationStore) -> None:
    cid = store.create(title="t", model_id=None, system_prompt=None)
    q = store.add_message(cid, user("q"))
    old = store.add_message(cid, reply("old answer"), parent=q)
    store.add_message(cid, user("follow-up on old"), parent=old)
    store.add_message(cid, reply("new answer"), parent=q)
    assert contents(store, cid) == ["q", "new answer"]
    assert contents(store, cid, through=old) == ["q", "old answer", "follow-up on old"]


def test_deleting_a_branch_removes_its_subtree_and_moves_the_leaf(tmp_path: Path) -> None:
    snapshots = SnapshotStore(tmp_path / "kv", 1 << 30)
    store = ConversationStore(tmp_path / "chats.db", snapshots=snapshots)
    cid = store.create(title="t", model_id=None, system_prompt=None)
    q = store.add_message(cid, user("q"))
    keep = store.add_message(cid, reply("keep"), parent=q)
    gone = store.add_message(cid, reply("gone"), parent=q)
    below = store.add_message(cid, user("below gone"), parent=gone)
    snapshots.save(cid, "key", Snapshot([1, 2, 3], b"\x00" * 64))
    assert store.delete_branch(cid, gone) == keep
    assert contents(store, cid) == ["q", "keep"]
    assert below not in store.outline(cid).parents
    assert store.search("gone") == []
    assert snapshots.load(cid, "key") is None  # its tokens may hold the deleted text
    with pytest.raises(StoreError):
        store.delete_branch(cid, gone)
    assert store.delete_branch(cid, q) is None and contents(store, cid) == []


def test_withdraw_takes_back_an_empty_failed_reply(store: ConversationStore) -> None:
    cid = store.create(title="t", model_id=None, system_prompt=None)
    q = store.add_message(cid, user("q"))
    good = store.add_message(cid, reply("good"), parent=q)
    failed = store.add_message(cid, reply(""), parent=q)
    store.withdraw(cid, failed, good)
    chat = store.get(cid)
    assert chat.leaf_id == good and failed not in chat.outline.parents


def test_fork_copies_the_branch_in_view(store: ConversationStore) -> None:
    cid = store.create(title="原来的对话", model_id="m", system_prompt="sys")
    q = store.add_message(cid, user("q"))
    a = store.add_message(cid, reply("a"), parent=q)
    store.add_message(cid, reply("b"), parent=q)
    new = store.fork(cid, a)
    fork = store.get(new)
    assert fork.title == "原来的对话 (fork)" and fork.system_prompt == "sys"
    assert [m.content for m in fork.messages] == ["q", "a"]
    assert len(fork.outline.parents) == 2 and fork.outline.forks == 0
    assert contents(store, cid) == ["q", "b"]  # the original is as it was


def test_two_writers_each_add_under_what_they_saw(tmp_path: Path) -> None:
    path = tmp_path / "chats.db"
    app, ask = ConversationStore(path), ConversationStore(path)
    cid = app.create(title="t", model_id=None, system_prompt=None)
    q = app.add_message(cid, user("q"))
    seen = app.add_message(cid, reply("a"), parent=q)
    # ask -c continues the leaf; the app, which saw only "a", then sends under it too
    asked = ask.add_message(cid, user("from ask"), parent=seen)
    ask.add_message(cid, reply("ask's answer"), parent=asked)
    mine = app.add_message(cid, user("from the app"), parent=seen)
    chat = app.get(cid)
    assert chat.outline.siblings(mine) == (asked, mine)
    assert contents(app, cid, through=asked) == ["q", "a", "from ask", "ask's answer"]
    assert [m.content for m in chat.messages] == ["q", "a", "from the app"]
    assert len(app.tree(cid)) == 5


def write_linear_database(path: Path, chats: int, per_chat: int) -> None:
    """A database as chattui wrote it before branches (schema 3), chats interleaved in time."""
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:3]:
        for statement in statements(migration):
            db.execute(statement)
    db.execute("PRAGMA user_version = 3")
    db.executemany(
        "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, '', '')",
        [(f"c{n:07d}", f"chat {n}") for n in range(chats)],
    )
    db.executemany(
        "INSERT INTO messages (conversation_id, role, content, created_at)"
        " VALUES (?, ?, ?, '2026-01-01')",
        [
            (f"c{n:07d}", "user" if turn % 2 == 0 else "assistant", f"chat {n} turn {turn}")
            for turn in range(per_chat)
            for n in range(chats)
        ],
    )
    db.commit()
    db.close()


def test_migration_makes_each_existing_chat_one_branch(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    write_linear_database(path, chats=40, per_chat=25)
    store = ConversationStore(path)
    for n in (0, 17, 39):
        chat = store.get(f"c{n:07d}")
        assert [m.content for m in chat.messages] == [f"chat {n} turn {t}" for t in range(25)]
        assert chat.outline.forks == 0 and chat.leaf_id == chat.messages[-1].id
        assert chat.messages[0].parent_id is None
        assert all(m.parent_id == p.id for p, m in itertools.pairwise(chat.messages))
    assert store.search("turn 24")  # the index is intact
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == len(MIGRATIONS)


def test_outline_walks() -> None:
    outline = Outline({1: None, 2: 1, 3: 1, 4: 3, 5: None, 6: 4})
    assert outline.children[None] == (1, 5) and outline.branch(5) == (2, 2)
    assert outline.leaf_under(1) == 6 and outline.leaf_under(2) == 2
    assert outline.path_to(6) == [1, 3, 4, 6]
    assert outline.neighbour(2, 1) == 3 and outline.neighbour(3, 1) is None
    assert outline.subtree(3) == [3, 4, 6] and outline.forks == 2
    assert outline.branch(4) is None
