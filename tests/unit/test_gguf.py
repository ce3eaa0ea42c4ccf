from __future__ import annotations

from pathlib import Path

import pytest

from chattui.errors import ModelLoadError
from chattui.gguf import read_metadata, trained_context


def test_demo_model_metadata(demo_path: Path) -> None:
    meta = read_metadata(demo_path)
    assert meta["general.architecture"] == "llama"
    assert trained_context(meta) == 8192
    assert "<|im_start|>" in meta["tokenizer.chat_template"]
    assert meta["tokenizer.ggml.tokens"] is None  # arrays skipped unless asked for
    assert len(read_metadata(demo_path, arrays=True)["tokenizer.ggml.tokens"]) == 49152


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no GGUF signature"),
        (b"<html>404</html>", "no GGUF signature"),
        (b"GGUF\x09\x00\x00\x00", "GGUF version 9"),
        (b"GGUF\x03\x00\x00\x00\x01", "truncated"),
    ],
)
def test_bad_headers(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(data)
    with pytest.raises(ModelLoadError, match=message):
        read_metadata(path)


def test_truncated_inside_metadata(tmp_path: Path, demo_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    path.write_bytes(demo_path.read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="truncated"):
        read_metadata(path)
