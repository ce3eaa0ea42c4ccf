"""``ToolServers``: the MCP servers of one process, started at first use and stopped once.

The only module that imports the ``mcp`` SDK. The SDK is asynchronous; chattui calls tools from
worker threads, so the servers live on one event loop in a background thread and each method
here blocks its caller until the loop has answered. A stdio server's stderr goes to a private
log file, never to the terminal; a server that dies is reported once and started again at the
next call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from chattui import __version__
from chattui.errors import ChattuiError, ToolError
from chattui.tools.servers import ToolServer
from chattui.tools.tool import TOOL_NAME, Tool, ToolResult, schema_problem

if TYPE_CHECKING:
    from mcp import Client
    from mcp.client.session import IncomingMessage, MessageHandlerFnT

PAGES = 100
"""Most pages of a tool listing read (a server that never stops paging cannot hang a start)."""
STOP_SECONDS = 8.0
"""How long stopping a server may take (the SDK closes stdin, then terminates, then kills)."""
_PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TMPDIR")
"""Variables passed to a stdio server besides the SDK's few (PATH, HOME, USER, SHELL, TERM)."""


@dataclass(frozen=True, slots=True)
class ServerState:
    """What starting one server found."""

    name: str
    tools: tuple[Tool, ...] = ()
    skipped: tuple[str, ...] = ()
    """Tools not offered, each with why ("tool 'x': its input schema is invalid: ...")."""
    seconds: float = 0.0
    """How long it took to start and list its tools."""
    error: str | None = None
    """Why it could not start, one line; None when it runs."""


@dataclass
class _Live:
    """A running server: its client, on the loop, until ``stop`` is set."""

    client: Client
    state: ServerState
    stop: asyncio.Event
    task: asyncio.Task[None]
    log: IO[str] | None = None
    dead: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class ToolServers:
    """The configured tool servers, each started at its first use.

    Args:
        servers: The ``[[mcp_servers]]`` of config.toml.
        log_dir: Where each stdio server's stderr and the SDK's own log are written (0700).
    """

    def __init__(self, servers: Sequence[ToolServer], log_dir: Path) -> None:
        self._specs = {server.name: server for server in servers}
        self._log_dir = log_dir
        self._live: dict[str, _Live] = {}
        self._starting = {name: threading.Lock() for name in self._specs}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._closed = False

    @property
    def names(self) -> tuple[str, ...]:
        """The servers' names, in config order."""
        return tuple(self._specs)

    def spec(self, name: str) -> ToolServer:
        """The configuration of server ``name``.

        Raises:
            ToolError: No server has that name.
        """
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs) or "none are configured"
            raise ToolError(f"no tool server '{name}' (servers: {known})") from None

    def start(self, name: str) -> ServerState:
        """Start server ``name`` unless it runs; never raises, the state says what went wrong."""
        try:
            return self._ensure(name).state
        except ToolError as error:
            return ServerState(name, error=str(error))

    def start_all(self) -> list[ServerState]:
        """Start every server at once; their states in config order."""
        with concurrent.futures.ThreadPoolExecutor(max(1, len(self._specs))) as pool:
            return list(pool.map(self.start, self._specs))

    def tools(self, name: str) -> tuple[Tool, ...]:
        """The tools server ``name`` offers, starting it if need be.

        Raises:
            ToolError: It cannot be started.
        """
        return self._ensure(name).state.tools

    def call(
        self,
        tool: Tool,
        arguments: dict[str, Any],
        cancel: threading.Event | None = None,
    ) -> ToolResult:
        """Run ``tool`` with ``arguments`` (checked by the caller) and wait for its result.

        A failure the tool reports is a result (``is_error``); the model is told and may try
        again. A server that cannot be reached, dies, or does not answer in time raises.

        Args:
            tool: One of the tools its server listed.
            arguments: The arguments, a JSON object.
            cancel: Set from another thread to give the call up (Esc).

        Raises:
            ToolError: The server cannot be started, stopped, timed out or was cancelled.
        """
        live = self._ensure(tool.server)
        spec = self._specs[tool.server]
        began = time.monotonic()
        future = asyncio.run_coroutine_threadsafe(
            _call(live.client, tool.name, arguments, spec.timeout), self._running_loop()
        )
        # Polled, so that Esc and a dead server are noticed while the call runs.
        while not concurrent.futures.wait([future], timeout=0.05).done:
            if cancel is not None and cancel.is_set():
                future.cancel()
                raise ToolError(f"{tool.qualified}: stopped")
            if live.task.done():
                future.cancel()
                self._bury(live)
                raise self._died(tool.server)
        try:
            result = future.result()
        except TimeoutError:
            raise ToolError(
                f"{tool.qualified} gave no answer in {spec.timeout:g} s "
                f"(timeout in the [[mcp_servers]] entry '{tool.server}')"
            ) from None
        except Exception as error:  # noqa: BLE001 - the SDK and its transports raise many kinds
            if live.task.done() or _closed_connection(error):
                self._bury(live)
                raise self._died(tool.server) from None
            return ToolResult(_one_line(error), is_error=True, seconds=_since(began))
        return ToolResult(result[0], is_error=result[1], seconds=_since(began))

    def close(self) -> None:
        """Stop every server and the loop; later calls raise."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        for live in list(self._live.values()):
            self._stop(live)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=STOP_SECONDS)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._closed:
                raise ToolError("the tool servers were stopped")
            if self._loop is None:
                self._log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                _route_sdk_log(self._log_dir / "mcp.log")
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="chattui-tools", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop

    def _ensure(self, name: str) -> _Live:
        spec = self.spec(name)
        with self._starting[name]:
            live = self._live.get(name)
            if live is not None and not live.dead and not live.task.done():
                return live
            if live is not None:
                self._bury(live)
            live = self._launch(spec)
            self._live[name] = live
            return live

    def _launch(self, spec: ToolServer) -> _Live:
        loop = self._running_loop()
        log = _open_log(self._log_dir / f"{spec.name}.log") if spec.command else None
        ready: concurrent.futures.Future[tuple[Client, ServerState, asyncio.Event]]
        ready = concurrent.futures.Future()
        try:
            statuses: list[int] = []
            opening = _client(spec, log, _faults(ready), statuses)
        except ChattuiError as error:
            _close(log)
            raise ToolError(str(error)) from None
        except (OSError, ValueError) as error:
            _close(log)
            raise ToolError(f"tool server '{spec.name}': {_one_line(error)}") from None
        task = asyncio.run_coroutine_threadsafe(_spawn(spec.name, opening, ready), loop).result()
        try:
            client, state, stop = ready.result(timeout=spec.start_timeout)
        except concurrent.futures.TimeoutError:
            _cancel(loop, task)
            _close(log)
            raise ToolError(
                f"tool server '{spec.name}' did not start in {spec.start_timeout:g} s"
                f"{self._log_hint(spec)}"
            ) from None
        except Exception as error:  # noqa: BLE001 - whatever the transport raised, as one line
            _cancel(loop, task)
            _close(log)
            raise ToolError(
                f"tool server '{spec.name}' did not start: {_start_failure(spec, error, statuses)}"
                f"{self._log_hint(spec)}"
            ) from None
        return _Live(client, state, stop, task, log)

    def _stop(self, live: _Live) -> None:
        loop = self._loop
        if loop is None or live.task.done():
            _close(live.log)
            return
        loop.call_soon_threadsafe(live.stop.set)
        if not _wait(loop, live.task, STOP_SECONDS):
            _cancel(loop, live.task)
        _close(live.log)

    def _bury(self, live: _Live) -> None:
        with live.lock:
            if live.dead:
                return
            live.dead = True
        self._stop(live)

    def _died(self, name: str) -> ToolError:
        return ToolError(
            f"tool server '{name}' stopped; it starts again at the next call"
            f"{self._log_hint(self._specs[name])}"
        )

    def _log_hint(self, spec: ToolServer) -> str:
        if spec.command is None:
            return ""
        return f" (its messages: {self._log_dir / (spec.name + '.log')})"


def _wait(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None], seconds: float) -> bool:
    """Wait from another thread for ``task`` to end; whether it did in time."""
    done = threading.Event()
    loop.call_soon_threadsafe(task.add_done_callback, lambda _task: done.set())
    return done.wait(seconds)


def _cancel(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait while the SDK stops its process (stdin, SIGTERM, SIGKILL)."""
    loop.call_soon_threadsafe(task.cancel)
    _wait(loop, task, STOP_SECONDS)


async def _spawn(
    name: str,
    opening: AbstractAsyncContextManager[Client],
    ready: concurrent.futures.Future[tuple[Client, ServerState, asyncio.Event]],
) -> asyncio.Task[None]:
    """Start holding a server on the loop; the task, so that it can be watched and cancelled."""
    return asyncio.get_running_loop().create_task(_hold(name, opening, ready, time.monotonic()))


async def _hold(
    name: str,
    opening: AbstractAsyncContextManager[Client],
    ready: concurrent.futures.Future[tuple[Client, ServerState, asyncio.Event]],
    began: float,
) -> None:
    """Open the client, list its tools, and keep it open until told to stop."""
    stop = asyncio.Event()
    try:
        async with opening as client:
            if ready.done():  # it wrote something that is not MCP while starting
                return
            tools, skipped = await _listing(name, client)
            state = ServerState(name, tools, skipped, _since(began))
            if ready.done():
                return
            ready.set_result((client, state, stop))
            await stop.wait()
    except BaseException as error:
        if not ready.done():
            ready.set_exception(error if isinstance(error, Exception) else ToolError("stopped"))
        if not isinstance(error, Exception):
            raise


async def _listing(name: str, client: Client) -> tuple[tuple[Tool, ...], tuple[str, ...]]:
    tools: list[Tool] = []
    skipped: list[str] = []
    cursor: str | None = None
    for _ in range(PAGES):
        page = await client.list_tools(cursor=cursor)
        for listed in page.tools:
            problem = (
                "its name has characters tools may not use"
                if not TOOL_NAME.fullmatch(listed.name)
                else schema_problem(listed.input_schema)
            )
            if problem is not None:
                skipped.append(f"tool {listed.name[:60]!r}: {problem}")
            elif all(t.name != listed.name for t in tools):
                tools.append(
                    Tool(name, listed.name, (listed.description or "").strip(), listed.input_schema)
                )
        cursor = page.next_cursor
        if cursor is None:
            break
    return tuple(tools), tuple(skipped)


async def _call(
    client: Client, name: str, arguments: dict[str, Any], timeout: float
) -> tuple[str, bool]:
    async with asyncio.timeout(timeout):
        result = await client.call_tool(name, arguments)
    return _text(result), bool(result.is_error)


def _text(result: Any) -> str:
    """A call's content as text: each text part as it is, anything else named in brackets."""
    parts: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            size = len(block.data) * 3 // 4
            parts.append(f"[{kind}: {block.mime_type}, {size} bytes]")
        elif kind == "resource":
            text = getattr(block.resource, "text", None)
            parts.append(text if text is not None else f"[resource: {block.resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[link: {block.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


def _faults(
    ready: concurrent.futures.Future[tuple[Client, ServerState, asyncio.Event]],
) -> MessageHandlerFnT:
    """A message handler that fails a start at once when the server's output is not MCP."""

    async def handle(message: IncomingMessage) -> None:
        if isinstance(message, Exception) and not ready.done():
            ready.set_exception(ToolError("it wrote something that is not MCP to its output"))

    return handle


def _client(
    spec: ToolServer, log: IO[str] | None, on_message: MessageHandlerFnT, statuses: list[int]
) -> AbstractAsyncContextManager[Client]:
    """An unopened client for ``spec``, secrets read now.

    Args:
        spec: The server.
        log: Where a stdio server's stderr goes.
        on_message: Sees the transport's faults.
        statuses: Gets each HTTP error status (the SDK keeps only a generic message).

    Raises:
        ConfigError: A secret cannot be read.
    """
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp_types import Implementation

    info = Implementation(name="chattui", version=__version__)
    if spec.command is not None:
        passed = {k: v for k in _PASSED_ENV if (v := os.environ.get(k)) is not None}
        params = StdioServerParameters(
            command=spec.command,
            args=list(spec.args),
            env=passed | spec.environment(),
            cwd=Path(spec.cwd).expanduser() if spec.cwd else None,
            encoding_error_handler="replace",
        )
        return Client(
            stdio_client(params, errlog=log),  # type: ignore[arg-type]
            client_info=info,
            message_handler=on_message,
        )
    import httpx2

    async def record(response: httpx2.Response) -> None:
        if response.status_code >= 400:
            statuses.append(response.status_code)

    http = httpx2.AsyncClient(
        headers=spec.http_headers(),
        timeout=httpx2.Timeout(30.0, read=max(300.0, spec.timeout)),
        event_hooks={"response": [record]},
    )
    transport = streamable_http_client(spec.url or "", http_client=http)
    return Client(transport, client_info=info, message_handler=on_message)


def _closed_connection(error: BaseException) -> bool:
    import anyio
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    if isinstance(error, MCPError):
        return error.code == CONNECTION_CLOSED
    return isinstance(
        error, anyio.ClosedResourceError | anyio.BrokenResourceError | ConnectionError
    )


def _start_failure(spec: ToolServer, error: BaseException, statuses: list[int]) -> str:
    """One line for why a start failed, from whatever the SDK or the transport raised."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if statuses:
        status = statuses[-1]
        hint = " (check its api_key_env or api_key_cmd)" if status in (401, 403) else ""
        return f"the server answered HTTP {status}{hint}"
    if type(error).__name__ in ("ConnectError", "ConnectTimeout"):
        return f"cannot connect to {spec.where}"
    if isinstance(error, FileNotFoundError):
        return f"no program {error.filename or ''} (check its command)".replace("  ", " ")
    if _closed_connection(error):
        return "it exited or closed its output"
    return _one_line(error)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _since(began: float) -> float:
    return time.monotonic() - began


def _open_log(path: Path) -> IO[str]:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return os.fdopen(descriptor, "a", encoding="utf-8", errors="replace")


def _close(log: IO[str] | None) -> None:
    if log is not None:
        with suppress(OSError):
            log.close()


def _route_sdk_log(path: Path) -> None:
    """The SDK logs with ``logging``; with no handler its warnings would reach the terminal."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("mcp", "httpx2", "httpcore2"):
        logger = logging.getLogger(name)
        for old in logger.handlers:  # an earlier ToolServers' file
            old.close()
        logger.handlers = [handler]
        logger.propagate = False
