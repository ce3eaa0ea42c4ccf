"""Search in any script: Chinese, Japanese and Korean words inside sentences, mixed text, and
English with its stemming, on a real SQLite file (issue 13)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chattui.conversation import Message, Role
from chattui.store import SCHEMA_VERSION, ConversationStore
from chattui.store_schema import MIGRATIONS, statements
from chattui.store_search import SNIPPET_CELLS
from chattui.text_width import cells

CHATGPT = (
    "ChatGPT的核心技术是基于GPT架构的Transformer模型，它使用了自注意力机制和位置编码，"
    "并经过预训练和微调，能够理解上下文并生成连贯的回答。"
)


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "chattui.db")


def chat(store: ConversationStore, text: str, title: str = "t") -> str:
    cid = store.create(title=title, model_id=None, system_prompt=None)
    store.add_message(cid, Message(Role.ASSISTANT, text))
    return cid


@pytest.mark.parametrize(
    "query",
    [
        "微",  # one character
        "微调",  # two
        "注意力",  # three
        "位置编码",  # four
        "自注意力机制",  # six
        "预训练和微调",  # a phrase across words
        "Transformer",  # a Latin word glued to Chinese on both sides
        "transformer",
        "模型",
        "Transformer模型",  # mixed, as written
        "GPT 微调",  # every word, in either script
    ],
)
def test_chinese_words_are_found_inside_sentences(store: ConversationStore, query: str) -> None:
    found = chat(store, CHATGPT)
    chat(store, "The weather is fine today, and the river is calm.")
    assert [hit.id for hit in store.search(query)] == [found]


def test_what_is_not_there_is_not_found(store: ConversationStore) -> None:
    chat(store, CHATGPT)
    chat(store, "Tell me about the river and its delta.")
    assert store.search("注意事项") == []
    assert store.search("微调 walrus") == []  # every word must match
    assert store.search("iver") == []  # inside a longer word: not a match
    assert store.search("elta") == []


def test_english_keeps_its_stemming(store: ConversationStore) -> None:
    found = chat(store, "Tell me about the river and its delta.")
    chat(store, CHATGPT)
    assert [h.id for h in store.search("rivers")] == [found]
    assert [h.id for h in store.search("Deltas")] == [found]


def test_japanese_and_korean(store: ConversationStore) -> None:
    japanese = chat(store, "東京タワーは1958年に完成した電波塔です。")
    korean = chat(store, "안녕하세요 세계, 오늘 날씨가 좋네요.")
    assert [h.id for h in store.search("タワー")] == [japanese]
    assert [h.id for h in store.search("電波塔")] == [japanese]
    assert [h.id for h in store.search("세계")] == [korean]
    assert [h.id for h in store.search("날씨")] == [korean]


def test_snippets_mark_chinese_matches_and_fit_their_width(store: ConversationStore) -> None:
    chat(store, "前言。" * 40 + CHATGPT + "结尾。" * 40)
    (hit,) = store.search("自注意力机制")
    assert "[自注意力机制]" in hit.snippet
    assert hit.snippet.startswith("… ") and hit.snippet.endswith("…")
    assert cells(hit.snippet) <= SNIPPET_CELLS
    (mixed,) = store.search("Transformer")
    assert "[Transformer]" in mixed.snippet


def test_search_follows_edits(store: ConversationStore) -> None:
    cid = store.create(title="t", model_id=None, system_prompt=None)
    mid = store.add_message(cid, Message(Role.ASSISTANT, "正在生成"))
    store.update_message(mid, "正在生成，然后完成了位置编码的解释", None)
    assert [h.id for h in store.search("位置编码")] == [cid]
    store.delete([cid])
    assert store.search("位置编码") == []


def test_a_database_from_the_previous_schema_is_indexed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:2]:
        for statement in statements(migration):
            db.execute(statement)
    db.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) "
        "VALUES ('abcd2345', '旧的对话', '2025-01-01', '2025-01-01')"
    )
    db.execute(
        "INSERT INTO messages (conversation_id, role, content, created_at) "
        "VALUES ('abcd2345', 'assistant', ?, '2025-01-01')",
        (CHATGPT,),
    )
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    store = ConversationStore(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    for query in ("自注意力机制", "微调", "Transformer"):
        assert [h.id for h in store.search(query)] == ["abcd2345"], query


def test_short_words_at_the_end_or_alone(store: ConversationStore) -> None:
    alone = chat(store, "你好")
    ending = chat(store, "我们今天讨论模型")
    assert [h.id for h in store.search("你好")] == [alone]
    assert [h.id for h in store.search("模型")] == [ending]
    assert [h.id for h in store.search("型")] == [ending]
    assert store.search("宇宙") == []


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("r", {"river", "running"}),  # the start of a word, not its inside ("driving")
        ("riv", {"river"}),
        ("runn", {"running"}),  # longer than the stem "run": found by the trigram index
        ("runni", {"running"}),
        ("dri", {"driving"}),
        ("自注", {"自注意力"}),
        ("the r", {"river"}),  # whole words before the one being typed
        ("river ", {"river"}),  # a space ends the word
    ],
)
def test_a_query_being_typed_matches_the_start_of_its_last_word(
    store: ConversationStore, typed: str, found: set[str]
) -> None:
    ids = {
        chat(store, "the river flows", "river"): "river",
        chat(store, "I like driving fast", "driving"): "driving",
        chat(store, "running is fun", "running"): "running",
        chat(store, "什么是自注意力机制", "自注意力"): "自注意力",
    }
    assert {ids[hit.id] for hit in store.search(typed, as_typed=True)} == found


def test_a_word_that_is_not_being_typed_is_whole(store: ConversationStore) -> None:
    chat(store, "the river flows")
    assert store.search("ri") == []
    assert store.search("ri", as_typed=True) != []


def test_a_hit_names_its_message_and_where_it_is_in_the_chat(store: ConversationStore) -> None:
    cid = store.create(title="t", model_id=None, system_prompt=None)
    for n in range(30):
        store.add_message(cid, Message(Role.USER, f"walrus {n}" if n == 17 else f"seal {n}"))
    (hit,) = store.search("walrus")
    assert hit.message_id is not None
    assert store.get(cid, through=hit.message_id).messages[17].id == hit.message_id
