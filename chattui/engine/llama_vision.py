"""Images in a local model's prompt: its vision projector (``mmproj``), run by llama.cpp's mtmd.

An image becomes a run of KV positions that hold its embeddings, not tokens of the vocabulary.
In the engine's token list (which the KV cache is compared with, and which snapshots keep) those
positions hold *placeholders*: negative numbers, which no vocabulary token is, derived from the
image's sha256. The same image at the same place gives the same placeholders, so a second
question about it, in this process or from a snapshot, reuses its evaluated state like any
shared prefix, and another image differs from its first position on.

llama_cpp's modules are handed in by ``engine/llama.py`` (the only module that imports it).
Nothing here keeps an image: its bytes are read again from the message when it is evaluated.
"""

from __future__ import annotations

import ctypes
import hashlib
import re
import secrets
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chattui.conversation import Attachment
from chattui.errors import AttachmentError, GenerationError, ModelLoadError

LAYOUTS_KEPT = 256
"""Images whose layout (token count) is remembered; each is a few hundred integers."""


class Vision:
    """A vision projector loaded beside a model."""

    def __init__(
        self,
        mtmd: Any,
        llama_cpp: Any,
        path: Path,
        model: Any,
        *,
        threads: int,
        gpu: bool,
        log_callback: Any,
    ) -> None:
        """Load the projector for ``model`` (a ``llama_model`` pointer).

        Raises:
            ModelLoadError: llama.cpp cannot load it for this model, it reads no images, or it
                places images in a way chattui does not follow (M-RoPE).
        """
        self._mtmd = mtmd
        self._pos = llama_cpp.llama_pos
        mtmd.mtmd_log_set(log_callback, ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(log_callback, ctypes.c_void_p(0))
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = gpu
        params.n_threads = threads
        params.print_timings = False
        params.warmup = False
        if not gpu:  # as for the model: flash attention is slower on CPUs
            params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self._ctx = mtmd.mtmd_init_from_file(str(path).encode(), model, params)
        if not self._ctx:
            raise ModelLoadError(
                f"llama.cpp cannot load the vision projector {path} for this model (is it the"
                " mmproj made for it?); run with --verbose for details"
            )
        if not mtmd.mtmd_support_vision(self._ctx):
            self.close()
            raise ModelLoadError(f"{path.name} is not a vision projector: it reads no images")
        if mtmd.mtmd_decode_use_mrope(self._ctx):
            self.close()
            raise ModelLoadError(
                f"{path.name} places images with M-RoPE positions (the Qwen-VL family), which"
                " chattui does not support yet; remove [models.mmproj] to chat without images"
            )
        self._marker = f"<__chattui_image_{secrets.token_hex(8)}_"
        """Begins the marker of an image in a rendered prompt: random, so no text contains it."""
        self._layouts: dict[str, tuple[int, ...]] = {}
        self._starts: dict[int, tuple[str, int, int]] = {}
        """Each image chunk's first placeholder: its image's sha256, which chunk it is, and the
        positions it fills."""

    def layout(self, image: Attachment) -> tuple[int, ...]:
        """What ``image`` takes in the prompt, as tokens.

        The tokens some models wrap an image in, and a placeholder for each position its
        embeddings fill.

        Raises:
            AttachmentError: llama.cpp cannot decode the image.
        """
        cached = self._layouts.get(image.sha256)
        if cached is not None:
            return cached
        mtmd = self._mtmd
        tokens: list[int] = []
        with self._chunks(image) as chunks:
            ordinal = 0
            for index in range(mtmd.mtmd_input_chunks_size(chunks)):
                chunk = mtmd.mtmd_input_chunks_get(chunks, index)
                if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    count = ctypes.c_size_t()
                    pointer = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(count))
                    tokens += [int(pointer[i]) for i in range(count.value)]
                    continue
                start = placeholder(image.sha256, ordinal)
                positions = mtmd.mtmd_input_chunk_get_n_pos(chunk)
                tokens += range(start, start - positions, -1)
                self._starts[start] = (image.sha256, ordinal, positions)
                ordinal += 1
        if len(self._layouts) >= LAYOUTS_KEPT:
            self._layouts.pop(next(iter(self._layouts)))
        self._layouts[image.sha256] = layout = tuple(tokens)
        return layout

    def marker(self, index: int) -> str:
        """What stands for image ``index`` in a rendered prompt (``split`` finds it)."""
        return f"{self._marker}{index}__>"

    def split(self, text: str) -> list[str | int]:
        """``text`` cut at its markers: text, then an image's index, then text, and so on."""
        pieces: list[str | int] = []
        for number, piece in enumerate(re.split(re.escape(self._marker) + r"(\d+)__>", text)):
            pieces.append(int(piece) if number % 2 else piece)
        return pieces

    def positions(self, token: int) -> int:
        """The positions of the image chunk ``token`` is the first placeholder of (0: none)."""
        found = self._starts.get(token)
        return found[2] if found is not None else 0

    def evaluate(
        self,
        start: int,
        images: Mapping[str, Attachment],
        context: Any,
        position: int,
        batch: int,
    ) -> int:
        """Encode the image chunk whose first placeholder is ``start`` into ``context``.

        Args:
            start: The chunk's first placeholder (see ``positions``).
            images: The prompt's images by sha256.
            context: The ``llama_context`` pointer.
            position: Where the chunk begins.
            batch: The context's batch size.

        Returns:
            The position after the chunk.

        Raises:
            GenerationError: The image is not in the prompt, or llama.cpp failed on it.
        """
        sha, ordinal, _ = self._starts[start]
        image = images.get(sha)
        if image is None:
            raise GenerationError("an image of the prompt is gone; send the message again")
        mtmd = self._mtmd
        with self._chunks(image) as chunks:
            every = [
                mtmd.mtmd_input_chunks_get(chunks, index)
                for index in range(mtmd.mtmd_input_chunks_size(chunks))
            ]
            text = mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT
            found = [c for c in every if mtmd.mtmd_input_chunk_get_type(c) != text]
            after = self._pos(0)
            failed = mtmd.mtmd_helper_eval_chunk_single(
                self._ctx, context, found[ordinal], position, 0, batch, False, ctypes.byref(after)
            )
        if failed:
            raise GenerationError(f"llama.cpp failed to read the image {image.name} ({failed})")
        return int(after.value)

    def _chunks(self, image: Attachment) -> _Chunks:
        return _Chunks(self._mtmd, self._ctx, image)

    def close(self) -> None:
        """Free the projector (safe to call twice)."""
        if self._ctx:
            self._mtmd.mtmd_free(self._ctx)
            self._ctx = None


def placeholder(sha256: str, ordinal: int) -> int:
    """The first placeholder of chunk ``ordinal`` of the image with this sha256.

    Below zero, and far from any other image's, so that their runs do not meet.
    """
    digest = hashlib.sha256(f"{sha256}:{ordinal}".encode()).digest()
    return -1 - int.from_bytes(digest[:4], "little") % 2**30


class _Chunks:
    """An image tokenized by mtmd (decoded and cut into the projector's input), freed on exit."""

    def __init__(self, mtmd: Any, context: Any, image: Attachment) -> None:
        self._mtmd, self._context, self._image = mtmd, context, image
        self._bitmap: Any = None
        self._chunks: Any = None

    def __enter__(self) -> Any:
        mtmd, image = self._mtmd, self._image
        data = (ctypes.c_uint8 * len(image.data)).from_buffer_copy(image.data)
        self._bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(
            self._context, data, len(image.data), False
        )
        if not self._bitmap:
            raise AttachmentError(
                f"{image.name}: llama.cpp cannot decode this image for a local model; attach it"
                " as PNG or JPEG"
            )
        marker = mtmd.mtmd_default_marker()
        text = mtmd.mtmd_input_text()
        text.text, text.text_len = marker, len(marker)
        text.add_special, text.parse_special = False, True
        self._chunks = mtmd.mtmd_input_chunks_init()
        bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(self._bitmap)
        failed = mtmd.mtmd_tokenize(self._context, self._chunks, ctypes.byref(text), bitmaps, 1)
        if failed:
            self.__exit__()
            raise AttachmentError(f"{image.name}: the model's projector cannot take this image")
        return self._chunks

    def __exit__(self, *_: object) -> None:
        if self._chunks:
            self._mtmd.mtmd_input_chunks_free(self._chunks)
            self._chunks = None
        if self._bitmap:
            self._mtmd.mtmd_bitmap_free(self._bitmap)
            self._bitmap = None


def tiny_png(width: int, height: int) -> bytes:
    """A small RGB gradient as PNG bytes (the projector probe's image), made without a library."""
    rows = b"".join(
        b"\0" + bytes((x * 5 + y * 3 + c * 80) % 256 for x in range(width) for c in range(3))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body
