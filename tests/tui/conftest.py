"""Fixtures for pilot tests: the real app with a real store, on a scripted or the real engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chattui.catalog import Catalog, EngineKind, ModelSpec, ResolvedModel
from chattui.config import Config
from chattui.engine import open_engine
from chattui.engine.base import Engine, EngineSettings
from chattui.engine.scripted import ScriptedEngine
from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from chattui.tui.app import ChatApp
from chattui.tui.services import Services, StartOptions

SCRIPTED = ModelSpec(id="scripted", name="Scripted", engine=EngineKind.SCRIPTED, n_ctx=4096)


def make_services(
    home: Path,
    *,
    replies: list[str] | None = None,
    delay: float = 0.0,
    specs: list[ModelSpec] | None = None,
    real: bool = False,
    config: Config | None = None,
    engines: list[Engine] | None = None,
    load_delay: float = 0.0,
    engine_type: type[ScriptedEngine] = ScriptedEngine,
) -> Services:
    """Services for a pilot test.

    Args:
        home: CHATTUI_HOME.
        replies: What the scripted engine answers, in turn.
        delay: Seconds the scripted engine waits before each token.
        specs: The catalog, instead of the shipped one plus a scripted entry.
        real: Load real models (llama.cpp) instead of scripted engines.
        config: Settings, instead of the defaults.
        engines: Collects every engine opened, in order.
        load_delay: Seconds a scripted load takes (a big model takes a while).
        engine_type: The scripted engine class (a test may pass one that fails).
    """
    paths = resolve_paths({"CHATTUI_HOME": str(home)})
    catalog = Catalog.load(paths.user_catalog, paths.models_dir)
    if specs is not None:
        catalog = Catalog(specs, paths.models_dir)
    elif not real:
        catalog = Catalog([SCRIPTED, *catalog.specs], paths.models_dir)
    opened: list[Engine] = [] if engines is None else engines

    def factory(model: ResolvedModel, settings: EngineSettings) -> Engine:
        if real:
            engine = open_engine(model, settings)
        else:
            time.sleep(load_delay)  # in the load worker's thread, like a real load
            engine = engine_type(
                list(replies or ["Hello **there**."]),
                model_id=model.spec.id,
                n_ctx=settings.n_ctx or model.spec.n_ctx,
                delay=delay,
            )
        opened.append(engine)
        return engine

    store = ConversationStore.at(paths, (config or Config()).kv_cache_max_mb)
    return Services(config or Config(), catalog, paths, store, factory)


@pytest.fixture
def services(chattui_home: Path) -> Services:
    return make_services(chattui_home)


AppFactory = Callable[..., ChatApp]


@pytest.fixture
def app_factory(chattui_home: Path) -> Iterator[AppFactory]:
    """Builds apps; afterwards, fails the test if one met an unexpected error it did not claim.

    A test that provokes one on purpose checks ``app.unexpected`` and clears it.
    """
    built: list[ChatApp] = []

    def build(
        *,
        model: str | None = None,
        continue_latest: bool = False,
        system_prompt: str | None = None,
        role: str | None = None,
        verbose: bool = False,
        notice: str | None = None,
        **kwargs: Any,
    ) -> ChatApp:
        app = ChatApp(
            make_services(chattui_home, **kwargs),
            StartOptions(model, continue_latest, system_prompt, role, verbose, notice),
        )
        built.append(app)
        return app

    yield build
    for app in built:
        assert app.unexpected == [], app.unexpected
