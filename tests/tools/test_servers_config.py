"""``[[mcp_servers]]`` and the tool keys of config.toml: read, checked, one line when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from chattui.config import Config, load_config
from chattui.errors import ConfigError
from chattui.tools.approval import auto_approved


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_stdio_and_http_servers_are_read(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        """
auto_approve = ["files.read", "search.*"]
[[mcp_servers]]
name = "files"
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "~/笔记"]
env = { LOG = "debug" }
secret_env = { GITHUB_TOKEN = "GH_PAT" }
cwd = "~"
timeout = 5
[[mcp_servers]]
name = "search"
url = "https://user:pw@mcp.example.com/mcp"
headers = { X-Team = "nlp" }
api_key_cmd = "pass show search"
api_key_header = "X-API-Key"
""",
    )
    files, search = config.mcp_servers
    assert files.transport == "stdio"
    assert files.args[-1] == "~/笔记"
    assert files.timeout == 5.0
    assert files.where == "npx -y @modelcontextprotocol/server-filesystem ~/笔记"
    assert search.transport == "http"
    assert search.where == "https://***@mcp.example.com/mcp"
    assert auto_approved("files.read", config.auto_approve)
    assert auto_approved("search.anything", config.auto_approve)
    assert not auto_approved("files.write", config.auto_approve)
    assert not auto_approved("searcher.x", config.auto_approve)


def test_the_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path, "")
    assert (config.mcp_servers, config.auto_approve) == ((), ())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[mcp_servers]]\ncommand = "x"', "mcp server #1: key 'name' is missing"),
        ('[[mcp_servers]]\nname = "a"', "mcp server 'a': give command (a local server) or url"),
        (
            '[[mcp_servers]]\nname = "a"\ncommand = "x"\nurl = "http://h/mcp"',
            "mcp server 'a': give command (a local server) or url, one of them",
        ),
        (
            '[[mcp_servers]]\nname = "a"\nurl = "http://h/mcp"\nenv = { A = "1" }',
            "mcp server 'a': key 'env' is not for a server with a url",
        ),
        (
            '[[mcp_servers]]\nname = "a"\ncommand = "x"\nheaders = { A = "1" }',
            "mcp server 'a': key 'headers' is not for a server with a command",
        ),
        (
            '[[mcp_servers]]\nname = "a"\ncommand = "x"\n'
            '[[mcp_servers]]\nname = "a"\ncommand = "y"',
            "mcp server 'a': another server is already called 'a'",
        ),
        ('[[mcp_servers]]\nname = "a.b"\ncommand = "x"', "key 'name' is 'a.b'"),
        ('[[mcp_servers]]\nname = "a"\nurl = "file:///x"', "an http:// or https:// URL"),
        ('[[mcp_servers]]\nname = "a"\ncommand = "x"\nmode = 1', "unknown key 'mode'"),
        ('mcp_servers = "x"', "'mcp_servers' must be [[mcp_servers]] tables"),
        ('auto_approve = ["files"]', "key 'auto_approve' is ['files']"),
    ],
)
def test_a_bad_entry_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_secret_pasted_in_the_wrong_place_is_not_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, '[[mcp_servers]]\nname = "a"\nurl = "http://h/mcp"\napi_key_env = "sk-1 2"')
    assert "sk-1" not in str(caught.value)
    assert "not shown" in str(caught.value)


def test_an_http_key_goes_in_its_header(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("K", "abc")
    config = _load(
        tmp_path,
        '[[mcp_servers]]\nname = "a"\nurl = "http://h/mcp"\napi_key_env = "K"\n'
        '[[mcp_servers]]\nname = "b"\nurl = "http://h/mcp"\napi_key_env = "K"\n'
        'api_key_header = "X-API-Key"\nheaders = { X-Team = "nlp" }',
    )
    bearer, raw = config.mcp_servers
    assert bearer.http_headers() == {"Authorization": "Bearer abc"}
    assert raw.http_headers() == {"X-Team": "nlp", "X-API-Key": "abc"}
