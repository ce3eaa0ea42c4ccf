"""Images: told apart by their first bytes (filetype), sent as they are to models that read them."""

from __future__ import annotations

from chattui.errors import AttachmentError

TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
"""The image types vision models are sent (what OpenAI-compatible servers take)."""
MAX_PIXELS = 50_000_000
"""Largest image, in pixels: a few kilobytes of PNG can claim a size that takes gigabytes of
memory to decode, and no vision model reads more than a few megapixels."""


def looks_like_image(head: bytes) -> bool:
    """Whether a file that begins with ``head`` is an image of any kind."""
    import filetype

    return filetype.image_match(head) is not None


def image_type(data: bytes, name: str) -> str:
    """The media type of the image in ``data``.

    Raises:
        AttachmentError: It is an image of a kind models are not sent (HEIC, TIFF, ...).
    """
    import filetype

    found = filetype.image_match(data[:8192])
    mime = found.mime if found is not None else "unknown"
    if mime not in TYPES:
        raise AttachmentError(
            f"{name}: an image of type {mime}; chattui sends PNG, JPEG, GIF and WebP images"
        )
    import io

    import imagesize

    width, height = imagesize.get(io.BytesIO(data))
    if width * height > MAX_PIXELS:
        raise AttachmentError(
            f"{name}: an image of {width}x{height} pixels; chattui reads images of up to"
            f" {MAX_PIXELS // 1_000_000} megapixels: scale it down first"
        )
    return mime
