"""`chattui models` and `chattui doctor`; downloads come from an HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from chattui.cli.history import complete_conversation
from chattui.cli.models import complete_model
from tests.cli.conftest import chattui_cmd, run


def tiny_gguf(padding: int = 3_000_000) -> bytes:
    """A small valid GGUF: header, two metadata keys, no tensors, then filler bytes."""

    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    header += string("general.architecture") + struct.pack("<I", 8) + string("llama")
    header += string("tokenizer.chat_template") + struct.pack("<I", 8) + string("{{ messages }}")
    return header + os.urandom(padding)


@dataclass
class Server:
    payload: bytes
    url: str = ""
    ranges: bool = True
    drop_after: int | None = None
    """Close the connection after this many bytes, once."""
    delay: float = 0.0
    """Seconds between 64 KB chunks."""
    requests: list[str | None] = field(default_factory=list)
    linked: tuple[str, int] | None = None
    """The sha256 and size /resolve/tiny.gguf announces on its redirect, as Hugging Face does."""
    garble_after: int | None = None
    """Send this many bytes, then bytes no TLS stack accepts, once (HTTPS only)."""


@pytest.fixture(params=["http"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    state = Server(tiny_gguf())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/resolve/tiny.gguf" and state.linked is not None:
                self.send_response(302)
                self.send_header("Location", "/tiny.gguf")
                self.send_header("X-Linked-Etag", f'"{state.linked[0]}"')
                self.send_header("X-Linked-Size", str(state.linked[1]))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path != "/tiny.gguf":
                self.send_error(404)
                return
            wanted = self.headers.get("Range")
            state.requests.append(wanted)
            start = 0
            if wanted and state.ranges:
                start = int(wanted.removeprefix("bytes=").split("-")[0])
                self.send_response(206)
                self.send_header(
                    "Content-Range", f"bytes {start}-{len(state.payload) - 1}/{len(state.payload)}"
                )
            else:
                self.send_response(200)
            body = state.payload[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            limit = len(body)
            if state.drop_after is not None:
                limit, state.drop_after = state.drop_after, None
            if state.garble_after is not None:
                self.wfile.write(body[: state.garble_after])
                state.garble_after = None
                # A forged TLS record on the raw socket: the client's TLS layer fails mid-body.
                with socket.socket(fileno=os.dup(self.connection.fileno())) as raw:
                    raw.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))
                self.close_connection = True
                return
            sent = 0
            try:
                while sent < limit:
                    chunk = body[sent : min(limit, sent + 65536)]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if state.delay:
                        time.sleep(state.delay)
            except (BrokenPipeError, ConnectionResetError):
                return
            if limit < len(body):
                self.close_connection = True

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if request.param == "https":
        ca = trustme.CA()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # the child trusts it
        scheme = "https"
    state.url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}/tiny.gguf"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def catalog_entry(home: Path, url: str, payload: bytes, **changes: object) -> Path:
    values: dict[str, object] = {
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
    }
    values.update(changes)
    lines = ["[[models]]", 'id = "tiny"', 'name = "Tiny"', 'file = "tiny.gguf"', f'url = "{url}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in values.items() if value is not None]
    path = home / "config" / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return home / "data" / "models" / "tiny.gguf"


def test_full_download(chattui_home: Path, server: Server) -> None:
    target = catalog_entry(chattui_home, server.url, server.payload)
    result = run("models", "pull", "tiny")
    assert result.code == 0, result.stderr
    assert target.read_bytes() == server.payload
    assert not target.with_name("tiny.gguf.part").exists()
    assert server.requests == [None]
    listed = json.loads(run("models", "list", "--json").stdout)
    tiny = next(row for row in listed if row["id"] == "tiny")
    assert tiny["installed"] and tiny["path"] == str(target)
    assert "already downloaded" in run("models", "pull", "tiny").stderr


def test_resume_after_interrupted_transfer(chattui_home: Path, server: Server) -> None:
    target = catalog_entry(chattui_home, server.url, server.payload)
    target.parent.mkdir(parents=True)
    target.with_name("tiny.gguf.part").write_bytes(server.payload[:1_000_000])
    assert run("models", "pull", "tiny").code == 0
    assert server.requests == ["bytes=1000000-"]
    assert target.read_bytes() == server.payload


def test_connection_dropped_midway_is_retried_and_resumed(
    chattui_home: Path, server: Server
) -> None:
    target = catalog_entry(chattui_home, server.url, server.payload)
    server.drop_after = 1_048_576
    result = run("models", "pull", "tiny")
    assert result.code == 0, result.stderr
    assert server.requests == [None, "bytes=1048576-"]
    assert target.read_bytes() == server.payload


def test_checksum_mismatch(chattui_home: Path, server: Server) -> None:
    target = catalog_entry(chattui_home, server.url, server.payload, sha256="0" * 64)
    result = run("models", "pull", "tiny")
    assert result.code == 1 and result.stderr.count("\n") == 1
    assert "checksum mismatch" in result.stderr
    assert not target.exists() and not target.with_name("tiny.gguf.part").exists()


def test_verified_against_the_servers_digest_when_the_catalog_has_none(
    chattui_home: Path, server: Server
) -> None:
    resolve = server.url.replace("/tiny.gguf", "/resolve/tiny.gguf")
    target = catalog_entry(chattui_home, resolve, server.payload, sha256=None, size=None)
    server.linked = (hashlib.sha256(server.payload).hexdigest(), len(server.payload))
    result = run("models", "pull", "tiny")
    assert result.code == 0, result.stderr
    assert f"sha256 {server.linked[0]} published by the server" in result.stderr
    assert target.read_bytes() == server.payload
    listed = json.loads(run("models", "list", "--json").stdout)
    assert not next(r for r in listed if r["id"] == "tiny")["pinned"]

    target.unlink()
    server.linked = ("1" * 64, len(server.payload))  # the server's digest disagrees
    result = run("models", "pull", "tiny")
    assert result.code == 1 and "checksum mismatch" in result.stderr
    assert "published by the server" in result.stderr and not target.exists()


def test_pinned_catalog_digest_is_named(chattui_home: Path, server: Server) -> None:
    catalog_entry(chattui_home, server.url, server.payload)
    result = run("models", "pull", "tiny")
    assert result.code == 0 and "pinned in the catalog" in result.stderr


def test_nothing_to_verify_is_said(chattui_home: Path, server: Server) -> None:
    catalog_entry(chattui_home, server.url, server.payload, sha256=None, size=None)
    result = run("models", "pull", "tiny")
    assert result.code == 0 and "neither the catalog nor the server gives a sha256" in result.stderr


@pytest.mark.parametrize("server", ["https"], indirect=True)
def test_tls_error_midway_is_retried_and_resumed(chattui_home: Path, server: Server) -> None:
    target = catalog_entry(chattui_home, server.url, server.payload)
    server.garble_after = 1_048_576
    result = run("models", "pull", "tiny")
    assert result.code == 0, result.stderr
    assert server.requests[0] is None and server.requests[1] is not None
    assert server.requests[1].startswith("bytes=")  # resumed, not restarted
    assert target.read_bytes() == server.payload


def test_404(chattui_home: Path, server: Server) -> None:
    catalog_entry(chattui_home, server.url.replace("tiny", "gone"), server.payload)
    result = run("models", "pull", "tiny")
    assert result.code == 1 and "HTTP 404" in result.stderr and "Traceback" not in result.stderr


def test_server_ignoring_range(chattui_home: Path, server: Server) -> None:
    target = catalog_entry(chattui_home, server.url, server.payload)
    server.ranges = False
    target.parent.mkdir(parents=True)
    part = target.with_name("tiny.gguf.part")
    part.write_bytes(server.payload[:500_000])
    result = run("models", "pull", "tiny")
    assert result.code == 1 and "ignored the request to resume" in result.stderr
    assert part.read_bytes() == server.payload[:500_000] and not target.exists()


def test_refused_connection(chattui_home: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    catalog_entry(chattui_home, f"http://127.0.0.1:{port}/tiny.gguf", b"x")
    result = run("models", "pull", "tiny")
    assert result.code == 1 and "failed after 4 attempts (network error" in result.stderr
    assert result.stderr.count("\n") == 1


def test_not_enough_disk_space(chattui_home: Path, server: Server) -> None:
    catalog_entry(chattui_home, server.url, server.payload, size=2**49, sha256=None)
    result = run("models", "pull", "tiny")
    assert result.code == 1 and "not enough disk space" in result.stderr


def test_ctrl_c_leaves_a_resumable_partial_file(chattui_home: Path, server: Server) -> None:
    target = catalog_entry(chattui_home, server.url, server.payload)
    server.delay = 0.05
    process = subprocess.Popen(
        chattui_cmd("models", "pull", "tiny"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    part = target.with_name("tiny.gguf.part")
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size > 300_000):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and b"Traceback" not in err
    assert not target.exists() and 0 < part.stat().st_size < len(server.payload)
    server.delay = 0.0
    assert run("models", "pull", "tiny").code == 0
    assert server.requests[-1] is not None and server.requests[-1].startswith("bytes=")
    assert target.read_bytes() == server.payload


def test_info_reads_the_demo_models_header(demo_path: Path) -> None:
    doc = json.loads(run("models", "info", "smollm2", "--json", "--hash").stdout)
    assert doc["architecture"] == "llama" and doc["quantization"] == "Q4_1"
    assert doc["parameters"] == 134_515_008 and doc["context_length"] == 8192
    assert doc["has_chat_template"] and "<|im_start|>" in doc["chat_template"]
    assert doc["tools"].startswith("offered in the system prompt")  # its template takes none
    assert doc["file_size"] == 98_362_432 and doc["path"] == str(demo_path)
    assert doc["sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert doc["sha256_matches_catalog"] is True
    # 30 layers x 3 KV heads x 64 dims x keys and values x 2 bytes (f16) = 22.5 KiB a token
    assert doc["kv_cache_mib_per_1000_tokens"] == 22.0


def test_add_in_place_then_use_then_rm_only_unregisters(
    chattui_home: Path, demo_path: Path
) -> None:
    result = run("models", "add", str(demo_path), "--id", "mysmol")
    assert result.code == 0, result.stderr
    catalog = (chattui_home / "config" / "models.toml").read_text()
    assert 'id = "mysmol"' in catalog and str(demo_path) in catalog
    assert run("ask", "-m", "mysmol", "hi", "--max-tokens", "2").code == 0
    listed = {row["id"]: row for row in json.loads(run("models", "list", "--json").stdout)}
    assert listed["mysmol"]["path"] == str(demo_path) and listed["mysmol"]["installed"]
    assert run("models", "rm", "mysmol", "--yes").code == 0
    assert demo_path.exists()
    assert "mysmol" not in {r["id"] for r in json.loads(run("models", "list", "--json").stdout)}


def test_add_rejects_a_non_gguf(tmp_path: Path) -> None:
    fake = tmp_path / "notes.gguf"
    fake.write_text("just text")
    result = run("models", "add", str(fake))
    assert result.code == 1 and "is not a GGUF model file" in result.stderr


def test_add_needs_a_template_or_format(tmp_path: Path) -> None:
    bare = tmp_path / "bare.gguf"
    bare.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    result = run("models", "add", str(bare))
    assert result.code == 2 and "has no chat template" in result.stderr
    assert run("models", "add", str(bare), "--chat-format", "chatml").code == 0


def test_rm_downloaded_file(chattui_home: Path, server: Server) -> None:
    target = catalog_entry(chattui_home, server.url, server.payload)
    assert run("models", "pull", "tiny").code == 0
    refused = run("models", "rm", "tiny")
    assert refused.code == 2 and "--yes" in refused.stderr and target.exists()
    assert run("models", "rm", "tiny", "--yes").code == 0 and not target.exists()
    assert run("models", "rm", "smollm2", "--yes").code == 2  # shipped by a package


def test_default_keeps_comments(chattui_home: Path, scripted_models: Path) -> None:
    config = chattui_home / "config" / "config.toml"
    config.write_text("# my settings\ntemperature = 0.3  # warm\n")
    assert run("models", "default", "echo").code == 0
    text = config.read_text()
    assert (
        text.startswith("# my settings\ntemperature = 0.3  # warm\n") and 'model = "echo"' in text
    )
    assert run("ask", "hello").stdout == "hello\n"
    assert run("models", "default", "nope").code == 1
    assert 'model = "echo"' in config.read_text()


def test_completion_callbacks(chattui_home: Path, scripted_models: Path) -> None:
    assert {"smollm2-135m", "smollm2", "smollm2-360m", "smol"} <= set(complete_model("smol"))
    assert "echo" in complete_model("")
    cid = json.loads(run("ask", "-m", "echo", "hi", "--json").stdout)["conversation_id"]
    assert complete_conversation(cid[:3]) == [cid]
    assert complete_conversation("zzzz") == []


def completed(*words: str) -> list[str]:
    """What bash offers for the last of ``words``, asked as its completion script asks."""
    line = ["chattui", *words]
    env = {"COMP_WORDS": " ".join(line), "COMP_CWORD": str(len(line) - 1)}
    result = run(env={**env, "_CHATTUI_COMPLETE": "complete_bash"})
    assert result.code == 0 and result.stderr == "", result.stderr
    return result.stdout.split()


def test_the_shell_completes_models_chats_roles_and_bases(
    tmp_path: Path, chattui_home: Path, scripted_models: Path
) -> None:
    cid = json.loads(run("ask", "-m", "echo", "hi", "--json").stdout)["conversation_id"]
    (tmp_path / "notes.md").write_text("The river flows to the sea.\n")
    assert run("kb", "add", "notes", str(tmp_path / "notes.md")).code == 0
    assert "smollm2-135m" in completed("ask", "-m", "smol")
    assert "echo" in completed("-m", "e")  # the chat app's own -m
    assert completed("ask", "--cid", cid[:3]) == [cid]
    assert completed("ask", "-r", "tr") == ["translate"]
    assert completed("ask", "--kb", "n") == ["notes"]
    assert completed("kb", "search", "no") == ["notes"]
    assert completed("ask", "-m", "./") == []  # bash then completes file names itself


def test_doctor(chattui_home: Path) -> None:
    result = run("doctor", "--json")
    assert result.code == 0, result.stderr
    report = {row["name"]: row for row in json.loads(result.stdout)}
    assert report["installed models"]["value"].startswith("smollm2-135m")
    # Whatever the CPU (x86, ARM, Apple silicon): the build line names its backend.
    assert report["llama-cpp-python"]["value"] and report["llama.cpp build"]["value"]
    assert int(report["threads"]["value"].split()[0]) >= 1
    # Problems of this machine's build (no AVX2, no Metal) are the machine's; the config,
    # catalog and database of a fresh home have none.
    for name in ("config", "installed models", "database"):
        assert report[name]["problem"] is None, report[name]
    config = chattui_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("temperature = 'hot'\n")
    broken = run("doctor")
    assert broken.code == 1 and "! config" in broken.stdout and "temperature" in broken.stdout


def test_unwritable_models_folder_is_one_line(chattui_home: Path, server: Server) -> None:
    catalog_entry(chattui_home, server.url, server.payload)
    (chattui_home / "data").mkdir(parents=True)
    (chattui_home / "data" / "models").write_text("a file where the folder should be")
    result = run("models", "pull", "tiny")
    assert result.code == 1 and "cannot write" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_unwritable_config_folder_is_one_line(chattui_home: Path, scripted_models: Path) -> None:
    config_dir = chattui_home / "config"
    (config_dir / "config.toml").mkdir()  # a folder where the file should be
    result = run("models", "default", "echo")
    assert result.code == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
