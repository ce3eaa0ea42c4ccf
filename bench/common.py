"""Shared set-up of the benchmarks: the demo model, and one reply decoded from an empty cache."""

from __future__ import annotations

from collections.abc import Sequence

from chattui.catalog import Catalog, ResolvedModel
from chattui.conversation import Message
from chattui.engine.base import TurnStats
from chattui.engine.llama import LlamaEngine
from chattui.paths import resolve_paths
from chattui.sampling import GenerationOptions


def demo_model() -> ResolvedModel:
    """The demo model as the shipped catalog resolves it (needs chattui[demo])."""
    paths = resolve_paths()
    return Catalog.load(paths.user_catalog, paths.models_dir).resolve("smollm2-135m")


def decode(
    engine: LlamaEngine, messages: Sequence[Message], options: GenerationOptions
) -> TurnStats:
    """Generate one reply through chattui's engine from an empty cache; return its figures."""
    engine._llm.reset()
    reply = engine.stream(list(messages), options)
    for _ in reply:
        pass
    return reply.stats
