"""``ask --tools``: asked on a terminal, refused in a pipe, --allow and --yes, what is saved."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.cli.conftest import run
from tests.tools.conftest import SERVER

CALLS = (
    '[[models]]\nid = "calls"\nname = "Calls"\nengine = "scripted"\nreplies = ['
    + json.dumps(
        'Let me add.<tool_call>{"name": "t__add", "arguments": {"a": 2, "b": 40}}</tool_call>'
    )
    + ', "It is 42."]\n'
)


def _setup(home: Path, extra: str = "") -> None:
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "models.toml").write_text(CALLS, encoding="utf-8")
    (config / "config.toml").write_text(
        f'{extra}[[mcp_servers]]\nname = "t"\ncommand = {json.dumps(sys.executable)}\n'
        f"args = [{json.dumps(str(SERVER))}]\n",
        encoding="utf-8",
    )


def test_in_a_pipe_a_call_is_refused_in_one_line(chattui_home: Path) -> None:
    _setup(chattui_home)
    done = run("ask", "-m", "calls", "--tools", "--json", "2 + 40?")
    assert done.code == 0
    assert done.stderr == (
        "chattui: did not run t.add: no terminal to ask on; add --allow t.add or --yes\n"
    )
    (call,) = json.loads(done.stdout)["tool_calls"]
    assert call["outcome"] == "denied" and call["name"] == "t__add"


def test_allow_runs_it_and_the_chat_keeps_it(chattui_home: Path) -> None:
    _setup(chattui_home)
    done = run("ask", "-m", "calls", "--allow", "t.add", "--json", "2 + 40?")
    assert done.code == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["text"] == "It is 42."
    (call,) = document["tool_calls"]
    assert (call["result"], call["outcome"], call["text"]) == ("42.0", "ran", "Let me add.")
    shown = run("history", "show", document["conversation_id"])
    assert "- Tool: t.add" in shown.stdout and "42.0" in shown.stdout
    assert run("history", "search", "42.0").stdout.startswith(document["conversation_id"])


def test_yes_and_auto_approve_run_without_asking(chattui_home: Path) -> None:
    _setup(chattui_home)
    plain = run("ask", "-m", "calls", "--yes", "2 + 40?")
    assert (plain.code, plain.stdout, plain.stderr) == (0, "Let me add.\n\nIt is 42.\n", "")
    _setup(chattui_home, 'auto_approve = ["t.*"]\n')
    auto = run("ask", "-m", "calls", "--tools", "--json", "2 + 40?")
    assert json.loads(auto.stdout)["tool_calls"][0]["outcome"] == "ran"


def test_on_a_terminal_the_user_is_asked(chattui_home: Path) -> None:
    from tests.cli.terminal import Terminal

    _setup(chattui_home)
    for answer, outcome in (("y", "ran"), ("n", "denied")):
        term = Terminal(chattui_home, "ask", "-m", "calls", "--tools", "2 + 40?")
        term.wait_for("[y] once, [a] always in this chat, [n] no")
        shown = bytes(term.output).decode(errors="replace")
        assert "Run t.add?" in shown and '"a": 2' in shown
        term.type(answer + "\r")
        assert term.wait() == 0
        shown = bytes(term.output).decode(errors="replace")
        term.end()
        assert "It is 42." in shown
        assert ("⚙ t.add" in shown) and (f"[{outcome}]" in shown) == (outcome != "ran")


def test_tools_without_a_server_is_a_usage_error(chattui_home: Path) -> None:
    done = run("ask", "--tools", "hi")
    assert done.code == 2
    assert done.stderr.startswith("chattui: --tools: no tool server in config.toml;")
    bad = run("ask", "--allow", "nodot", "hi")
    assert (bad.code, bad.stderr.count("\n")) == (2, 1)
