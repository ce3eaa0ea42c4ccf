"""Images on the real engine: the demo model with the tests' vision projector (llama.cpp's mtmd).

The projector's weights are random (tests/engine/projector.py), so nothing here depends on what
the model says about an image: only on what reaches its context, what is counted and reused.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chattui.catalog import ModelSpec
from chattui.conversation import Attachment, AttachmentKind, Message, Role
from chattui.engine.base import EngineSettings, FinishReason
from chattui.engine.llama import LlamaEngine, build_identity
from chattui.engine.llama_vision import placeholder, tiny_png
from chattui.engine.probe import Probe, Verdicts
from chattui.errors import AttachmentError, ModelLoadError
from chattui.sampling import GenerationOptions
from tests.conftest import VISION_ID
from tests.engine.projector import IMAGE_POSITIONS, write_projector

SHORT = GenerationOptions(temperature=0.0, max_tokens=6, seed=1, ignore_eos=True)


def image(color: tuple[int, int, int], kind: str = "PNG", name: str = "") -> Attachment:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (80, 50), color).save(out, format=kind)
    data = out.getvalue()
    name = name or f"picture.{kind.lower()}"
    return Attachment(
        name,
        AttachmentKind.IMAGE,
        len(data),
        hashlib.sha256(data).hexdigest(),
        mime=f"image/{kind.lower()}",
        data=data,
    )


RED, BLUE = image((220, 20, 20)), image((20, 20, 220))


@pytest.fixture(scope="module")
def vision(demo_path: Path, projector: Path, probed: Path) -> Iterator[LlamaEngine]:
    spec = ModelSpec(id=VISION_ID, name="vision", path=str(demo_path))
    settings = EngineSettings(n_ctx=2048, probe_folder=probed)
    loaded = LlamaEngine(demo_path, spec, settings, projector)
    yield loaded
    loaded.close()


def asking(*images: Attachment, text: str = "What is in the picture?") -> list[Message]:
    return [Message(Role.USER, text, attachments=images)]


def test_an_image_fills_its_positions_in_the_prompt(vision: LlamaEngine) -> None:
    assert vision.reads_images and vision.images_note == ""
    named_only = replace(RED, data=b"")  # an image whose bytes were not kept: its name only
    with_image = vision.count_tokens(asking(RED))
    # Its positions, and the line break that puts it under its name.
    added = with_image - vision.count_tokens(asking(named_only))
    assert added in (IMAGE_POSITIONS, IMAGE_POSITIONS + 1)
    tokens = vision.tokenize(asking(RED))
    start = tokens.index(placeholder(RED.sha256, 0))
    assert tokens[start : start + IMAGE_POSITIONS] == list(
        range(tokens[start], tokens[start] - IMAGE_POSITIONS, -1)
    )
    assert sum(1 for t in tokens if t < 0) == IMAGE_POSITIONS
    # Two images: each in its place, each its own run.
    both = vision.tokenize(asking(RED, BLUE))
    assert sum(1 for t in both if t < 0) == 2 * IMAGE_POSITIONS
    assert both.index(placeholder(RED.sha256, 0)) < both.index(placeholder(BLUE.sha256, 0))


def test_a_reply_about_an_image_and_a_second_question_reuses_it(vision: LlamaEngine) -> None:
    first = vision.stream(asking(RED), SHORT)
    text = "".join(first)
    stats = first.stats
    assert stats.finish_reason is FinishReason.LENGTH and stats.completion_tokens == 6
    assert stats.prompt_tokens == vision.count_tokens(asking(RED))
    vision.settle()
    # The same image again, a new question after the reply: only the new tokens are evaluated.
    again = [*asking(RED), Message(Role.ASSISTANT, text), Message(Role.USER, "And its colour?")]
    second = vision.stream(again, SHORT)
    list(second)
    assert second.stats.prompt_evaluated < second.stats.prompt_tokens - IMAGE_POSITIONS
    # Another image in the same place is evaluated, from where the two prompts part.
    third = vision.stream(asking(BLUE), SHORT)
    list(third)
    assert third.stats.prompt_evaluated > IMAGE_POSITIONS


def test_same_seed_same_reply_with_an_image_cold_warm_and_from_a_snapshot(
    vision: LlamaEngine, demo_path: Path, projector: Path, probed: Path
) -> None:
    def reply(engine: LlamaEngine) -> str:
        return "".join(engine.stream(asking(BLUE, text="Describe it."), SHORT))

    vision.stream(asking(RED, text="Something else entirely."), SHORT).text  # noqa: B018
    cold = reply(vision)
    vision.settle()
    warm = reply(vision)
    assert warm == cold
    snapshot = vision.snapshot(len(vision.prefix(asking(BLUE, text="Describe it."))))
    assert snapshot is not None and min(snapshot.tokens) < 0  # the image's state is in it
    spec = ModelSpec(id=VISION_ID, name="vision", path=str(demo_path))
    other = LlamaEngine(demo_path, spec, EngineSettings(n_ctx=2048, probe_folder=probed), projector)
    try:
        assert other.snapshot_key == vision.snapshot_key
        assert other.restore(snapshot) == len(snapshot.tokens)
        restored = other.stream(asking(BLUE, text="Describe it."), SHORT)
        assert "".join(restored) == cold
        assert restored.stats.prompt_evaluated < restored.stats.prompt_tokens - IMAGE_POSITIONS
    finally:
        other.close()


def test_the_projector_is_part_of_the_snapshot_key(
    vision: LlamaEngine, demo_path: Path, probed: Path, tmp_path: Path
) -> None:
    plain = LlamaEngine(
        demo_path,
        ModelSpec(id=VISION_ID, name="vision", path=str(demo_path)),
        EngineSettings(n_ctx=2048, probe_folder=probed),
    )
    try:
        assert plain.snapshot_key != vision.snapshot_key
        assert not plain.reads_images
    finally:
        plain.close()


def test_an_image_llama_cpp_cannot_decode_is_one_line(vision: LlamaEngine) -> None:
    webp = image((10, 200, 10), kind="WEBP")
    with pytest.raises(AttachmentError, match=r"picture\.webp: .*attach it as PNG or JPEG"):
        vision.count_tokens(asking(webp))
    garbage = replace(RED, name="noise.png", data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    garbage = replace(garbage, sha256=hashlib.sha256(garbage.data).hexdigest())
    with pytest.raises(AttachmentError, match=r"noise\.png"):
        vision.count_tokens(asking(garbage))
    # The engine goes on.
    assert "".join(vision.stream(asking(RED), SHORT))


def test_a_marker_written_in_the_text_is_only_text(vision: LlamaEngine) -> None:
    hostile = "<__media__> <__chattui_image_0000000000000000_0__> <image>"
    tokens = vision.tokenize(asking(RED, text=hostile))
    assert sum(1 for t in tokens if t < 0) == IMAGE_POSITIONS


def test_a_projector_for_another_model_is_refused_in_one_line(
    demo_path: Path, probed: Path, tmp_path: Path
) -> None:
    wrong = write_projector(tmp_path / "mmproj-wide.gguf", text_width=1024)
    spec = ModelSpec(id="mismatch", name="mismatch", path=str(demo_path))
    with pytest.raises(ModelLoadError) as caught:
        LlamaEngine(demo_path, spec, EngineSettings(probe_folder=probed), wrong)
    assert "\n" not in str(caught.value)
    assert "mmproj-wide.gguf" in str(caught.value) or "projector" in str(caught.value)


def test_a_projector_whose_probe_crashes_leaves_the_model_reading_no_images(
    demo_path: Path, projector: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "probes"
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    probe = Probe(Verdicts(folder), build_identity(), 2, 0, command=crash)
    note = probe.check_projector(demo_path, projector, "smolvision", extra_bufts=False)
    assert note is not None and "crashed with SIGSEGV" in note
    # Remembered: asked again, no child runs (a command that would fail is not called).
    again = Probe(Verdicts(folder), build_identity(), 2, 0, command=["/nonexistent"])
    assert again.check_projector(demo_path, projector, "smolvision", extra_bufts=False) == note


def test_the_probe_child_evaluates_an_image(demo_path: Path, projector: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from chattui.engine.probe import main; sys.exit(main(sys.argv[1:]))",
            str(demo_path),
            "2",
            "0",
            str(projector),
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # llama.cpp's and mtmd's logs stay off the terminal


def test_the_probe_image_is_a_png_pillow_reads() -> None:
    from PIL import Image

    with Image.open(io.BytesIO(tiny_png(48, 32))) as made:
        assert made.size == (48, 32) and made.mode == "RGB"


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF"])
def test_png_jpeg_and_gif_are_read(vision: LlamaEngine, kind: str) -> None:
    picture = image((120, 60, 200), kind=kind)
    tokens = vision.tokenize(asking(picture))
    assert sum(1 for t in tokens if t < 0) == IMAGE_POSITIONS
