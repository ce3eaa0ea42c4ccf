"""Knowledge bases on real folders: made, searched, updated file by file, stopped, refused."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from chattui.errors import KnowledgeError, UsageError
from chattui.kb.bases import KnowledgeBases
from chattui.kb.retrieval import query_terms


def shown(bases: KnowledgeBases, question: str) -> list[str]:
    return [p.shown for p in bases.search("notes", question)]


def test_a_folder_is_indexed_as_git_sees_it(bases: KnowledgeBases, notes: Path) -> None:
    report = bases.add("notes", [str(notes)])
    assert report.indexed == 4
    assert [name for name, _ in report.skipped] == ["notes/photo.bin"]
    info = bases.info("notes")
    assert (info.files, info.roots) == (4, (str(notes.resolve()),))
    assert info.chunks >= 5
    # What .gitignore leaves out is not in the index at all.
    assert bases.search("notes", "swordfish password") == []
    mode = stat.S_IMODE(bases.path("notes").stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(bases.folder.stat().st_mode) == 0o700


def test_questions_find_their_passages(bases: KnowledgeBases, notes: Path) -> None:
    bases.add("notes", [str(notes)])
    best = bases.search("notes", "how do I install it on Linux?")[0]
    assert (best.shown, best.heading) == ("notes/install.md", "Installing > Linux")
    assert best.start_line == 1 and best.end_line >= 5
    assert "pip install" in best.text
    assert shown(bases, "which rivers are longest")[0] == "notes/rivers.txt"  # by stem
    assert shown(bases, "circle area")[0] == "notes/src/geometry.py"
    # Chinese finds Chinese, whatever the order of its words.
    for question in ("安装软件", "软件怎么安装", "启动慢"):
        assert shown(bases, question)[:1] == ["notes/zh/说明.md"], question
    # Nothing relevant: nothing given, rather than the passages holding the commonest word.
    assert bases.search("notes", "what is the capital of Mars") == []
    assert bases.search("notes", "火星的首都是哪里") == []
    assert bases.search("notes", "   ") == []
    # Hostile query syntax is searched as words.
    assert bases.search("notes", 'NEAR(" OR *) AND "') == []


def test_update_reads_only_what_changed(bases: KnowledgeBases, notes: Path) -> None:
    bases.add("notes", [str(notes)])
    assert bases.update("notes").indexed == 0
    rivers = notes / "rivers.txt"
    rivers.write_text("The Rhône flows into the Mediterranean.\n")
    report = bases.update("notes")
    assert (report.indexed, report.removed) == (1, 0)
    assert shown(bases, "Mediterranean")[0] == "notes/rivers.txt"
    assert bases.search("notes", "Loire castles") == []
    os.utime(rivers, ns=(1, 1))  # touched, same text: read, hashed, not indexed again
    assert bases.update("notes").indexed == 0
    (notes / "install.md").unlink()
    (notes / "new.md").write_text("# Brand new\n\nA page about kites.\n")
    report = bases.update("notes")
    assert (report.indexed, report.removed) == (1, 1)
    assert bases.search("notes", "virtual environment") == []
    assert shown(bases, "kites") == ["notes/new.md"]


def test_a_missing_root_keeps_its_files(bases: KnowledgeBases, notes: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.md"
    extra.write_text("# Extra\n\nPenguins live in the south.\n")
    bases.add("notes", [str(notes), str(extra)])
    extra.unlink()
    report = bases.update("notes")
    assert report.missing_roots == [str(extra.resolve())]
    assert shown(bases, "penguins") == ["extra.md"]


def test_a_stopped_update_leaves_a_usable_index(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(20):
        (folder / f"f{n:02}.md").write_text(f"# Note {n}\n\nThe word topic{n} is here.\n")
    bases = KnowledgeBases(tmp_path / "kb", batch_files=5)

    def stop_at_twelve(done: int, total: int) -> None:
        if done == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bases.add("many", [str(folder)], stop_at_twelve)
    assert bases.info("many").files == 10  # two batches were committed
    assert [p.shown for p in bases.search("many", "topic3")] == ["many/f03.md"]
    assert bases.update("many").indexed == 10  # the rest, not the first ten again
    assert bases.info("many").files == 20


def test_files_that_vanish_while_indexed_leave_it(tmp_path: Path) -> None:
    folder = tmp_path / "going"
    folder.mkdir()
    for n in range(6):
        (folder / f"f{n}.md").write_text(f"# Note {n}\n\nword{n}\n")
    bases = KnowledgeBases(tmp_path / "kb")

    def delete_the_last(done: int, total: int) -> None:
        if done == 2:
            (folder / "f5.md").unlink()

    report = bases.add("going", [str(folder)], delete_the_last)
    assert (report.files, report.indexed) == (6, 5)
    assert bases.search("going", "word5") == []


def test_two_updates_at_once_are_refused(bases: KnowledgeBases, notes: Path) -> None:
    bases.add("notes", [str(notes)])
    descriptor = os.open(bases.folder / "notes.lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        with pytest.raises(KnowledgeError, match="being updated by another chattui"):
            bases.update("notes")
        assert shown(bases, "kites") == []  # searching goes on beside an update
    finally:
        os.close(descriptor)
    assert bases.update("notes").indexed == 0


@pytest.mark.parametrize("name", ["", "a/b", "../x", "-x", "off", "x" * 65, "名 字", "a\nb"])
def test_odd_names_are_refused(bases: KnowledgeBases, notes: Path, name: str) -> None:
    with pytest.raises(UsageError, match="cannot name a knowledge base"):
        bases.add(name, [str(notes)])
    assert bases.names() == []


def test_bad_input_makes_no_base(bases: KnowledgeBases, notes: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        bases.add("notes", [str(tmp_path / "missing")])
    empty = tmp_path / "binaries"
    empty.mkdir()
    (empty / "a.bin").write_bytes(os.urandom(4000))
    with pytest.raises(KnowledgeError, match="no readable text"):
        bases.add("bin", [str(empty)])
    assert bases.names() == []
    bases.add("笔记", [str(notes)])  # a Chinese name is a name
    with pytest.raises(UsageError, match="exists"):
        bases.add("笔记", [str(notes)])
    with pytest.raises(KnowledgeError, match="no knowledge base named 'nope'"):
        bases.search("nope", "x")
    bases.remove("笔记")
    assert bases.names() == []


def test_a_damaged_index_is_one_error(bases: KnowledgeBases, notes: Path) -> None:
    bases.add("notes", [str(notes)])
    bases.path("notes").write_bytes(b"not a database at all" * 100)
    with pytest.raises(KnowledgeError, match="kb rm notes"):
        bases.search("notes", "install")


def test_query_terms_drop_common_words_and_pair_chinese() -> None:
    words = [t.text for t in query_terms("How do I install it on Linux? 安装软件")]
    assert words == ["install", "linux", "安装", "装软", "软件"]
    assert [t.text for t in query_terms("what is it")] == ["what", "is", "it"]
