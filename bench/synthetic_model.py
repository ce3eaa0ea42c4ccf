"""A 1B-parameter GGUF for benches that need a bigger model than the demo, made on this machine.

No weights can be downloaded here, so this builds one: Llama 3.2 1B's shape (16 layers, 2,048
wide, 8,192 feed-forward, 32 heads, 8 KV heads), the demo model's tokenizer and chat template,
random weights written as F16 with the ``gguf`` package (``pip install -e '.[bench]'``), then
quantized to Q4_0 by llama.cpp itself. Its speed is a real 1B model's; its words are noise. Made
once into the cache folder (about 0.7 GB; 2.2 GB more while it is made).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chattui.paths import resolve_paths

SHAPE = {"block_count": 16, "embedding_length": 2048, "feed_forward_length": 8192}
HEADS, KV_HEADS = 32, 8
NOT_COPIED = ("GGUF.", "llama.", "general.architecture", "general.name", "general.file_type")
"""Fields of the demo model this one has its own values for (or none)."""


def synthetic_1b(demo: Path) -> Path:
    """The Q4_0 file, made first if it is not in the cache folder yet."""
    folder = resolve_paths().cache_dir / "bench"
    target = folder / "synthetic-1b-q4_0.gguf"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    f16 = folder / "synthetic-1b-f16.gguf"
    _write_f16(demo, f16)
    _quantize(f16, target)
    f16.unlink()
    return target


def _write_f16(demo: Path, path: Path) -> None:
    import gguf
    import numpy

    reader = gguf.GGUFReader(str(demo))
    writer = gguf.GGUFWriter(str(path), "llama")
    for name, field in reader.fields.items():
        if name.startswith(NOT_COPIED) or name.startswith(("general.size", "general.quant")):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind is gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), kind, sub)
    width, layers, ff = (
        SHAPE[k] for k in ("embedding_length", "block_count", "feed_forward_length")
    )
    vocab = len(reader.fields["tokenizer.ggml.tokens"].contents())
    writer.add_name("synthetic 1B (random weights)")
    writer.add_context_length(8192)
    writer.add_embedding_length(width)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(width // HEADS)
    writer.add_rope_freq_base(500000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    rng = numpy.random.default_rng(0)

    def weights(*shape: int) -> Any:
        return (rng.standard_normal(shape, dtype=numpy.float32) * 0.02).astype(numpy.float16)

    kv = width // HEADS * KV_HEADS
    writer.add_tensor("token_embd.weight", weights(vocab, width))
    writer.add_tensor("output_norm.weight", numpy.ones(width, dtype=numpy.float32))
    for i in range(layers):
        block = f"blk.{i}"
        writer.add_tensor(f"{block}.attn_norm.weight", numpy.ones(width, dtype=numpy.float32))
        writer.add_tensor(f"{block}.ffn_norm.weight", numpy.ones(width, dtype=numpy.float32))
        writer.add_tensor(f"{block}.attn_q.weight", weights(width, width))
        writer.add_tensor(f"{block}.attn_k.weight", weights(kv, width))
        writer.add_tensor(f"{block}.attn_v.weight", weights(kv, width))
        writer.add_tensor(f"{block}.attn_output.weight", weights(width, width))
        writer.add_tensor(f"{block}.ffn_gate.weight", weights(ff, width))
        writer.add_tensor(f"{block}.ffn_up.weight", weights(ff, width))
        writer.add_tensor(f"{block}.ffn_down.weight", weights(width, ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _quantize(source: Path, target: Path) -> None:
    import llama_cpp

    from chattui.engine.llama import route_llama_logs

    route_llama_logs(verbose=False)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.nthread = 2
    scratch = target.with_suffix(".part")
    failed = llama_cpp.llama_model_quantize(str(source).encode(), str(scratch).encode(), params)
    if failed:
        raise RuntimeError(f"llama.cpp could not quantize {source}")
    scratch.replace(target)
