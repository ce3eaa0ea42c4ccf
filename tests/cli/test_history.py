"""The conversation store through ``ask`` and ``chattui history``, in real subprocesses."""

from __future__ import annotations

import json
import os
import re
import select
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from chattui.catalog import ResolvedModel
from chattui.chat import ChatSession
from chattui.engine.llama import LlamaEngine
from chattui.sampling import GenerationOptions
from chattui.store import ConversationStore
from tests.chats import renumbered
from tests.cli.conftest import chattui_cmd, run


def database(home: Path) -> Path:
    return home / "data" / "chattui.db"


def test_ask_then_continue_builds_one_conversation(chattui_home: Path) -> None:
    first = json.loads(run("ask", "Name a fruit.", "--max-tokens", "8", "--json").stdout)
    second = run("ask", "-c", "Name another.", "--max-tokens", "8", "--json", "--stats")
    assert second.code == 0 and f"conversation {first['conversation_id']}" in second.stderr
    assert json.loads(second.stdout)["conversation_id"] == first["conversation_id"]
    store = ConversationStore(database(chattui_home))
    (summary,) = store.recent()
    conversation = store.get(summary.id)
    assert [m.role.value for m in conversation.messages] == ["user", "assistant"] * 2
    assert conversation.messages[2].content == "Name another."
    reply = conversation.messages[3]
    assert reply.content == json.loads(second.stdout)["text"]
    assert reply.info is not None and reply.info.model_id == "smollm2-135m"
    assert reply.info.model_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert reply.info.model_size == 98362432 and reply.info.model_sha256
    assert reply.info.finish_reason in ("stop", "length") and reply.info.completion_tokens
    assert "seed" in reply.info.settings and reply.info.settings["max_tokens"] == 8
    # The second turn's prompt carried the first exchange.
    assert json.loads(second.stdout)["usage"]["prompt_tokens"] > first["usage"]["prompt_tokens"]


def test_cid_prefix_and_unknown_ids(chattui_home: Path, scripted_models: Path) -> None:
    cid = json.loads(run("ask", "-m", "echo", "one", "--json").stdout)["conversation_id"]
    assert run("ask", "-m", "echo", "--cid", cid[:5], "two").code == 0
    store = ConversationStore(database(chattui_home))
    assert len(store.get(cid).messages) == 4
    for args in (("ask", "--cid", "zzzzzzzz", "x"), ("history", "show", "zzzzzzzz")):
        result = run(*args)
        assert result.code == 1 and "no conversation has the id 'zzzzzzzz'" in result.stderr
    assert run("ask", "-c", "--cid", cid, "x").code == 2


def test_continue_with_nothing_saved() -> None:
    result = run("ask", "-c", "hello")
    assert result.code == 1 and "no saved conversation to continue" in result.stderr


def test_no_save_writes_nothing(chattui_home: Path, scripted_models: Path) -> None:
    assert run("ask", "-m", "echo", "--no-save", "private").stdout == "private\n"
    assert not database(chattui_home).exists()
    (chattui_home / "config" / "config.toml").write_text("save_history = false\n")
    assert run("ask", "-m", "echo", "also private").code == 0
    assert not database(chattui_home).exists()


def test_stop_mid_reply_stores_partial(
    chattui_home: Path, demo_model: ResolvedModel, engine: LlamaEngine
) -> None:
    store = ConversationStore(database(chattui_home))
    session = ChatSession(
        engine, demo_model, GenerationOptions(seed=4, max_tokens=300, ignore_eos=True), store=store
    )
    turn = session.send("Write a long story about a fox.")
    pieces = []
    for piece in turn:
        pieces.append(piece)
        if len(pieces) == 6:
            turn.stop()
    assert session.cid is not None
    saved = store.get(session.cid).messages
    assert saved[0].content == "Write a long story about a fox."
    assert saved[1].content == "".join(pieces)
    assert saved[1].info is not None and saved[1].info.finish_reason == "stopped"
    assert session.history[-1] == saved[1]


def test_a_reply_begun_and_never_read_is_saved_as_stopped(
    chattui_home: Path, demo_model: ResolvedModel, engine: LlamaEngine
) -> None:
    """A signal between the placeholder's write and the first token: the reply is not left
    marked as being written (ask closes its session whatever ended it)."""
    store = ConversationStore(database(chattui_home))
    session = ChatSession(engine, demo_model, GenerationOptions(max_tokens=5), store=store)
    session.send("Interrupted at once?")
    session.close()
    assert session.cid is not None
    reply = store.get(session.cid).messages[1]
    assert reply.content == "" and reply.info is not None
    assert reply.info.finish_reason == "stopped"


def test_user_message_committed_before_generation(
    chattui_home: Path, demo_model: ResolvedModel, engine: LlamaEngine
) -> None:
    store = ConversationStore(database(chattui_home))
    session = ChatSession(engine, demo_model, GenerationOptions(max_tokens=5), store=store)
    turn = session.send("Is this saved already?")
    assert session.cid is not None
    other = ConversationStore(database(chattui_home))  # another connection sees it
    messages = other.get(session.cid).messages
    assert messages[0].content == "Is this saved already?"
    assert messages[1].content == "" and messages[1].info is not None
    assert messages[1].info.finish_reason is None  # in progress
    list(turn)
    final = other.get(session.cid).messages[1].info
    assert final is not None and final.finish_reason in ("stop", "length")


def saved_reply(db: Path, other_than: str) -> str | None:
    """The newest reply outside chat ``other_than``, as another process sees it in the database.

    None before there is one.
    """
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            row = connection.execute(
                "SELECT content FROM messages WHERE role = 'assistant' AND conversation_id != ?"
                " ORDER BY id DESC LIMIT 1",
                (other_than,),
            ).fetchone()
    except sqlite3.OperationalError:  # not created yet
        return None
    return None if row is None else str(row[0])


def test_sigkill_mid_reply_loses_at_most_a_second(
    chattui_home: Path, scripted_models: Path
) -> None:
    earlier = json.loads(run("ask", "-m", "echo", "an earlier chat", "--json").stdout)
    process = subprocess.Popen(
        chattui_cmd(
            "ask", "-m", "smollm2", "Write a long story.", "--ignore-eos", "--max-tokens", "4000"
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    shown = b""
    arrivals: list[tuple[float, int]] = []
    """When each piece of the reply reached the user, and how much had then been shown."""
    saves: set[int] = set()
    """Lengths of the partial reply seen in the database while it streams."""
    deadline = time.monotonic() + 120
    # Kill once the reply has been saved mid-stream twice, and more has been shown since.
    while len(saves) < 2 or len(shown) <= max(saves):
        assert time.monotonic() < deadline and process.poll() is None, "the reply ended early"
        ready, _, _ = select.select([process.stdout], [], [], 0.05)
        if ready:
            shown += os.read(process.stdout.fileno(), 65536)
            arrivals.append((time.monotonic(), len(shown)))
        partial = saved_reply(database(chattui_home), earlier["conversation_id"])
        if partial:
            saves.add(len(partial.encode()))
    killed_at = time.monotonic()
    process.kill()
    rest, _ = process.communicate(timeout=30)
    if rest:  # written before the kill, read after it
        arrivals.append((killed_at, len(shown) + len(rest)))
    shown += rest  # everything the user saw before the kill
    db = sqlite3.connect(database(chattui_home))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    store = ConversationStore(database(chattui_home))
    old = store.get(earlier["conversation_id"]).messages
    assert [m.content for m in old] == ["an earlier chat", "an earlier chat"]
    killed = store.get(store.recent()[0].id).messages
    assert [m.role.value for m in killed] == ["user", "assistant"]
    assert killed[0].content == "Write a long story."
    partial_reply = killed[1]
    assert partial_reply.info is not None and partial_reply.info.finish_reason is None  # cut off
    kept = partial_reply.content.encode()
    assert kept and shown.startswith(kept)
    # Nothing once saved is lost: the kill costs only what came after the last save (the reply
    # is saved every SAVE_INTERVAL of its own time; how much that is depends on the machine).
    assert len(kept) >= max(saves)


def test_two_processes_write_at_once(chattui_home: Path, scripted_models: Path) -> None:
    processes = [
        subprocess.Popen(
            chattui_cmd("ask", "-m", "echo", f"writer {i}"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    assert len(ConversationStore(database(chattui_home)).recent()) == 4


def test_history_commands(chattui_home: Path, scripted_models: Path, tmp_path: Path) -> None:
    a = json.loads(run("ask", "-m", "echo", "talk about walruses", "--json").stdout)
    b = json.loads(run("ask", "-m", "echo", "talk about [bold]penguins[/bold]", "--json").stdout)
    listed = run("history", "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t")[:4] == [
        b["conversation_id"],
        "talk about [bold]penguins[/bold]",
        "echo",
        "2",
    ]
    assert lines[1].startswith(a["conversation_id"])
    as_json = json.loads(run("history", "list", "--json", "--limit", "1").stdout)
    assert [c["id"] for c in as_json] == [b["conversation_id"]]

    shown = run("history", "show", a["conversation_id"][:6])
    assert "## User\n\ntalk about walruses" in shown.stdout
    found = json.loads(run("history", "search", "WALRUSES", "--json").stdout)
    assert [h["id"] for h in found] == [a["conversation_id"]]
    assert "[walruses]" in found[0]["snippet"]

    export = tmp_path / "a.json"
    assert run("history", "export", a["conversation_id"], "-f", "json", "-o", str(export)).code == 0
    new_id = run("history", "import", str(export)).stdout.strip()
    store = ConversationStore(database(chattui_home))
    original, copy = store.get(a["conversation_id"]), store.get(new_id)
    assert copy.id != original.id
    assert renumbered(copy) == renumbered(original)

    md = run("history", "export", b["conversation_id"]).stdout
    assert md.startswith("# talk about [bold]penguins[/bold]")

    assert run("history", "rename", a["conversation_id"], "Walrus facts").code == 0
    assert store.get(a["conversation_id"]).title == "Walrus facts"

    refused = run("history", "rm", a["conversation_id"])
    assert refused.code == 2 and "--yes" in refused.stderr
    assert run("history", "rm", a["conversation_id"], new_id, "--yes").code == 0
    assert [c.id for c in store.recent()] == [b["conversation_id"]]


def test_import_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for content, message in [
        ("not json", "is not valid JSON"),
        ('{"a": 1}', "is not a chattui conversation export"),
        (
            '{"format": "chattui-conversation", "version": 1, "messages": [{"role": "god"}]}',
            "'role' must be user, assistant or system",
        ),
        (
            '{"format": "chattui-conversation", "version": 1, "messages": [{"role": "assistant",'
            ' "content": "x", "created_at": "2026-01-01", "info": {"model_id": 7}}]}',
            "message 1: 'info' is malformed: 'model_id' must be str",
        ),
        (
            '{"format": "chattui-conversation", "version": 1, "messages": [{"role": "assistant",'
            ' "content": "x", "created_at": "2026-01-01", "info": {"model_id": "m",'
            ' "settings": [1], "completion_tokens": "many"}}]}',
            "'settings' must be dict",
        ),
    ]:
        bad.write_text(content)
        result = run("history", "import", str(bad))
        assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_corrupt_database_is_one_line_and_kept(chattui_home: Path, scripted_models: Path) -> None:
    path = database(chattui_home)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)
    for args in (("ask", "-m", "echo", "hi"), ("history", "list")):
        result = run(*args)
        assert result.code == 1 and str(path) in result.stderr
        assert result.stderr.count("\n") == 1
    assert path.read_bytes() == b"garbage" * 1000


@pytest.mark.parametrize("args", [("history", "show"), ("history", "rename", "x")])
def test_history_usage_errors(args: tuple[str, ...]) -> None:
    assert run(*args).code == 2


def test_history_list_on_a_terminal_cuts_chinese_titles_by_width(chattui_home: Path) -> None:
    from chattui.conversation import Message, Role
    from chattui.text_width import cells
    from tests.cli.conftest import run_on_tty

    store = ConversationStore(database(chattui_home))
    title = "请用三句话解释什么是Transformer模型中的自注意力机制并给出公式和例子" * 2
    cid = store.create(title=title, model_id="smollm2-135m", system_prompt=None)
    store.add_message(cid, Message(Role.USER, title))
    store.close()
    result = run_on_tty("history", "list", columns=60)
    assert result.code == 0, result.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # styles take no cells
    lines = [line for line in plain.splitlines() if line.strip()]
    assert any("请用三句话" in line and "…" in line for line in lines), lines
    assert all(cells(line.rstrip()) <= 60 for line in lines), lines


def test_a_continued_chat_restores_its_kv_snapshot(chattui_home: Path) -> None:
    def usage(*args: str, stdin: bytes = b"") -> dict[str, int]:
        result = run("ask", *args, "--json", stdin=stdin)
        assert result.code == 0, result.stderr
        return dict(json.loads(result.stdout)["usage"])

    text = ("The river carries water from the hills down to the sea every day. " * 30).encode()
    first = usage(
        "Summarize this.", "--ignore-eos", "--max-tokens", "40", "--seed", "1", stdin=text
    )
    (snapshot,) = (chattui_home / "cache" / "kv").glob("*.kv")
    assert snapshot.stat().st_mode & 0o777 == 0o600
    resumed = usage("-c", "Go on.", "--max-tokens", "4")
    # Restored: the question; evaluated: the reply (decoded a token at a time, so evaluated
    # again as a fresh process would) and the new turn.
    assert resumed["prompt_tokens_restored"] >= first["prompt_tokens"] - 1
    assert resumed["prompt_tokens_evaluated"] < 80 < resumed["prompt_tokens"]
    rows = {row["name"]: row["value"] for row in json.loads(run("doctor", "--json").stdout)}
    assert rows["kv snapshots"].startswith("1 in ")
    snapshot.write_bytes(snapshot.read_bytes()[:1000])  # damaged: ignored, nothing breaks
    damaged = usage("-c", "And then?", "--max-tokens", "4")
    assert damaged["prompt_tokens_evaluated"] == damaged["prompt_tokens"]
    other = usage("-c", "More.", "--max-tokens", "4", "--ctx", "2048")  # made for 8,192
    assert other["prompt_tokens_evaluated"] == other["prompt_tokens"]
    cid = run("history", "list").stdout.split()[0]
    assert run("history", "rm", cid, "--yes").code == 0
    assert not list((chattui_home / "cache" / "kv").glob("*.kv"))


def test_ask_c_with_a_new_system_prompt_keeps_it_for_the_chat(chattui_home: Path) -> None:
    assert run("ask", "--max-tokens", "2", "hello").code == 0
    assert run("ask", "-c", "-s", "Answer in French.", "--max-tokens", "2", "more").code == 0
    shown = run("history", "show", run("history", "list").stdout.split()[0])
    assert "> **System:** Answer in French." in shown.stdout


def test_ctrl_c_or_ctrl_d_at_a_question_is_one_line(chattui_home: Path) -> None:
    from tests.cli.terminal import Terminal

    assert run("ask", "--max-tokens", "2", "hello").code == 0
    cid = run("history", "list").stdout.split()[0]
    for key, code, line in (("\x03", 130, "chattui: interrupted"), ("\x04", 1, "")):
        term = Terminal(chattui_home, "history", "rm", cid)
        term.wait_for("[y/N]")
        term.type(key)
        assert term.wait() == code
        shown = bytes(term.output).decode(errors="replace")
        term.end()
        assert "Aborted" not in shown and "Traceback" not in shown
        assert line in shown
    assert run("history", "list").stdout.split()[0] == cid  # nothing was deleted
