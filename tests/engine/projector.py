"""A vision projector (mmproj) for the demo model, written by the tests: no weights can be
downloaded here, and no vision model is small enough to ship.

LLaVA's shape ("mlp" projector), tiny and with random weights: a 2-layer ViT over 64x64 pixels
in 16x16 patches, then two linear layers into the demo model's 576-wide embeddings. llama.cpp
loads and runs it as it would any LLaVA projector, so every step of an image's way into the
prompt is the real one; what the model makes of the image is noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

IMAGE_SIZE, PATCH = 64, 16
IMAGE_POSITIONS = (IMAGE_SIZE // PATCH) ** 2
"""KV positions an image fills: one per patch."""
TEXT_WIDTH = 576
"""The demo model's embedding width, which the projector's output must match."""


def write_projector(path: Path, text_width: int = TEXT_WIDTH) -> Path:
    """Write the projector to ``path`` (about 1 MB) and return it."""
    import gguf
    import numpy

    width, feed_forward, layers = 64, 128, 2
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_name("test projector (random weights)")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.embedding_length", width)
    writer.add_uint32("clip.vision.feed_forward_length", feed_forward)
    writer.add_uint32("clip.vision.block_count", layers)
    writer.add_uint32("clip.vision.projection_dim", text_width)
    writer.add_uint32("clip.vision.attention.head_count", 4)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    rng = numpy.random.default_rng(0)

    def weights(*shape: int) -> Any:
        return (rng.standard_normal(shape, dtype=numpy.float32) * 0.02).astype(numpy.float16)

    def bias(size: int) -> Any:
        return rng.standard_normal(size, dtype=numpy.float32) * 0.02

    writer.add_tensor("v.patch_embd.weight", weights(width, 3, PATCH, PATCH))
    writer.add_tensor("v.position_embd.weight", bias(IMAGE_POSITIONS * width).reshape(-1, width))
    for i in range(layers):
        block = f"v.blk.{i}"
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            writer.add_tensor(f"{block}.{name}.weight", weights(width, width))
            writer.add_tensor(f"{block}.{name}.bias", bias(width))
        for name in ("ln1", "ln2"):
            writer.add_tensor(f"{block}.{name}.weight", numpy.ones(width, dtype=numpy.float32))
            writer.add_tensor(f"{block}.{name}.bias", numpy.zeros(width, dtype=numpy.float32))
        writer.add_tensor(f"{block}.ffn_up.weight", weights(feed_forward, width))
        writer.add_tensor(f"{block}.ffn_up.bias", bias(feed_forward))
        writer.add_tensor(f"{block}.ffn_down.weight", weights(width, feed_forward))
        writer.add_tensor(f"{block}.ffn_down.bias", bias(width))
    writer.add_tensor("mm.0.weight", weights(text_width, width))
    writer.add_tensor("mm.0.bias", bias(text_width))
    writer.add_tensor("mm.2.weight", weights(text_width, text_width))
    writer.add_tensor("mm.2.bias", bias(text_width))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
