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
    # Unless an image is in it (positions below zero): slow to evaluate, its state is kept.
    with_image = [1, 2, *range(-7, -23, -1), 3]
    assert store.save("abc", "k", Snapshot(with_image, b"state"))
    assert store.load("abc", "k") == Snapshot(with_image, b"state")


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


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    """A disk that fills up mid-write (a file size limit here): no half-written file stays."""
    import subprocess
    import sys
    import textwrap

    folder = tmp_path / "kv"
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from chattui.engine.kvstate import MIN_TOKENS, Snapshot, SnapshotStore
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        store = SnapshotStore(Path({str(folder)!r}))
        print(store.save("abc", "k", Snapshot(list(range(MIN_TOKENS)), bytes(100_000))))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
    assert list(folder.iterdir()) == []


def test_half_written_files_count_and_stale_ones_are_swept(tmp_path: Path) -> None:
    tmp_path = tmp_path / "kv"
    tmp_path.mkdir()
    store = SnapshotStore(tmp_path, cap_bytes=25_000)
    stale, live = tmp_path / "killed.part", tmp_path / "writing.part"
    stale.write_bytes(bytes(10_000))
    live.write_bytes(bytes(10_000))
    os.utime(stale, (0, 0))  # left by a write killed long ago
    assert store.size() == 20_000  # half-written files take room too
    (tmp_path / "vanished.kv").symlink_to(tmp_path / "nothing")  # deleted by another process
    assert store.save("abc", "k", Snapshot(TOKENS, bytes(10_000)))
    assert not stale.exists() and live.exists()  # another process may still be writing that
    assert store.count() == 1 and store.size() > 20_000
    store.delete(["vanished", "abc"])
    assert store.count() == 0


def test_a_cap_of_zero_removes_them_all_and_restores_none(tmp_path: Path) -> None:
    tmp_path = tmp_path / "kv"
    kept = SnapshotStore(tmp_path)
    kept.save("abc", "k", Snapshot(TOKENS, b"state" * 100))
    off = SnapshotStore(tmp_path, cap_bytes=0)
    assert off.load("abc", "k") is None and off.miss == "KV snapshots are off (kv_cache_max_mb = 0)"
    kept.save("abc", "k", Snapshot(TOKENS, b"state" * 100))
    kept.save("def", "k", Snapshot(TOKENS, b"state" * 100))
    assert not off.save("ghi", "k", Snapshot(TOKENS, b"state" * 100))
    assert list(tmp_path.iterdir()) == []


def test_why_a_snapshot_is_not_used(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert store.load("abc", "k") is None and store.miss == "no KV snapshot of this chat"
    store.save("abc", "k", Snapshot(TOKENS, b"state" * 100))
    assert store.load("abc", "other") is None
    assert store.miss is not None and "another model" in store.miss
    store.path("abc").write_bytes(b"CHATTUI-KV1\n{bad")
    assert store.load("abc", "k") is None
    assert store.miss == f"the KV snapshot {store.path('abc')} is damaged"


def test_holds_reads_only_the_header(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert not store.holds("abc", "k", len(TOKENS))
    store.save("abc", "k", Snapshot(TOKENS, b"state" * 100))
    assert store.holds("abc", "k", len(TOKENS))
    assert not store.holds("abc", "k", len(TOKENS) + 1)  # a longer prefix: write it again
    assert not store.holds("abc", "other", len(TOKENS))
    store.path("abc").write_bytes(b"garbage")
    assert not store.holds("abc", "k", len(TOKENS))
