"""Streaming from an OpenAI-compatible server: chattui's RemoteEngine against a bare client loop.

Starts llama-cpp-python's own server on the demo model (127.0.0.1), then streams the same
512-token greedy reply (end of turn banned) through chattui's engine and through a bare httpx
loop that only splits SSE lines and parses JSON, in pairs, alternating which goes first. Prints
the median decode rate of each and their paired ratio (aim: at least 0.98x), and the median time
to first token of each and their paired difference (aim: within +15 ms).

Run: python -m bench.remote [--reps 7] [--tokens 512]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import httpx

from bench.common import demo_model
from chattui.catalog import Catalog
from chattui.conversation import Message, Role
from chattui.endpoints import Endpoint
from chattui.engine.base import EngineSettings
from chattui.engine.remote import RemoteEngine
from chattui.paths import resolve_paths
from chattui.sampling import GenerationOptions
from tests.remote.servers import LlamaServer

PROMPT = "Write a long story about a lighthouse keeper."


def timed(pieces: object) -> tuple[float, float, int]:
    """Seconds to the first piece, decode rate after it, pieces: for any iterator of text."""
    started = time.perf_counter()
    first = last = 0.0
    count = 0
    for piece in pieces:  # type: ignore[attr-defined]
        if not piece:
            continue
        last = time.perf_counter()
        first = first or last
        count += 1
    rate = (count - 1) / (last - first) if count > 1 and last > first else 0.0
    return first - started, rate, count


def bare(client: httpx.Client, url: str, body: dict[str, object]) -> object:
    """The least a client can do: POST, read SSE lines, parse each chunk, yield its text."""
    with client.stream("POST", f"{url}/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:]).get("choices") or []:
                yield (choice.get("delta") or {}).get("content") or ""


def main() -> None:
    """Pairs of replies, alternating order; print medians and paired ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=512)
    args = parser.parse_args()
    model = demo_model()
    assert model.file is not None
    server = LlamaServer(model.file, resolve_paths().probe_dir)  # the very server the tests talk to
    url = server.base_url
    try:
        server.wait_ready()
        endpoint = Endpoint(id="bench", base_url=url)
        resolved = Catalog([], Path("/nonexistent"), [endpoint]).resolve("bench/smollm")
        engine = RemoteEngine(resolved, EngineSettings())
        options = GenerationOptions(
            temperature=0.0, max_tokens=args.tokens, ignore_eos=True, seed=1
        )
        messages = [Message(Role.USER, PROMPT)]
        body = engine._body(messages, options)  # the very request chattui sends
        client = httpx.Client(timeout=120)

        def ours() -> tuple[float, float, int]:
            return timed(iter(engine.stream(messages, options)))

        def theirs() -> tuple[float, float, int]:
            return timed(bare(client, url, body))

        ours()  # warm-up: the server's prompt cache, connections
        theirs()
        pairs = []
        for rep in range(args.reps):
            if rep % 2:
                b, a = theirs(), ours()
            else:
                a, b = ours(), theirs()
            pairs.append((a, b))
        engine.close()
        client.close()
    finally:
        server.stop()
    ratios = [a[1] / b[1] for a, b in pairs]
    extra = [(a[0] - b[0]) * 1000 for a, b in pairs]
    print(f"{args.reps} pairs of {args.tokens}-token replies from llama_cpp.server, demo model")
    print(
        f"decode rate: chattui {statistics.median(a[1] for a, _ in pairs):.1f} pieces/s, "
        f"bare loop {statistics.median(b[1] for _, b in pairs):.1f} pieces/s; "
        f"paired ratio median {statistics.median(ratios):.3f}x (aim >= 0.98x): "
        + " ".join(f"{r:.3f}" for r in ratios)
    )
    print(
        f"time to first token: chattui {statistics.median(a[0] for a, _ in pairs) * 1000:.1f} ms, "
        f"bare loop {statistics.median(b[0] for _, b in pairs) * 1000:.1f} ms; "
        f"paired difference median {statistics.median(extra):+.1f} ms (aim within +15 ms)"
    )
    print(f"pieces per reply: chattui {pairs[0][0][2]}, bare loop {pairs[0][1][2]}")


if __name__ == "__main__":
    main()
