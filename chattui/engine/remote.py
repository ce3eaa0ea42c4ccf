"""RemoteEngine: a model served by an OpenAI-compatible endpoint (llama-server, vLLM, Ollama…).

It implements the same ``Engine`` protocol as the llama.cpp engine, so sessions, the store, the
TUI and ``ask`` do not know which they talk to. Replies stream over SSE (``httpx`` and
``httpx-sse``, imported only when a remote model is used): text is decoded incrementally, so a
character split between two network reads comes out whole. Reasoning (``reasoning_content``,
``reasoning`` or inline ``<think>``) is kept apart from the answer.

Failures are one line naming the endpoint, its URL (without credentials), the HTTP status and the
server's own message. 429/502/503/504 and failures to connect are retried with backoff
(``Retry-After`` honoured); 400/401/404 never are, and nothing is once the request was sent and
the server went silent (a retry could start a second generation there). A stop (Esc, Ctrl+Q,
Ctrl+C) takes effect at once at any moment, before the server answers too. The API key is read
when a request is made and appears in no message.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
import httpx_sse

from chattui import __version__
from chattui.catalog import ResolvedModel
from chattui.conversation import AttachmentKind, Message, with_attachments
from chattui.endpoints import Endpoint, api_key, ca_bundle
from chattui.engine.base import EngineSettings, FinishReason, Reply, TurnStats
from chattui.engine.context import fit_messages
from chattui.engine.tool_calls import StreamedCalls, wire_messages
from chattui.errors import GenerationError, ModelLoadError
from chattui.reasoning import ThinkSplitter
from chattui.sampling import GenerationOptions
from chattui.terminal_text import printable
from chattui.text_width import WIDE

CONNECT_TIMEOUT = 10.0
"""Seconds to open a connection."""
PROBE_TIMEOUT = 10.0
"""Seconds to wait for ``/models`` when a model is opened."""
RETRIED = frozenset({429, 502, 503, 504})
"""Statuses worth another try: the server is busy or restarting."""
BACKOFF = (0.5, 1.0, 2.0)
"""Seconds before each retry (a ``Retry-After`` from the server wins)."""
LONGEST_WAIT = 30.0
"""Longest ``Retry-After`` honoured."""
DEFAULT_N_CTX = 4096
"""Context assumed when neither the server nor the endpoint says."""
_MESSAGE_OVERHEAD = 8
"""Tokens a chat template adds around a message, at most for common templates."""


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A model an endpoint lists at ``/models``."""

    id: str
    n_ctx: int | None
    """Its context length, when the server reports one."""


def open_client(endpoint: Endpoint, *, idle: float | None = None) -> httpx.Client:
    """An HTTP client for ``endpoint``: the system's trust store plus its ``ca_bundle``.

    Raises:
        ModelLoadError: The ``ca_bundle`` file is missing or unreadable.
    """
    context = ssl.create_default_context()
    bundle = ca_bundle(endpoint)
    if bundle is not None:
        try:
            context.load_verify_locations(cafile=str(bundle))
        except (OSError, ssl.SSLError) as error:
            raise ModelLoadError(
                f"endpoint '{endpoint.id}': cannot read ca_bundle {bundle}: {error}"
            ) from None
    read = endpoint.idle_timeout if idle is None else idle
    return httpx.Client(
        timeout=httpx.Timeout(read, connect=CONNECT_TIMEOUT),
        verify=context,
        headers={"User-Agent": f"chattui/{__version__}", **endpoint.headers},
    )


def _auth(endpoint: Endpoint) -> tuple[dict[str, str], str | None]:
    """The Authorization header (read now) and the key, to keep it out of messages."""
    key = api_key(endpoint)
    return ({"Authorization": f"Bearer {key}"} if key else {}), key


def _where(endpoint: Endpoint) -> str:
    return f"endpoint '{endpoint.id}' ({endpoint.public_url})"


def server_message(response: httpx.Response, key: str | None = None) -> str:
    """The server's own words about a failed request, on one line, without the key."""
    try:
        body: Any = json.loads(response.content or b"null")
    except ValueError:
        body = response.content.decode("utf-8", "replace")
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message", "")))
        if isinstance(error, dict):
            error = error.get("message", "")
        body = error
    text = " ".join(printable(str(body or "")).split())[:300]
    return text.replace(key, "***") if key else text


def http_error(endpoint: Endpoint, response: httpx.Response, key: str | None) -> str:
    """One line for a failed request: endpoint, status and the server's message."""
    status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    message = server_message(response, key)
    return f"{_where(endpoint)}: {status}" + (f": {message}" if message else "")


def connection_error(endpoint: Endpoint, error: httpx.HTTPError) -> str:
    """One line for a request that got no answer."""
    if isinstance(error, httpx.ConnectTimeout):
        why = f"no connection within {CONNECT_TIMEOUT:.0f} s"
    elif isinstance(error, httpx.ReadTimeout):
        why = f"no data for {endpoint.idle_timeout:g} s"
    elif isinstance(error, httpx.ConnectError) and "CERTIFICATE" in str(error).upper():
        why = "its TLS certificate is not trusted (set ca_bundle for a private CA)"
    elif isinstance(error, httpx.ConnectError):
        why = "cannot connect (is the server running?)"
    elif isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        why = "the connection closed before the reply ended"
    else:
        why = f"the connection failed ({type(error).__name__})"
    return f"{_where(endpoint)}: {why}"


def _get(
    endpoint: Endpoint, url: str, timeout: float, client: httpx.Client | None
) -> tuple[httpx.Response, str | None]:
    """GET ``url`` with the endpoint's key, on ``client`` or a client of its own; and the key.

    Raises:
        httpx.HTTPError: No answer.
    """
    headers, key = _auth(endpoint)
    if client is not None:
        return client.get(url, headers=headers, timeout=timeout), key
    with open_client(endpoint, idle=timeout) as own:
        return own.get(url, headers=headers), key


def list_models(
    endpoint: Endpoint, timeout: float = PROBE_TIMEOUT, client: httpx.Client | None = None
) -> list[ServedModel]:
    """The models ``endpoint`` serves: its ``/models``, and its ``models`` option.

    A server without ``/models`` (404) serves what the option lists, perhaps nothing.

    Raises:
        ModelLoadError: The server cannot be reached, refuses the key, or answers nonsense.
    """
    try:
        response, key = _get(endpoint, f"{endpoint.base_url}/models", timeout, client)
    except httpx.HTTPError as error:
        raise ModelLoadError(connection_error(endpoint, error)) from None
    served: list[ServedModel] = []
    if response.status_code not in (200, 404):
        raise ModelLoadError(http_error(endpoint, response, key))
    if response.status_code == 200:
        try:
            data = response.json().get("data", [])
            served = [
                ServedModel(str(item["id"]), _context_length(item))
                for item in data
                if isinstance(item, dict) and item.get("id")
            ]
        except (ValueError, AttributeError):
            raise ModelLoadError(f"{_where(endpoint)}: /models did not answer JSON") from None
    listed = {model.id for model in served}
    return served + [ServedModel(n, endpoint.n_ctx) for n in endpoint.models if n not in listed]


def server_context(endpoint: Endpoint, client: httpx.Client | None = None) -> int | None:
    """The context size llama-server reports at ``/props`` (beside ``/v1``); None elsewhere."""
    root = endpoint.base_url.removesuffix("/v1")
    try:
        response, _ = _get(endpoint, f"{root}/props", PROBE_TIMEOUT, client)
        props = response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    value = settings.get("n_ctx") if isinstance(settings, dict) else props.get("n_ctx")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _context_length(item: Mapping[str, Any]) -> int | None:
    """The context length a server reports for a model, under the names servers use."""
    meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
    for value in (
        item.get("max_model_len"),  # vLLM
        item.get("context_length"),  # OpenRouter, LM Studio
        item.get("context_window"),
        (meta or {}).get("n_ctx"),  # llama-server
        (meta or {}).get("n_ctx_train"),
    ):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def estimate_tokens(text: str) -> int:
    """Tokens ``text`` takes, estimated on the high side (the server's tokenizer is not here).

    A character of Chinese, Japanese or Korean is about a token; other text about 3.5
    characters a token.
    """
    wide = len(WIDE.findall(text))
    return wide + -(-(len(text) - wide) * 2 // 7)


class RemoteEngine:
    """A model of an OpenAI-compatible endpoint."""

    def __init__(self, model: ResolvedModel, settings: EngineSettings) -> None:
        """Check that the endpoint answers and serves the model; learn its context size.

        Raises:
            ModelLoadError: The endpoint cannot be reached or used, or does not serve the model.
        """
        assert model.endpoint is not None and model.remote_name is not None
        started = time.perf_counter()
        self.endpoint = model.endpoint
        self.name = model.remote_name
        self.model_id = model.spec.id
        self.reads_images = True  # the server says if the model cannot
        self.images_note = ""
        self._client = open_client(self.endpoint)  # the probes below and every reply use it
        try:
            served = {m.id: m for m in list_models(self.endpoint, client=self._client)}
        except ModelLoadError:
            self._client.close()
            raise
        if served and self.name not in served:
            self._client.close()
            known = ", ".join(f"{self.endpoint.id}/{m}" for m in list(served)[:8])
            raise ModelLoadError(f"{_where(self.endpoint)} serves no model '{self.name}': {known}")
        # An empty list: the server names no models, and the first reply says if it serves this.
        reported = served[self.name].n_ctx if self.name in served else None
        if reported is None:
            reported = server_context(self.endpoint, self._client)
        n_ctx = reported or self.endpoint.n_ctx or DEFAULT_N_CTX
        self.n_ctx = min(n_ctx, settings.n_ctx) if settings.n_ctx else n_ctx
        self._usage = True
        """Whether to ask for the usage chunk (a server that refused it is not asked again)."""
        self.load_seconds = time.perf_counter() - started

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Estimate the prompt tokens of ``messages`` (on the high side)."""
        calls = (c for m in messages for c in m.tool_calls)
        return sum(estimate_tokens(m.content) + _MESSAGE_OVERHEAD for m in messages) + sum(
            estimate_tokens(c.text + c.arguments + c.result) + 2 * _MESSAGE_OVERHEAD for c in calls
        )

    def stream(self, messages: Sequence[Message], options: GenerationOptions) -> Reply:
        """Start a reply; see ``Engine.stream``."""
        fit = fit_messages(messages, self.count_tokens, self.n_ctx, options.max_tokens)
        if options.seed is None:  # drawn here, sent and saved: the reply can be asked for again
            options = replace(options, seed=secrets.randbelow(2**31))
        return Reply(fit, lambda reply: self._run(reply, options))

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    # A reply ---------------------------------------------------------------------------------

    def _body(self, messages: Sequence[Message], options: GenerationOptions) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": wire_messages(messages, text=False, render=_wire),
            "stream": True,
            "temperature": options.temperature,
            "top_p": options.top_p,
        }
        if options.max_tokens is not None:
            body["max_tokens"] = options.max_tokens
        if options.seed is not None:
            body["seed"] = options.seed
        if options.ignore_eos:  # llama-server, vLLM; llama-cpp-python's server: min_tokens
            body["ignore_eos"] = True
            if options.max_tokens is not None:
                body["min_tokens"] = options.max_tokens
        if self._usage:
            body["stream_options"] = {"include_usage": True}
        if options.tools:
            body["tools"] = [tool.as_openai() for tool in options.tools]
            body["tool_choice"] = options.tool_choice
        return body

    def _run(self, reply: Reply, options: GenerationOptions) -> Iterator[str]:
        started = time.perf_counter()
        first: float | None = None
        last: float | None = None
        count = 0
        usage: Mapping[str, Any] = {}
        finish = FinishReason.STOP
        splitter = ThinkSplitter()
        calls = StreamedCalls()
        ended = False
        """Whether the server said the reply was over ([DONE] or a finish reason)."""
        response: httpx.Response | None = None
        try:
            response = self._connect(reply, self._body(reply.fit.messages, options))
            if response is None:
                finish = FinishReason.STOPPED
                return
            reply.when_stopped(lambda: _hang_up(response))
            for event in httpx_sse.EventSource(response).iter_sse():
                if reply.stop_requested:
                    finish = FinishReason.STOPPED
                    break
                if event.data.strip() == "[DONE]":
                    ended = True
                    break
                chunk = self._chunk(event.data)
                usage = chunk.get("usage") or usage
                self._provenance(reply, chunk)
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("tool_calls"):
                        calls.feed(delta["tool_calls"])
                        last = time.perf_counter()
                        first = first or last
                    thought = delta.get("reasoning_content") or delta.get("reasoning") or ""
                    think, answer = splitter.feed(delta.get("content") or "")
                    if thought or think or answer:
                        last = time.perf_counter()
                        first = first or last
                        count += 1
                    if thought or think:
                        reply.add_reasoning(str(thought) + think)
                    if answer or thought or think:
                        yield answer  # "" while it reasons: the reader can show it is thinking
                    if choice.get("finish_reason"):
                        ended = True
                    if choice.get("finish_reason") == "length":
                        finish = FinishReason.LENGTH
            if reply.stop_requested:  # the hang-up ends the stream like a server would
                finish = FinishReason.STOPPED
            if not ended and finish is not FinishReason.STOPPED:
                raise GenerationError(
                    f"{_where(self.endpoint)}: the connection closed before the reply ended"
                )
            think, answer = splitter.flush()
            if think:
                reply.add_reasoning(think)
            if answer:
                yield answer
            reply.tool_calls = calls.calls()
        except httpx.HTTPError as error:
            if not reply.stop_requested:
                finish = FinishReason.ERROR
                raise GenerationError(connection_error(self.endpoint, error)) from None
            finish = FinishReason.STOPPED
        except GenerationError:
            finish = FinishReason.ERROR
            raise
        except GeneratorExit:
            finish = FinishReason.STOPPED
            raise
        finally:
            reply.when_stopped(None)
            if response is not None:
                response.close()
            now = time.perf_counter()
            prompt = int(usage.get("prompt_tokens") or reply.fit.prompt_tokens)
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            reply.finish(
                TurnStats(
                    prompt_tokens=prompt,
                    prompt_evaluated=max(0, prompt - int(cached)),
                    completion_tokens=int(usage.get("completion_tokens") or count),
                    time_to_first_token=(first or now) - started,
                    decode_seconds=(last or now) - (first or now),
                    finish_reason=finish,
                    dropped_messages=reply.fit.dropped,
                    seed=options.seed or 0,
                )
            )

    def _connect(self, reply: Reply, body: dict[str, Any]) -> httpx.Response | None:
        """Send the request, retrying what is worth it; None if stopped meanwhile.

        Raises:
            GenerationError: The server refused the request, or kept failing.
        """
        url = f"{self.endpoint.base_url}/chat/completions"
        attempt = 0
        while True:
            if reply.stop_requested:
                return None
            headers, key = _auth(self.endpoint)
            headers |= {"Accept": "text/event-stream"}
            request = self._client.build_request("POST", url, json=body, headers=headers)
            try:
                response = self._send(request, reply)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                # Not connected: the server never saw the request, so asking again is safe.
                if attempt >= len(BACKOFF) or reply.stop_requested:
                    raise GenerationError(connection_error(self.endpoint, error)) from None
                if reply.wait_for_stop(BACKOFF[attempt]):
                    return None
                attempt += 1
                continue
            except httpx.HTTPError as error:  # sent, then silence or a broken connection
                raise GenerationError(connection_error(self.endpoint, error)) from None
            if response is None:
                return None
            if response.status_code == 200:
                kind = response.headers.get("content-type", "")
                if "text/event-stream" in kind:
                    return response
                response.close()
                raise GenerationError(f"{_where(self.endpoint)}: answered {kind!r}, not a stream")
            response.read()
            response.close()
            if (
                response.status_code in (400, 422)
                and "stream_options" in body
                and b"stream_options" in response.content
            ):
                # An older server that does not know stream_options: once more without it.
                self._usage = False
                body = {k: v for k, v in body.items() if k != "stream_options"}
                continue
            if response.status_code not in RETRIED or attempt >= len(BACKOFF):
                raise GenerationError(http_error(self.endpoint, response, key))
            if reply.wait_for_stop(_retry_after(response) or BACKOFF[attempt]):
                return None
            attempt += 1

    def _send(self, request: httpx.Request, reply: Reply) -> httpx.Response | None:
        """Send ``request`` and wait for the response's headers; None if stopped meanwhile.

        httpx cannot interrupt a request before the server answers, so it is sent from a
        thread of its own; a stop closes the client (and with it the connection) and makes a
        new one for the next request.

        Raises:
            httpx.HTTPError: The request failed.
        """
        answered = threading.Event()
        outcome: list[httpx.Response | BaseException] = []
        client = self._client

        def send() -> None:
            try:
                outcome.append(client.send(request, stream=True))
            except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
                outcome.append(error)
            finally:
                answered.set()

        threading.Thread(target=send, name="remote-request", daemon=True).start()
        reply.when_stopped(answered.set)
        try:
            answered.wait()
        finally:
            reply.when_stopped(None)
        if reply.stop_requested:
            self._client = open_client(self.endpoint)
            client.close()  # the socket closes: the sending thread ends with an error
            if outcome and isinstance(outcome[0], httpx.Response):
                outcome[0].close()
            return None
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _chunk(self, data: str) -> Mapping[str, Any]:
        """One streamed chunk, parsed.

        Raises:
            GenerationError: It is not a JSON object, or it carries an error.
        """
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict) or not _well_formed(chunk):
            shown = " ".join(printable(data).split())[:80]
            raise GenerationError(f"{_where(self.endpoint)} sent a malformed chunk: {shown!r}")
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            raise GenerationError(
                f"{_where(self.endpoint)}: {' '.join(printable(str(message)).split())[:300]}"
            )
        return chunk

    def _provenance(self, reply: Reply, chunk: Mapping[str, Any]) -> None:
        if reply.provenance:
            return
        reply.provenance = {"endpoint": self.endpoint.id, "base_url": self.endpoint.public_url}
        if isinstance(chunk.get("model"), str):
            reply.provenance["server_model"] = chunk["model"]
        if isinstance(chunk.get("system_fingerprint"), str):
            reply.provenance["fingerprint"] = chunk["system_fingerprint"]


_TEXT_FIELDS = ("content", "reasoning_content", "reasoning")


def _well_formed(chunk: Mapping[str, Any]) -> bool:
    """Whether a chunk has the shape of a ``chat.completion.chunk`` where chattui reads it."""
    usage, choices = chunk.get("usage"), chunk.get("choices")
    if usage is not None and not isinstance(usage, dict):
        return False
    if isinstance(usage, dict):
        numbers = (usage.get(k) for k in ("prompt_tokens", "completion_tokens"))
        details = usage.get("prompt_tokens_details")
        if any(n is not None and not isinstance(n, int) for n in numbers):
            return False
        if details is not None and not isinstance(details, dict):
            return False
    if choices is None:
        return True
    if not isinstance(choices, list):
        return False
    for choice in choices:
        if not isinstance(choice, dict):
            return False
        delta = choice.get("delta")
        if delta is not None and not isinstance(delta, dict):
            return False
        fields = (delta or {}).get
        if any(fields(k) is not None and not isinstance(fields(k), str) for k in _TEXT_FIELDS):
            return False
    return True


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked to wait (``Retry-After`` in seconds), capped."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return min(max(seconds, 0.0), LONGEST_WAIT)


def _hang_up(response: httpx.Response) -> None:
    """Close the reply's connection now, from any thread: a read waiting on it returns."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _wire(message: Message) -> dict[str, Any]:
    """A message as the OpenAI API takes it: images as ``image_url`` parts (data URLs)."""
    images = message.images
    if not images:
        return dict(message.as_chat_dict())
    text = with_attachments(
        message.content, [a for a in message.attachments if a.kind is not AttachmentKind.IMAGE]
    )
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    parts += [
        {
            "type": "image_url",
            "image_url": {"url": f"data:{a.mime};base64,{base64.b64encode(a.data).decode()}"},
        }
        for a in images
    ]
    return {"role": str(message.role), "content": parts}


EMBED_BATCH = 64
"""Texts sent per ``/embeddings`` request."""


class RemoteEmbedder:
    """An endpoint's embedding model, through ``POST /embeddings`` (OpenAI's shape)."""

    def __init__(self, model: ResolvedModel) -> None:
        """Use the endpoint's model (its first request says whether it can embed).

        Raises:
            ModelLoadError: The endpoint's ``ca_bundle`` cannot be read.
        """
        assert model.endpoint is not None and model.remote_name is not None
        self.endpoint = model.endpoint
        self.name = model.remote_name
        self.model_id = model.spec.id
        self._client = open_client(self.endpoint)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """See ``Embedder.embed``."""
        import math

        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            found = self._post(batch)
            for vector in found:
                norm = math.sqrt(sum(x * x for x in vector))
                if not math.isfinite(norm) or norm == 0.0:
                    raise GenerationError(f"{_where(self.endpoint)}: a vector of zeros for a text")
                vectors.append([x / norm for x in vector])
        return vectors

    def _post(self, batch: list[str]) -> list[list[float]]:
        """The vectors of one batch, in its order.

        Raises:
            GenerationError: No answer, an error status, or an answer of the wrong shape.
        """
        headers, key = _auth(self.endpoint)
        url = f"{self.endpoint.base_url}/embeddings"
        try:
            response = self._client.post(
                url, json={"model": self.name, "input": batch}, headers=headers
            )
        except httpx.HTTPError as error:
            raise GenerationError(connection_error(self.endpoint, error)) from None
        if response.status_code != 200:
            raise GenerationError(http_error(self.endpoint, response, key))
        try:
            items = response.json()["data"]
            ordered = sorted(items, key=lambda item: int(item.get("index", 0)))
            vectors = [[float(x) for x in item["embedding"]] for item in ordered]
        except (ValueError, KeyError, TypeError, AttributeError):
            vectors = []
        if len(vectors) != len(batch) or len({len(v) for v in vectors}) != 1 or not vectors[0]:
            raise GenerationError(
                f"{_where(self.endpoint)}: the answer to /embeddings is not a list of vectors"
                f" (is '{self.name}' an embedding model?)"
            )
        return vectors

    def close(self) -> None:
        """Close the connections."""
        self._client.close()
