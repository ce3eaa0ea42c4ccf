"""``chattui tools add/list/rm`` and doctor's tool lines, run as a user runs them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.cli.conftest import run, run_on_tty
from tests.tools.conftest import SERVER

CONFIG = "# my settings\ntemperature = 0.5  # warm\n"


def _config(home: Path) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_add_list_and_rm_keep_the_rest_of_config(chattui_home: Path) -> None:
    path = _config(chattui_home)
    path.write_text(CONFIG, encoding="utf-8")
    added = run("tools", "add", "calc", "--env", "MODE=test", "--", sys.executable, str(SERVER))
    assert added.code == 0, added.stderr
    assert f"added tool server calc to {path}" in added.stderr
    assert "offers 9 tools: echo, add, sleep, fail, huge, env, pid, die, shout" in added.stdout
    text = path.read_text(encoding="utf-8")
    assert text.startswith(CONFIG)
    assert 'name = "calc"' in text and 'MODE = "test"' in text

    listed = run("tools", "list")
    assert listed.code == 0
    assert "calc  (stdio: " in listed.stdout and "calc.add\n      Add two numbers." in listed.stdout

    data = json.loads(run("tools", "list", "--json").stdout)
    assert data[0]["state"] == "ready"
    add = next(tool for tool in data[0]["tools"] if tool["name"] == "calc.add")
    assert add["input_schema"]["required"] == ["a", "b"]
    assert add["auto_approved"] is False

    assert run("tools", "rm", "calc").code == 0
    assert path.read_text(encoding="utf-8") == CONFIG
    gone = run("tools", "rm", "calc")
    assert (gone.code, gone.stderr) == (2, f"chattui: no tool server 'calc' in {path}\n")


def test_auto_approved_tools_are_marked(chattui_home: Path) -> None:
    path = _config(chattui_home)
    path.write_text(
        f'auto_approve = ["calc.echo"]\n[[mcp_servers]]\nname = "calc"\n'
        f"command = {json.dumps(sys.executable)}\nargs = [{json.dumps(str(SERVER))}]\n",
        encoding="utf-8",
    )
    listed = run("tools", "list")
    assert "calc.echo  (runs without asking)" in listed.stdout
    assert "calc.add  (runs" not in listed.stdout


def test_a_server_that_does_not_start_is_kept_and_said(chattui_home: Path) -> None:
    added = run("tools", "add", "broken", "--", sys.executable, str(SERVER), "--exit")
    assert added.code == 1
    assert "it does not start yet: tool server 'broken' did not start: it exited" in added.stderr
    assert "test server starting" not in added.stderr  # its stderr went to its log
    listed = run("tools", "list")
    assert listed.code == 1
    assert "broken  (stdio: " in listed.stdout and "not started" in listed.stdout
    log = chattui_home / "cache" / "tools" / "broken.log"
    assert "test server starting" in log.read_text()
    doctor = run("doctor")
    assert "! tool server broken" in doctor.stdout
    assert doctor.code == 1


def test_bad_arguments_are_one_line(chattui_home: Path) -> None:
    neither = run("tools", "add", "x")
    assert neither.code == 2
    assert neither.stderr == (
        "chattui: give a command after -- (a local server) or --url, one of them\n"
    )
    both = run("tools", "add", "x", "--url", "http://127.0.0.1:9/mcp", "--", "ls")
    assert both.code == 2
    bad_pair = run("tools", "add", "x", "--env", "NOVALUE", "--", "ls")
    assert bad_pair.stderr == "chattui: --env takes NAME=VALUE, not 'NOVALUE'\n"
    bad_name = run("tools", "add", "a b", "--", "ls")
    assert bad_name.code == 1 and "key 'name' is 'a b'" in bad_name.stderr
    assert bad_name.stderr.count("\n") == 1
    assert not _config(chattui_home).exists()  # nothing written


def test_no_server_yet(chattui_home: Path) -> None:
    listed = run("tools", "list")
    assert listed.code == 0
    assert "no tool server yet" in listed.stderr
    assert run("tools", "list", "--json").stdout.strip() == "[]"


def test_a_hostile_description_reaches_the_terminal_as_text(chattui_home: Path) -> None:
    _config(chattui_home).write_text(
        f'[[mcp_servers]]\nname = "h"\ncommand = {json.dumps(sys.executable)}\n'
        f'args = [{json.dumps(str(SERVER))}, "--hostile"]\n',
        encoding="utf-8",
    )
    shown = run_on_tty("tools", "list")
    assert shown.code == 0
    assert "h.sneaky" in shown.stdout
    assert "\x1b]0;owned" not in shown.stdout and "\x1b[2J" not in shown.stdout
    assert "[bold red]markup[/]" in shown.stdout
