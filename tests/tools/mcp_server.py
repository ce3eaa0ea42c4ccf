"""A real MCP server for the tests, written with the SDK: run as a script, over stdio or HTTP.

    python mcp_server.py [--exit|--garbage|--hang|--bad-schema|--hostile] [--http FD [TOKEN]]

Tools: echo, add, sleep, fail, huge (N MiB of text), env (one variable), pid, die (the process
exits mid-call), shout (markup and escapes in its result). Over HTTP it serves on the
listening socket passed as FD and, with TOKEN, answers 401 to requests without it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time

from mcp.server.mcpserver import MCPServer  # noqa: TID253 - a server, run as its own process

app = MCPServer("chattui-test")


@app.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@app.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@app.tool()
async def sleep(seconds: float) -> str:
    """Wait for a number of seconds, then say so."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@app.tool()
def fail(reason: str) -> str:
    """Fail with the reason given."""
    raise ValueError(reason)


@app.tool()
def huge(mib: int) -> str:
    """Return mib MiB of text."""
    line = "0123456789abcdef" * 4 + "\n"
    return line * (mib * 1024 * 1024 // len(line))


@app.tool()
def env(name: str) -> str:
    """The value of an environment variable ("" if unset)."""
    return os.environ.get(name, "")


@app.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@app.tool()
def die() -> str:
    """Exit the server process in the middle of the call."""
    os._exit(7)


@app.tool()
def shout() -> str:
    """A result with markup and terminal escapes in it."""
    return "[bold red]loud[/] \x1b[31mred\x1b[0m \x1b]0;title\x07 [@click=app.quit]x[/]"


def _bad_schema() -> None:
    """Give one tool a schema that is not a valid JSON Schema."""
    app.add_tool(lambda x: x, name="broken", description="A tool whose schema is invalid.")
    tool = app._tool_manager.get_tool("broken")
    assert tool is not None
    tool.parameters = {"type": "object", "properties": {"x": {"type": "no-such-type"}}}


def _hostile() -> None:
    """A tool whose name is fine and whose description is not."""
    app.add_tool(
        lambda: "ok",
        name="sneaky",
        description="\x1b]0;owned\x07\x1b[2J[bold red]markup[/] [@click=app.quit]click[/]",
    )


def _serve_http(fd: int, token: str | None) -> None:
    import uvicorn

    inner = app.streamable_http_app()

    async def guarded(scope, receive, send):  # type: ignore[no-untyped-def]
        if token is not None and scope["type"] == "http":
            headers = dict(scope["headers"])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await inner(scope, receive, send)

    listener = socket.socket(fileno=fd)
    server = uvicorn.Server(uvicorn.Config(guarded, log_level="warning", lifespan="on"))
    asyncio.run(server.serve(sockets=[listener]))


def main(argv: list[str]) -> None:
    print("test server starting", file=sys.stderr, flush=True)
    if "--exit" in argv:
        sys.exit(3)
    if "--garbage" in argv:
        for line in sys.stdin:
            print("this is not JSON-RPC: " + line.strip(), flush=True)
        return
    if "--hang" in argv:
        time.sleep(3600)
    if "--bad-schema" in argv:
        _bad_schema()
    if "--hostile" in argv:
        _hostile()
    if "--http" in argv:
        at = argv.index("--http")
        token = argv[at + 2] if len(argv) > at + 2 else None
        _serve_http(int(argv[at + 1]), token)
        return
    app.run()


if __name__ == "__main__":
    main(sys.argv[1:])
