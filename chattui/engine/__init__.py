"""Engines that turn a list of messages into a streamed reply, and ``open_engine`` to pick one.

Implementations are imported only when a model of their kind is opened, so importing this
package (as ``chattui --help`` does) loads no engine library.
"""

from __future__ import annotations

from pathlib import Path

from chattui.catalog import EngineKind, ResolvedModel
from chattui.engine.base import Embedder, Engine, EngineSettings


def open_engine(model: ResolvedModel, settings: EngineSettings) -> Engine:
    """Load the engine for a resolved model (imports llama_cpp or httpx only when needed).

    Raises:
        ModelLoadError: The file cannot be loaded.
    """
    if model.spec.engine is EngineKind.SCRIPTED:
        from chattui.engine.scripted import ScriptedEngine

        return ScriptedEngine(
            list(model.spec.replies),
            model_id=model.spec.id,
            n_ctx=settings.n_ctx or model.spec.n_ctx,
        )
    if model.spec.engine is EngineKind.REMOTE:
        from chattui.engine.remote import RemoteEngine

        return RemoteEngine(model, settings)
    from chattui.engine.llama import LlamaEngine

    assert model.file is not None
    return LlamaEngine(Path(model.file), model.spec, settings, model.projector)


def open_embedder(model: ResolvedModel, settings: EngineSettings) -> Embedder:
    """Load a model to embed texts with: a local GGUF in embedding mode, or an endpoint's.

    Raises:
        ModelLoadError: The file cannot be loaded, or the endpoint cannot be reached.
        GenerationError: A scripted model, which has no vectors.
    """
    if model.spec.engine is EngineKind.REMOTE:
        from chattui.engine.remote import RemoteEmbedder

        return RemoteEmbedder(model)
    if model.spec.engine is EngineKind.SCRIPTED:
        from chattui.errors import GenerationError

        raise GenerationError(f"{model.spec.id} is a scripted model: it cannot embed")
    from chattui.engine.llama import LlamaEmbedder

    assert model.file is not None
    return LlamaEmbedder(Path(model.file), model.spec, settings)
