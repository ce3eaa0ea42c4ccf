"""ConversationStore: every chat saved in SQLite, searchable, exportable, never lost.

WAL journal, foreign keys, a busy timeout so two chattui processes can write at once, and a schema
versioned with ``PRAGMA user_version`` (ordered migrations, each in one transaction). The file is
private to the user (0600 in a 0700 folder). A damaged file is reported, never replaced.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from chattui.conversation import (
    Attachment,
    AttachmentKind,
    Conversation,
    ConversationSummary,
    Message,
    Outline,
    Passage,
    ReplyInfo,
    Role,
    SearchHit,
    ToolCall,
    ToolOutcome,
    info_from_dict,
    info_to_dict,
    passages_from_list,
    passages_to_list,
    prefix_id,
    title_from,
    utc_now,
)
from chattui.engine.kvstate import DEFAULT_CAP_MB, SnapshotStore
from chattui.errors import ConversationNotFoundError, StoreError
from chattui.paths import Paths
from chattui.store_schema import MIGRATIONS, statements
from chattui.store_search import (
    ATTACHMENTS,
    MESSAGES,
    TOOL_CALLS,
    Term,
    candidates,
    doubtful,
    score,
    snippet,
    terms,
)

T = TypeVar("T")
SCHEMA_VERSION = len(MIGRATIONS)
ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
ID_LENGTH = 8
BUSY_TIMEOUT = 10.0
"""Seconds to wait for another process's write before giving up."""
LEAF: Final = "leaf"
"""``add_message``'s default parent: the chat's current leaf."""
SEARCH_CANDIDATES = 2000
"""Most matching messages ranked by one search (the newest ones)."""


def new_id() -> str:
    """A short random conversation id."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def _locked(method: Callable[..., T]) -> Callable[..., T]:
    """Run a reading method under the store's lock; SQLite's errors become ``StoreError``."""

    @functools.wraps(method)
    def run(self: ConversationStore, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as error:
                raise self._error("read", error) from error

    return run


def _info_json(info: ReplyInfo | None) -> str | None:
    data = info_to_dict(info)
    return None if data is None else json.dumps(data)


class ConversationStore:
    """Saved conversations in one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        snapshots: SnapshotStore | None = None,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        """Open (creating if needed) the database and bring its schema up to date.

        Args:
            path: The database file.
            snapshots: The chats' KV snapshots, deleted with them.
            busy_timeout: Seconds to wait for another process's write to finish.

        Raises:
            StoreError: The file cannot be opened, is not a chattui database, or is damaged.
        """
        self.path = path
        self.snapshots = snapshots
        """The chats' KV snapshots (engine/kvstate.py): a deleted chat's go with it."""
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        try:
            _private_file(path)
            # One connection shared by the UI thread and the generation worker, serialised by
            # self._lock (sqlite3 objects must not be used by two threads at once).
            self._db = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open the conversation database {path}: {error}") from error
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA foreign_keys = ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{path} was written by a newer chattui (schema {version}); upgrade chattui"
                )
            self._db.execute("PRAGMA journal_mode = WAL")
            # With WAL, NORMAL never corrupts and loses nothing when a process dies; only a power
            # cut can drop the last commits. It saves an fsync per write while a reply streams.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate(version)
        except (sqlite3.Error, StoreError) as error:
            self._db.close()
            cause = error.__cause__ if isinstance(error, StoreError) else error
            if isinstance(cause, sqlite3.Error) and (missing := _missing_feature(cause)):
                raise StoreError(missing) from error
            if isinstance(error, StoreError):
                raise
            if _is_locked(error):
                raise self._error("open", error) from error
            raise StoreError(
                f"the conversation database {path} is unreadable ({error}); move it aside to "
                "start a new one, or repair it with the sqlite3 tool"
            ) from error

    def _migrate(self, version: int) -> None:
        """Apply the migrations after ``version``, each in one transaction."""
        for number in range(version, SCHEMA_VERSION):
            with self._write():
                # Re-read under the write lock: another process may have migrated meanwhile.
                if self._db.execute("PRAGMA user_version").fetchone()[0] > number:
                    continue
                for statement in statements(MIGRATIONS[number]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the lock up front so concurrent writers queue.

        Any SQLite error (the statements' or COMMIT's) rolls it back, leaves the connection
        usable and is raised as a ``StoreError`` caused by it.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            except sqlite3.Error as error:
                raise self._error("write to", error) from error

    def _rollback(self) -> None:
        """End a failed transaction, unless SQLite already did (its error is the one to keep)."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _error(self, doing: str, error: sqlite3.Error) -> StoreError:
        """One line for the user naming the database, what failed and what to do."""
        if _is_locked(error):
            return StoreError(
                f"cannot {doing} the conversation database {self.path}: another process has "
                f"held it locked for over {self.busy_timeout:g} s; close the other chattui (or "
                "sqlite3) using it and try again"
            )
        return StoreError(f"cannot {doing} the conversation database {self.path}: {error}")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # Conversations -----------------------------------------------------------------------

    def create(
        self,
        *,
        title: str,
        model_id: str | None,
        system_prompt: str | None,
        settings: Mapping[str, Any] | None = None,
        created_at: str | None = None,
    ) -> str:
        """Start a conversation and return its id."""
        now = created_at or utc_now()
        with self._write() as db:
            return _insert_conversation(
                db, title_from(title) or "New chat", now, now, model_id, system_prompt, settings
            )

    def add_message(
        self, cid: str, message: Message, *, parent: int | Literal["leaf"] | None = LEAF
    ) -> int:
        """Add a message after ``parent`` and make it the chat's leaf; return its id.

        Committed before this returns. ``parent`` is the message it follows, as the writer saw
        the chat (None: a first message; ``LEAF``: the chat's current leaf). Two processes
        writing to one chat each add under what they saw: a branch, never a loss.

        Raises:
            StoreError: ``parent`` is not a message of this chat, or the write failed.
        """
        created = message.created_at or utc_now()
        with self._write() as db:
            if parent == LEAF:
                row = db.execute("SELECT leaf_id FROM conversations WHERE id = ?", (cid,))
                found = row.fetchone()
                parent = None if found is None else found[0]
            elif (
                parent is not None
                and not db.execute(
                    "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?", (parent, cid)
                ).fetchone()
            ):
                raise StoreError(f"message {parent} is not in conversation {cid} any more")
            mid = _insert_message(db, cid, message, parent, created)
            db.execute(
                "UPDATE conversations SET updated_at = :now, leaf_id = :leaf,"
                " model_id = COALESCE(:model, model_id) WHERE id = :cid",
                {
                    "now": created,
                    "cid": cid,
                    "leaf": mid,
                    "model": message.info.model_id if message.info else None,
                },
            )
        return mid

    def update_message(
        self,
        message_id: int,
        content: str,
        info: ReplyInfo | None,
        tool_calls: Sequence[ToolCall] | None = None,
    ) -> None:
        """Rewrite a message being streamed (its text so far, or its final text and figures).

        ``tool_calls``, when given, replace the calls saved with it.
        """
        with self._write() as db:
            db.execute(
                "UPDATE messages SET content = :content, info = :info WHERE id = :id",
                {"content": content, "info": _info_json(info), "id": message_id},
            )
            if tool_calls is not None:
                db.execute("DELETE FROM tool_calls WHERE message_id = ?", (message_id,))
                _insert_tool_calls(db, message_id, tool_calls)

    def set_leaf(self, cid: str, leaf_id: int) -> None:
        """Make the branch that ends at ``leaf_id`` the one the chat shows and continues."""
        with self._write() as db:
            db.execute(
                "UPDATE conversations SET leaf_id = ? WHERE id = ? AND EXISTS"
                " (SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)",
                (leaf_id, cid, leaf_id, cid),
            )

    def withdraw(self, cid: str, message_id: int, leaf: int | None) -> None:
        """Remove a reply that failed before its first word, and show ``leaf`` again.

        A regenerate that fails (a server down) then leaves the reply it would have replaced
        in place and selected, and no empty version beside it. A message with followers stays.
        """
        with self._write() as db:
            db.execute(
                "DELETE FROM messages WHERE id = ? AND conversation_id = ? AND NOT EXISTS"
                " (SELECT 1 FROM messages WHERE parent_id = ?)",
                (message_id, cid, message_id),
            )
            db.execute(
                "UPDATE conversations SET leaf_id = ? WHERE id = ? AND leaf_id = ?",
                (leaf, cid, message_id),
            )

    def delete_branch(self, cid: str, message_id: int) -> int | None:
        """Delete a message and everything that follows it; return the chat's leaf after.

        The explicit way to remove a branch (the app asks first). The chat's KV snapshots go
        too: their tokens may hold the deleted text.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT parent_id FROM messages WHERE id = ? AND conversation_id = ?",
                (message_id, cid),
            ).fetchone()
            if row is None:
                raise StoreError(f"message {message_id} is not in conversation {cid}")
            prefixes = _prefix_ids(db, _SUBTREE_ATTACHMENTS, {"mid": message_id})
            db.execute(
                "WITH RECURSIVE below(id) AS (SELECT :mid UNION ALL"
                " SELECT m.id FROM messages m JOIN below b ON m.parent_id = b.id)"
                " DELETE FROM messages WHERE id IN below",
                {"mid": message_id},
            )
            outline = _outline(db, cid)
            leaf = db.execute("SELECT leaf_id FROM conversations WHERE id = ?", (cid,))
            current = leaf.fetchone()[0]
            if current not in outline.parents:
                parent = row["parent_id"]
                if parent is not None:
                    current = outline.leaf_under(parent)
                else:
                    current = max(outline.parents, default=None)
                db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (current, cid))
        if self.snapshots is not None:
            self.snapshots.delete([cid, *prefixes])
        return current  # type: ignore[no-any-return]

    def fork(self, cid: str, leaf_id: int) -> str:
        """Copy the branch that ends at ``leaf_id`` into a new chat; return its id."""
        c = self.get(cid, leaf=leaf_id)
        with self._write() as db:
            new = _insert_conversation(
                db,
                title_from(f"{c.title} (fork)"),
                utc_now(),
                utc_now(),
                c.model_id,
                c.system_prompt,
                c.settings,
            )
            parent = None
            for message in c.messages:
                parent = _insert_message(db, new, message, parent, message.created_at)
            db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (parent, new))
        return new

    def import_conversation(self, conversation: Conversation) -> str:
        """Save a whole conversation (from an export) under a new id, times kept.

        Its messages may form a tree: each then has an id and the id of its parent, both local
        to the document, a parent always before its children (``transcript.from_document``
        checks it). Messages without ids follow one another.
        """
        c = conversation
        with self._write() as db:
            cid = _insert_conversation(
                db, c.title, c.created_at, c.updated_at, c.model_id, c.system_prompt, c.settings
            )
            new_ids: dict[int, int] = {}
            previous: int | None = None
            for m in conversation.messages:
                if m.id is None:
                    parent = previous
                else:
                    parent = None if m.parent_id is None else new_ids[m.parent_id]
                previous = _insert_message(db, cid, m, parent, m.created_at)
                if m.id is not None:
                    new_ids[m.id] = previous
            leaf = new_ids.get(c.leaf_id, previous) if c.leaf_id is not None else previous
            db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (leaf, cid))
        return cid

    def rename(self, cid: str, title: str) -> None:
        """Give a conversation a new title."""
        with self._write() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title.strip(), cid))

    def set_instructions(
        self, cid: str, system_prompt: str | None, role: str | None, kb: str | None = None
    ) -> None:
        """Record the system prompt, role and knowledge base a conversation now follows."""
        with self._write() as db:
            row = db.execute("SELECT settings FROM conversations WHERE id = ?", (cid,)).fetchone()
            if row is None:
                return
            settings = json.loads(row["settings"] or "{}")
            for key, value in (("role", role), ("kb", kb)):
                settings.pop(key, None)
                if value is not None:
                    settings[key] = value
            db.execute(
                "UPDATE conversations SET system_prompt = ?, settings = ? WHERE id = ?",
                (system_prompt, json.dumps(settings), cid),
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Delete conversations, their messages and their KV snapshots.

        The one way a chat is deleted, from the app and the command line alike: a snapshot's
        tokens are the chat's text, so it must not outlive it.
        """
        with self._write() as db:
            prefixes = _prefix_ids(db, _CHATS_ATTACHMENTS, {"ids": json.dumps(list(ids))})
            db.executemany("DELETE FROM conversations WHERE id = ?", [(i,) for i in ids])
        if self.snapshots is not None:
            self.snapshots.delete([*ids, *prefixes])

    @classmethod
    def at(cls, paths: Paths, kv_cache_max_mb: int | None = None) -> ConversationStore:
        """The user's store with its KV snapshots (capped at ``kv_cache_max_mb``).

        Raises:
            StoreError: The database cannot be opened.
        """
        cap = DEFAULT_CAP_MB if kv_cache_max_mb is None else kv_cache_max_mb
        return cls(paths.database, snapshots=SnapshotStore(paths.kv_dir, cap << 20))

    # Reading -----------------------------------------------------------------------------

    @_locked
    def resolve(self, prefix: str) -> str:
        """Find the one conversation whose id starts with ``prefix``.

        Raises:
            ConversationNotFoundError: None matches, or several do (they are listed).
        """
        wanted = prefix.strip().lower()
        if not wanted or any(c not in ID_ALPHABET for c in wanted):
            raise ConversationNotFoundError(f"no conversation has the id '{prefix}'")
        rows = self._db.execute(
            "SELECT id FROM conversations WHERE id >= :p AND id < :p || '~' ORDER BY id LIMIT 6",
            {"p": wanted},
        ).fetchall()
        if not rows:
            raise ConversationNotFoundError(f"no conversation has the id '{prefix}'")
        if len(rows) > 1:
            candidates = ", ".join(row["id"] for row in rows[:5])
            raise ConversationNotFoundError(
                f"the id '{prefix}' is ambiguous: it starts {candidates}"
                + (", ..." if len(rows) > 5 else "")
                + "; give more characters"
            )
        return str(rows[0]["id"])

    @_locked
    def latest_id(self) -> str | None:
        """The id of the most recently updated conversation."""
        row = self._db.execute(
            "SELECT id FROM conversations ORDER BY updated_at DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row["id"])

    @_locked
    def get(self, cid: str, *, leaf: int | None = None, through: int | None = None) -> Conversation:
        """Load a conversation: the branch in view, and the outline of the whole tree.

        Args:
            cid: The conversation's exact id.
            leaf: Load the branch that ends at this message instead of the saved leaf.
            through: Load the newest branch that passes through this message (a search hit).

        Raises:
            ConversationNotFoundError: No conversation has this exact id.
        """
        row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise ConversationNotFoundError(f"no conversation has the id '{cid}'")
        outline = _outline(self._db, cid)
        if through is not None and through in outline.parents:
            leaf = outline.leaf_under(through)
        if leaf is None or leaf not in outline.parents:
            leaf = row["leaf_id"]
        if leaf not in outline.parents:  # a leaf another process deleted: the newest message
            leaf = max(outline.parents, default=None)
        path = outline.path_to(leaf) if leaf is not None else []
        messages = tuple(_messages(self._db, cid, path))
        return Conversation(
            id=row["id"],
            title=row["title"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            model_id=row["model_id"],
            system_prompt=row["system_prompt"],
            settings=json.loads(row["settings"]),
            messages=messages,
            leaf_id=leaf,
            outline=outline,
        )

    @_locked
    def messages(self, cid: str, ids: Sequence[int]) -> list[Message]:
        """The messages of ``cid`` with these ids, oldest first; those deleted are left out."""
        return _messages(self._db, cid, ids)

    @_locked
    def outline(self, cid: str) -> Outline:
        """The shape of a conversation's tree (empty for an unknown id)."""
        return _outline(self._db, cid)

    @_locked
    def leaf(self, cid: str) -> int | None:
        """The last message of the branch the chat continues, as saved."""
        row = self._db.execute("SELECT leaf_id FROM conversations WHERE id = ?", (cid,)).fetchone()
        return None if row is None else row[0]

    @_locked
    def tree(self, cid: str) -> list[Message]:
        """Every message of a conversation, every branch, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (cid,)
        )
        return _attached(self._db, [_message(row) for row in rows])

    @_locked
    def recent(self, limit: int = 50) -> list[ConversationSummary]:
        """The newest conversations first."""
        rows = self._db.execute(
            "SELECT c.id, c.title, c.model_id, c.updated_at,"
            " (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n"
            " FROM conversations c ORDER BY c.updated_at DESC LIMIT ?",
            (limit,),
        )
        return [
            ConversationSummary(r["id"], r["title"], r["model_id"], r["n"], r["updated_at"])
            for r in rows
        ]

    @_locked
    def search(self, query: str, limit: int = 20, *, as_typed: bool = False) -> list[SearchHit]:
        """Conversations whose messages hold every word of ``query``, best match first.

        Words are found in any script (see store_search): English by any form of the word
        ("rivers" finds "river"), Chinese, Japanese and Korean words of any length inside
        sentences, and a Latin word glued to them. FTS syntax is not exposed, so any text is a
        valid query. Each hit comes with a snippet of its best message.

        ``as_typed`` is for a query being typed: its last word is matched as the start of a word
        ("riv" finds "river").
        """
        words = terms(query, as_typed=as_typed)
        if not words:
            return []
        # Rank at most the newest SEARCH_CANDIDATES matching messages (and attachments): a rare
        # word is ranked over the whole store, a word found everywhere over the recent chats, so
        # the cost stays flat as the store grows.
        rows: list[sqlite3.Row] = []
        for source in (MESSAGES, ATTACHMENTS, TOOL_CALLS):
            found = candidates(
                words,
                SEARCH_CANDIDATES,
                functools.partial(self._trigrams_starting, source.table),
                source,
            )
            if found is not None:
                rows += self._confirm(words, self._db.execute(*found).fetchall(), source.table)
        best: dict[str, tuple[float, int, str, str]] = {}
        for row in sorted(rows, key=lambda r: -r["message_id"]):  # newest first: kept on ties
            value = score(words, row["content"].lower())
            cid = row["conversation_id"]
            if cid not in best or value > best[cid][0]:
                best[cid] = (value, row["message_id"], row["content"], row["name"])
        chosen = sorted(best.items(), key=lambda item: (-item[1][0], -item[1][1]))[:limit]
        if not chosen:
            return []
        marks = ",".join("?" * len(chosen))
        titles = {
            row["id"]: row
            for row in self._db.execute(
                f"SELECT id, title, updated_at FROM conversations WHERE id IN ({marks})",  # noqa: S608
                [cid for cid, _ in chosen],
            )
        }
        return [
            SearchHit(
                cid,
                titles[cid]["title"],
                (f"{name}: " if name else "") + snippet(content, words),
                titles[cid]["updated_at"],
                mid,
            )
            for cid, (_, mid, content, name) in chosen
        ]

    def _trigrams_starting(self, table: str, text: str) -> list[str]:
        """The trigrams ``table``'s index holds that begin with ``text`` (one or two characters).

        ``table`` is a fixed name (messages, attachments), never input.
        """
        rows = self._db.execute(
            f"SELECT term FROM {table}_tri_terms WHERE term >= ? AND term < ?",  # noqa: S608
            (text, text + "\U0010ffff"),
        )
        return [row[0] for row in rows]

    def _confirm(self, words: list[Term], rows: list[sqlite3.Row], table: str) -> list[sqlite3.Row]:
        """Drop messages where a Latin word was found only inside a longer word.

        Those came from the trigram index; the stemmer is asked whether it found the word.
        """
        doubts = {row["id"]: doubtful(words, row["content"].lower()) for row in rows}
        dropped: set[int] = set()
        for index, term in enumerate(words):
            ids = [mid for mid, which in doubts.items() if index in which]
            if not ids:
                continue
            marks = ",".join("?" * len(ids))
            stemmed = {
                row[0]
                for row in self._db.execute(
                    f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ?"  # noqa: S608
                    f" AND rowid IN ({marks})",
                    [term.stemmed, *ids],
                )
            }
            dropped.update(mid for mid in ids if mid not in stemmed)
        return [row for row in rows if row["id"] not in dropped]


def _insert_message(
    db: sqlite3.Connection, cid: str, message: Message, parent: int | None, created: str
) -> int:
    """Insert a message row after ``parent`` (inside a write transaction); return its id."""
    cursor = db.execute(
        "INSERT INTO messages (conversation_id, parent_id, role, content, created_at, info)"
        " VALUES (:cid, :parent, :role, :content, :created, :info)",
        {
            "cid": cid,
            "parent": parent,
            "role": str(message.role),
            "content": message.content,
            "created": created,
            "info": _info_json(message.info),
        },
    )
    assert cursor.lastrowid is not None
    for position, a in enumerate(message.attachments):
        db.execute(
            "INSERT INTO attachments (message_id, position, name, kind, size, sha256, content,"
            " language, note, mime, data, tokens, passages)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cursor.lastrowid,
                position,
                a.name,
                str(a.kind),
                a.size,
                a.sha256,
                a.text,
                a.language,
                a.note,
                a.mime,
                a.data or None,
                a.tokens,
                json.dumps(passages_to_list(a.passages), ensure_ascii=False),
            ),
        )
    _insert_tool_calls(db, cursor.lastrowid, message.tool_calls)
    return cursor.lastrowid


def _insert_tool_calls(db: sqlite3.Connection, message_id: int, calls: Sequence[ToolCall]) -> None:
    db.executemany(
        "INSERT INTO tool_calls (message_id, position, call_id, name, arguments, said, content,"
        " outcome, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (message_id, n, c.id, c.name, c.arguments, c.text, c.result, str(c.outcome), c.seconds)
            for n, c in enumerate(calls)
        ],
    )


_SUBTREE_ATTACHMENTS = (
    "WITH RECURSIVE below(id) AS (SELECT :mid UNION ALL"
    " SELECT m.id FROM messages m JOIN below b ON m.parent_id = b.id)"
    " SELECT a.message_id, a.name, a.kind, a.sha256, c.system_prompt FROM attachments a"
    " JOIN messages m ON m.id = a.message_id JOIN conversations c ON c.id = m.conversation_id"
    " WHERE a.message_id IN below ORDER BY a.message_id, a.position"
)
"""What is attached to message ``:mid`` and every message after it."""
_CHATS_ATTACHMENTS = (
    "SELECT a.message_id, a.name, a.kind, a.sha256, c.system_prompt FROM attachments a"
    " JOIN messages m ON m.id = a.message_id JOIN conversations c ON c.id = m.conversation_id"
    " WHERE m.conversation_id IN (SELECT value FROM json_each(:ids))"
    " ORDER BY a.message_id, a.position"
)
"""What is attached to the messages of the chats ``:ids`` (a JSON list)."""


def _prefix_ids(db: sqlite3.Connection, query: str, params: Mapping[str, object]) -> list[str]:
    """The KV snapshots of prompts that begin with the attachments ``query`` selects.

    Their text is in those snapshots: they go when the messages do.
    """
    rows = db.execute(query, params)
    found: dict[int, tuple[str | None, list[Attachment]]] = {}
    for row in rows:
        entry = found.setdefault(row["message_id"], (row["system_prompt"], []))
        entry[1].append(Attachment(row["name"], AttachmentKind(row["kind"]), 0, row["sha256"]))
    return [prefix_id(system, attached) for system, attached in found.values()]


def _messages(db: sqlite3.Connection, cid: str, ids: Sequence[int]) -> list[Message]:
    """The messages of ``cid`` with these ids, with their attachments, oldest first."""
    rows = db.execute(
        "SELECT * FROM messages WHERE conversation_id = ?"
        " AND id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (cid, json.dumps(list(ids))),
    )
    return _attached(db, [_message(row) for row in rows])


def _passages(saved: str) -> tuple[Passage, ...]:
    """The passages saved with an attachment (none, if the JSON was damaged by hand)."""
    try:
        return passages_from_list(json.loads(saved))
    except ValueError:
        return ()


def _attached(db: sqlite3.Connection, messages: list[Message]) -> list[Message]:
    """``messages`` with what was attached to each (read in one query)."""
    ids = [m.id for m in messages if m.id is not None]
    if not ids:
        return messages
    found: dict[int, list[Attachment]] = {}
    rows = db.execute(
        "SELECT * FROM attachments WHERE message_id IN (SELECT value FROM json_each(?))"
        " ORDER BY message_id, position",
        (json.dumps(ids),),
    )
    for row in rows:
        found.setdefault(row["message_id"], []).append(
            Attachment(
                row["name"],
                AttachmentKind(row["kind"]),
                row["size"],
                row["sha256"],
                row["content"],
                row["language"],
                row["note"],
                row["mime"],
                row["data"] or b"",
                row["tokens"],
                _passages(row["passages"]),
            )
        )
    calls: dict[int, list[ToolCall]] = {}
    rows = db.execute(
        "SELECT * FROM tool_calls WHERE message_id IN (SELECT value FROM json_each(?))"
        " ORDER BY message_id, position",
        (json.dumps(ids),),
    )
    for row in rows:
        outcome = row["outcome"] if row["outcome"] in set(ToolOutcome) else ToolOutcome.FAILED
        calls.setdefault(row["message_id"], []).append(
            ToolCall(
                row["call_id"],
                row["name"],
                row["arguments"],
                row["said"],
                row["content"],
                ToolOutcome(outcome),
                row["seconds"],
            )
        )
    return [
        replace(m, attachments=tuple(found.get(m.id, ())), tool_calls=tuple(calls.get(m.id, ())))
        if m.id in found or m.id in calls
        else m
        for m in messages
    ]


def _message(row: sqlite3.Row) -> Message:
    """A message from its row."""
    return Message(
        Role(row["role"]),
        row["content"],
        row["created_at"],
        info_from_dict(json.loads(row["info"])) if row["info"] else None,
        row["id"],
        row["parent_id"],
    )


def _outline(db: sqlite3.Connection, cid: str) -> Outline:
    """The tree's shape: every message's parent."""
    rows = db.execute("SELECT id, parent_id FROM messages WHERE conversation_id = ?", (cid,))
    return Outline({row[0]: row[1] for row in rows})


def _insert_conversation(
    db: sqlite3.Connection,
    title: str,
    created_at: str,
    updated_at: str,
    model_id: str | None,
    system_prompt: str | None,
    settings: Mapping[str, Any] | None,
) -> str:
    """Insert a conversation row under a fresh unused id (inside a write transaction)."""
    while True:
        cid = new_id()
        if not db.execute("SELECT 1 FROM conversations WHERE id = ?", (cid,)).fetchone():
            break
    db.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at, model_id, system_prompt,"
        " settings) VALUES (:id, :title, :created, :updated, :model, :system, :settings)",
        {
            "id": cid,
            "title": title,
            "created": created_at,
            "updated": updated_at,
            "model": model_id,
            "system": system_prompt,
            "settings": json.dumps(dict(settings or {})),
        },
    )
    return cid


def _missing_feature(error: sqlite3.Error) -> str | None:
    """What to do when this Python's SQLite lacks what the search index needs, or None."""
    text = str(error)
    if "no such tokenizer: trigram" not in text and "no such module: fts5" not in text:
        return None
    return (
        f"the conversation database needs SQLite 3.34 or newer with FTS5 for its search index; "
        f"this Python has SQLite {sqlite3.sqlite_version} ({text}): use a Python built with a "
        "newer SQLite (python.org and pyenv builds have one), or set save_history = false in "
        "config.toml to chat without saving"
    )


def _is_locked(error: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for another connection's lock (extended codes too)."""
    primary = getattr(error, "sqlite_errorcode", 0) & 0xFF
    return primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _private_file(path: Path) -> None:
    """Create the database's folder (0700) and file (0600) before SQLite does."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(descriptor)
    path.chmod(0o600)
