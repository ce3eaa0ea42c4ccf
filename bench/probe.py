"""What the crash-safe probe costs, and what llama.cpp's repacked kernels are worth on this CPU.

For the demo model and a 1B model (bench/synthetic_model.py: Llama 3.2 1B's shape, Q4_0):

- first load vs later loads: the wall time of ``chattui ask --max-tokens 1 hi`` with no verdict
  remembered (the probe runs) and with it remembered, interleaved, medians of ``--reps`` pairs;
- speed: prompt (512 tokens) and decode (64 tokens) with ``cpu_repack`` auto (the probe's
  choice), on (llama.cpp's default: what chattui did before the probe) and off, each from a
  fresh load, interleaved, paired ratios to "on"; "on again" is "on" measured twice, so its
  ratio shows how far apart identical runs fall on this machine.

Run: python -m bench.probe [--reps 5] [--no-1b]   (the 1B model needs: pip install -e '.[bench]')
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from bench.common import demo_model
from bench.synthetic_model import synthetic_1b
from chattui.catalog import ModelSpec
from chattui.conversation import Message, Role
from chattui.cpu import usable_cores
from chattui.engine.base import EngineSettings
from chattui.engine.llama import LlamaEngine, repack_choice
from chattui.engine.probe import RepackMode
from chattui.sampling import GenerationOptions

PROMPT_TOKENS, DECODE_TOKENS = 512, 64


def ask_seconds(model: Path, home: Path, forget: bool) -> float:
    """Wall seconds of one ``chattui ask`` on ``model``, its probe verdict forgotten or not."""
    if forget:
        shutil.rmtree(home / "cache" / "probes", ignore_errors=True)
    env = {**os.environ, "CHATTUI_HOME": str(home)}
    command = [sys.executable, "-m", "chattui", "ask", "-m", str(model), "--no-save"]
    started = time.perf_counter()
    subprocess.run([*command, "--max-tokens", "1", "hi"], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def first_load(model: Path, reps: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        ask_seconds(model, home, forget=False)  # warm the page cache and remember a verdict
        pairs = [
            (ask_seconds(model, home, True), ask_seconds(model, home, False)) for _ in range(reps)
        ]
    first, later = median(p[0] for p in pairs), median(p[1] for p in pairs)
    print(
        f"  ask -m {model.name} --max-tokens 1: first load {first:.2f} s, later {later:.2f} s; "
        f"the probe costs {median(a - b for a, b in pairs):+.2f} s once ({reps} pairs)"
    )


def speeds(engine: LlamaEngine) -> tuple[float, float]:
    """Prompt and decode tokens per second from an empty cache."""
    engine._llm.reset()
    words = " ".join(f"w{i}" for i in range(PROMPT_TOKENS))
    prompt = [Message(Role.USER, words)]
    tokens = engine.tokenize(prompt)[: PROMPT_TOKENS + 1]
    engine._llm.eval(tokens[:64])  # a fresh load's first batch also maps the weights in
    engine._llm.reset()
    started = time.perf_counter()
    engine._llm.eval(tokens[:-1])
    prompt_tps = (len(tokens) - 1) / (time.perf_counter() - started)
    engine._llm.reset()
    options = GenerationOptions(temperature=0.8, seed=1, max_tokens=DECODE_TOKENS, ignore_eos=True)
    reply = engine.stream([Message(Role.USER, "Tell me a story.")], options)
    for _ in reply:
        pass
    return prompt_tps, reply.stats.decode_tps


def kernels(model: Path, reps: int, probes: Path) -> None:
    spec = ModelSpec(id=model.stem, name=model.stem, file=model.name, n_ctx=2048)
    # Threads fixed: the adaptive count's probing would add noise to a comparison of kernels.
    threads = usable_cores()

    def measure(mode: RepackMode) -> tuple[float, float]:
        # A fresh load each time: two engines of the same settings kept side by side differ by
        # up to 7% (where their buffers landed), which would read as a difference of kernels.
        settings = EngineSettings(threads=threads, cpu_repack=mode, probe_folder=probes)
        engine = LlamaEngine(model, spec, settings)
        try:
            return speeds(engine)
        finally:
            engine.close()

    choice = repack_choice(model, model.stem, EngineSettings(probe_folder=probes))
    print(f"  probe's choice: {choice.describe()}")
    # "on again" measures the same kernels as "on": its ratio is this machine's noise floor.
    arms = {"auto": RepackMode.AUTO, "on": RepackMode.ON, "on again": RepackMode.ON}
    arms["off"] = RepackMode.OFF
    runs: dict[str, list[tuple[float, float]]] = {arm: [] for arm in arms}
    order = list(arms)
    for _ in range(reps):
        for arm in order:
            runs[arm].append(measure(arms[arm]))
        order = order[1:] + order[:1]  # each goes first in turn: no order effect
    for arm in ("auto", "on again", "off"):
        for index, what in enumerate(("prompt", "decode")):
            ratio = median(a[index] / b[index] for a, b in zip(runs[arm], runs["on"], strict=True))
            tps = median(r[index] for r in runs[arm])
            print(f"  {what:6} {arm:8} {tps:7.1f} t/s, {ratio:.3f}x of on (paired, {reps} reps)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--no-1b", action="store_true", help="only the demo model")
    args = parser.parse_args()
    demo = demo_model().file
    assert demo is not None
    models = [demo] if args.no_1b else [demo, synthetic_1b(demo)]
    for model in models:
        print(f"{model.name} ({model.stat().st_size / 2**20:.0f} MiB)")
        first_load(model, args.reps)
        with tempfile.TemporaryDirectory() as probes:
            kernels(model, args.reps, Path(probes))


if __name__ == "__main__":
    main()
