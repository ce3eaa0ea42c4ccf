"""Reading a GGUF file's header metadata without loading the model.

Pure Python: architecture, trained context length, chat template and the rest of the key/value
header, for checks before llama.cpp is involved.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from chattui.errors import ModelLoadError

MAGIC = b"GGUF"

_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_MAX_STRING = 1 << 26
"""No metadata string is this long in a real file; a bigger length means corruption."""


class _Reader:
    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self.handle = handle
        self.path = path

    def take(self, size: int) -> bytes:
        data = self.handle.read(size)
        if len(data) != size:
            raise ModelLoadError(f"{self.path} is truncated: its GGUF header ends early")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.unpack("<Q")
        if length > _MAX_STRING:
            raise ModelLoadError(f"{self.path} has a corrupt GGUF header")
        return self.take(length).decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, count = self.unpack("<I"), self.unpack("<Q")
            if item_kind in _SCALARS and not keep:
                self.handle.seek(struct.calcsize(_SCALARS[item_kind]) * count, 1)
                return None
            items = [self.value(item_kind, keep) for _ in range(count)]
            return items if keep else None
        raise ModelLoadError(f"{self.path} has a corrupt GGUF header (value type {kind})")


def read_metadata(path: Path, *, arrays: bool = False) -> dict[str, Any]:
    """Read the key/value metadata of a GGUF file.

    Args:
        path: The file.
        arrays: Keep array values (the tokenizer's vocabulary is large); skipped ones map to None.

    Raises:
        ModelLoadError: The file cannot be read, is not GGUF, or its header is damaged.
    """
    try:
        with path.open("rb") as handle:
            reader = _Reader(handle, path)
            if handle.read(4) != MAGIC:
                raise ModelLoadError(
                    f"{path} is not a GGUF model file (no GGUF signature); use a .gguf file"
                )
            version = reader.unpack("<I")
            if version not in (2, 3):
                raise ModelLoadError(f"{path} uses GGUF version {version}; chattui reads 2 and 3")
            reader.unpack("<Q")  # tensor count
            count = reader.unpack("<Q")
            metadata: dict[str, Any] = {"GGUF.version": version}
            for _ in range(count):
                key = reader.string()
                metadata[key] = reader.value(reader.unpack("<I"), arrays)
            return metadata
    except OSError as error:
        raise ModelLoadError(f"cannot read model file {path}: {error.strerror}") from None


def trained_context(metadata: dict[str, Any]) -> int | None:
    """The context length the model was trained with, if the header says."""
    arch = metadata.get("general.architecture")
    value = metadata.get(f"{arch}.context_length")
    return int(value) if isinstance(value, int) and value > 0 else None
