"""``ask -f`` on the real engine: attachments saved with the message, listed, searched, exported."""

from __future__ import annotations

import json
from pathlib import Path

from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from chattui.transcript import EXPORT_VERSION
from tests.cli.conftest import run

SHORT = ("--max-tokens", "4", "--seed", "1")


def stored(home: Path) -> ConversationStore:
    return ConversationStore(resolve_paths({"CHATTUI_HOME": str(home)}).database)


def test_files_are_attached_counted_saved_and_found(tmp_path: Path, chattui_home: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("The launch is planned for the ninth of March.\n发布日期定在三月九日。\n")
    code = tmp_path / "calc.py"
    code.write_text("def area(r):\n    return 3.14159 * r * r\n")
    result = run("ask", "-f", str(notes), "--file", str(code), "When is it?", "--json", *SHORT)
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    attached = doc["attachments"]
    assert [(a["name"], a["kind"]) for a in attached] == [(str(notes), "text"), (str(code), "text")]
    assert all(a["tokens"] > 10 for a in attached)
    # The model was given both files and the question: more tokens than the question alone.
    assert doc["usage"]["prompt_tokens"] > sum(a["tokens"] for a in attached)
    store = stored(chattui_home)
    chat = store.get(doc["conversation_id"])
    user = chat.messages[0]
    assert user.content == "When is it?"
    assert [a.text for a in user.attachments] == [notes.read_text(), code.read_text()]
    store.close()
    shown = run("history", "show", doc["conversation_id"])
    assert f"- Attached: {notes} (text, " in shown.stdout
    # Words only the attached text holds find the chat, English by stem and Chinese inside text.
    for query in ("launches", "三月九日", "area"):
        found = run("history", "search", query)
        assert doc["conversation_id"] in found.stdout, (query, found.stdout)
    exported = tmp_path / "chat.json"
    wrote = run("history", "export", doc["conversation_id"], "-f", "json", "-o", str(exported))
    assert wrote.code == 0, wrote.stderr
    data = json.loads(exported.read_text())
    assert data["version"] == EXPORT_VERSION
    assert data["messages"][0]["attachments"][0]["text"] == notes.read_text()
    imported = run("history", "import", str(exported))
    assert imported.code == 0, imported.stderr
    store = stored(chattui_home)
    again = store.get(imported.stdout.strip().split()[-1])
    assert again.messages[0].attachments == user.attachments
    store.close()


def test_stdin_and_a_file_and_a_prompt_go_together(tmp_path: Path, chattui_home: Path) -> None:
    (tmp_path / "b.txt").write_text("second text\n")
    result = run(
        "ask", "-f", str(tmp_path / "b.txt"), "compare", "--json", *SHORT, stdin=b"first text\n"
    )
    assert result.code == 0, result.stderr
    store = stored(chattui_home)
    user = store.get(json.loads(result.stdout)["conversation_id"]).messages[0]
    assert user.content == "first text\n\ncompare"
    assert [a.text for a in user.attachments] == ["second text\n"]
    store.close()


def test_a_pdf_piped_in_is_attached_and_other_binary_is_refused(
    tmp_path: Path, chattui_home: Path
) -> None:
    from tests.attachments.test_readers import make_pdf

    pdf = make_pdf(["The launch is planned for the ninth of March."])
    result = run("ask", "summarize", "--json", *SHORT, stdin=pdf)
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(a["name"], a["kind"]) for a in doc["attachments"]] == [("stdin", "pdf")]
    store = stored(chattui_home)
    user = store.get(doc["conversation_id"]).messages[0]
    assert user.content == "summarize"
    assert "ninth of March" in user.attachments[0].text
    store.close()
    # A .docx, known by its contents: piped, or a file named without its suffix.
    import docx

    document = docx.Document()
    document.add_paragraph("会议定在三月九日。")
    document.save(str(tmp_path / "minutes"))
    for args, stdin in (
        (("ask", "summarize"), (tmp_path / "minutes").read_bytes()),
        (("ask", "-f", str(tmp_path / "minutes"), "summarize"), b""),
    ):
        read = run(*args, "--json", *SHORT, stdin=stdin)
        assert read.code == 0, read.stderr
        (attached,) = json.loads(read.stdout)["attachments"]
        assert attached["kind"] == "document" and attached["tokens"] > 5
    # An executable is refused in one line before the model loads; nothing is saved.
    refused = run("ask", "what is this", *SHORT, stdin=b"\x7fELF\x02\x01\x01" + bytes(64))
    assert refused.code == 2
    assert refused.stderr.startswith("chattui: stdin: a binary file")
    assert refused.stderr.count("\n") == 1
    assert len(run("history", "list").stdout.strip().splitlines()) == 3


def test_utf16_text_piped_in_is_read_as_text(chattui_home: Path) -> None:
    # PowerShell and some Windows tools write UTF-16 with a byte order mark.
    result = run("ask", "translate", "--json", *SHORT, stdin="河流流向大海".encode("utf-16"))
    assert result.code == 0, result.stderr
    store = stored(chattui_home)
    user = store.get(json.loads(result.stdout)["conversation_id"]).messages[0]
    assert user.content == "河流流向大海\n\ntranslate"
    store.close()


def test_continuing_the_chat_gives_the_model_the_attachment_again(
    tmp_path: Path, chattui_home: Path
) -> None:
    (tmp_path / "a.txt").write_text("alpha beta gamma " * 40)
    first = json.loads(run("ask", "-f", str(tmp_path / "a.txt"), "q1", "--json", *SHORT).stdout)
    second = run("ask", "-c", "q2", "--json", *SHORT)
    assert second.code == 0, second.stderr
    later = json.loads(second.stdout)
    assert later["conversation_id"] == first["conversation_id"]
    assert "attachments" not in later  # nothing attached to the new question
    assert later["usage"]["prompt_tokens"] > first["attachments"][0]["tokens"]


def test_attachments_that_do_not_fit_name_the_largest_and_save_nothing(
    tmp_path: Path, chattui_home: Path
) -> None:
    (tmp_path / "big.txt").write_text("many words here " * 400)
    (tmp_path / "small.txt").write_text("few words\n")
    result = run(
        "ask", "--ctx", "512", "-f", str(tmp_path / "small.txt"), "-f", str(tmp_path / "big.txt"),
        "summarize", *SHORT,
    )  # fmt: skip
    assert result.code == 1
    line = result.stderr.strip()
    assert "\n" not in line and "the attachments do not fit" in line
    assert "tokens over" in line and line.index("big.txt") < line.index("small.txt")
    assert run("history", "list").stdout.strip() == ""


def test_bad_attachments_exit_2_with_one_line_and_nothing_saved(
    tmp_path: Path, chattui_home: Path
) -> None:
    (tmp_path / "x.bin").write_bytes(b"\x00\x01\x02" * 10)
    for spec, words in (
        (str(tmp_path / "missing.txt"), "no such file or folder"),
        (str(tmp_path / "x.bin"), "a binary file"),
        ("http://127.0.0.1:9/", "cannot connect"),
    ):
        result = run("ask", "-f", spec, "hi", *SHORT)
        assert result.code == 2, result.stderr
        assert result.stderr.count("\n") == 1 and words in result.stderr
        assert "Traceback" not in result.stderr
    assert run("history", "list").stdout.strip() == ""


def test_an_image_for_a_model_that_cannot_read_images_is_refused(
    tmp_path: Path, chattui_home: Path
) -> None:
    from tests.attachments.test_readers import make_png

    (tmp_path / "red.png").write_bytes(make_png())
    result = run("ask", "-f", str(tmp_path / "red.png"), "what colour?", *SHORT)
    assert result.code == 2
    assert "smollm2-135m cannot read images (" in result.stderr
    assert "-m ENDPOINT/MODEL" in result.stderr
    assert run("history", "list").stdout.strip() == ""


def test_only_files_and_no_prompt_is_a_question(tmp_path: Path, chattui_home: Path) -> None:
    (tmp_path / "t.txt").write_text("Some text to read.\n")
    result = run("ask", "-f", str(tmp_path / "t.txt"), "--json", *SHORT)
    assert result.code == 0, result.stderr
    assert run("ask", *SHORT).code == 2  # nothing at all: still refused


def attach_snapshots(home: Path) -> list[Path]:
    return sorted(resolve_paths({"CHATTUI_HOME": str(home)}).kv_dir.glob("attach-*.kv"))


def test_a_second_question_about_the_same_file_does_not_evaluate_it_again(
    tmp_path: Path, chattui_home: Path
) -> None:
    big = tmp_path / "report.txt"
    big.write_text(
        "".join(f"Line {n}: the river carries sediment to the sea.\n" for n in range(90))
    )
    greedy = ("--ctx", "4096", "--temperature", "0", "--seed", "3", "--max-tokens", "6")
    first = run("ask", "-f", str(big), "Which river?", "--json", *greedy)
    assert first.code == 0, first.stderr
    assert json.loads(first.stdout)["usage"]["prompt_tokens_restored"] == 0
    assert len(attach_snapshots(chattui_home)) == 1
    second = run("ask", "-f", str(big), "How many lines?", "--json", *greedy)
    assert second.code == 0, second.stderr
    usage = json.loads(second.stdout)["usage"]
    tokens = json.loads(first.stdout)["attachments"][0]["tokens"]
    # The file's tokens came from the first question's snapshot: only the question is new.
    assert usage["prompt_tokens_restored"] >= tokens
    assert 0 < usage["prompt_tokens"] - usage["prompt_tokens_restored"] <= 20
    # The same answer as a process that evaluates everything (--no-save reads no snapshot).
    fresh = run("ask", "-f", str(big), "How many lines?", "--json", "--no-save", *greedy)
    assert json.loads(fresh.stdout)["usage"]["prompt_tokens_restored"] == 0
    assert json.loads(fresh.stdout)["text"] == json.loads(second.stdout)["text"]
    # Another file, or the same file changed: nothing restored.
    big.write_text(big.read_text().replace("river", "stream"))
    changed = run("ask", "-f", str(big), "Which river?", "--json", *greedy)
    assert json.loads(changed.stdout)["usage"]["prompt_tokens_restored"] == 0
    # Deleting the chats deletes what their attachments left in snapshots.
    ids = [json.loads(r.stdout)["conversation_id"] for r in (first, second, changed)]
    assert len(attach_snapshots(chattui_home)) == 2
    assert run("history", "rm", "--yes", *ids).code == 0
    assert attach_snapshots(chattui_home) == []


def test_no_save_leaves_no_snapshot_of_an_attachment(tmp_path: Path, chattui_home: Path) -> None:
    big = tmp_path / "report.txt"
    big.write_text("private words " * 600)
    assert run("ask", "-f", str(big), "q", "--no-save", "--ctx", "4096", *SHORT).code == 0
    assert attach_snapshots(chattui_home) == []
