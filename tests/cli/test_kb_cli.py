"""``chattui kb`` and ``ask --kb`` as a user runs them: folders, the demo model, a full disk."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
from pathlib import Path

from chattui.doctor import _knowledge_checks
from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from tests.cli.conftest import chattui_cmd, run, run_on_tty
from tests.kb.conftest import make_notes

SHORT = ("--max-tokens", "8", "--seed", "1")


def test_add_list_search_remove(tmp_path: Path, chattui_home: Path) -> None:
    notes = make_notes(tmp_path)
    added = run("kb", "add", "notes", str(notes))
    assert added.code == 0, added.stderr
    assert "notes: 4 files" in added.stderr
    assert "skipped notes/photo.bin: a binary file" in added.stderr
    listed = json.loads(run("kb", "list", "--json").stdout)
    assert [(b["name"], b["files"], b["roots"]) for b in listed] == [
        ("notes", 4, [str(notes.resolve())])
    ]
    found = json.loads(run("kb", "search", "notes", "软件", "安装", "--json").stdout)
    assert found[0]["file"] == "notes/zh/说明.md"
    assert found[0]["start_line"] == 1 and "pip" in found[0]["text"]
    plain = run("kb", "search", "notes", "install", "on", "linux")
    assert plain.stdout.startswith("[1] notes/install.md:1-")
    nothing = run("kb", "search", "notes", "capital of Mars")
    assert (nothing.code, nothing.stdout) == (0, "")
    assert "nothing in notes is relevant" in nothing.stderr
    again = run("kb", "add", "notes", str(notes))
    assert again.code == 2 and again.stderr.count("\n") == 1 and "exists" in again.stderr
    missing = run("kb", "search", "nope", "x")
    assert missing.code == 1 and "no knowledge base named 'nope'" in missing.stderr
    refused = run("kb", "rm", "notes")
    assert refused.code == 2 and "--yes" in refused.stderr
    (notes / "new.md").write_text("# Kites\n\nKites fly in the wind.\n")
    updated = run("kb", "update")
    assert "1 indexed" in updated.stderr, updated.stderr
    checks = _knowledge_checks(resolve_paths())
    assert [c.name for c in checks] == ["knowledge base notes"]
    assert checks[0].value.startswith("5 files,") and checks[0].problem is None
    assert run("kb", "rm", "notes", "--yes").code == 0
    assert json.loads(run("kb", "list", "--json").stdout) == []


def test_passages_reach_a_terminal_as_text(tmp_path: Path, chattui_home: Path) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "x.md").write_text(
        "# \x1b]0;owned\x07Title\n\nlasers \x1b[31mred\x1b[0m [bold]x[/]\n"
    )
    assert run("kb", "add", "hostile", str(folder)).code == 0
    shown = run_on_tty("kb", "search", "hostile", "lasers")
    assert "\x1b]0" not in shown.stdout and "\x1b[31m" not in shown.stdout
    assert "[bold]x[/]" in shown.stdout


def test_a_full_disk_keeps_the_old_index(tmp_path: Path, chattui_home: Path) -> None:
    notes = make_notes(tmp_path)
    assert run("kb", "add", "notes", str(notes)).code == 0
    for n in range(20):  # megabytes of new text, where 300 KiB may be written
        (notes / f"big{n}.txt").write_text(" ".join(f"word{n}x{i}" for i in range(40_000)))

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (300 * 1024, resource.RLIM_INFINITY))

    result = subprocess.run(
        chattui_cmd("kb", "update", "notes"),
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        env=os.environ,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "keeps what was indexed before" in result.stderr
    listed = json.loads(run("kb", "list", "--json").stdout)
    assert listed[0]["files"] == 4  # as before the update
    assert json.loads(run("kb", "search", "notes", "Loire", "--json").stdout)[0]["file"] == (
        "notes/rivers.txt"
    )
    assert run("kb", "update", "notes").code == 0  # with room again, it goes on
    assert json.loads(run("kb", "list", "--json").stdout)[0]["files"] == 24


def test_ask_kb_on_the_demo_model(tmp_path: Path, chattui_home: Path) -> None:
    notes = make_notes(tmp_path)
    assert run("kb", "add", "notes", str(notes)).code == 0
    result = run("ask", "--kb", "notes", "How do I install it on Linux?", "--json", *SHORT)
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    sources = doc["sources"]
    assert sources[0]["file"] == "notes/install.md"
    assert sources[0]["heading"] == "Installing > Linux"
    assert doc["attachments"][0]["kind"] == "knowledge"
    assert doc["usage"]["prompt_tokens"] > doc["attachments"][0]["tokens"] > 20
    store = ConversationStore(resolve_paths().database)
    question = store.get(doc["conversation_id"]).messages[0]
    store.close()
    assert question.content == "How do I install it on Linux?"
    assert [p.shown for p in question.passages] == [s["file"] for s in sources]
    assert "[1] notes/install.md:1-" in question.attachments[0].text
    assert "pip install" in question.attachments[0].text  # the passage itself was given
    # The chat keeps its knowledge base: a question that continues it gets passages too.
    follow = run("ask", "-c", "And on Windows?", "--json", *SHORT)
    assert follow.code == 0, follow.stderr
    assert json.loads(follow.stdout)["sources"][0]["file"] == "notes/install.md"
    shown = run("history", "show", doc["conversation_id"])
    assert "- Attached: knowledge base notes (" in shown.stdout
    assert "Sources:" in shown.stdout and "- [1] notes/install.md:1-" in shown.stdout
    exported = tmp_path / "chat.json"
    assert (
        run("history", "export", doc["conversation_id"], "-f", "json", "-o", str(exported)).code
        == 0
    )
    imported = run("history", "import", str(exported)).stdout.strip().split()[-1]
    store = ConversationStore(resolve_paths().database)
    assert store.get(imported).messages[0].passages == question.passages
    store.close()


def test_ask_kb_with_nothing_relevant_says_so(tmp_path: Path, chattui_home: Path) -> None:
    notes = make_notes(tmp_path)
    assert run("kb", "add", "notes", str(notes)).code == 0
    piped = subprocess.run(
        chattui_cmd("ask", "--kb", "notes", "--json", *SHORT, "What is the capital of Mars?"),
        input=b"",
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    doc = json.loads(piped.stdout)
    assert doc["sources"] == []
    store = ConversationStore(resolve_paths().database)
    given = store.get(doc["conversation_id"]).messages[0].attachments[0].text
    store.close()
    assert "nothing in it is relevant" in given
    plain = run("ask", "--kb", "notes", *SHORT, "How do I install it on Linux?")
    assert plain.code == 0 and "Sources" not in plain.stdout  # a pipe gets the reply alone
    missing = run("ask", "--kb", "nope", "hi")
    assert missing.code == 1 and missing.stderr.count("\n") == 1
    assert "no knowledge base named 'nope'" in missing.stderr


def test_ask_kb_on_a_terminal_lists_the_sources(tmp_path: Path, chattui_home: Path) -> None:
    notes = make_notes(tmp_path)
    assert run("kb", "add", "notes", str(notes)).code == 0
    shown = run_on_tty("ask", "--kb", "notes", *SHORT, "How do I install it on Linux?")
    assert shown.code == 0, shown.stderr
    assert "\x1b]8;id=" in shown.stdout or "\x1b]8;;file://" in shown.stdout  # links to open
    assert f"file://{notes.resolve()}/install.md" in shown.stdout
    text = re.sub(r"\x1b\][^\x1b]*\x1b\\|\x1b\[[0-9;?]*[A-Za-z]", "", shown.stdout)
    assert "Sources" in text
    assert "[1] notes/install.md:1-" in text
