"""Decode speed: chattui's engine vs a bare llama-cpp-python loop, and chattui's defaults vs
llama-cpp-python's out-of-the-box defaults, interleaved in one run on the demo model.

Run: python -m bench.throughput [--reps 9] [--tokens 200]
"""

from __future__ import annotations

import argparse
import time
from statistics import median
from typing import Any

from bench.common import decode, demo_model, engine_settings
from chattui.conversation import Message, Role
from chattui.cpu import usable_cores
from chattui.engine.llama import LlamaEngine, extra_buffer_types
from chattui.sampling import GenerationOptions

PROMPT = [Message(Role.USER, "Write a long, detailed story about a lighthouse keeper.")]
SEED = 11


def bare_decode_tps(llm: Any, tokens: list[int], limit: int, options: GenerationOptions) -> float:
    """Decode tokens/s of the plain llama-cpp-python generate loop (first to last token)."""
    import llama_cpp

    llm.reset()
    llm.set_seed(SEED)
    first = last = 0.0
    count = 0
    vocab = llm._model.vocab
    for token in llm.generate(
        tokens,
        temp=options.temperature,
        top_p=options.top_p,
        top_k=options.top_k,
        min_p=options.min_p,
        repeat_penalty=options.repeat_penalty,
    ):
        now = time.perf_counter()
        if count == 0:
            first = now
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        llm.detokenize([token])
        count += 1
        last = now
        if count >= limit:
            break
    return (count - 1) / (last - first)


def main() -> None:
    """Run the comparisons and print their ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--tokens", type=int, default=200)
    args = parser.parse_args()

    import llama_cpp

    model = demo_model()
    assert model.file is not None
    engine = LlamaEngine(model.file, model.spec, engine_settings())
    options = GenerationOptions(temperature=0.8, seed=SEED, max_tokens=args.tokens)
    tokens = engine.tokenize(PROMPT)
    threads = usable_cores()
    with extra_buffer_types(engine.repack.enabled):  # the kernels the probe allows
        same = llama_cpp.Llama(
            str(model.file),
            n_ctx=engine.n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            flash_attn=engine.flash_attn,
            verbose=False,
        )
        stock = llama_cpp.Llama(str(model.file), verbose=False)  # llama-cpp-python's defaults

    runs: dict[str, list[float]] = {"engine": [], "bare": [], "stock": []}
    for _ in range(args.reps):  # interleaved, so drift in machine load hits all three alike
        runs["engine"].append(decode(engine, PROMPT, options).decode_tps)
        runs["bare"].append(bare_decode_tps(same, tokens, args.tokens, options))
        runs["stock"].append(bare_decode_tps(stock, tokens, args.tokens, options))

    eng, bare, stock_tps = (median(runs[k]) for k in ("engine", "bare", "stock"))
    print(f"model: {model.spec.id}, {args.tokens} tokens, {args.reps} interleaved reps")
    print(f"chattui engine          {eng:7.1f} tok/s (median)")
    print(f"bare generate loop      {bare:7.1f} tok/s (same settings: n_ctx, {threads} threads)")
    print(
        f"llama-cpp-python stock  {stock_tps:7.1f} tok/s (n_ctx=512, {stock.n_threads} thread(s))"
    )
    # Ratios of runs made back to back, then their median: drift of a shared machine cancels.
    vs_bare = median([e / b for e, b in zip(runs["engine"], runs["bare"], strict=True)])
    vs_stock = median([e / s for e, s in zip(runs["engine"], runs["stock"], strict=True)])
    print(f"engine / bare loop      {vs_bare:.3f}  (median of paired ratios; target >= 0.97)")
    print(f"chattui defaults / stock defaults  {vs_stock:.3f}  (target >= 1.4)")
    engine.close()


if __name__ == "__main__":
    main()
