"""Fixtures for pilot tests: the real app with a real store, on a scripted or the real engine."""

from __future__ import annotations

from collections.abc import Callable
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
from chattui.tui.services import Services

SCRIPTED = ModelSpec(id="scripted", name="Scripted", engine=EngineKind.SCRIPTED, n_ctx=4096)


def make_services(
    home: Path,
    *,
    replies: list[str] | None = None,
    delay: float = 0.0,
    specs: list[ModelSpec] | None = None,
    real: bool = False,
    config: Config | None = None,
) -> Services:
    paths = resolve_paths({"CHATTUI_HOME": str(home)})
    catalog = Catalog.load(paths.user_catalog, paths.models_dir)
    if specs is not None:
        catalog = Catalog(specs, paths.models_dir)
    elif not real:
        catalog = Catalog([SCRIPTED, *catalog.specs], paths.models_dir)
    engines: list[Engine] = []

    def factory(model: ResolvedModel, settings: EngineSettings) -> Engine:
        if real:
            engine = open_engine(model, settings)
        else:
            engine = ScriptedEngine(
                list(replies or ["Hello **there**."]),
                model_id=model.spec.id,
                n_ctx=settings.n_ctx or model.spec.n_ctx,
                delay=delay,
            )
        engines.append(engine)
        return engine

    store = ConversationStore(paths.database)
    return Services(config or Config(), catalog, paths, store, factory)


@pytest.fixture
def services(chattui_home: Path) -> Services:
    return make_services(chattui_home)


AppFactory = Callable[..., ChatApp]


@pytest.fixture
def app_factory(chattui_home: Path) -> AppFactory:
    def build(*, model: str | None = None, continue_latest: bool = False, **kwargs: Any) -> ChatApp:
        return ChatApp(
            make_services(chattui_home, **kwargs), model=model, continue_latest=continue_latest
        )

    return build
