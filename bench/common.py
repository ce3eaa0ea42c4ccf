"""Shared set-up of the benchmarks: the demo model, and one reply decoded from an empty cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chattui.catalog import Catalog, ResolvedModel
from chattui.conversation import Message
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
