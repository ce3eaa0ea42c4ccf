"""Servers remote tests talk to, on 127.0.0.1 with a free port.

``LlamaServer`` is llama-cpp-python's own OpenAI-compatible server on the demo model: the real
SSE path. ``FaultServer`` does on demand what a real server rarely does: each path prefix is a
scenario (``/401/v1``, ``/split-utf8/v1``…), and it counts the requests it got.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chattui.paths import resolve_paths

KEY = "sk-test-SECRET-0123456789"
"""The API key the fault server's ``auth`` scenario wants."""


def write_endpoints(home: Path, *tables: str) -> Path:
    """Write ``[[endpoints]]`` tables into the user's models.toml under ``home``."""
    path = resolve_paths({"CHATTUI_HOME": str(home)}).user_catalog
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(f"[[endpoints]]\n{table.strip()}\n" for table in tables))
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` on ``model``, serving it as ``smollm``.

    Started through tests/remote/serve_llama.py, which loads the model with the repack choice
    of chattui's crash-safe probe (verdicts remembered in ``probes``).
    """

    def __init__(self, model: Path, probes: Path, n_ctx: int = 2048) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.remote.serve_llama",
                str(probes),
                "--model",
                str(model),
                "--model_alias",
                "smollm",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                str(n_ctx),
                "--verbose",
                "False",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=Path(__file__).parents[2],  # where the tests package is
        )

    def wait_ready(self, limit: float = 300.0) -> None:
        """Wait until it answers /v1/models (loading a model takes a while on a busy machine)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                assert self.process.stderr is not None
                raise RuntimeError(self.process.stderr.read().decode(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("llama_cpp.server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def chunk(content: str | None = None, **delta: Any) -> bytes:
    """One SSE event holding a chat.completion.chunk."""
    if content is not None:
        delta["content"] = content
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "fault-model",
        "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
USAGE = (
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[],'
    b'"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}\n\n'
)


class FaultServer:
    """A scripted OpenAI-compatible server: ``/SCENARIO/v1/...``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        """Set to let a stalled stream go on (and end)."""
        self.cut = threading.Event()
        """Set once a client closed the ``endless`` stream."""
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, scenario: str) -> str:
        # A TLS server is reached by the name its certificate has.
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}/{scenario}/v1"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fault = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                scenario = self.path.split("/")[1]
                fault.requests[f"{scenario} GET"] += 1
                if scenario == "auth" and self.headers.get("Authorization") != f"Bearer {KEY}":
                    self._json(401, {"error": {"message": "Invalid API key provided."}})
                elif scenario == "nolist":
                    self._json(404, {"detail": "Not Found"})
                elif scenario == "llama-server" and self.path.endswith("/props"):
                    self._json(200, {"default_generation_settings": {"n_ctx": 16384}})
                elif scenario == "llama-server":
                    self._json(200, {"object": "list", "data": [{"id": "fault-model"}]})
                else:
                    models = [{"id": "fault-model", "object": "model", "max_model_len": 1024}]
                    self._json(200, {"object": "list", "data": models})

            def do_POST(self) -> None:
                scenario = self.path.split("/")[1]
                fault.requests[scenario] += 1
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                fault.bodies.append(body)
                fault.headers.append(dict(self.headers))
                if self.path.endswith("/embeddings") and scenario in EMBEDDINGS:
                    EMBEDDINGS[scenario](self, body, fault)
                    return
                SCENARIOS.get(scenario, _ok)(self, body, fault)

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def stream(self, *events: bytes, end: bool = True) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in events:
                    self.wfile.write(event)
                    self.wfile.flush()
                if end:
                    self.close_connection = True

        return Handler


Scenario = Callable[[Any, dict[str, Any], FaultServer], None]


def _ok(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    events = [chunk(role="assistant"), chunk("Hello"), chunk(", world")]
    if "stream_options" in body:
        events.append(USAGE)
    handler.stream(*events, DONE)


def _split_utf8(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    # 你 cut between two writes, each flushed on its own: the client must wait for the rest.
    whole = chunk("你好，世界")
    cut = whole.index("你".encode()) + 1
    handler.stream(whole[:cut], end=False)
    time.sleep(0.05)
    handler.wfile.write(whole[cut:] + DONE)
    handler.wfile.flush()
    handler.close_connection = True


def _reasoning(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler.stream(
        chunk(reasoning_content="The user greets; "),
        chunk(reasoning_content="answer briefly."),
        chunk("Hi!"),
        DONE,
    )


def _think_inline(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler.stream(chunk("<thi"), chunk("nk>weighing it</th"), chunk("ink>\n\nAnswer."), DONE)


def _usage_only(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler.stream(chunk("Hello"), USAGE, DONE)


def _no_stream_options(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    if "stream_options" in body:
        handler._json(400, {"error": {"message": "Unrecognized request argument: stream_options"}})
        return
    _ok(handler, body, fault)


def _status(status: int, message: str, headers: dict[str, str] | None = None) -> Scenario:
    def answer(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
        handler._json(status, {"error": {"message": message}}, headers)

    return answer


def _busy_then_ok(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    if fault.requests["busy-then-ok"] == 1:
        handler._json(429, {"error": {"message": "Rate limited"}}, {"Retry-After": "1"})
    else:
        _ok(handler, body, fault)


def _cut_mid_reply(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler.stream(chunk("Half a rep"), end=False)
    handler.wfile.flush()
    handler.connection.shutdown(socket.SHUT_RDWR)  # the server died mid-reply


def _stall(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler.stream(chunk("Then nothing"), end=False)
    fault.release.wait(30)


def _endless(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.end_headers()
    try:
        for n in range(100_000):
            handler.wfile.write(chunk(f"word{n} "))
            handler.wfile.flush()
            time.sleep(0.01)
    except OSError:
        fault.cut.set()


def _malformed(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler.stream(chunk("Fine so far"), b"data: {not json\n\n", DONE)


def _echo_key(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    # A server that repeats the key it was given in its error: it must not reach the user.
    given = handler.headers.get("Authorization", "")
    handler._json(403, {"error": {"message": f"key {given.removeprefix('Bearer ')} is revoked"}})


HOSTILE = "[bold]x[/bold] \x1b[31mred\x1b[0m \x9b2J \x07bell"
"""Markup and escape sequences a server (or its model) may send."""


def _hostile(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler.stream(
        chunk(reasoning_content="\x1b]0;owned\x07 [red]thinking[/red]"), chunk(HOSTILE), DONE
    )


def _slow_reasoning(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler.stream(chunk(reasoning_content="Let me think about it."), end=False)
    fault.release.wait(30)
    handler.wfile.write(chunk("Done thinking.") + DONE)
    handler.wfile.flush()
    handler.close_connection = True


def _silent(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    # The request is taken, then nothing: no status line, no headers (a hung server).
    fault.release.wait(60)


def _wrong_shapes(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    shape = fault.requests["wrong-shape"] % 4
    bad = [
        b'data: {"choices": "all of them"}\n\n',
        b'data: {"choices": [{"delta": ["not", "an", "object"]}]}\n\n',
        b'data: {"choices": [{"delta": {"content": 42}}]}\n\n',
        b'data: {"choices": [], "usage": {"prompt_tokens": "eleven"}}\n\n',
    ][shape]
    handler.stream(chunk("Fine so far"), bad, DONE)


def _down_after_first(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    """Answers once, then dies at each request: the connection drops with no response."""
    if fault.requests["down-after-first"] == 1:
        _ok(handler, body, fault)
        return
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


SYNONYMS = {"automobile": "car", "automobiles": "car", "cars": "car", "mend": "repair"}
"""Words the fault server's embedding model takes as the same (a meaning, not a spelling)."""
DIMENSIONS = 1024


def bag_of_words(text: str) -> list[float]:
    """A deterministic vector: the words of ``text`` (synonyms folded) hashed into counts."""
    import zlib

    vector = [0.0] * DIMENSIONS
    for word in text.lower().split():
        word = SYNONYMS.get(word.strip(".,?!:;"), word.strip(".,?!:;"))
        if word:
            vector[zlib.crc32(word.encode()) % DIMENSIONS] += 1.0
    vector[0] += 0.01  # never all zeros
    return vector


def _vectors(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    data = [
        {"object": "embedding", "index": i, "embedding": bag_of_words(t)}
        for i, t in reversed(list(enumerate(texts)))  # out of order: the index says where
    ]
    handler._json(200, {"object": "list", "data": data, "model": body.get("model")})


def _not_vectors(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    handler._json(200, {"object": "list", "data": [{"index": 0, "embedding": "nope"}]})


EMBEDDINGS: dict[str, Scenario] = {
    "ok": _vectors,
    "auth": _vectors,
    "wrong-shape": _not_vectors,
    "down-after-first": lambda handler, body, fault: (
        _vectors(handler, body, fault)
        if fault.requests["down-after-first"] == 1
        else _down_after_first(handler, body, fault)
    ),
}
"""What ``/embeddings`` answers, by scenario (others answer as they do for chats)."""


def _tool_calls(handler: Any, body: dict[str, Any], fault: FaultServer) -> None:
    """Two calls streamed as OpenAI does: ids and names first, arguments in fragments."""

    def call(index: int, **fields: Any) -> dict[str, Any]:
        return {"index": index, **fields}

    handler.stream(
        chunk(role="assistant", content="Let me work that out."),
        chunk(tool_calls=[call(0, id="call_a", type="function", function={"name": "calc__add"})]),
        chunk(tool_calls=[call(0, function={"arguments": '{"a": 2'})]),
        chunk(tool_calls=[call(0, function={"arguments": ', "b": 40}'})]),
        chunk(
            tool_calls=[
                call(
                    1,
                    id="call_b",
                    type="function",
                    function={"name": "calc__echo", "arguments": ""},
                )
            ]
        ),
        chunk(tool_calls=[call(1, function={"arguments": '{"text": "你'})]),
        chunk(tool_calls=[call(1, function={"arguments": '好"}'})]),
        b'data: {"id":"c1","object":"chat.completion.chunk","choices":'
        b'[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n',
        DONE,
    )


SCENARIOS: dict[str, Scenario] = {
    "tool-calls": _tool_calls,
    "down-after-first": _down_after_first,
    "silent": _silent,
    "wrong-shape": _wrong_shapes,
    "llama-server": _ok,
    "slow-reasoning": _slow_reasoning,
    "hostile": _hostile,
    "ok": _ok,
    "auth": _ok,
    "nolist": _ok,
    "split-utf8": _split_utf8,
    "reasoning": _reasoning,
    "think": _think_inline,
    "usage": _usage_only,
    "no-stream-options": _no_stream_options,
    "401": _status(401, "Invalid API key provided."),
    "404": _status(404, "The model does not exist."),
    "400": _status(400, "max_tokens is too large"),
    "500": _status(500, "Internal error"),
    "503": _status(503, "Loading model"),
    "429": _status(429, "Rate limited", {"Retry-After": "1"}),
    "busy-then-ok": _busy_then_ok,
    "cut": _cut_mid_reply,
    "stall": _stall,
    "endless": _endless,
    "malformed": _malformed,
    "echo-key": _echo_key,
}
