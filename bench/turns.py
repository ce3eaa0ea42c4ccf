"""Time to first token over turns 1..20 of a growing conversation in one engine (KV reuse).

Every turn asks a question of the same length, so each evaluates about the same number of new
tokens and the figure shows what the growing history costs. After each reply the cache is
settled, as the app does while the user reads (its reply evaluated again as prompt batches, so
that the next reply is the one the chat would get afresh); that time is shown too. The
conversation is replayed a few times from an empty cache and the median of each turn taken, so
one noisy turn does not decide it.

Run: python -m bench.turns [--turns 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import demo_model, engine_settings
from chattui.conversation import Message, Role
from chattui.engine.base import TurnStats
from chattui.engine.llama import LlamaEngine
from chattui.sampling import GenerationOptions

QUESTIONS = [
    "Tell me one more fact about the sea.",
    "Tell me one more fact about the sky.",
    "Tell me one more fact about a lake.",
    "Tell me one more fact about a tree.",
]


def conversation(engine: LlamaEngine, turns: int) -> list[tuple[TurnStats, float]]:
    """Play one conversation from an empty cache; each turn's figures and settling seconds."""
    engine._llm.reset()
    options = GenerationOptions(temperature=0.7, seed=5, max_tokens=48)
    history = [Message(Role.SYSTEM, "You are a helpful assistant.")]
    figures = []
    for turn in range(turns):
        history.append(Message(Role.USER, QUESTIONS[turn % len(QUESTIONS)]))
        reply = engine.stream(history, options)
        history.append(Message(Role.ASSISTANT, "".join(reply)))
        started = time.perf_counter()
        engine.settle()
        figures.append((reply.stats, time.perf_counter() - started))
    return figures


def main() -> None:
    """Run the conversations and print per-turn figures and the turn N / turn 2 ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    model = demo_model()
    assert model.file is not None
    engine = LlamaEngine(model.file, model.spec, engine_settings())
    runs = [conversation(engine, args.turns) for _ in range(args.runs)]
    print("turn  prompt  evaluated  first-token  settling afterwards (medians)")
    ttft = []
    for turn in range(args.turns):
        stats = runs[0][turn][0]
        ttft.append(statistics.median(run[turn][0].time_to_first_token for run in runs))
        settling = statistics.median(run[turn][1] for run in runs)
        print(
            f"{turn + 1:4d}  {stats.prompt_tokens:6d}  {stats.prompt_evaluated:9d}"
            f"  {ttft[-1] * 1000:8.1f} ms  {settling * 1000:8.1f} ms"
        )
    last = runs[0][-1][0]
    print(
        f"turn {args.turns} evaluates {last.prompt_evaluated} of {last.prompt_tokens} prompt tokens"
    )
    print(
        f"turn {args.turns} / turn 2 time to first token: {ttft[-1] / ttft[1]:.2f} (target <= 1.5)"
    )
    engine.close()


if __name__ == "__main__":
    main()
