"""KV snapshot files: round trip, keys, damage, the size cap (least recently used go first)."""

from __future__ import annotations

import os
from pathlib import Path

from chattui.engine.kvstate import MIN_TOKENS, Snapshot, SnapshotStore

TOKENS = list(range(MIN_TOKENS + 10))


def test_round_trip_private_and_keyed(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "kv")
    assert store.save("abc", "key-1", Snapshot(TOKENS, b"state" * 100))
    loaded = store.load("abc", "key-1")
    assert loaded == Snapshot(TOKENS, b"state" * 100)
    assert store.path("abc").stat().st_mode & 0o777 == 0o600
    assert store.load("abc", "key-2") is None  # another model, context size, template...
    assert store.load("other", "key-1") is None


def test_short_chats_are_not_worth_a_file(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert not store.save("abc", "k", Snapshot(list(range(10)), b"state"))
    assert not store.path("abc").exists()


def test_damaged_files_are_ignored(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.save("abc", "k", Snapshot(TOKENS, b"state" * 100))
    data = store.path("abc").read_bytes()
    for damaged in (data[:40], data[: len(data) // 3], b"garbage" + data, b""):
        store.path("abc").write_bytes(damaged)
        assert store.load("abc", "k") is None


def test_the_cap_evicts_the_least_recently_used(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, cap_bytes=25_000)
    for index, cid in enumerate(("old", "used", "new")):
        store.save(cid, "k", Snapshot(TOKENS, bytes(10_000)))
        os.utime(store.path(cid), (index, index))  # written in this order
    store.load("used", "k")  # reading it makes it recent
    store.save("newest", "k", Snapshot(TOKENS, bytes(10_000)))
    remaining = sorted(p.stem for p in tmp_path.glob("*.kv"))
    assert remaining == ["newest", "used"] and store.size() <= 25_000
    store.delete(["used", "absent"])
    assert [p.stem for p in tmp_path.glob("*.kv")] == ["newest"]


def test_a_cap_of_zero_keeps_none(tmp_path: Path) -> None:
    assert not SnapshotStore(tmp_path, cap_bytes=0).save("abc", "k", Snapshot(TOKENS, b"s"))
