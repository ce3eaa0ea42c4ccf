"""A knowledge base's index: its files and their passages in one SQLite file, kept up to date.

The passages are indexed twice over by one FTS5 table: their words Porter-stemmed (English found
by stem), and the characters of Chinese, Japanese and Korean text as overlapping pairs (the
``grams`` column), since those scripts write words of two characters without spaces between
them. An update reads only the files whose size or time changed (and re-indexes those whose hash
did), drops the files that went, and commits every few hundred files: stopped at any point
(Ctrl+C, a full disk, a killed process) the index holds what it held plus what was committed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from chattui.kb.chunking import Chunk, chunk_text, style_for
from chattui.text_width import WIDE

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    shown TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    grams TEXT NOT NULL
);
CREATE INDEX chunks_by_file ON chunks (file_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    heading, text, grams, content='chunks', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, heading, text, grams)
        VALUES (new.id, new.heading, new.text, new.grams);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, heading, text, grams)
        VALUES ('delete', old.id, old.heading, old.text, old.grams);
END;
PRAGMA user_version = 1;
"""
VECTORS = """
CREATE TABLE vectors (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks (id) ON DELETE CASCADE,
    vector BLOB NOT NULL
);
PRAGMA user_version = 2;
"""
"""Version 2: each passage's vector (float32, unit length), when an embedding model is set."""
SCHEMA_VERSION = 2
EMBED_BATCH = 32
"""Passages embedded per commit."""
BATCH_FILES = 256
"""Files indexed per commit."""
BATCH_BYTES = 8 * 1024 * 1024
"""Bytes of text indexed per commit, at most (a few large files)."""
_RUN = re.compile(f"{WIDE.pattern}+")


def grams(text: str) -> str:
    """The overlapping character pairs of the Chinese, Japanese and Korean runs of ``text``.

    Joined by spaces, so that each pair is a word of the index ("安装软件" gives "安装 装软
    软件"); a run of one character stays one.
    """
    pairs: list[str] = []
    for run in _RUN.findall(text):
        pairs.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return " ".join(pairs)


@dataclass(frozen=True, slots=True)
class Source:
    """A file found under one of the base's folders, with where it is cited from."""

    path: Path
    """Absolute."""
    shown: str
    """As passages cite it: under the name of the folder it was found in."""


@dataclass(frozen=True, slots=True)
class Document:
    """A file's text, read: what the index keeps of it."""

    text: str
    sha256: str
    pdf: bool = False


@dataclass
class UpdateReport:
    """What an update did."""

    files: int = 0
    """Files looked at."""
    indexed: int = 0
    """Read and indexed again (new or changed)."""
    removed: int = 0
    """Gone, or no longer readable: left the index."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Files left out, with why (binary, too large, unreadable)."""
    missing_roots: list[str] = field(default_factory=list)
    """Folders or files added to the base that are no longer there (their files are kept)."""
    embedded: int = 0
    """Passages given a vector (the dense pass)."""


Embed = Callable[[list[str]], list[list[float]]]
"""Turns passages into unit vectors (an embedding model's ``embed``)."""
Progress = Callable[[int, int], None]
"""Told the files done and the files to do, as an update goes."""
Reader = Callable[[Path, str], Document]
"""Reads a file (absolute path, name shown); raises ``ValueError`` with why it is skipped."""


class KnowledgeIndex:
    """One knowledge base's SQLite file: its folders, files and passages."""

    def __init__(
        self, path: Path, *, busy_timeout: float = 5.0, batch_files: int = BATCH_FILES
    ) -> None:
        """Open the index at ``path`` (creating it, private, if needed).

        ``batch_files``: files indexed per commit.

        Raises:
            sqlite3.Error: The file cannot be opened or is not an index.
        """
        self.path = path
        self.batch_files = batch_files
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        self.db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            self.db.executescript("BEGIN IMMEDIATE;" + SCHEMA + VECTORS + "COMMIT;")
        elif version == 1:
            self.db.executescript("BEGIN IMMEDIATE;" + VECTORS + "COMMIT;")
        elif version > SCHEMA_VERSION:
            self.db.close()
            raise sqlite3.DatabaseError(f"written by a newer chattui (schema {version})")

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write: all of it or none of it (rolled back on any error, Ctrl+C included)."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    @property
    def roots(self) -> list[str]:
        """The folders and files the base was made from (absolute paths)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'roots'").fetchone()
        return list(json.loads(row[0])) if row else []

    def set_roots(self, roots: list[str]) -> None:
        """Record the folders and files the base is made from."""
        with self.transaction():
            self._set("roots", json.dumps(roots, ensure_ascii=False))
            self._set("created", _now())

    def meta(self, key: str) -> str | None:
        """A value the index keeps about itself (roots, created, updated)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _set(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def counts(self) -> tuple[int, int]:
        """Files and passages indexed."""
        files = self.db.execute("SELECT count(*) FROM files").fetchone()[0]
        chunks = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return int(files), int(chunks)

    def update(
        self,
        sources: Callable[[UpdateReport], list[Source]],
        read: Reader,
        progress: Progress | None = None,
    ) -> UpdateReport:
        """Bring the index up to date with the files ``sources`` lists.

        A file whose size and modification time are as indexed is not read; one whose hash is
        as indexed is not indexed again. Files indexed but no longer listed (or no longer
        readable) leave the index, unless they were under a root that is missing.

        Raises:
            sqlite3.Error: The index cannot be written (a full disk): what was committed stays.
            KeyboardInterrupt: Stopped: what was committed stays.
        """
        report = UpdateReport()
        listed = sources(report)
        report.files = len(listed)
        known = {
            row[0]: (row[1], row[2], row[3], row[4])
            for row in self.db.execute("SELECT path, id, size, mtime_ns, sha256 FROM files")
        }
        present: set[str] = set()
        batch_files = batch_bytes = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for done, source in enumerate(listed, 1):
                key = str(source.path)
                added = self._update_file(source, known.get(key), read, report)
                if added is not None:
                    present.add(key)
                    batch_files += added > 0
                    batch_bytes += added
                if batch_files >= self.batch_files or batch_bytes >= BATCH_BYTES:
                    self.db.execute("COMMIT")
                    self.db.execute("BEGIN IMMEDIATE")
                    batch_files = batch_bytes = 0
                if progress is not None:
                    progress(done, len(listed))
            kept = tuple(f"{root.rstrip(os.sep)}{os.sep}" for root in report.missing_roots)
            gone = [
                (path, row[0])
                for path, row in known.items()
                if path not in present
                and path not in report.missing_roots
                and not path.startswith(kept)
            ]
            for _, file_id in gone:
                self.db.execute("DELETE FROM files WHERE id = ?", (file_id,))
            report.removed = len(gone)
            self._set("updated", _now())
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        return report

    def embed_missing(self, model_id: str, embed: Embed, progress: Progress | None = None) -> int:
        """Give every passage without a vector one, made by ``model_id``; the number embedded.

        Vectors of another model are dropped first (they cannot be compared). Committed every
        ``EMBED_BATCH`` passages: stopped, the passages embedded keep their vectors.

        Raises:
            GenerationError: The model cannot embed (the batch in hand is not written).
            sqlite3.Error: The index cannot be written.
        """
        if self.meta("embedder") != model_id:
            with self.transaction():
                self.db.execute("DELETE FROM vectors")
                self._set("embedder", model_id)
        missing = [
            row[0]
            for row in self.db.execute(
                "SELECT c.id FROM chunks c LEFT JOIN vectors v ON v.chunk_id = c.id"
                " WHERE v.chunk_id IS NULL ORDER BY c.id"
            )
        ]
        for start in range(0, len(missing), EMBED_BATCH):
            ids = missing[start : start + EMBED_BATCH]
            rows = self.db.execute(
                "SELECT id, heading, text FROM chunks WHERE id IN (SELECT value FROM json_each(?))"
                " ORDER BY id",
                (json.dumps(ids),),
            ).fetchall()
            vectors = embed([f"{heading}\n{text}".strip() for _, heading, text in rows])
            with self.transaction():
                self.db.executemany(
                    "INSERT OR REPLACE INTO vectors (chunk_id, vector) VALUES (?, ?)",
                    [(row[0], _packed(v)) for row, v in zip(rows, vectors, strict=True)],
                )
            if progress is not None:
                progress(start + len(ids), len(missing))
        return len(missing)

    def _update_file(
        self,
        source: Source,
        known: tuple[int, int, int, str] | None,
        read: Reader,
        report: UpdateReport,
    ) -> int | None:
        """Index one file if it changed.

        Returns:
            The bytes of text indexed (0: unchanged), or None when it cannot be read.
        """
        try:
            status = source.path.stat()
        except OSError:
            return None  # gone since it was listed
        if not stat.S_ISREG(status.st_mode):
            report.skipped.append((source.shown, "not a regular file"))
            return None
        if known is not None and (known[1], known[2]) == (status.st_size, status.st_mtime_ns):
            return 0
        try:
            document = read(source.path, source.shown)
        except ValueError as why:
            report.skipped.append((source.shown, str(why)))
            return None
        if known is not None and known[3] == document.sha256:
            self.db.execute(
                "UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?",
                (status.st_size, status.st_mtime_ns, known[0]),
            )
            return 0
        if known is not None:
            self.db.execute("DELETE FROM files WHERE id = ?", (known[0],))
        chunks = chunk_text(document.text, style_for(source.shown, pdf=document.pdf))
        file_id = self.db.execute(
            "INSERT INTO files (path, shown, size, mtime_ns, sha256) VALUES (?, ?, ?, ?, ?)",
            (str(source.path), source.shown, status.st_size, status.st_mtime_ns, document.sha256),
        ).lastrowid
        self.db.executemany(
            "INSERT INTO chunks (file_id, start_line, end_line, heading, text, grams)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [_row(file_id, chunk) for chunk in chunks],
        )
        report.indexed += 1
        return max(1, len(document.text))


def _packed(vector: list[float]) -> bytes:
    """A vector as stored: float32, little-endian (read back as ``<f4``)."""
    import sys
    from array import array

    packed = array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _row(file_id: int | None, chunk: Chunk) -> tuple[object, ...]:
    return (
        file_id,
        chunk.start_line,
        chunk.end_line,
        chunk.heading,
        chunk.text,
        grams(chunk.heading + "\n" + chunk.text),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
