"""Branches on the command line: ask -c and --from, history show --tree, export and import."""

from __future__ import annotations

import json
from pathlib import Path

from chattui.conversation import Message, Role
from chattui.store import ConversationStore
from chattui.transcript import EXPORT_VERSION
from tests.chats import renumbered
from tests.cli.conftest import run
from tests.cli.test_history import database


def branched_chat(home: Path) -> tuple[str, list[int]]:
    """q -> (a1 -> q2 -> a2) | a1' ; the leaf is a1' (ids in that order)."""
    store = ConversationStore(database(home))
    cid = store.create(title="树 tree", model_id="echo", system_prompt=None)
    q = store.add_message(cid, Message(Role.USER, "first question"))
    a1 = store.add_message(cid, Message(Role.ASSISTANT, "first answer"), parent=q)
    q2 = store.add_message(cid, Message(Role.USER, "second question"), parent=a1)
    a2 = store.add_message(cid, Message(Role.ASSISTANT, "second answer"), parent=q2)
    other = store.add_message(cid, Message(Role.ASSISTANT, "另一个回答"), parent=q)
    store.close()
    return cid, [q, a1, q2, a2, other]


def test_ask_c_continues_the_leaf_and_from_branches(
    chattui_home: Path, scripted_models: Path
) -> None:
    cid, (q, a1, q2, a2, other) = branched_chat(chattui_home)
    assert run("ask", "-m", "echo", "-c", "on the leaf").code == 0
    store = ConversationStore(database(chattui_home))
    assert [m.content for m in store.get(cid).messages] == [
        "first question",
        "另一个回答",
        "on the leaf",
        "on the leaf",
    ]
    # --from a reply: the question follows it
    assert run("ask", "-m", "echo", "--cid", cid, "--from", str(a2), "after a2").code == 0
    path = store.get(cid).messages
    assert [m.id for m in path[:4]] == [q, a1, q2, a2]
    assert path[-1].content == "after a2"
    # --from a question: asked in its place, a sibling
    assert run("ask", "-m", "echo", "--cid", cid, "--from", str(q2), "instead of q2").code == 0
    path = store.get(cid).messages
    assert [m.id for m in path[:2]] == [q, a1] and path[2].content == "instead of q2"
    assert store.get(cid).outline.siblings(q2) == (q2, path[2].id)
    assert len(store.tree(cid)) == 5 + 6  # nothing was replaced
    assert other in store.outline(cid).parents


def test_from_mistakes_are_one_line(chattui_home: Path, scripted_models: Path) -> None:
    cid, ids = branched_chat(chattui_home)
    for args, expected in [
        (("--from", "1", "x"), "--from needs the conversation"),
        (("--cid", cid, "--from", "999", "x"), "has no message 999"),
        (("--cid", cid, "--from", "0", "x"), "0"),
    ]:
        result = run("ask", "-m", "echo", *args)
        assert result.code == 2, result
        assert expected in result.stderr and result.stderr.count("\n") <= 2
        assert "Traceback" not in result.stderr
    assert len(ConversationStore(database(chattui_home)).tree(cid)) == len(ids)


def test_ask_from_on_the_real_model(chattui_home: Path) -> None:
    cid, (_, a1, *_) = branched_chat(chattui_home)
    result = run(
        "ask", "-m", "smollm2", "--cid", cid, "--from", str(a1), "--max-tokens", "4", "Why?"
    )
    assert result.code == 0, result.stderr
    path = ConversationStore(database(chattui_home)).get(cid).messages
    assert [m.content for m in path[:3]] == ["first question", "first answer", "Why?"]
    assert path[3].info is not None and path[3].info.model_id == "smollm2-135m"


def test_history_show_tree_draws_every_branch(chattui_home: Path) -> None:
    cid, ids = branched_chat(chattui_home)
    store = ConversationStore(database(chattui_home))
    hostile = store.add_message(cid, Message(Role.USER, "[bold]x[/bold] \x1b]52;c;AAAA\x07"))
    result = run("history", "show", cid, "--tree")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "树 tree"
    for mid in [*ids, hostile]:
        assert sum(line.split("── ")[-1].startswith(f"{mid} ") for line in lines) == 1
    assert "‹ 1/2 ›" in result.stdout and "‹ 2/2 ›" in result.stdout
    assert "[bold]x[/bold]" in result.stdout and "\x1b" not in result.stdout
    in_view = [line for line in lines if line.endswith("◀")]
    assert len(in_view) == 3  # first question, the other answer, the hostile question
    plain = run("history", "show", cid)  # the branch in view as Markdown
    assert "另一个回答" in plain.stdout and "second answer" not in plain.stdout


def test_export_and_import_keep_the_tree(chattui_home: Path, tmp_path: Path) -> None:
    cid, _ = branched_chat(chattui_home)
    out = tmp_path / "tree.json"
    assert run("history", "export", cid, "-f", "json", "-o", str(out)).code == 0
    document = json.loads(out.read_text())
    assert document["version"] == EXPORT_VERSION and len(document["messages"]) == 5
    new = run("history", "import", str(out)).stdout.strip()
    store = ConversationStore(database(chattui_home))
    assert renumbered(store.get(new)) == renumbered(store.get(cid))
    # a version 2 document (the tree, nothing attached) still imports
    out.write_text(json.dumps({**document, "version": 2}))
    two = run("history", "import", str(out)).stdout.strip()
    assert renumbered(store.get(two)) == renumbered(store.get(cid))
    # a version 1 document (one branch, no ids) still imports
    document_v1 = {**document, "version": 1}
    document_v1["messages"] = [
        {k: v for k, v in m.items() if k not in ("id", "parent_id")}
        for m in document["messages"][:2]
    ]
    out.write_text(json.dumps(document_v1))
    old = run("history", "import", str(out)).stdout.strip()
    assert [m.content for m in store.get(old).messages] == ["first question", "first answer"]


def test_import_refuses_a_broken_tree(chattui_home: Path, tmp_path: Path) -> None:
    cid, _ = branched_chat(chattui_home)
    out = tmp_path / "tree.json"
    run("history", "export", cid, "-f", "json", "-o", str(out))
    good = json.loads(out.read_text())
    first = good["messages"][0]["id"]
    cases: list[tuple[dict[str, object], str]] = [
        ({"messages": [{**good["messages"][0], "parent_id": first}]}, "earlier message"),
        ({"messages": [good["messages"][0], good["messages"][0]]}, "used twice"),
        ({"messages": [{**good["messages"][0], "id": "x"}]}, "'id' must be int"),
        ({"messages": [{**good["messages"][0], "id": True}]}, "'id' must be int"),
        ({"leaf_id": 10**9}, "'leaf_id'"),
        ({"leaf_id": "1"}, "'leaf_id'"),
    ]
    before = len(ConversationStore(database(chattui_home)).recent())
    for change, expected in cases:
        out.write_text(json.dumps({**good, **change}))
        result = run("history", "import", str(out))
        assert result.code == 2 and expected in result.stderr, (change, result.stderr)
        assert "Traceback" not in result.stderr
    assert len(ConversationStore(database(chattui_home)).recent()) == before
