"""ToolServers against real MCP servers written with the SDK, over stdio and streamable HTTP."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from chattui.errors import ToolError
from chattui.tools.client import ToolServers
from chattui.tools.servers import ToolServer
from chattui.tools.tool import Tool
from tests.tools.conftest import TOKEN, HttpServer, MakeServers, alive, stdio


def _tool(servers: ToolServers, server: str, name: str) -> Tool:
    return next(t for t in servers.tools(server) if t.name == name)


def test_a_stdio_server_lists_its_tools_and_answers_calls(tool_servers: MakeServers) -> None:
    servers = tool_servers(stdio("t"))
    tools = {t.name: t for t in servers.tools("t")}
    assert {"echo", "add", "sleep", "fail", "huge", "env", "pid", "die", "shout"} <= set(tools)
    assert tools["add"].qualified == "t.add"
    assert tools["add"].description == "Add two numbers."
    assert tools["add"].input_schema["required"] == ["a", "b"]
    result = servers.call(tools["add"], {"a": 2, "b": 40.5})
    assert (result.text, result.is_error) == ("42.5", False)
    assert result.seconds > 0
    assert servers.call(tools["echo"], {"text": "你好，世界"}).text == "你好，世界"


def test_a_failing_tool_is_a_result_the_model_can_read(tool_servers: MakeServers) -> None:
    servers = tool_servers(stdio("t"))
    failed = servers.call(_tool(servers, "t", "fail"), {"reason": "disk on fire"})
    assert failed.is_error
    assert failed.text
    wrong = servers.call(_tool(servers, "t", "add"), {"a": "many"})
    assert wrong.is_error and "a" in wrong.text
    assert servers.call(_tool(servers, "t", "add"), {"a": 1, "b": 1}).text == "2.0"


def test_ten_megabytes_come_back_whole_and_the_server_goes_on(tool_servers: MakeServers) -> None:
    servers = tool_servers(stdio("t"))
    result = servers.call(_tool(servers, "t", "huge"), {"mib": 10})
    assert len(result.text) > 10_000_000
    assert servers.call(_tool(servers, "t", "echo"), {"text": "after"}).text == "after"


def test_markup_and_escapes_in_a_result_come_back_as_data(tool_servers: MakeServers) -> None:
    servers = tool_servers(stdio("t"))
    text = servers.call(_tool(servers, "t", "shout"), {}).text
    assert "[bold red]" in text and "\x1b[31m" in text  # shown later through printable()


def test_a_call_that_takes_too_long_times_out_in_one_line(tool_servers: MakeServers) -> None:
    servers = tool_servers(stdio("t", timeout=1.0))
    with pytest.raises(ToolError, match=r"^t\.sleep gave no answer in 1 s \(timeout in"):
        servers.call(_tool(servers, "t", "sleep"), {"seconds": 60})
    assert servers.call(_tool(servers, "t", "add"), {"a": 1, "b": 2}).text == "3.0"


def test_a_call_is_given_up_when_cancelled(tool_servers: MakeServers) -> None:
    servers = tool_servers(stdio("t"))
    cancel = threading.Event()
    sleep = _tool(servers, "t", "sleep")
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            servers.call(sleep, {"seconds": 60}, cancel=cancel)
        except ToolError as error:
            outcome.append(error)

    worker = threading.Thread(target=call)
    worker.start()
    cancel.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert str(outcome[0]) == "t.sleep: stopped"
    assert servers.call(_tool(servers, "t", "echo"), {"text": "still here"}).text == "still here"


def test_a_server_that_dies_mid_call_is_reported_and_started_again(
    tool_servers: MakeServers, tmp_path: Path
) -> None:
    servers = tool_servers(stdio("t"))
    first = int(servers.call(_tool(servers, "t", "pid"), {}).text)
    with pytest.raises(ToolError, match="tool server 't' stopped; it starts again at the next"):
        servers.call(_tool(servers, "t", "die"), {})
    second = int(servers.call(_tool(servers, "t", "pid"), {}).text)
    assert second != first
    assert not alive(first)


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (ToolServer("gone", command="/no/such/program"), "no program /no/such/program"),
        (stdio("quits", "--exit"), "it exited or closed its output"),
        (stdio("noise", "--garbage"), "it wrote something that is not MCP to its output"),
        (stdio("stuck", "--hang", start_timeout=2.0), "did not start in 2 s"),
    ],
    ids=["missing", "exits", "garbage", "hangs"],
)
def test_a_server_that_cannot_start_is_one_line(
    tool_servers: MakeServers, server: ToolServer, message: str
) -> None:
    servers = tool_servers(server)
    state = servers.start(server.name)
    assert state.error is not None
    assert message in state.error
    assert "\n" not in state.error
    with pytest.raises(ToolError, match=f"tool server '{server.name}'"):
        servers.tools(server.name)


def test_a_tool_with_an_invalid_schema_is_skipped_and_said(tool_servers: MakeServers) -> None:
    servers = tool_servers(stdio("b", "--bad-schema"))
    state = servers.start("b")
    assert state.error is None
    assert "broken" not in {t.name for t in state.tools}
    assert "echo" in {t.name for t in state.tools}
    assert state.skipped[0].startswith("tool 'broken': its input schema is invalid")


def test_secrets_reach_the_server_and_nothing_else(
    tool_servers: MakeServers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MY_SECRET", "hunter2-xyz")
    monkeypatch.setenv("NOT_PASSED", "leak-me")
    server = stdio(
        "s",
        env={"PLAIN": "visible"},
        secret_env={"TOKEN": "MY_SECRET"},
        secret_cmd={"OTHER": "echo from-a-command"},
    )
    servers = tool_servers(server)
    env = _tool(servers, "s", "env")
    assert servers.call(env, {"name": "TOKEN"}).text == "hunter2-xyz"
    assert servers.call(env, {"name": "OTHER"}).text == "from-a-command"
    assert servers.call(env, {"name": "PLAIN"}).text == "visible"
    assert servers.call(env, {"name": "NOT_PASSED"}).text == ""
    assert "hunter2-xyz" not in server.where
    monkeypatch.delenv("MY_SECRET")
    servers.close()
    missing = tool_servers(server).start("s")
    assert missing.error == "tool server 's' reads its TOKEN from $MY_SECRET, which is not set"


def test_server_stderr_goes_to_its_private_log(
    tool_servers: MakeServers, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    servers = tool_servers(stdio("t"))
    servers.call(_tool(servers, "t", "fail"), {"reason": "traceback please"})
    servers.close()
    captured = capfd.readouterr()
    assert "test server starting" not in captured.err + captured.out
    log = tmp_path / "tool-logs" / "t.log"
    assert "test server starting" in log.read_text()
    assert log.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tool-logs").stat().st_mode & 0o777 == 0o700


def test_closing_stops_every_server_process(tool_servers: MakeServers) -> None:
    servers = tool_servers(stdio("a"), stdio("b"))
    states = servers.start_all()
    assert [s.error for s in states] == [None, None]
    pids = [int(servers.call(_tool(servers, name, "pid"), {}).text) for name in ("a", "b")]
    servers.close()
    assert not any(alive(pid) for pid in pids)
    with pytest.raises(ToolError, match="stopped"):
        servers.tools("a")


def test_an_http_server_with_its_key(
    tool_servers: MakeServers, http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_KEY", TOKEN)
    servers = tool_servers(ToolServer("web", url=http_server.url, api_key_env="MCP_KEY"))
    result = servers.call(_tool(servers, "web", "add"), {"a": 20, "b": 22})
    assert result.text == "42.0"
    assert json.loads(json.dumps(servers.tools("web")[0].input_schema))


def test_an_http_server_that_refuses_the_key_is_401_in_one_line(
    tool_servers: MakeServers, http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_KEY", "wrong-key-zzz")
    state = tool_servers(ToolServer("web", url=http_server.url, api_key_env="MCP_KEY")).start("web")
    assert state.error == (
        "tool server 'web' did not start: the server answered HTTP 401 "
        "(check its api_key_env or api_key_cmd)"
    )
    assert "wrong-key-zzz" not in state.error


def test_an_http_server_that_disappears(
    tool_servers: MakeServers, http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_KEY", TOKEN)
    servers = tool_servers(ToolServer("web", url=http_server.url, api_key_env="MCP_KEY"))
    add = _tool(servers, "web", "add")
    assert servers.call(add, {"a": 1, "b": 1}).text == "2.0"
    http_server.kill()
    with pytest.raises(ToolError, match="tool server 'web' stopped; it starts again at the"):
        servers.call(add, {"a": 1, "b": 1})
    with pytest.raises(ToolError, match=r"did not start: cannot connect to http://127\.0\.0\.1:"):
        servers.call(add, {"a": 1, "b": 1})
