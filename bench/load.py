"""Decode speed on a busy machine: chattui's adaptive threads vs every fixed count, paired.

One LlamaEngine per mode on the demo model: "adaptive" (chattui's default: the thread count
follows the load, engine/threads.py) and "fixed N" for each count N a user could put in config
(``threads = N``). Each rep decodes the same greedy 384-token reply with every mode, in an order
that turns round rep by rep, under three loads: another process keeping one core busy, no load,
and a load that comes and goes (one core busy for a second, then idle for a second) during the
replies. For each load it prints the median tok/s of every mode and the median of the paired
ratios adaptive / the best fixed count (the one with the highest median under that load).
Aims (issue 24): >= 0.90 with one core busy, >= 0.98 with no load. Last, the same for a
1,000-token prompt with one core busy (prompt tok/s; each engine has just replied, as in a chat).

Run: python -m bench.load [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from bench.common import decode, demo_model, engine_settings, fitted, interleaved, paired_ratios
from chattui.conversation import Message, Role
from chattui.cpu import usable_cores
from chattui.engine.llama import LlamaEngine
from chattui.sampling import GenerationOptions

PROMPT = "Write the numbers from 1 to 300 separated by commas."
TOKENS = 384
SPIN = "while True: pass"
COME_AND_GO = """
import time
while True:
    until = time.monotonic() + 1.0
    while time.monotonic() < until:
        pass
    time.sleep(1.0)
"""
AIMS = {"one core busy": 0.90, "no load": 0.98}
"""Decode aims; prompts have none (a chat's prompt follows a reply that read the load)."""


@contextmanager
def spinner(program: str) -> Iterator[None]:
    """Another process running ``program`` (which keeps one core busy) for the block."""
    child = subprocess.Popen([sys.executable, "-c", program])
    try:
        yield
    finally:
        child.kill()
        child.wait()


def tps(engine: LlamaEngine) -> float:
    """Decode tokens/s of one reply, generated in a thread of its own (as the app does)."""
    options = GenerationOptions(temperature=0.0, max_tokens=TOKENS, ignore_eos=True)
    result: list[float] = []

    def run() -> None:
        result.append(decode(engine, [Message(Role.USER, PROMPT)], options).decode_tps)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return result[0]


def prompt_tps(engine: LlamaEngine) -> float:
    """Prompt tokens/s of a 1,000-token question (its first token waits for all of it)."""
    options = GenerationOptions(temperature=0.0, max_tokens=1)
    stats = decode(engine, fitted(engine, 1000), options)
    return stats.prompt_evaluated / stats.time_to_first_token


def fixed_counts(cores: int) -> list[int]:
    """Every count up to 8 cores; beyond, the powers of two and the whole."""
    if cores <= 8:
        return list(range(1, cores + 1))
    return sorted({*(2**k for k in range(cores.bit_length()) if 2**k <= cores), cores})


def report(label: str, speeds: dict[str, list[float]]) -> None:
    """One line per load: each mode's median and adaptive / the best fixed count."""
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    best = max((n for n in medians if n != "adaptive"), key=lambda n: medians[n])
    ratio, pairs = paired_ratios(speeds["adaptive"], speeds[best])
    modes = ", ".join(f"{name} {medians[name]:.1f}" for name in speeds)
    aim = f"aim >= {AIMS[label]:.2f}" if label in AIMS else "no aim"
    print(f"{label}: tok/s {modes}")
    print(f"  adaptive / best fixed ({best}) {ratio:.2f} ({aim}; pairs {pairs})")


def main() -> None:
    """Measure every mode under each load; print medians and paired ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    model = demo_model()
    assert model.file is not None
    cores = usable_cores()
    engines = {"adaptive": LlamaEngine(model.file, model.spec, engine_settings())}
    for count in fixed_counts(cores):
        engines[f"fixed {count}"] = LlamaEngine(
            model.file, model.spec, engine_settings(threads=count)
        )
    print(f"{TOKENS}-token greedy reply, {args.reps} paired reps, {cores} usable cores")
    loads: dict[str, AbstractContextManager[None]] = {
        "one core busy": spinner(SPIN),
        "no load": nullcontext(),
        "load comes and goes": spinner(COME_AND_GO),
    }
    for label, load in loads.items():
        with load:
            report(label, interleaved(engines, args.reps, tps))
    with spinner(SPIN):
        report("one core busy, 1,000-token prompt", interleaved(engines, args.reps, prompt_tps))
    for engine in engines.values():
        engine.close()


if __name__ == "__main__":
    main()
