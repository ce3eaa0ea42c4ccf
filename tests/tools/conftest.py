"""Real MCP servers for the tool tests: ``mcp_server.py`` over stdio or streamable HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chattui.tools.client import ToolServers
from chattui.tools.servers import ToolServer

SERVER = Path(__file__).with_name("mcp_server.py")
TOKEN = "test-token-5f1c"
MakeServers = Callable[..., ToolServers]
"""The ``tool_servers`` fixture: ToolServers over the servers given, closed after the test."""


def stdio(name: str, *flags: str, **fields: object) -> ToolServer:
    """A stdio server running mcp_server.py with ``flags``."""
    return ToolServer(name, command=sys.executable, args=(str(SERVER), *flags), **fields)  # type: ignore[arg-type]


@dataclass
class HttpServer:
    url: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """mcp_server.py over streamable HTTP on 127.0.0.1, asking for TOKEN.

    It is handed a socket already listening, so it is reachable at once and no port is raced.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(listener.fileno()), TOKEN],
        pass_fds=[listener.fileno()],
        stderr=subprocess.DEVNULL,
    )
    listener.close()
    server = HttpServer(f"http://127.0.0.1:{port}/mcp", process)
    yield server
    if process.poll() is None:
        server.kill()


@pytest.fixture
def tool_servers(tmp_path: Path) -> Iterator[Callable[..., ToolServers]]:
    """Make ToolServers over the servers given; every one is closed after the test."""
    made: list[ToolServers] = []

    def make(*servers: ToolServer) -> ToolServers:
        live = ToolServers(servers, tmp_path / "tool-logs")
        made.append(live)
        return live

    yield make
    for live in made:
        live.close()


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())
