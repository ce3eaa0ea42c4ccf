"""RemoteEngine against a fault server: what real servers rarely do on demand (issue 11)."""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path

import pytest
import trustme

from chattui.catalog import Catalog
from chattui.conversation import Message, Role
from chattui.endpoints import Endpoint
from chattui.engine.base import EngineSettings, FinishReason, Reply
from chattui.engine.remote import RemoteEngine
from chattui.errors import GenerationError, ModelLoadError
from chattui.sampling import GenerationOptions
from tests.remote.servers import KEY, FaultServer

HELLO = [Message(Role.USER, "Hello?")]


def engine_for(url: str, **options: object) -> RemoteEngine:
    endpoint = Endpoint(id="f", base_url=url, **options)  # type: ignore[arg-type]
    model = Catalog([], Path("/nonexistent"), [endpoint]).resolve("f/fault-model")
    return RemoteEngine(model, EngineSettings())


def reply_of(engine: RemoteEngine, **options: object) -> tuple[str, Reply]:
    reply = engine.stream(HELLO, GenerationOptions(**options))  # type: ignore[arg-type]
    return "".join(reply), reply


def failure(engine: RemoteEngine) -> tuple[str, str]:
    """The text streamed before the reply failed, and the one-line error."""
    reply = engine.stream(HELLO, GenerationOptions())
    pieces: list[str] = []
    with pytest.raises(GenerationError) as raised:
        pieces.extend(reply)
    assert reply.stats.finish_reason is FinishReason.ERROR
    message = str(raised.value)
    assert "\n" not in message
    return "".join(pieces), message


def test_a_reply_streams_with_usage_and_provenance(fault: FaultServer) -> None:
    engine = engine_for(fault.url("ok"))
    text, reply = reply_of(engine)
    assert text == "Hello, world"
    assert reply.stats.prompt_tokens == 11 and reply.stats.completion_tokens == 3
    assert reply.stats.finish_reason is FinishReason.STOP
    assert reply.provenance == {
        "endpoint": "f",
        "base_url": fault.url("ok"),
        "server_model": "fault-model",
        "fingerprint": "fp_test",
    }
    assert fault.bodies[0]["stream_options"] == {"include_usage": True}
    assert fault.bodies[0]["messages"] == [{"role": "user", "content": "Hello?"}]
    assert engine.n_ctx == 1024  # reported by the server (max_model_len)


def test_a_chinese_character_split_between_reads_comes_out_whole(fault: FaultServer) -> None:
    text, _ = reply_of(engine_for(fault.url("split-utf8")))
    assert text == "你好，世界"


def test_reasoning_content_is_kept_apart(fault: FaultServer) -> None:
    text, reply = reply_of(engine_for(fault.url("reasoning")))
    assert text == "Hi!"
    assert reply.reasoning == "The user greets; answer briefly."


def test_inline_think_tags_cut_between_chunks_are_kept_apart(fault: FaultServer) -> None:
    text, reply = reply_of(engine_for(fault.url("think")))
    assert text == "Answer." and reply.reasoning == "weighing it"


def test_a_usage_chunk_without_choices_is_read(fault: FaultServer) -> None:
    text, reply = reply_of(engine_for(fault.url("usage")))
    assert text == "Hello" and reply.stats.completion_tokens == 3


def test_without_a_usage_chunk_the_pieces_are_counted(fault: FaultServer) -> None:
    text, reply = reply_of(engine_for(fault.url("no-stream-options")))
    assert text == "Hello, world" and reply.stats.completion_tokens == 2


def test_a_server_that_rejects_stream_options_is_asked_again_without_once(
    fault: FaultServer,
) -> None:
    engine = engine_for(fault.url("no-stream-options"))
    assert reply_of(engine)[0] == "Hello, world"
    assert fault.requests["no-stream-options"] == 2
    assert "stream_options" not in fault.bodies[1]
    reply_of(engine)
    assert fault.requests["no-stream-options"] == 3  # not asked with it again


@pytest.mark.parametrize(
    ("scenario", "status", "said"),
    [
        ("401", "HTTP 401 Unauthorized", "Invalid API key provided."),
        ("404", "HTTP 404 Not Found", "The model does not exist."),
        ("400", "HTTP 400 Bad Request", "max_tokens is too large"),
        ("500", "HTTP 500 Internal Server Error", "Internal error"),
    ],
)
def test_a_refused_request_is_one_line_and_not_retried(
    fault: FaultServer, scenario: str, status: str, said: str
) -> None:
    _, message = failure(engine_for(fault.url(scenario)))
    assert message == f"endpoint 'f' ({fault.url(scenario)}): {status}: {said}"
    assert fault.requests[scenario] == 1


def test_429_is_retried_after_what_retry_after_says(fault: FaultServer) -> None:
    engine = engine_for(fault.url("busy-then-ok"))
    started = time.monotonic()
    text, _ = reply_of(engine)
    assert text == "Hello, world" and fault.requests["busy-then-ok"] == 2
    assert time.monotonic() - started >= 1.0  # Retry-After: 1


def test_503_is_retried_with_backoff_then_reported(fault: FaultServer) -> None:
    _, message = failure(engine_for(fault.url("503")))
    assert "HTTP 503" in message and "Loading model" in message
    assert fault.requests["503"] == 4


def test_a_refused_connection_is_one_line(fault: FaultServer) -> None:
    closed = f"http://127.0.0.1:{fault.port}/ok/v1"
    fault.stop()
    with pytest.raises(ModelLoadError) as raised:
        engine_for(closed)
    assert str(raised.value) == f"endpoint 'f' ({closed}): cannot connect (is the server running?)"


def test_a_stream_cut_mid_reply_keeps_the_text_and_says_so(fault: FaultServer) -> None:
    text, message = failure(engine_for(fault.url("cut")))
    assert text == "Half a rep"
    assert message.endswith("the connection closed before the reply ended")
    assert fault.requests["cut"] == 1  # no retry once text has arrived


def test_a_stalled_stream_ends_with_an_error_naming_the_endpoint(fault: FaultServer) -> None:
    text, message = failure(engine_for(fault.url("stall"), idle_timeout=1.0))
    assert text == "Then nothing"
    assert message == f"endpoint 'f' ({fault.url('stall')}): no data for 1 s"
    assert fault.requests["stall"] == 1


def test_a_malformed_chunk_is_one_line(fault: FaultServer) -> None:
    text, message = failure(engine_for(fault.url("malformed")))
    assert text == "Fine so far" and "sent a malformed chunk: '{not json'" in message


def test_chunks_of_the_wrong_shape_are_one_line(fault: FaultServer) -> None:
    engine = engine_for(fault.url("wrong-shape"))
    for _ in range(4):
        text, message = failure(engine)
        assert text == "Fine so far" and "sent a malformed chunk: " in message


def test_a_server_that_takes_the_request_and_never_answers_is_not_asked_again(
    fault: FaultServer,
) -> None:
    """A read timeout after the request was sent: a retry could start a second generation."""
    text, message = failure(engine_for(fault.url("silent"), idle_timeout=1.0))
    assert text == "" and message == f"endpoint 'f' ({fault.url('silent')}): no data for 1 s"
    assert fault.requests["silent"] == 1


def test_stop_before_the_server_answers_ends_the_reply_at_once(fault: FaultServer) -> None:
    engine = engine_for(fault.url("silent"))  # the idle timeout: 120 s
    reply = engine.stream(HELLO, GenerationOptions())
    reader = threading.Thread(target=lambda: list(reply))
    reader.start()
    deadline = time.monotonic() + 30
    while fault.requests["silent"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    reply.stop()  # Esc, Ctrl+Q or Ctrl+C, while the request waits for its headers
    reader.join(10)  # far from the 120 s the request would otherwise wait
    assert not reader.is_alive()
    assert reply.stats.finish_reason is FinishReason.STOPPED and reply.text == ""
    engine.close()


@pytest.mark.parametrize("scenario", ["endless", "stall"])
def test_stop_closes_the_connection_at_once(fault: FaultServer, scenario: str) -> None:
    engine = engine_for(fault.url(scenario))
    reply = engine.stream(HELLO, GenerationOptions())
    got: list[str] = []
    first = threading.Event()

    def consume() -> None:
        for piece in reply:
            got.append(piece)
            first.set()

    reader = threading.Thread(target=consume)
    reader.start()
    assert first.wait(30)
    reply.stop()  # from another thread, while the reader waits on the socket
    reader.join(10)
    assert not reader.is_alive()
    assert reply.stats.finish_reason is FinishReason.STOPPED and got
    if scenario == "endless":
        assert fault.cut.wait(10)  # the server saw the connection go


def test_the_key_is_read_from_the_named_variable_and_sent(
    fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_KEY", KEY)
    engine = engine_for(fault.url("auth"), api_key_env="LAB_KEY", headers={"X-Team": "nlp"})
    assert reply_of(engine)[0] == "Hello, world"
    assert fault.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert fault.headers[0]["X-Team"] == "nlp"


def test_the_key_can_come_from_a_command(fault: FaultServer) -> None:
    engine = engine_for(fault.url("auth"), api_key_cmd=f"printf '%s\\n' {KEY}")
    assert reply_of(engine)[0] == "Hello, world"


def test_an_unset_key_variable_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_KEY", raising=False)
    with pytest.raises(ModelLoadError, match=r"reads its API key from \$LAB_KEY, which is not set"):
        engine_for("http://127.0.0.1:9/v1", api_key_env="LAB_KEY")


def test_openai_environment_variables_never_apply(
    fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-be-sent")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert reply_of(engine_for(fault.url("ok")))[0] == "Hello, world"
    assert "Authorization" not in fault.headers[0]


def test_a_key_the_server_repeats_never_reaches_the_message(
    fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_KEY", KEY)
    _, message = failure(engine_for(fault.url("echo-key"), api_key_env="LAB_KEY"))
    assert KEY not in message and "key *** is revoked" in message


def test_a_server_that_lists_no_models_uses_the_endpoint_context(fault: FaultServer) -> None:
    engine = engine_for(fault.url("nolist"), n_ctx=3000)
    assert engine.n_ctx == 3000
    assert reply_of(engine)[0] == "Hello, world"


def test_a_model_the_server_does_not_serve_is_one_line(fault: FaultServer) -> None:
    endpoint = Endpoint(id="f", base_url=fault.url("ok"))
    model = Catalog([], Path("/nonexistent"), [endpoint]).resolve("f/other-model")
    with pytest.raises(ModelLoadError, match="serves no model 'other-model': f/fault-model"):
        RemoteEngine(model, EngineSettings())


def test_tls_with_a_private_ca_needs_its_bundle(tmp_path: Path) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    fault = FaultServer(tls=server_context)
    try:
        with pytest.raises(ModelLoadError, match="TLS certificate is not trusted"):
            engine_for(fault.url("ok"))
        engine = engine_for(fault.url("ok"), ca_bundle=str(bundle))
        assert reply_of(engine)[0] == "Hello, world"
    finally:
        fault.stop()


def test_a_chat_longer_than_the_server_context_leaves_its_oldest_turns_out(
    fault: FaultServer,
) -> None:
    engine = engine_for(fault.url("ok"))  # the server reports 1,024 tokens
    turns = [
        Message(Role.USER if n % 2 == 0 else Role.ASSISTANT, f"turn {n} " + "word " * 100)
        for n in range(40)
    ]
    reply = engine.stream([*turns, Message(Role.USER, "And now?")], GenerationOptions())
    assert "".join(reply) == "Hello, world"
    assert reply.fit.dropped > 0
    sent = fault.bodies[0]["messages"]
    assert sent[-1]["content"] == "And now?" and len(sent) == len(turns) + 1 - reply.fit.dropped
    assert engine.count_tokens(reply.fit.messages) <= 1024


def test_chinese_text_is_counted_a_token_a_character() -> None:
    from chattui.engine.remote import estimate_tokens

    assert estimate_tokens("自注意力机制") == 6
    assert estimate_tokens("a" * 70) == 20


def test_llama_servers_context_is_read_from_its_props(fault: FaultServer) -> None:
    assert engine_for(fault.url("llama-server")).n_ctx == 16384
    # The server's word first, then the endpoint's n_ctx, then 4,096.
    assert engine_for(fault.url("llama-server"), n_ctx=2048).n_ctx == 16384
    assert engine_for(fault.url("ok"), n_ctx=2048).n_ctx == 1024
    assert engine_for(fault.url("nolist")).n_ctx == 4096


def test_images_go_to_an_endpoint_as_data_url_parts(fault: FaultServer, tmp_path: Path) -> None:
    import base64

    from chattui.attachments import read_attachments
    from chattui.chat import ChatSession
    from tests.attachments.test_readers import make_png

    png = make_png()
    (tmp_path / "red.png").write_bytes(png)
    (tmp_path / "note.txt").write_text("a note\n")
    attached = [
        *read_attachments(str(tmp_path / "note.txt")),
        *read_attachments(str(tmp_path / "red.png")),
    ]
    engine = engine_for(fault.url("ok"))
    session = ChatSession(
        engine, Catalog([], Path("/x"), [engine.endpoint]).resolve("f/fault-model"),
        GenerationOptions(),
    )  # fmt: skip
    assert "".join(session.send("What colour is it?", attached)) == "Hello, world"
    sent = fault.bodies[-1]["messages"][-1]
    assert sent["role"] == "user"
    text, image = sent["content"]
    assert text["type"] == "text" and text["text"].endswith("a note\n```\n\nWhat colour is it?")
    assert image == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
    }
    assert all(isinstance(m["content"], str) for m in fault.bodies[-1]["messages"][:-1])
