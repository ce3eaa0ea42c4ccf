"""Listing and searching the conversation store at 100 and at 10,000 conversations of 20 messages.

Prints the median time of `history list` (20 newest) and `history search` (a common word and a
rare one, in English and in Chinese) at each size, and the 10,000 / 100 ratios, measured in one
run on real SQLite files.

Run: python -m bench.store [--big 10000] [--small 100]
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chattui.conversation import Conversation, Message, Role
from chattui.store import ConversationStore

WORDS = [
    "river",
    "mountain",
    "python",
    "terminal",
    "model",
    "token",
    "garden",
    "window",
    "silver",
    "planet",
    "music",
    "coffee",
    "engine",
    "harbor",
    "lantern",
    "meadow",
    "violet",
    "thunder",
    "pepper",
    "canyon",
]


CHINESE = [
    "模型",
    "注意力",
    "训练",
    "数据",
    "河流",
    "山脉",
    "终端",
    "咖啡",
    "花园",
    "窗户",
    "音乐",
    "引擎",
    "港口",
    "灯笼",
    "草地",
    "雷声",
    "峡谷",
    "行星",
    "银色",
    "胡椒",
]
"""Words of the Chinese chats (one in four), written as Chinese is: without spaces."""


def fill(store: ConversationStore, count: int, seed: int) -> None:
    """Add ``count`` conversations of 20 messages, a quarter of them in Chinese; five mention
    'aardvark' and five '自注意力机制' (so the rare searches have the same number of hits at
    every size)."""
    rng = random.Random(seed)
    every = max(1, count // 5)
    for index in range(count):
        messages = []
        chinese = index % 4 == 1
        for position in range(20):
            words = rng.choices(CHINESE if chinese else WORDS, k=rng.randint(20, 80))
            if position == 7 and index % every == 0:
                words.append("aardvark")
            if position == 9 and index % every == 1:
                words.append("使用自注意力机制的Transformer模型")
            role = Role.USER if position % 2 == 0 else Role.ASSISTANT
            stamp = f"2026-01-01T00:{index // 60 % 60:02d}:{index % 60:02d}.{position:06d}+00:00"
            text = "\uff0c".join("".join(words[i : i + 6]) for i in range(0, len(words), 6))
            messages.append(Message(role, text + "。" if chinese else " ".join(words), stamp))
        store.import_conversation(
            Conversation(
                id="",
                title=messages[0].content[:40],
                created_at=messages[0].created_at,
                updated_at=messages[-1].created_at,
                model_id="smollm2-135m",
                messages=tuple(messages),
            )
        )


def timed(action: Callable[[], object], reps: int = 51) -> float:
    """Median seconds of ``action`` after a warm-up run (caches filled as in real use)."""
    action()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(store: ConversationStore) -> dict[str, float]:
    """Time the three operations on a filled store."""
    return {
        "list": timed(lambda: store.recent(20)),
        "search common word": timed(lambda: store.search("river", 20)),
        "search rare word": timed(lambda: store.search("aardvark", 20)),
        "中文 common 2 chars": timed(lambda: store.search("模型", 20)),
        "中文 common 3 chars": timed(lambda: store.search("注意力", 20)),
        "中文 rare 6 chars": timed(lambda: store.search("自注意力机制", 20)),
        "中文 absent 2 chars": timed(lambda: store.search("宇宙", 20)),
        "glued Transformer": timed(lambda: store.search("Transformer", 20)),
        # The sidebar searches as each key is pressed, the last word as the start of a word.
        **{
            f"typed {typed}": timed(functools.partial(store.search, typed, 50, as_typed=True))
            for typed in ("r", "ri", "riv", "rive", "river m", "注", "注意", "自", "自注")
        },
    }


def main() -> None:
    """Build both stores, time them, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for size in (args.small, args.big):
            store = ConversationStore(Path(folder) / f"{size}.db")
            started = time.perf_counter()
            fill(store, size, seed=size)
            print(
                f"filled {size} conversations ({size * 20} messages) in "
                f"{time.perf_counter() - started:.1f} s"
            )
            results[size] = measure(store)
            store.close()
        print(f"{'operation':<20} {args.small:>8} conv {args.big:>8} conv   ratio")
        for name in results[args.small]:
            small, big = results[args.small][name], results[args.big][name]
            print(f"{name:<20} {small * 1000:10.2f} ms {big * 1000:10.2f} ms  {big / small:6.2f}x")
        print(
            "targets: ratio < 3x and under 100 ms at the large size; Chinese under 50 ms; "
            "typed (the sidebar, a key at a time) under 100 ms"
        )


if __name__ == "__main__":
    main()
