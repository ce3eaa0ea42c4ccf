"""The dense pass's model: named in config.toml, loaded the first time it is needed, then kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chattui.config import Config
    from chattui.engine.base import Embedder
    from chattui.paths import Paths


class EmbeddingModel:
    """A model that gives passages and questions their vectors (``kb_embedding_model``)."""

    def __init__(self, name: str, load: Callable[[], Embedder]) -> None:
        """The model ``name`` (as config.toml gives it), which ``load`` opens.

        A base records the name with its vectors; ``load`` opens a GGUF in embedding mode, or
        an endpoint's model.
        """
        self.name = name
        self._load = load
        self._model: Embedder | None = None

    @classmethod
    def of(cls, config: Config, paths: Paths) -> EmbeddingModel | None:
        """The model config.toml names, resolved by the catalog when first used (None: none)."""
        name = config.kb_embedding_model.strip()
        if not name:
            return None

        def load() -> Embedder:
            from chattui.catalog import Catalog
            from chattui.engine import open_embedder
            from chattui.engine.base import EngineSettings

            model = Catalog.load(paths.user_catalog, paths.models_dir).resolve(name)
            return open_embedder(model, EngineSettings.from_config(config, paths))

        return cls(name, load)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Unit vectors of ``texts``, in order (the model is loaded the first time).

        Raises:
            ChattuiError: The model cannot be found or loaded, or cannot embed (one line).
        """
        if self._model is None:
            self._model = self._load()
        return self._model.embed(texts)

    def close(self) -> None:
        """Free the model, if it was loaded."""
        if self._model is not None:
            self._model.close()
            self._model = None
