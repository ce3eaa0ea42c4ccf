"""The conversation database's schema: ordered migrations counted by ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: conversations and messages.
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        model_id TEXT,
        system_prompt TEXT,
        settings TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX conversations_by_update ON conversations (updated_at DESC);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        created_at TEXT NOT NULL,
        info TEXT
    );
    CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
    """,
    # 2: full-text search over message contents, kept in step by triggers.
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        content, content='messages', content_rowid='id', tokenize='porter unicode61'
    );
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
    CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END;
    """,
    # 3: a trigram index beside it, so that words inside runs of Chinese, Japanese or Korean
    # text (which unicode61 keeps as one token, with any Latin word glued to them) are found.
    # Each text is indexed with two spaces after it, so that every character starts a trigram:
    # a word of one or two characters is then found through the trigrams it begins (listed by
    # the vocabulary table), even at the end of a message or as a whole one ("你好").
    """
    CREATE VIRTUAL TABLE messages_tri USING fts5 (
        content, content='messages', content_rowid='id', tokenize='trigram'
    );
    INSERT INTO messages_tri (rowid, content) SELECT id, content || '  ' FROM messages;
    CREATE VIRTUAL TABLE messages_tri_terms USING fts5vocab (messages_tri, 'row');
    CREATE TRIGGER messages_tri_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_tri (rowid, content) VALUES (new.id, new.content || '  ');
    END;
    CREATE TRIGGER messages_tri_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_tri (messages_tri, rowid, content)
            VALUES ('delete', old.id, old.content || '  ');
    END;
    CREATE TRIGGER messages_tri_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_tri (messages_tri, rowid, content)
            VALUES ('delete', old.id, old.content || '  ');
        INSERT INTO messages_tri (rowid, content) VALUES (new.id, new.content || '  ');
    END;
    """,
    # 4: messages form a tree. Each follows a parent (NULL: the first of its chat) and a chat
    # remembers the last message of the branch in view. Existing chats become one branch each:
    # every message follows the one before it.
    """
    ALTER TABLE messages ADD COLUMN parent_id INTEGER;
    ALTER TABLE conversations ADD COLUMN leaf_id INTEGER;
    UPDATE messages SET parent_id = chain.previous FROM (
        SELECT id, lag(id) OVER (PARTITION BY conversation_id ORDER BY id) AS previous
        FROM messages
    ) AS chain WHERE chain.id = messages.id AND chain.previous IS NOT NULL;
    UPDATE conversations SET leaf_id = (
        SELECT max(id) FROM messages WHERE conversation_id = conversations.id
    );
    CREATE INDEX messages_by_parent ON messages (parent_id);
    """,
    # 5: what was attached to a message (files, folders, pages, images): the text the model was
    # given, found by search through indexes of their own, like the messages'.
    """
    CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        content TEXT NOT NULL,
        language TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        mime TEXT NOT NULL DEFAULT '',
        data BLOB,
        tokens INTEGER
    );
    CREATE INDEX attachments_by_message ON attachments (message_id, position);
    CREATE VIRTUAL TABLE attachments_fts USING fts5 (
        content, content='attachments', content_rowid='id', tokenize='porter unicode61'
    );
    CREATE VIRTUAL TABLE attachments_tri USING fts5 (
        content, content='attachments', content_rowid='id', tokenize='trigram'
    );
    CREATE VIRTUAL TABLE attachments_tri_terms USING fts5vocab (attachments_tri, 'row');
    CREATE TRIGGER attachments_ai AFTER INSERT ON attachments BEGIN
        INSERT INTO attachments_fts (rowid, content) VALUES (new.id, new.content);
        INSERT INTO attachments_tri (rowid, content) VALUES (new.id, new.content || '  ');
    END;
    CREATE TRIGGER attachments_ad AFTER DELETE ON attachments BEGIN
        INSERT INTO attachments_fts (attachments_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        INSERT INTO attachments_tri (attachments_tri, rowid, content)
            VALUES ('delete', old.id, old.content || '  ');
    END;
    """,
    # 6: the passages a knowledge base gave with a message (file, lines, heading, score, as
    # JSON), so that the reply's citations can be shown and opened later.
    """
    ALTER TABLE attachments ADD COLUMN passages TEXT NOT NULL DEFAULT '[]';
    """,
    # 7: the tools a reply called on its way, in order: what the model asked for and what it was
    # given back (``content``, searched like attachments), and how each call ended.
    """
    CREATE TABLE tool_calls (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        call_id TEXT NOT NULL,
        name TEXT NOT NULL,
        arguments TEXT NOT NULL,
        said TEXT NOT NULL DEFAULT '',
        content TEXT NOT NULL,
        outcome TEXT NOT NULL,
        seconds REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX tool_calls_by_message ON tool_calls (message_id, position);
    CREATE VIRTUAL TABLE tool_calls_fts USING fts5 (
        content, content='tool_calls', content_rowid='id', tokenize='porter unicode61'
    );
    CREATE VIRTUAL TABLE tool_calls_tri USING fts5 (
        content, content='tool_calls', content_rowid='id', tokenize='trigram'
    );
    CREATE VIRTUAL TABLE tool_calls_tri_terms USING fts5vocab (tool_calls_tri, 'row');
    CREATE TRIGGER tool_calls_ai AFTER INSERT ON tool_calls BEGIN
        INSERT INTO tool_calls_fts (rowid, content) VALUES (new.id, new.content);
        INSERT INTO tool_calls_tri (rowid, content) VALUES (new.id, new.content || '  ');
    END;
    CREATE TRIGGER tool_calls_ad AFTER DELETE ON tool_calls BEGIN
        INSERT INTO tool_calls_fts (tool_calls_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        INSERT INTO tool_calls_tri (tool_calls_tri, rowid, content)
            VALUES ('delete', old.id, old.content || '  ');
    END;
    """,
)
"""Schema migrations; ``PRAGMA user_version`` counts those applied."""


def statements(script: str) -> list[str]:
    """Split a migration into statements (trigger bodies keep their inner semicolons)."""
    statements: list[str] = []
    buffer = ""
    for line in script.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return statements
