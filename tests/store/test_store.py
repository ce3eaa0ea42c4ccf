"""ConversationStore on real SQLite files."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from chattui.conversation import Message, ReplyInfo, Role
from chattui.errors import ConversationNotFoundError, StoreError
from chattui.store import SCHEMA_VERSION, ConversationStore
from chattui.store_schema import MIGRATIONS, statements


def reply_info(**changes: object) -> ReplyInfo:
    values: dict[str, object] = {
        "model_id": "smollm2-135m",
        "model_file": "SmolLM2.gguf",
        "model_size": 98362432,
        "model_sha256": "b" * 64,
        "settings": {"temperature": 0.2, "seed": 9},
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "time_to_first_token": 0.12,
        "decode_tps": 101.5,
        "finish_reason": "stop",
    }
    values.update(changes)
    return ReplyInfo(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "data" / "chattui.db")


def test_round_trip_of_every_field(store: ConversationStore) -> None:
    cid = store.create(
        title="First question\nwith two lines",
        model_id="smollm2-135m",
        system_prompt="Be brief.",
        settings={"temperature": 0.2},
    )
    first = store.add_message(
        cid, Message(Role.USER, "First question", "2026-01-01T00:00:00+00:00")
    )
    info = reply_info()
    second = store.add_message(
        cid, Message(Role.ASSISTANT, "Answer **bold**", "2026-01-01T00:00:01+00:00", info)
    )
    loaded = store.get(cid)
    assert loaded.title == "First question with two lines"
    assert loaded.system_prompt == "Be brief." and loaded.settings == {"temperature": 0.2}
    assert loaded.model_id == "smollm2-135m"
    assert loaded.messages == (
        Message(Role.USER, "First question", "2026-01-01T00:00:00+00:00", None, first),
        Message(
            Role.ASSISTANT, "Answer **bold**", "2026-01-01T00:00:01+00:00", info, second, first
        ),
    )
    assert loaded.leaf_id == second
    assert loaded.updated_at == "2026-01-01T00:00:01+00:00"


def test_resolve_prefix_unknown_and_ambiguous(store: ConversationStore) -> None:
    ids = [store.create(title=f"c{i}", model_id=None, system_prompt=None) for i in range(40)]
    for cid in ids:
        assert store.resolve(cid) == cid
        assert store.resolve(cid[:7].upper()) in ids
    with pytest.raises(ConversationNotFoundError, match="no conversation has the id 'zzzzzzzzz'"):
        store.resolve("zzzzzzzzz")
    with pytest.raises(ConversationNotFoundError, match="no conversation"):
        store.resolve("'; DROP TABLE messages; --")
    first = ids[0][0]
    same = [c for c in ids if c.startswith(first)]
    if len(same) > 1:
        with pytest.raises(ConversationNotFoundError, match="is ambiguous: it starts"):
            store.resolve(first)


def test_ambiguous_lists_candidates(store: ConversationStore) -> None:
    db = sqlite3.connect(store.path)
    for cid in ("abc11111", "abc22222"):
        db.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at) "
            "VALUES (?, 't', '2026', '2026')",
            (cid,),
        )
    db.commit()
    db.close()
    with pytest.raises(ConversationNotFoundError, match="abc11111, abc22222"):
        store.resolve("abc")


def test_list_newest_first_with_counts(store: ConversationStore) -> None:
    old = store.create(title="old", model_id="a", system_prompt=None)
    new = store.create(title="new", model_id="b", system_prompt=None)
    store.add_message(old, Message(Role.USER, "x"))
    store.add_message(old, Message(Role.ASSISTANT, "y"))
    assert [s.id for s in store.recent()] == [old, new]
    assert store.recent()[0].message_count == 2
    assert store.recent(limit=1)[0].id == old
    assert store.latest_id() == old


def test_search_ranked_with_snippets(store: ConversationStore) -> None:
    rare = store.create(title="rivers", model_id=None, system_prompt=None)
    store.add_message(rare, Message(Role.USER, "Tell me about the Danube river and its delta"))
    many = store.create(title="delta", model_id=None, system_prompt=None)
    store.add_message(many, Message(Role.USER, "delta delta delta: the Mekong delta"))
    other = store.create(title="other", model_id=None, system_prompt=None)
    store.add_message(other, Message(Role.USER, "nothing to see"))
    hits = store.search("delta")
    assert [h.id for h in hits] == [many, rare]  # more matches in a short text ranks first
    assert "[delta]" in hits[0].snippet
    assert [h.id for h in store.search("danube")] == [rare]
    assert [h.id for h in store.search("Deltas")] == [many, rare]  # any form of the word
    assert store.search("delta danube")[0].id == rare  # every word must match
    assert store.search('"unbalanced AND (') == []  # any text is a valid query
    assert store.search("   ") == []


def test_search_follows_edits_and_deletes(store: ConversationStore) -> None:
    cid = store.create(title="t", model_id=None, system_prompt=None)
    mid = store.add_message(cid, Message(Role.ASSISTANT, "partial"))
    store.update_message(mid, "partial then finished", None)
    assert store.search("finished")[0].id == cid
    store.delete([cid])
    assert store.search("finished") == [] and store.recent() == []
    assert sqlite3.connect(store.path).execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_rename_and_delete_a_branch(store: ConversationStore) -> None:
    cid = store.create(title="t", model_id=None, system_prompt=None)
    ids = [store.add_message(cid, Message(Role.USER, str(i))) for i in range(4)]
    assert store.delete_branch(cid, ids[2]) == ids[1]
    assert [m.content for m in store.get(cid).messages] == ["0", "1"]
    store.rename(cid, "  new title ")
    assert store.get(cid).title == "new title"


def test_migrates_a_version_1_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for statement in statements(MIGRATIONS[0]):
        db.execute(statement)
    db.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) "
        "VALUES ('abcd2345', 'Old chat', '2025-01-01', '2025-01-01')"
    )
    db.execute(
        "INSERT INTO messages (conversation_id, role, content, created_at) "
        "VALUES ('abcd2345', 'user', 'an aardvark question', '2025-01-01')"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = ConversationStore(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [h.id for h in store.search("aardvark")] == ["abcd2345"]  # old rows indexed
    assert store.get("abcd2345").messages[0].content == "an aardvark question"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer chattui"):
        ConversationStore(path)


def test_corrupt_file_is_reported_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "chattui.db"
    garbage = b"this is not a database" * 200
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match=f"{path} is unreadable") as caught:
        ConversationStore(path)
    assert "\n" not in str(caught.value)
    assert path.read_bytes() == garbage


def test_permissions(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "private" / "chattui.db")
    store.add_message(
        store.create(title="t", model_id=None, system_prompt=None), Message(Role.USER, "secret")
    )
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    for sidecar in store.path.parent.glob("chattui.db-*"):
        assert stat.S_IMODE(sidecar.stat().st_mode) & 0o077 == 0


def test_two_writers_at_once(tmp_path: Path) -> None:
    path = tmp_path / "chattui.db"
    ConversationStore(path).close()
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            own = ConversationStore(path)
            cid = own.create(title=name, model_id=None, system_prompt=None)
            for i in range(100):
                own.add_message(cid, Message(Role.USER, f"{name} {i}"))
            own.close()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("alpha", "beta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = ConversationStore(path)
    assert sorted(s.message_count for s in store.recent()) == [100, 100]


def sqlite_beside(store: ConversationStore, script: str) -> None:
    """Change the database from another connection, as another program could."""
    with sqlite3.connect(store.path) as other:
        other.executescript(script)


def test_a_failed_commit_is_one_line_and_leaves_the_store_usable(store: ConversationStore) -> None:
    cid = store.create(title="t", model_id=None, system_prompt=None)
    # A deferred foreign key is only checked at COMMIT: a message saying "trap" makes it fail.
    sqlite_beside(
        store,
        """
        CREATE TABLE trap (x TEXT REFERENCES conversations (id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TRIGGER trap_ai AFTER INSERT ON messages WHEN new.content = 'trap'
        BEGIN INSERT INTO trap VALUES ('no such conversation'); END;
        """,
    )
    with pytest.raises(StoreError) as caught:
        store.add_message(cid, Message(Role.USER, "trap"))
    assert str(store.path) in str(caught.value) and "\n" not in str(caught.value)
    assert "FOREIGN KEY" in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.Error)  # kept for --verbose
    store.add_message(cid, Message(Role.USER, "fine"))  # the connection still works
    assert [m.content for m in store.get(cid).messages] == ["fine"]


def test_an_error_after_sqlite_rolled_back_keeps_the_first_error(store: ConversationStore) -> None:
    cid = store.create(title="t", model_id=None, system_prompt=None)
    sqlite_beside(
        store,
        """
        CREATE TRIGGER undo AFTER INSERT ON messages WHEN new.content = 'undo'
        BEGIN SELECT RAISE(ROLLBACK, 'rolled back by the database'); END;
        """,
    )
    with pytest.raises(StoreError, match="rolled back by the database"):
        store.add_message(cid, Message(Role.USER, "undo"))
    store.add_message(cid, Message(Role.USER, "after"))
    assert [m.content for m in store.get(cid).messages] == ["after"]


def test_reads_fail_as_store_errors(store: ConversationStore) -> None:
    store.create(title="t", model_id=None, system_prompt=None)
    sqlite_beside(store, "DROP TABLE messages_fts;")  # damaged by another program
    with pytest.raises(StoreError, match=r"cannot read the conversation database .*messages_fts"):
        store.search("anything")


def test_a_database_locked_too_long_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "chattui.db"
    ConversationStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, and not finishing
    try:
        store = ConversationStore(path, busy_timeout=0.2)
        with pytest.raises(StoreError) as caught:
            store.create(title="t", model_id=None, system_prompt=None)
        message = str(caught.value)
        assert str(path) in message and "locked for over 0.2 s" in message and "\n" not in message
        assert store.recent() == []  # reading still works while another process writes
        holder.execute("INSERT INTO conversations (id, title, created_at, updated_at)"
                       " VALUES ('x', 'x', 'now', 'now')")  # fmt: skip
        holder.execute("COMMIT")
        store.create(title="t", model_id=None, system_prompt=None)  # once it is done, it works
    finally:
        holder.close()
    assert len(ConversationStore(path).recent()) == 2


def test_an_old_sqlite_is_told_what_it_needs() -> None:
    import sqlite3

    from chattui.store import _missing_feature

    message = _missing_feature(sqlite3.OperationalError("no such tokenizer: trigram"))
    assert message is not None and "needs SQLite 3.34 or newer" in message
    assert f"this Python has SQLite {sqlite3.sqlite_version}" in message
    assert "save_history = false" in message and "\n" not in message
    assert _missing_feature(sqlite3.OperationalError("disk I/O error")) is None
