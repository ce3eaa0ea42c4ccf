"""The knowledge bases of the data folder: made, updated, searched and removed by name.

Each base is one private SQLite file, ``NAME.sqlite``, in the ``kb`` folder. A write (making a
base, updating it, removing it) holds ``NAME.lock``, so that two updates of one base do not run
at once (the second says so); searches read beside a running update (SQLite's WAL).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chattui.attachments import Limits, describe
from chattui.conversation import Attachment, Passage
from chattui.errors import ChattuiError, KnowledgeError, UsageError
from chattui.kb.embedding import EmbeddingModel
from chattui.kb.index import BATCH_FILES, KnowledgeIndex, Progress, UpdateReport
from chattui.kb.reading import read_document, sources

if TYPE_CHECKING:
    from chattui.config import Config
    from chattui.paths import Paths

_NAME = re.compile(r"[^\W_][\w.-]{0,63}")
RESERVED = frozenset({"off", "on", "list"})
"""Names ``/kb`` takes as words."""


@dataclass(frozen=True, slots=True)
class BaseInfo:
    """What ``kb list`` and ``doctor`` say of a base."""

    name: str
    roots: tuple[str, ...]
    files: int
    chunks: int
    size: int
    """Bytes on disk, the index's write-ahead log included."""
    updated: str
    """When it was last brought up to date (ISO 8601, UTC; "" if never)."""
    embedder: str = ""
    """The model that made its passages' vectors ("": none)."""
    vectors: int = 0
    """Passages with a vector."""


class KnowledgeBases:
    """The knowledge bases in one folder."""

    def __init__(
        self,
        folder: Path,
        limits: Limits | None = None,
        *,
        passages: int = 5,
        batch_files: int = BATCH_FILES,
        embedding: EmbeddingModel | None = None,
    ) -> None:
        """Bases in ``folder`` (made when the first base is), files read within ``limits``.

        ``passages``: how many a question is given (config.toml's ``kb_passages``);
        ``batch_files``: files indexed per commit (what a stopped update keeps);
        ``embedding``: the model of the dense pass (None: words only).
        """
        self.folder = folder
        self.limits = limits or Limits()
        self.passages = passages
        self.batch_files = batch_files
        self.embedding = embedding

    @classmethod
    def of(cls, config: Config, paths: Paths) -> KnowledgeBases:
        """The bases of the data folder, as config.toml sets them (limits, passages, model)."""
        return cls(
            paths.kb_dir,
            Limits.of(config),
            passages=config.kb_passages,
            embedding=EmbeddingModel.of(config, paths),
        )

    def close(self) -> None:
        """Free the embedding model, if it was loaded."""
        if self.embedding is not None:
            self.embedding.close()

    def path(self, name: str) -> Path:
        """The index file of the base ``name`` (which need not exist)."""
        return self.folder / f"{name}.sqlite"

    def names(self) -> list[str]:
        """The bases there are, by name."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name.removesuffix(".sqlite") for p in self.folder.glob("*.sqlite"))

    def add(
        self, name: str, paths: Sequence[str], progress: Progress | None = None
    ) -> UpdateReport:
        """Make the base ``name`` from the folders and files ``paths``, and index them.

        Stopped part way (Ctrl+C, a full disk), the base keeps what was indexed; ``update``
        goes on from there.

        Raises:
            UsageError: The name is taken or not allowed, or a path does not exist.
            KnowledgeError: Nothing readable to index (the base is not made).
        """
        check_name(name)
        roots = [_root(p) for p in paths]
        if not roots:
            raise UsageError("name at least one folder or file: chattui kb add NAME PATH...")
        with self._lock(name):
            if self.path(name).exists():
                raise UsageError(
                    f"a knowledge base named {name} exists: kb update {name} brings it up to"
                    f" date, kb rm {name} removes it"
                )
            index = self._open(name, create=True)
            try:
                index.set_roots([str(root) for root in roots])
                report = self._update(index, progress)
            except BaseException as error:
                empty = index.counts()[0] == 0
                index.close()
                if empty or not isinstance(error, KeyboardInterrupt | KnowledgeError):
                    self._delete(name)
                raise
            index.close()
            if report.indexed == 0:
                self._delete(name)
                raise KnowledgeError(_nothing(name, report))
            return report

    def update(self, name: str, progress: Progress | None = None) -> UpdateReport:
        """Bring the base ``name`` up to date: changed files read again, deleted ones dropped.

        Raises:
            KnowledgeError: No such base, it is being updated elsewhere, or the disk is full.
        """
        with self._lock(name):
            index = self.open(name)
            try:
                return self._update(index, progress)
            finally:
                index.close()

    def remove(self, name: str) -> None:
        """Delete the base ``name``'s index (the files it was made from are not touched).

        Raises:
            KnowledgeError: No such base, or it is being updated.
        """
        with self._lock(name):
            if not self.path(name).exists():
                raise self._missing(name)
            self._delete(name)

    def open(self, name: str) -> KnowledgeIndex:
        """The index of the base ``name``, to read.

        Raises:
            KnowledgeError: No such base, or its file is not an index.
        """
        if not _NAME.fullmatch(name) or not self.path(name).exists():
            raise self._missing(name)
        return self._open(name, create=False)

    def search(self, name: str, question: str, limit: int = 5) -> list[Passage]:
        """The passages of the base ``name`` that best answer ``question`` (none: nothing fits).

        Raises:
            KnowledgeError: No such base, or its index cannot be read.
        """
        from chattui.kb.retrieval import search

        index = self.open(name)
        try:
            return search(index.db, question, limit, self._vector(index, name, question))
        except sqlite3.Error as error:
            raise KnowledgeError(f"knowledge base {name} cannot be read: {error}") from error
        finally:
            index.close()

    def _vector(self, index: KnowledgeIndex, name: str, question: str) -> list[float] | None:
        """The question's vector, when the base has vectors of the configured model.

        Raises:
            KnowledgeError: The model cannot embed.
        """
        if self.embedding is None or index.meta("embedder") != self.embedding.name:
            return None
        try:
            return self.embedding.embed([question])[0]
        except ChattuiError as error:
            raise KnowledgeError(
                f"the embedding model {self.embedding.name} cannot embed the question for"
                f" {name}: {error}"
            ) from error

    def attachment(self, name: str, question: str) -> Attachment:
        """The passages the base ``name`` finds for ``question``, as the question's attachment.

        Numbered for the reply to cite; when none is relevant, it tells the model so.

        Raises:
            KnowledgeError: No such base, or its index cannot be read.
        """
        from chattui.kb.prompt import knowledge_attachment

        return knowledge_attachment(name, self.search(name, question, self.passages))

    def info(self, name: str) -> BaseInfo:
        """Files, passages, size and age of the base ``name``.

        Raises:
            KnowledgeError: No such base, or its index cannot be read.
        """
        index = self.open(name)
        try:
            files, chunks = index.counts()
            roots, updated = tuple(index.roots), index.meta("updated") or ""
            embedder = index.meta("embedder") or ""
            vectors = index.db.execute("SELECT count(*) FROM vectors").fetchone()[0]
        except sqlite3.Error as error:
            raise KnowledgeError(f"knowledge base {name} cannot be read: {error}") from error
        finally:
            index.close()
        path = self.path(name)
        size = sum(
            p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )
        return BaseInfo(name, roots, files, chunks, size, updated, embedder, int(vectors))

    def _update(self, index: KnowledgeIndex, progress: Progress | None) -> UpdateReport:
        """Run an update, then give new passages vectors; a failure is said in one line.

        A full disk, or an embedding model that cannot be loaded or cannot embed.
        """
        name = index.path.name.removesuffix(".sqlite")
        if self.embedding is not None:
            try:
                self.embedding.embed(["chattui"])  # a model that cannot embed changes nothing
            except ChattuiError as error:
                raise KnowledgeError(
                    f"the embedding model {self.embedding.name} (kb_embedding_model in"
                    f" config.toml) cannot be used: {error}"
                ) from error
        try:
            roots = index.roots
            report = index.update(
                lambda report: sources(roots, report),
                lambda path, shown: read_document(path, shown, self.limits),
                progress,
            )
            if self.embedding is not None:
                report.embedded = index.embed_missing(
                    self.embedding.name, self.embedding.embed, progress
                )
            return report
        except ChattuiError as error:  # the embedding model: the words are indexed all the same
            if self.embedding is None:
                raise
            raise KnowledgeError(
                f"{name}: the embedding model {self.embedding.name} failed: {error}; the"
                f" passages are indexed for their words, and kb update {name} adds their vectors"
            ) from error
        except sqlite3.Error as error:
            full = getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
            why = "the disk is full" if full else f"the index cannot be written ({error})"
            raise KnowledgeError(
                f"{why}: knowledge base {name} keeps what was indexed before; free some space"
                f" and run kb update {name}"
            ) from error

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """Hold the base's write lock.

        Raises:
            KnowledgeError: Another process holds it.
        """
        import fcntl

        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = self.folder / f"{name}.lock"
        descriptor = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise KnowledgeError(
                    f"knowledge base {name} is being updated by another chattui; wait for it"
                ) from None
            yield
        finally:
            os.close(descriptor)

    def _open(self, name: str, *, create: bool) -> KnowledgeIndex:
        try:
            if create:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            return KnowledgeIndex(self.path(name), batch_files=self.batch_files)
        except (OSError, sqlite3.Error) as error:
            raise KnowledgeError(
                f"knowledge base {name} cannot be opened ({error}); kb rm {name} and add it again"
            ) from error

    def _delete(self, name: str) -> None:
        path = self.path(name)
        for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)

    def _missing(self, name: str) -> KnowledgeError:
        known = ", ".join(self.names()) or "none yet"
        return KnowledgeError(
            f"no knowledge base named {name!r} (there are: {known}); kb add {name} PATH makes it"
        )


def check_name(name: str) -> None:
    """Make sure ``name`` can name a base: letters, digits, ``_ . -``, a letter or digit first.

    Raises:
        UsageError: It cannot.
    """
    if not _NAME.fullmatch(name) or name.lower() in RESERVED or ".." in name:
        raise UsageError(
            f"{name!r} cannot name a knowledge base: use up to 64 letters, digits, '_', '.' or"
            " '-', beginning with a letter or digit (not off, on or list)"
        )


def _root(spec: str) -> Path:
    """A folder or file the user named, as an absolute path.

    Raises:
        UsageError: It does not exist or cannot be read.
    """
    path = Path(spec).expanduser()
    try:
        path.stat()
    except OSError as error:
        raise UsageError(f"{spec}: {describe(error)}") from None
    return path.resolve()


def _nothing(name: str, report: UpdateReport) -> str:
    """Why a new base was not made: no readable text in what was named."""
    why = f" ({len(report.skipped)} skipped: {report.skipped[0][0]}: {report.skipped[0][1]}"
    why = why + (", …)" if len(report.skipped) > 1 else ")") if report.skipped else ""
    return f"nothing to index for {name}: no readable text in what was named{why}"
