"""Shared set-up of the benchmarks: the demo model, one reply decoded from an empty cache,
prompts of a given length, and runs side by side with their paired ratios."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from chattui.catalog import Catalog, ResolvedModel
from chattui.conversation import Message, Role
from chattui.engine.base import EngineSettings, TurnStats
from chattui.engine.llama import LlamaEngine
from chattui.paths import resolve_paths
from chattui.sampling import GenerationOptions, Sampling

if TYPE_CHECKING:
    from chattui.store import ConversationStore
    from chattui.tui.app import ChatApp


def demo_model() -> ResolvedModel:
    """The demo model as the shipped catalog resolves it (needs chattui[demo])."""
    paths = resolve_paths()
    return Catalog.load(paths.user_catalog, paths.models_dir).resolve("smollm2-135m")


def engine_settings(**values: Any) -> EngineSettings:
    """Engine settings as chattui loads with them (probe verdicts remembered in the cache)."""
    return EngineSettings(probe_folder=resolve_paths().probe_dir, **values)


def decode(
    engine: LlamaEngine, messages: Sequence[Message], options: GenerationOptions
) -> TurnStats:
    """Generate one reply through chattui's engine from an empty cache; return its figures."""
    engine._llm.reset()
    reply = engine.stream(list(messages), options)
    for _ in reply:
        pass
    return reply.stats


def words(count: int) -> Message:
    """A user message of about ``count`` tokens (with the chat template's own)."""
    return Message(Role.USER, " ".join(f"w{n % 97}" for n in range(count // 2)))


def fitted(engine: LlamaEngine, tokens: int) -> list[Message]:
    """A prompt that the template makes ``tokens`` long, give or take a few."""
    count = tokens
    for _ in range(4):
        message = words(count)
        count += tokens - len(engine.tokenize([message]))
    return [words(count)]


Subject = TypeVar("Subject")
Result = TypeVar("Result")


def interleaved(
    subjects: Mapping[str, Subject], reps: int, measure: Callable[[Subject], Result]
) -> dict[str, list[Result]]:
    """Measure every subject once per rep, the order turned round each rep: drift favours none."""
    results: dict[str, list[Result]] = {name: [] for name in subjects}
    names = list(subjects)
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(measure(subjects[name]))
    return results


def paired_ratios(ours: Sequence[float], theirs: Sequence[float]) -> tuple[float, str]:
    """The median of the ratios ours / theirs taken pair by pair, and the pairs as text."""
    ratios = [o / t for o, t in zip(ours, theirs, strict=True)]
    return statistics.median(ratios), " ".join(f"{r:.2f}" for r in ratios)


def real_app(sampling: Sampling) -> tuple[ChatApp, ConversationStore]:
    """The chat app as ``chattui`` builds it (under CHATTUI_HOME), with ``sampling`` as config.

    Returns:
        The app and its store (close the store once the app has ended).
    """
    from chattui.config import Config
    from chattui.engine import open_engine
    from chattui.store import ConversationStore
    from chattui.tui.app import ChatApp
    from chattui.tui.services import Services

    paths = resolve_paths()
    store = ConversationStore.at(paths)
    catalog = Catalog.load(paths.user_catalog, paths.models_dir)
    services = Services(Config(sampling=sampling), catalog, paths, store, open_engine)
    return ChatApp(services), store
