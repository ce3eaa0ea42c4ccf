"""Peak memory of chattui on the demo model, as a user runs it.

Runs ``python -m chattui ask "hi" --max-tokens 8 --no-save`` several times in fresh processes
and prints the median peak RSS against the aim (at most what `llm` takes on the same model,
about 206 MiB); the same for a reply of 2,000 tokens, whose context grows as it is reached; and
for the chat app (headless) after ten turns of up to 100 tokens each.

Run: python -m bench.memory [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import real_app

AIM_MIB = 206


def peak_mib(
    *args: str, module: str = "chattui", stdin: bytes = b"", snapshots: list[float] | None = None
) -> float:
    """Peak resident memory of ``python -m MODULE ARGS`` in a fresh process, in MiB.

    Args:
        args: The arguments.
        module: The module run.
        stdin: What is piped in.
        snapshots: Gets the MiB of the KV snapshots the run left, if given.
    """
    with tempfile.TemporaryDirectory() as home:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "CHATTUI_HOME": home},
        )
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, args
        if snapshots is not None:
            kv = Path(home) / "cache" / "kv"
            snapshots.append(sum(f.stat().st_size for f in kv.glob("*.kv")) / 2**20)
        return usage.ru_maxrss / 1024  # kilobytes on Linux


def ten_turns() -> None:
    """The chat app, headless, on the demo model: ten messages, each answered to its end."""
    import asyncio

    from chattui.sampling import Sampling
    from chattui.tui.widgets.prompt import PromptInput

    async def chat() -> None:
        app, store = real_app(Sampling(max_tokens=100, temperature=0.0))
        async with app.run_test() as pilot:
            screen = app.screen
            host = screen.host  # type: ignore[attr-defined]
            while host.session is None:
                await asyncio.sleep(0.05)
            for turn in range(10):
                screen.query_one(PromptInput).load_text(f"Tell me fact number {turn + 1}.")
                await pilot.press("enter")
                while host.busy or screen.view.stream is not None:  # type: ignore[attr-defined]
                    await asyncio.sleep(0.05)
        store.close()

    asyncio.run(chat())


def main() -> None:
    """Measure and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--ten-turns", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ten_turns:
        ten_turns()
        return
    short = [peak_mib("ask", "hi", "--max-tokens", "8", "--no-save") for _ in range(args.reps)]
    long = [
        peak_mib("ask", "Write a long story.", "--max-tokens", "2000", "--ignore-eos", "--no-save")
        for _ in range(max(1, args.reps // 2))
    ]
    print(f"peak RSS, demo model, {args.reps} runs")
    print(
        f'ask "hi"              {statistics.median(short):6.1f} MiB (median; aim <= {AIM_MIB},'
        f" ratio {statistics.median(short) / AIM_MIB:.2f})"
    )
    print(f"ask, 2,000-token reply {statistics.median(long):6.1f} MiB (the context grows to fit)")
    app = [peak_mib("--ten-turns", module="bench.memory") for _ in range(max(1, args.reps // 2))]
    print(f"app after ten turns    {statistics.median(app):6.1f} MiB")
    # A long piped text: its KV snapshot is written after the reply (aim: the saving costs at
    # most 1.1x the snapshot's size on top of the run without it).
    sentence = "The river carries water from the hills down to the sea every day. "
    piped = (sentence * 177).encode()  # 2,301 words
    ask = ("ask", "Summarize this.", "--max-tokens", "8")
    sizes: list[float] = []
    saving = [peak_mib(*ask, stdin=piped, snapshots=sizes) for _ in range(max(1, args.reps // 2))]
    unsaved = [peak_mib(*ask, "--no-save", stdin=piped) for _ in range(max(1, args.reps // 2))]
    extra = statistics.median(saving) - statistics.median(unsaved)
    size = statistics.median(sizes)
    print(
        f"ask with 2,300 piped words: {statistics.median(saving):6.1f} MiB with its "
        f"{size:.1f} MiB snapshot written, {statistics.median(unsaved):6.1f} MiB with --no-save: "
        f"{extra / size:.2f}x the snapshot's size (aim <= 1.1)"
    )


if __name__ == "__main__":
    main()
