"""KV snapshots on disk: a conversation's evaluated tokens and llama.cpp's state for them.

After a reply the engine's KV state is written for the conversation, keyed by everything that
changes it (model file, context size, KV type, chat template, llama.cpp build); a new process
continuing the chat restores it and evaluates only what follows. Files are private (0600),
written atomically, and kept under a size cap by evicting the least recently used; a cap of 0
keeps none at all. Any mismatch or damage makes ``load`` return None (``miss`` says why): the
prompt is then evaluated as usual. A state is tens of megabytes, so it is never copied in
memory on its way to or from the file. Another process may delete files at any moment.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"CHATTUI-KV1\n"
MIN_TOKENS = 256
"""Chats shorter than this are quicker to evaluate than to read back, unless they hold an image
(below zero: an image's positions, see engine/llama_vision.py), which is slow to evaluate."""
DEFAULT_CAP_MB = 2048
STALE_PART = 600.0
"""Seconds after which a half-written file (``*.part``) is taken to be left by a killed write."""

State = bytes | bytearray | memoryview
"""llama.cpp's state: any bytes-like object, so that it is not copied."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The tokens a KV state holds, and the state."""

    tokens: list[int]
    state: State


class SnapshotStore:
    """One file per conversation in ``folder``, at most ``cap_bytes`` in all."""

    def __init__(self, folder: Path, cap_bytes: int = DEFAULT_CAP_MB << 20) -> None:
        """Keep snapshots in ``folder`` (created when the first one is written)."""
        self.folder = folder
        self.cap_bytes = cap_bytes
        self.miss: str | None = None
        """Why the last ``load`` found nothing to restore (for ``--verbose``)."""

    def path(self, conversation_id: str) -> Path:
        """The file of a conversation's snapshot."""
        return self.folder / f"{conversation_id}.kv"

    def save(self, conversation_id: str, key: str, snapshot: Snapshot) -> bool:
        """Write a snapshot (atomically, 0600), then evict the oldest beyond the cap.

        Returns:
            Whether it was written (short chats without images, a cap of 0 and write errors
            are not).
        """
        if self.cap_bytes <= 0:
            self.delete_all()
            return False
        short = len(snapshot.tokens) < MIN_TOKENS and min(snapshot.tokens, default=0) >= 0
        if short or not len(snapshot.state):
            return False
        import tempfile

        header = json.dumps({"key": key, "tokens": len(snapshot.tokens)}).encode() + b"\n"
        scratch: Path | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, name = tempfile.mkstemp(dir=self.folder, suffix=".part")  # 0600
            scratch = Path(name)
            with os.fdopen(fd, "wb") as file:
                for part in (MAGIC, header, array.array("i", snapshot.tokens), snapshot.state):
                    file.write(part)
            scratch.replace(self.path(conversation_id))
        except OSError:
            if scratch is not None:
                scratch.unlink(missing_ok=True)
            return False
        self._evict()
        return True

    def load(self, conversation_id: str, key: str) -> Snapshot | None:
        """The conversation's snapshot, or None if absent, damaged or made for another setup."""
        self.miss = None
        path = self.path(conversation_id)
        if self.cap_bytes <= 0:
            path.unlink(missing_ok=True)
            self.miss = "KV snapshots are off (kv_cache_max_mb = 0)"
            return None
        try:
            with path.open("rb") as file:
                data = bytearray(os.fstat(file.fileno()).st_size)
                got = file.readinto(data)
        except OSError:
            self.miss = "no KV snapshot of this chat"
            return None
        view = memoryview(data)[:got]
        read = _header(data, got)
        if read is None:
            self.miss = f"the KV snapshot {path} is damaged"
            return None
        header, start = read
        count = int(header["tokens"])
        size = count * array.array("i").itemsize
        if header.get("key") != key:
            self.miss = "the KV snapshot was made with another model, context, template or build"
            return None
        if count < 1 or got <= start + size:
            self.miss = f"the KV snapshot {path} is damaged"
            return None
        tokens = array.array("i")
        tokens.frombytes(view[start : start + size])
        _touch(path)
        return Snapshot(tokens.tolist(), view[start + size :])

    def holds(self, conversation_id: str, key: str, tokens: int) -> bool:
        """Whether a snapshot of ``tokens`` tokens made with ``key`` is there (its header read).

        Marks it as recently used: one about to be written again need not be.
        """
        path = self.path(conversation_id)
        try:
            with path.open("rb") as file:
                head = file.read(len(MAGIC) + 200)
        except OSError:
            return False
        read = _header(head, len(head))
        found = read is not None and read[0].get("key") == key and read[0]["tokens"] == tokens
        if found:
            _touch(path)
        return found

    def delete(self, conversation_ids: list[str]) -> None:
        """Forget the snapshots of these conversations."""
        for cid in conversation_ids:
            self.path(cid).unlink(missing_ok=True)

    def delete_all(self) -> None:
        """Forget every snapshot (and every half-written one)."""
        for path in self._files():
            path.unlink(missing_ok=True)

    def size(self) -> int:
        """Bytes all snapshots take, half-written ones included."""
        return sum(size for _, size, _ in self._stats())

    def count(self) -> int:
        """How many snapshots there are (half-written ones not counted)."""
        return sum(1 for path, _, _ in self._stats() if path.suffix == ".kv")

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return [*self.folder.glob("*.kv"), *self.folder.glob("*.part")]

    def _stats(self) -> list[tuple[Path, int, int]]:
        """Each file with its size and modification time; files deleted meanwhile are skipped."""
        found = []
        for path in self._files():
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((path, stat.st_size, stat.st_mtime_ns))
        return found

    def _evict(self) -> None:
        """Remove stale half-written files, then the least recently used beyond the cap."""
        now = time.time_ns()
        files = []
        for path, size, mtime in self._stats():
            if path.suffix == ".part" and now - mtime > STALE_PART * 1e9:
                path.unlink(missing_ok=True)
            else:
                files.append((mtime, size, path))
        files.sort()
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= self.cap_bytes:
                break
            if path.suffix == ".kv":  # another process's write in progress is left alone
                path.unlink(missing_ok=True)
                total -= size


def _header(data: bytes | bytearray, length: int) -> tuple[dict[str, Any], int] | None:
    """A snapshot file's header and where its tokens begin; None when it is damaged."""
    end = data.find(b"\n", len(MAGIC), length)
    if not data.startswith(MAGIC) or end < 0:
        return None
    try:
        header = json.loads(bytes(data[len(MAGIC) : end]))
        int(header["tokens"])
    except (ValueError, KeyError, TypeError):
        return None
    return header, end + 1


def _touch(path: Path) -> None:
    """Mark a snapshot as recently used: it is evicted last."""
    with contextlib.suppress(OSError):
        os.utime(path)
