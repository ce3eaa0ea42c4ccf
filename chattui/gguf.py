"""Reading a GGUF file's header metadata without loading the model.

Pure Python: architecture, trained context length, chat template and the rest of the key/value
header, for checks before llama.cpp is involved.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
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
_U64 = struct.Struct("<Q")
_STRING, _ARRAY = 8, 9
_MAX_STRING = 1 << 26
"""No metadata string is this long in a real file; a bigger length means corruption."""


class _Reader:
    """Reads little-endian GGUF values from a memory-mapped file."""

    def __init__(self, data: mmap.mmap | bytes, path: Path) -> None:
        self.data = data
        self.path = path
        self.offset = 0

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise ModelLoadError(f"{self.path} is truncated: its GGUF header ends early")
        chunk = self.data[self.offset : end]
        self.offset = end
        return bytes(chunk)

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise ModelLoadError(f"{self.path} is truncated: its GGUF header ends early")
        value = struct.unpack_from(fmt, self.data, self.offset)[0]
        self.offset += size
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        if length > _MAX_STRING:
            raise ModelLoadError(f"{self.path} has a corrupt GGUF header")
        return self.take(length).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        # The vocabulary and merges are ~100k strings: a tight loop over locals, no calls.
        length_at, data, offset = _U64.unpack_from, self.data, self.offset
        last = len(data) - 8
        for _ in range(count):
            if offset > last:
                raise ModelLoadError(f"{self.path} is truncated: its GGUF header ends early")
            (length,) = length_at(data, offset)
            if length > _MAX_STRING:
                raise ModelLoadError(f"{self.path} has a corrupt GGUF header")
            offset += 8 + length
        self.offset = offset
        if offset > len(data):
            raise ModelLoadError(f"{self.path} is truncated: its GGUF header ends early")

    def value(self, kind: int, keep: bool) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, count = self.unpack("<I"), self.unpack("<Q")
            if not keep and item_kind in _SCALARS:
                self.offset += struct.calcsize(_SCALARS[item_kind]) * count
                return None
            if not keep and item_kind == _STRING:
                self.skip_strings(count)
                return None
            items = [self.value(item_kind, keep) for _ in range(count)]
            return items if keep else None
        raise ModelLoadError(f"{self.path} has a corrupt GGUF header (value type {kind})")


FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
}
"""llama.cpp's ``general.file_type`` values: the quantization of most tensors."""


def read_metadata(path: Path, *, arrays: bool = False) -> dict[str, Any]:
    """Read the key/value metadata of a GGUF file.

    Args:
        path: The file.
        arrays: Keep array values (the tokenizer's vocabulary is large); skipped ones map to None.

    Raises:
        ModelLoadError: The file cannot be read, is not GGUF, or its header is damaged.
    """
    try:
        with path.open("rb") as handle, _mapped(handle) as data:
            reader = _Reader(data, path)
            if reader.data[:4] != MAGIC:
                raise ModelLoadError(
                    f"{path} is not a GGUF model file (no GGUF signature); use a .gguf file"
                )
            reader.offset = 4
            version = reader.unpack("<I")
            if version not in (2, 3):
                raise ModelLoadError(f"{path} uses GGUF version {version}; chattui reads 2 and 3")
            tensors = reader.unpack("<Q")
            count = reader.unpack("<Q")
            metadata: dict[str, Any] = {"GGUF.version": version}
            for _ in range(count):
                key = reader.string()
                metadata[key] = reader.value(reader.unpack("<I"), arrays)
            parameters = 0
            for _ in range(tensors):  # name, dims, type, offset
                reader.string()
                dims = [reader.unpack("<Q") for _ in range(reader.unpack("<I"))]
                reader.take(12)
                size = 1
                for dim in dims:
                    size *= dim
                parameters += size
            metadata["GGUF.tensor_count"] = tensors
            metadata["GGUF.parameter_count"] = parameters
            return metadata
    except OSError as error:
        raise ModelLoadError(f"cannot read model file {path}: {error.strerror}") from None


@contextmanager
def _mapped(handle: BinaryIO) -> Iterator[mmap.mmap | bytes]:
    """The file's bytes without reading them all (an empty file cannot be mapped)."""
    try:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except ValueError:
        yield b""
        return
    try:
        yield mapped
    finally:
        mapped.close()


def quantization(metadata: dict[str, Any]) -> str | None:
    """Name of the file's quantization (e.g. Q4_K_M), if the header says."""
    value = metadata.get("general.file_type")
    return FILE_TYPES.get(value, f"type {value}") if isinstance(value, int) else None


def trained_context(metadata: dict[str, Any]) -> int | None:
    """The context length the model was trained with, if the header says."""
    arch = metadata.get("general.architecture")
    value = metadata.get(f"{arch}.context_length")
    return int(value) if isinstance(value, int) and value > 0 else None


def kv_bytes_per_token(metadata: dict[str, Any], element_bytes: int = 2) -> int | None:
    """Bytes of KV cache one token of context takes (f16 by default), if the header says.

    Keys and values for every layer: ``2 * layers * kv_heads * head_dim * element_bytes``.
    """
    arch = metadata.get("general.architecture")
    layers = metadata.get(f"{arch}.block_count")
    heads = metadata.get(f"{arch}.attention.head_count")
    kv_heads = metadata.get(f"{arch}.attention.head_count_kv", heads)
    width = metadata.get(f"{arch}.embedding_length")
    head_dim = metadata.get(f"{arch}.attention.key_length")
    numbers = [v for v in (layers, heads, kv_heads, width) if isinstance(v, int) and v > 0]
    if len(numbers) < 4:
        return None
    layers, heads, kv_heads, width = numbers
    if not isinstance(head_dim, int) or head_dim <= 0:
        head_dim = width // heads
    return 2 * layers * kv_heads * head_dim * element_bytes
