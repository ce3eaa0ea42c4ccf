"""Decode and prompt speed against the kernel's own, interleaved in one run on the demo model.

1. chattui's engine vs a bare llama-cpp-python loop, and chattui's defaults vs
   llama-cpp-python's out-of-the-box defaults (decode).
2. Parity with llama-bench, built from the llama.cpp source that the installed
   llama-cpp-python vendors (``--setup`` builds it once): decode of 128 tokens after a
   256-token prompt (llama-bench ``-n 128 -d 256``; chattui's whole token step, and its decode
   step alone, which is what llama-bench times) and a 512-token prompt (``-p 512``), with the
   same threads, repacking and flash attention as chattui; each rep runs both, and the figure
   is the median of the paired ratios chattui / llama-bench (aims >= 0.97); and the same
   decode in contexts allocated larger than needed, which is why the engine allocates tight.
3. A 512-token reply with each tool's default sampling against llama.cpp's own ``llama-cli``
   (built by ``--setup`` too), from the rate it prints (``--show-timings``).

Run: python -m bench.throughput --setup    (once: builds llama-bench and llama-cli, minutes)
     python -m bench.throughput [--reps 9] [--tokens 200]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from statistics import median
from typing import Any

from bench.common import decode, demo_model, engine_settings, fitted, paired_ratios
from chattui.catalog import ModelSpec
from chattui.conversation import Message, Role
from chattui.cpu import usable_cores
from chattui.engine.llama import LlamaEngine, extra_buffer_types
from chattui.sampling import GenerationOptions, Sampling

PROMPT = [Message(Role.USER, "Write a long, detailed story about a lighthouse keeper.")]
SEED = 11
LLAMA_CPP = Path.home() / ".cache" / "chattui-bench" / f"llama.cpp-{version('llama-cpp-python')}"
LLAMA_BENCH = LLAMA_CPP / "build" / "bin" / "llama-bench"
LONG_REPLY = 512
GENERATION = re.compile(r"Generation: ([\d.]+) t/s")
"""llama-cli's decode rate, from the line ``--show-timings`` prints after a reply."""
DEPTH, DECODE, PROMPT_TOKENS = 256, 128, 512


def setup(where: Path) -> None:
    """Build llama-bench and llama-cli from the llama.cpp the installed llama-cpp-python vendors."""
    pinned = f"llama-cpp-python=={version('llama-cpp-python')}"
    with tempfile.TemporaryDirectory() as folder:
        download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
        subprocess.run([*download, "--no-binary", ":all:", "-d", folder, pinned], check=True)
        (sdist,) = Path(folder).glob("*.tar.gz")
        with tarfile.open(sdist) as archive:
            archive.extractall(folder, filter="data")
        (source,) = Path(folder).glob("*/vendor/llama.cpp")
        where.parent.mkdir(parents=True, exist_ok=True)
        source.rename(where)
    flags = ["-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF"]
    flags.append("-DLLAMA_BUILD_SERVER=ON")  # llama-cli is built on the server's code
    subprocess.run(["cmake", "-S", str(where), "-B", str(where / "build"), *flags], check=True)
    targets = ["--target", "llama-bench", "--target", "llama-cli"]
    subprocess.run(["cmake", "--build", str(where / "build"), *targets, "-j"], check=True)


def kernel(binary: Path, model: Path, args: list[str]) -> float:
    """llama-bench's tokens/s for one test (one repetition after its warm-up)."""
    result = subprocess.run(
        [str(binary), "-m", str(model), "-r", "1", "-o", "json", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(result.stdout)[0]["avg_ts"])


def timed_steps(engine: LlamaEngine) -> list[float]:
    """Record the seconds of each one-token ``eval`` (a decode step) the engine runs."""
    llm = engine._llm
    evaluate = llm.eval
    steps: list[float] = []

    def timed(tokens: list[int]) -> None:
        started = time.perf_counter()
        evaluate(tokens)
        if len(tokens) == 1:
            steps.append(time.perf_counter() - started)

    llm.eval = timed
    return steps


def parity(
    engine: LlamaEngine, prompter: LlamaEngine, binary: Path, model: Path, reps: int
) -> None:
    """chattui vs llama-bench for decode at a depth and for a prompt, paired rep by rep.

    Decode is shown twice: chattui's whole token step (decode, then sampling from the
    vocabulary's logits, as every reply does) and the decode step alone, which is what
    llama-bench's tg test times (it samples nothing). The long prompt runs on an engine of its
    own, so the decoding one keeps the context a new chat starts with.
    """
    settings = [
        "-t", str(usable_cores()),
        "-fa", "1" if engine.flash_attn else "0",
        "--repack", "1" if engine.repack.enabled else "0",
    ]  # fmt: skip
    at_depth, long_prompt = fitted(engine, DEPTH), fitted(engine, PROMPT_TOKENS)
    greedy = GenerationOptions(temperature=0.0, max_tokens=DECODE, ignore_eos=True)
    one = GenerationOptions(temperature=0.0, max_tokens=1)
    steps = timed_steps(engine)
    rows: dict[str, tuple[list[float], list[float]]] = {
        "step": ([], []),
        "decode": ([], []),
        "prompt": ([], []),
    }
    for _ in range(reps):
        steps.clear()
        stats = decode(engine, at_depth, greedy)
        args = ["-p", "0", "-n", str(DECODE), "-d", str(stats.prompt_tokens)]
        kernel_tps = kernel(binary, model, [*args, *settings])
        rows["step"][0].append(stats.decode_tps)
        rows["decode"][0].append(len(steps) / sum(steps))
        rows["step"][1].append(kernel_tps)
        rows["decode"][1].append(kernel_tps)
        stats = decode(prompter, long_prompt, one)
        rows["prompt"][0].append(stats.prompt_evaluated / stats.time_to_first_token)
        args = ["-p", str(stats.prompt_tokens), "-n", "0"]
        rows["prompt"][1].append(kernel(binary, model, [*args, *settings]))
    labels = {
        "step": f"{DECODE} tokens at depth {DEPTH}, whole step",
        "decode": f"{DECODE} tokens at depth {DEPTH}, decode alone",
        "prompt": f"prompt of {PROMPT_TOKENS} tokens",
    }
    aims = {"step": "no aim: llama-bench samples nothing", "decode": "aim >= 0.97"}
    for name, (ours, theirs) in rows.items():
        ratio, pairs = paired_ratios(ours, theirs)
        print(
            f"{labels[name]:40s} chattui {median(ours):6.1f} tok/s, llama-bench "
            f"{median(theirs):6.1f} tok/s, chattui / llama-bench {ratio:.3f} "
            f"({aims.get(name, 'aim >= 0.97')}; pairs {pairs})"
        )


def allocation(engine: LlamaEngine, reps: int) -> None:
    """Decode at depth 256 in contexts allocated larger than it needs, against a tight one.

    Why the engine allocates its KV cache tight (``REPLY_ROOM``): llama.cpp decodes fastest
    when the cache is exactly the span of cells it attends to.
    """
    at_depth = fitted(engine, DEPTH)
    greedy = GenerationOptions(temperature=0.0, max_tokens=DECODE, ignore_eos=True)
    sizes = (512, 768, 1024)
    runs: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(reps):
        for size in sizes:
            engine._llm._ctx.close()
            engine._install(engine._new_context(size), [], None)
            runs[size].append(decode(engine, at_depth, greedy).decode_tps)
    for size in sizes[1:]:
        ratio, pairs = paired_ratios(runs[size], runs[sizes[0]])
        print(
            f"{DECODE} tokens at depth {DEPTH} in {size} cells vs {sizes[0]}: {ratio:.3f} "
            f"({median(runs[size]):.1f} vs {median(runs[sizes[0]]):.1f} tok/s; pairs {pairs})"
        )


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


def with_defaults(
    engine: LlamaEngine, binary: Path, model: Path, spec: ModelSpec, reps: int
) -> None:
    """A 512-token reply with each tool's default sampling: chattui vs llama.cpp's own CLI.

    llama-cli answers one turn (``-st``) in its chat template, as chattui does. Both get the
    same threads, repacking and flash attention; its figure is the decode rate it prints.
    """
    options = Sampling.from_mapping({"max_tokens": LONG_REPLY, "ignore_eos": True})
    ours_options = options.over(spec.sampling).resolve()
    text = PROMPT[0].content
    command = [
        str(binary), "-m", str(model), "-p", text, "-n", str(LONG_REPLY), "--ignore-eos",
        "-st", "--show-timings", "-t", str(usable_cores()),
        "-fa", "on" if engine.flash_attn else "off",
        "--repack" if engine.repack.enabled else "--no-repack",
    ]  # fmt: skip
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(reps):
        ours.append(decode(engine, PROMPT, ours_options).decode_tps)
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        match = GENERATION.search(result.stdout + result.stderr)
        if match is None:
            raise SystemExit(f"no decode rate in llama-cli's output: {result.stderr[-300:]}")
        theirs.append(float(match.group(1)))
    ratio, pairs = paired_ratios(ours, theirs)
    print(
        f"{LONG_REPLY} tokens, each tool's default sampling: chattui {median(ours):6.1f} tok/s, "
        f"llama-cli {median(theirs):6.1f} tok/s, ratio {ratio:.2f} "
        f"(aim >= 1.2; pairs {pairs})"
    )


def main() -> None:
    """Run the comparisons and print their ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--llama-bench", type=Path, default=LLAMA_BENCH)
    parser.add_argument("--setup", action="store_true", help="build llama-bench and stop")
    args = parser.parse_args()
    if args.setup:
        setup(LLAMA_CPP)
        return

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
    vs_bare, _ = paired_ratios(runs["engine"], runs["bare"])
    vs_stock, _ = paired_ratios(runs["engine"], runs["stock"])
    print(f"engine / bare loop      {vs_bare:.3f}  (median of paired ratios; target >= 0.97)")
    print(f"chattui defaults / stock defaults  {vs_stock:.3f}  (target >= 1.4)")
    same.close()
    stock.close()
    if args.llama_bench.exists():
        engine.close()
        engine = LlamaEngine(model.file, model.spec, engine_settings())  # as a chat starts
        prompter = LlamaEngine(model.file, model.spec, engine_settings())
        parity(engine, prompter, args.llama_bench, model.file, args.reps)
        allocation(prompter, args.reps)
        prompter.close()
        cli = args.llama_bench.parent / "llama-cli"
        if cli.exists():
            with_defaults(engine, cli, model.file, model.spec, args.reps)
        else:
            print(f"no llama-cli at {cli}: python -m bench.throughput --setup builds it")
    else:
        print(f"no llama-bench at {args.llama_bench}: python -m bench.throughput --setup builds it")
    engine.close()


if __name__ == "__main__":
    main()
