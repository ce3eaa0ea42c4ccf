"""A local vision model from the command line: ``ask -f IMAGE``, ``models add --mmproj``,
``models pull`` of a model and its projector, and the catalog's ``[models.mmproj]`` table."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from tests.cli.conftest import run
from tests.cli.test_models import tiny_gguf
from tests.engine.projector import IMAGE_POSITIONS
from tests.engine.test_vision import image

SHORT = ("--max-tokens", "4", "--seed", "1")


def test_ask_about_an_image_with_a_local_vision_model(
    tmp_path: Path, chattui_home: Path, vision_catalog: str
) -> None:
    picture = tmp_path / "red.png"
    picture.write_bytes(image((220, 20, 20)).data)
    result = run("ask", "-m", vision_catalog, "-f", str(picture), "What is it?", "--json", *SHORT)
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    [attached] = doc["attachments"]
    assert attached["kind"] == "image" and attached["tokens"] >= IMAGE_POSITIONS
    assert doc["usage"]["prompt_tokens"] > attached["tokens"]
    # Saved with its bytes: `ask -c` gives the model the image again (and reuses its KV state).
    again = run("ask", "-c", "-m", vision_catalog, "And the colour?", "--json", *SHORT)
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)["usage"]["prompt_tokens"] > doc["usage"]["prompt_tokens"]
    store = ConversationStore(resolve_paths().database)
    chat = store.get(doc["conversation_id"])
    assert chat.messages[0].attachments[0].data == picture.read_bytes()
    store.close()
    # A new question about the same image, in a new process: its evaluated state is restored.
    other = run("ask", "-m", vision_catalog, "-f", str(picture), "Is it red?", "--json", *SHORT)
    assert other.code == 0, other.stderr
    assert json.loads(other.stdout)["usage"]["prompt_tokens_restored"] >= attached["tokens"]


def test_an_image_a_local_model_cannot_decode_is_one_line_and_nothing_is_saved(
    tmp_path: Path, chattui_home: Path, vision_catalog: str
) -> None:
    picture = tmp_path / "green.webp"
    picture.write_bytes(image((20, 200, 20), kind="WEBP").data)
    result = run("ask", "-m", vision_catalog, "-f", str(picture), "What is it?", *SHORT)
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "attach it as PNG or JPEG" in result.stderr
    assert run("history", "list").stdout.strip() == ""


def test_models_add_with_its_projector(
    tmp_path: Path, chattui_home: Path, demo_path: Path, projector: Path
) -> None:
    result = run("models", "add", str(demo_path), "--id", "seeing", "--mmproj", str(projector))
    assert result.code == 0, result.stderr
    listed = {row["id"]: row for row in json.loads(run("models", "list", "--json").stdout)}
    assert listed["seeing"]["reads_images"] and listed["seeing"]["mmproj"] == str(projector)
    info = json.loads(run("models", "info", "seeing", "--json").stdout)
    assert info["mmproj"] == str(projector)
    picture = tmp_path / "p.png"
    picture.write_bytes(image((1, 2, 3)).data)
    assert run("ask", "-m", "seeing", "-f", str(picture), "hi", *SHORT).code == 0
    # A file that is not a projector, or none at all: one line each, nothing registered.
    for wrong, words in ((demo_path, "is not a vision projector"), (tmp_path / "no", "no such")):
        refused = run("models", "add", str(demo_path), "--id", "x", "--mmproj", str(wrong))
        assert refused.code == 2 and refused.stderr.count("\n") == 1
        assert words in refused.stderr
    assert "x" not in {r["id"] for r in json.loads(run("models", "list", "--json").stdout)}


def test_a_missing_projector_says_how_to_get_it(
    chattui_home: Path, vision_catalog: str, projector: Path, tmp_path: Path
) -> None:
    catalog = chattui_home / "config" / "models.toml"
    catalog.write_text(catalog.read_text().replace(str(projector), str(tmp_path / "gone.gguf")))
    result = run("ask", "-m", vision_catalog, "hi", *SHORT)
    assert result.code != 0 and result.stderr.count("\n") == 1
    assert "vision projector of model 'smolvision' is missing" in result.stderr


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('[models.mmproj]\nurl = "http://x/p.gguf"\n', "'file' (and 'url') or 'path'"),
        ('[models.mmproj]\nfile = "p.gguf"\nsha = "x"\n', "unknown key 'sha'"),
        ('mmproj = "p.gguf"\n', "a table with file and url, or path"),
    ],
)
def test_a_bad_mmproj_table_is_one_line(chattui_home: Path, table: str, words: str) -> None:
    catalog = chattui_home / "config" / "models.toml"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text(f'[[models]]\nid = "v"\nfile = "v.gguf"\n{table}')
    result = run("models", "list")
    assert result.code != 0 and result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on 127.0.0.1 serving a folder; its base URL and the folder."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()
    httpd.server_close()


def test_pull_downloads_and_verifies_the_model_and_its_projector(
    chattui_home: Path, files: tuple[str, Path], projector: Path
) -> None:
    base, folder = files
    model = tiny_gguf(padding=200_000)
    (folder / "tiny.gguf").write_bytes(model)
    (folder / "mmproj-tiny.gguf").write_bytes(projector.read_bytes())

    def entry(projector_sha: str) -> str:
        return (
            f'[[models]]\nid = "tiny"\nfile = "tiny.gguf"\nurl = "{base}/tiny.gguf"\n'
            f'sha256 = "{hashlib.sha256(model).hexdigest()}"\n'
            f'[models.mmproj]\nfile = "mmproj-tiny.gguf"\nurl = "{base}/mmproj-tiny.gguf"\n'
            f'sha256 = "{projector_sha}"\n'
        )

    catalog = chattui_home / "config" / "models.toml"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text(entry("0" * 64))
    models = resolve_paths().models_dir
    failed = run("models", "pull", "tiny")
    assert failed.code != 0 and "checksum mismatch" in failed.stderr
    assert (models / "tiny.gguf").read_bytes() == model  # the model is kept
    assert not (models / "mmproj-tiny.gguf").exists()
    listed = {row["id"]: row for row in json.loads(run("models", "list", "--json").stdout)}
    assert not listed["tiny"]["installed"]  # a vision model needs both files
    catalog.write_text(entry(hashlib.sha256(projector.read_bytes()).hexdigest()))
    result = run("models", "pull", "tiny")
    assert result.code == 0, result.stderr
    assert "tiny is already downloaded" in result.stderr
    assert "downloaded tiny projector" in result.stderr
    assert (models / "mmproj-tiny.gguf").read_bytes() == projector.read_bytes()
    listed = {row["id"]: row for row in json.loads(run("models", "list", "--json").stdout)}
    assert listed["tiny"]["installed"] and listed["tiny"]["reads_images"]
