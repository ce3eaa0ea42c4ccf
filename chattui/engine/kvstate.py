"""KV snapshots on disk: a conversation's evaluated tokens and llama.cpp's state for them.

After a reply the engine's KV state is written for the conversation, keyed by everything that
changes it (model file, context size, KV type, chat template, llama.cpp version); a new process
continuing the chat restores it and evaluates only what follows. Files are private (0600),
written atomically, and kept under a size cap by evicting the least recently used. Any
mismatch or damage makes ``load`` return None: the prompt is then evaluated as usual.
"""

from __future__ import annotations

import array
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"CHATTUI-KV1\n"
MIN_TOKENS = 256
"""Chats shorter than this are quicker to evaluate than to read back."""
DEFAULT_CAP_MB = 2048


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The tokens a KV state holds, and the state."""

    tokens: list[int]
    state: bytes


class SnapshotStore:
    """One file per conversation in ``folder``, at most ``cap_bytes`` in all."""

    def __init__(self, folder: Path, cap_bytes: int = DEFAULT_CAP_MB << 20) -> None:
        """Keep snapshots in ``folder`` (created when the first one is written)."""
        self.folder = folder
        self.cap_bytes = cap_bytes

    def path(self, conversation_id: str) -> Path:
        """The file of a conversation's snapshot."""
        return self.folder / f"{conversation_id}.kv"

    def save(self, conversation_id: str, key: str, snapshot: Snapshot) -> bool:
        """Write a snapshot (atomically, 0600), then evict the oldest beyond the cap.

        Returns:
            Whether it was written (short chats and write errors are not).
        """
        if len(snapshot.tokens) < MIN_TOKENS or not snapshot.state or self.cap_bytes <= 0:
            return False
        header = json.dumps({"key": key, "tokens": len(snapshot.tokens)}).encode() + b"\n"
        tokens = array.array("i", snapshot.tokens).tobytes()
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, scratch = tempfile.mkstemp(dir=self.folder, suffix=".part")  # 0600
            with os.fdopen(fd, "wb") as file:
                file.write(MAGIC + header + tokens + snapshot.state)
            Path(scratch).replace(self.path(conversation_id))
        except OSError:
            return False
        self._evict()
        return True

    def load(self, conversation_id: str, key: str) -> Snapshot | None:
        """The conversation's snapshot, or None if absent, damaged or made for another setup."""
        path = self.path(conversation_id)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if not data.startswith(MAGIC):
            return None
        end = data.find(b"\n", len(MAGIC))
        try:
            header = json.loads(data[len(MAGIC) : end])
            count = int(header["tokens"])
        except (ValueError, KeyError, TypeError):
            return None
        start = end + 1
        size = count * array.array("i").itemsize
        if header.get("key") != key or count < 1 or len(data) <= start + size:
            return None
        tokens = array.array("i")
        tokens.frombytes(data[start : start + size])
        os.utime(path)  # recently used: evicted last
        return Snapshot(tokens.tolist(), data[start + size :])

    def delete(self, conversation_ids: list[str]) -> None:
        """Forget the snapshots of these conversations."""
        for cid in conversation_ids:
            self.path(cid).unlink(missing_ok=True)

    def size(self) -> int:
        """Bytes all snapshots take."""
        return sum(path.stat().st_size for path in self._files())

    def _files(self) -> list[Path]:
        return list(self.folder.glob("*.kv")) if self.folder.is_dir() else []

    def _evict(self) -> None:
        files = sorted(self._files(), key=lambda p: p.stat().st_mtime_ns)
        total = sum(path.stat().st_size for path in files)
        for path in files:
            if total <= self.cap_bytes:
                break
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
