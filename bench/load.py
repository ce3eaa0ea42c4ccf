"""Decode speed on a busy machine: threads that adapt to the load vs a fixed count, paired.

One LlamaEngine per mode on the demo model: "adaptive" (chattui's default: the thread count
follows the load, engine/threads.py) and "fixed" (every usable core, as ``threads = N`` in
config). Each rep decodes the same greedy 384-token reply with each, in alternating order,
first while another process keeps one core busy, then with no load. Prints the medians and the
paired ratios adaptive / fixed: aims >= 1.6 under load and >= 0.98 without.

Run: python -m bench.load [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from bench.common import decode, demo_model, engine_settings
from chattui.conversation import Message, Role
from chattui.cpu import usable_cores
from chattui.engine.llama import LlamaEngine
from chattui.sampling import GenerationOptions

PROMPT = "Write the numbers from 1 to 300 separated by commas."
TOKENS = 384


@contextmanager
def busy_core() -> Iterator[None]:
    """Another process spinning on one core for as long as the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


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


def paired(engines: dict[str, LlamaEngine], reps: int) -> dict[str, list[float]]:
    """Alternate the modes rep by rep, so a drifting machine favours neither."""
    speeds: dict[str, list[float]] = {name: [] for name in engines}
    for rep in range(reps):
        order = list(engines) if rep % 2 == 0 else list(reversed(engines))
        for name in order:
            speeds[name].append(tps(engines[name]))
    return speeds


def main() -> None:
    """Measure both modes under load and without; print medians and paired ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    model = demo_model()
    assert model.file is not None
    cores = usable_cores()
    engines = {
        "adaptive": LlamaEngine(model.file, model.spec, engine_settings()),
        "fixed": LlamaEngine(model.file, model.spec, engine_settings(threads=cores)),
    }
    print(f"{TOKENS}-token greedy reply, {args.reps} paired reps, {cores} usable cores")
    for label, aim, load in (("one core busy", 1.6, True), ("no load", 0.98, False)):
        if load:
            with busy_core():
                speeds = paired(engines, args.reps)
        else:
            speeds = paired(engines, args.reps)
        ratios = [a / f for a, f in zip(speeds["adaptive"], speeds["fixed"], strict=True)]
        print(
            f"{label:14s} adaptive {statistics.median(speeds['adaptive']):6.1f} tok/s, "
            f"fixed {statistics.median(speeds['fixed']):6.1f} tok/s, "
            f"adaptive / fixed {statistics.median(ratios):.2f} (aim >= {aim}; "
            f"pairs {' '.join(f'{r:.2f}' for r in ratios)})"
        )
    for engine in engines.values():
        engine.close()


if __name__ == "__main__":
    main()
