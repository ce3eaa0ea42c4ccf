"""The model catalog: ``ModelSpec`` entries from ``models.toml`` and how a name resolves to one.

The shipped ``models.toml`` is merged with the user's (same id: the user's entry wins). A model is
named by id, alias (case-insensitive), a path to a ``.gguf`` file, which is used where it lies, or
``ENDPOINT/MODEL`` for a model an ``[[endpoints]]`` server serves.
"""

from __future__ import annotations

import enum
import importlib.util
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from chattui.endpoints import Endpoint, parse_endpoints
from chattui.errors import ConfigError, ModelNotFoundError
from chattui.sampling import SAMPLING_LIMITS, Limit, Sampling
from chattui.toml_checks import nonempty_string, read_toml, string_list, tables_of, validate_table

KNOWN_CHAT_FORMATS = ("chatml", "llama-2", "llama-3", "mistral-instruct", "gemma", "qwen", "zephyr")
"""Names accepted by a catalog entry's ``chat_format`` override."""

DEFAULT_N_CTX = 4096
"""Context size for a model given only as a path (clamped to what it was trained on)."""

MODEL_ENV = "CHATTUI_MODEL"
"""Environment variable naming the default model."""


class EngineKind(enum.StrEnum):
    """Which engine runs a catalog entry."""

    LLAMA = "llama"
    SCRIPTED = "scripted"
    REMOTE = "remote"
    """Served by an OpenAI-compatible endpoint."""


@dataclass(frozen=True, slots=True)
class Projector:
    """A vision model's projector (``mmproj``): the GGUF that turns images into its tokens."""

    file: str = ""
    """File name (in the models dir), when it is downloaded."""
    url: str | None = None
    """Where to download it."""
    sha256: str | None = None
    """Checksum of the file, when computed."""
    size: int | None = None
    """Size of the file in bytes, when known."""
    path: str | None = None
    """Absolute path of a file registered where it lies."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model of the catalog."""

    id: str
    """Unique id, e.g. ``smollm2-135m``."""
    name: str
    """Human name."""
    file: str = ""
    """File name of the GGUF (in the models dir or the shipping package)."""
    aliases: tuple[str, ...] = ()
    """Other names that select this model."""
    url: str | None = None
    """Where to download the file."""
    sha256: str | None = None
    """Checksum of the file, when computed."""
    size: int | None = None
    """Size of the file in bytes, when known."""
    package: str | None = None
    """Python package that ships the file (the file lies inside it)."""
    path: str | None = None
    """Absolute path of a file registered where it lies."""
    n_ctx: int = DEFAULT_N_CTX
    """Context size to use by default."""
    chat_format: str | None = None
    """Override of the GGUF's own chat template; None uses the template in the file."""
    chat_template_file: str | None = None
    """A Jinja chat template file used instead of the GGUF's own (llama.cpp's
    ``--chat-template-file``): a template that takes tools, or a fixed one."""
    sampling: Sampling = field(default_factory=Sampling)
    """The model's recommended sampling settings."""
    license: str = ""
    """License of the weights."""
    description: str = ""
    """One line about the model."""
    engine: EngineKind = EngineKind.LLAMA
    """Engine that runs it; ``scripted`` replays ``replies`` (for demos and tests)."""
    replies: tuple[str, ...] = ()
    """Replies of a scripted model, used in turn."""
    mmproj: Projector | None = None
    """A vision model's projector: with it, the model reads images."""


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A catalog entry together with the file that will be loaded."""

    spec: ModelSpec
    """The entry."""
    file: Path | None
    """The GGUF on disk; None for a scripted or remote model."""
    endpoint: Endpoint | None = None
    """The server of a remote model."""
    remote_name: str | None = None
    """The model's name on that server."""
    projector: Path | None = None
    """The vision projector on disk (a local model that reads images)."""


def _sha256(value: object) -> str:
    text = nonempty_string(value).lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("64 hexadecimal digits")
    return text


def _chat_format(value: object) -> str:
    if value not in KNOWN_CHAT_FORMATS:
        raise ValueError(", ".join(KNOWN_CHAT_FORMATS))
    return str(value)


def _engine(value: object) -> EngineKind:
    try:
        return EngineKind(str(value))
    except ValueError:
        raise ValueError(", ".join(EngineKind)) from None


def _sampling(value: object) -> Sampling:
    if not isinstance(value, dict):
        raise ValueError("a table of sampling settings")
    checks = {name: limit.check for name, limit in SAMPLING_LIMITS.items()}
    try:
        return Sampling.from_mapping(validate_table(value, checks, "sampling"))
    except ConfigError as error:
        raise ValueError(str(error)) from None


_PROJECTOR_CHECKS: dict[str, Callable[[object], object]] = {
    "file": nonempty_string,
    "url": nonempty_string,
    "sha256": _sha256,
    "size": Limit(int, 1, 2**50).check,
    "path": nonempty_string,
}


def _projector(value: object) -> Projector:
    if not isinstance(value, dict):
        raise ValueError("a table with file and url, or path")
    try:
        values = validate_table(value, _PROJECTOR_CHECKS, "mmproj")
    except ConfigError as error:
        raise ValueError(str(error)) from None
    if "file" not in values and "path" not in values:
        raise ValueError("a table with 'file' (and 'url') or 'path'")
    return Projector(**values)


_ENTRY_CHECKS: dict[str, Callable[[object], object]] = {
    "id": nonempty_string,
    "name": nonempty_string,
    "file": nonempty_string,
    "aliases": string_list,
    "url": nonempty_string,
    "sha256": _sha256,
    "size": Limit(int, 1, 2**50).check,
    "package": nonempty_string,
    "path": nonempty_string,
    "n_ctx": Limit(int, 256, 1_048_576).check,
    "chat_format": _chat_format,
    "chat_template_file": nonempty_string,
    "sampling": _sampling,
    "license": nonempty_string,
    "description": nonempty_string,
    "engine": _engine,
    "replies": string_list,
    "mmproj": _projector,
}


def parse_catalog(data: Mapping[str, Any], where: str) -> list[ModelSpec]:
    """Turn a parsed ``models.toml`` into model entries.

    Args:
        data: The parsed TOML document (``[[models]]`` tables).
        where: Name of the file, for errors.

    Raises:
        ConfigError: An entry is malformed.
    """
    extra = set(data) - {"models", "endpoints"}
    if extra:
        raise ConfigError(
            f"{where}: unknown key '{sorted(extra)[0]}'; use [[models]] and [[endpoints]] tables"
        )
    parse_endpoints(data, where)  # checked here too: one parse validates the whole file
    specs: list[ModelSpec] = []
    for label, values in tables_of(data, "models", _ENTRY_CHECKS, where, "model"):
        if "id" not in values:
            raise ConfigError(f"{label}: key 'id' is missing; allowed: a non-empty string")
        values.setdefault("name", values["id"])
        kind = values.get("engine", EngineKind.LLAMA)
        if kind is EngineKind.LLAMA and "file" not in values and "path" not in values:
            raise ConfigError(f"{where}: model '{values['id']}' needs 'file' or 'path'")
        specs.append(ModelSpec(**values))
    return specs


def _merge(base: list[ModelSpec], overrides: list[ModelSpec]) -> list[ModelSpec]:
    merged = {spec.id: spec for spec in base}
    merged.update({spec.id: spec for spec in overrides})
    return list(merged.values())


def shipped_catalog_text() -> str:
    """Return the text of the ``models.toml`` shipped with chattui."""
    packaged = resources.files("chattui").joinpath("models.toml")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # An editable install runs from the source tree, where the file sits at the repository root.
    return (Path(__file__).resolve().parent.parent / "models.toml").read_text(encoding="utf-8")


class Catalog:
    """The merged model catalog and the rules to find a model's file."""

    def __init__(
        self,
        specs: list[ModelSpec],
        models_dir: Path,
        endpoints: list[Endpoint] | None = None,
    ) -> None:
        """Create a catalog.

        Args:
            specs: Entries in priority order (the first installed one is the default).
            models_dir: Where downloaded model files live.
            endpoints: OpenAI-compatible servers whose models are named ``ID/MODEL``.
        """
        self.specs = specs
        self.models_dir = models_dir
        self.endpoints = endpoints or []

    @classmethod
    def load(cls, user_catalog: Path, models_dir: Path) -> Catalog:
        """Load the shipped catalog merged with the user's ``models.toml``.

        Raises:
            ConfigError: Either file is malformed.
        """
        import tomllib

        shipped_data = tomllib.loads(shipped_catalog_text())
        shipped = parse_catalog(shipped_data, "shipped models.toml")
        endpoints = {e.id: e for e in parse_endpoints(shipped_data, "shipped models.toml")}
        user: list[ModelSpec] = []
        if user_catalog.exists():
            data = read_toml(user_catalog)
            user = parse_catalog(data, str(user_catalog))
            endpoints |= {e.id: e for e in parse_endpoints(data, str(user_catalog))}
        return cls(_merge(shipped, user), models_dir, list(endpoints.values()))

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.specs)

    def get(self, name: str) -> ModelSpec | None:
        """Find an entry by id or alias (case-insensitive)."""
        wanted = name.strip().lower()
        for spec in self.specs:
            if spec.id.lower() == wanted or wanted in (a.lower() for a in spec.aliases):
                return spec
        return None

    def locate(self, spec: ModelSpec) -> Path:
        """Return where an entry's file is, or would be once downloaded."""
        if spec.path:
            return Path(spec.path).expanduser()
        if spec.package:
            found = importlib.util.find_spec(spec.package)
            if found is not None and found.submodule_search_locations:
                return Path(next(iter(found.submodule_search_locations))) / spec.file
        return self.models_dir / spec.file

    def locate_projector(self, projector: Projector) -> Path:
        """Return where a vision projector's file is, or would be once downloaded."""
        if projector.path:
            return Path(projector.path).expanduser()
        return self.models_dir / projector.file

    def is_installed(self, spec: ModelSpec) -> bool:
        """Whether the entry can run now (its files are present, or it needs none)."""
        if spec.engine is not EngineKind.LLAMA:
            return True
        projector = spec.mmproj
        return self.locate(spec).is_file() and (
            projector is None or self.locate_projector(projector).is_file()
        )

    def resolve(self, name: str) -> ResolvedModel:
        """Resolve an id, an alias or a path to a model that can be loaded.

        Raises:
            ModelNotFoundError: Nothing matches, or the file is not on disk.
        """
        spec = self.get(name)
        if spec is not None:
            return self._ready(spec)
        remote = self.remote(name)
        if remote is not None:
            return remote
        candidate = Path(name).expanduser()
        if name.lower().endswith(".gguf") or "/" in name or candidate.is_file():
            if not candidate.is_file():
                raise ModelNotFoundError(f"model file not found: {candidate}")
            return ResolvedModel(_spec_for_file(candidate), candidate.absolute())
        known = ", ".join(spec.id for spec in self.specs)
        raise ModelNotFoundError(
            f"unknown model '{name}'; use one of: {known}, or a path to a .gguf file"
        )

    def remote_names(self) -> list[str]:
        """``ID/MODEL`` for the models the endpoints list in their ``models`` option."""
        return [f"{e.id}/{m}" for e in self.endpoints for m in e.models]

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint called ``endpoint_id``."""
        return next((e for e in self.endpoints if e.id == endpoint_id), None)

    def remote(self, name: str) -> ResolvedModel | None:
        """``ENDPOINT/MODEL`` as a model of that endpoint; None if no endpoint has that id.

        The model name is not checked here (no network): the server says if it serves none.

        Raises:
            ModelNotFoundError: The endpoint exists but no model is named after the slash.
        """
        endpoint_id, slash, model = name.strip().partition("/")
        endpoint = self.endpoint(endpoint_id) if slash else None
        if endpoint is None:
            return None
        if not model.strip():
            served = ", ".join(f"{endpoint.id}/{m}" for m in endpoint.models)
            raise ModelNotFoundError(
                f"name a model of endpoint '{endpoint.id}' after the slash"
                + (f", e.g. {served}" if served else "; chattui models list shows them")
            )
        return remote_model(endpoint, model.strip())

    def _ready(self, spec: ModelSpec) -> ResolvedModel:
        if spec.engine is EngineKind.SCRIPTED:
            return ResolvedModel(spec, None)
        where = self.locate(spec)
        if where.is_file():
            return ResolvedModel(spec, where, projector=self._projector_of(spec))
        if spec.package:
            hint = f"install it with: pip install {spec.package.replace('_', '-')}"
        elif spec.url:
            hint = f"download {spec.url} to {where}"
        else:
            hint = f"put the file at {where}"
        raise ModelNotFoundError(f"model '{spec.id}' is not installed; {hint}")

    def _projector_of(self, spec: ModelSpec) -> Path | None:
        """The entry's vision projector on disk (None: it has none).

        Raises:
            ModelNotFoundError: The entry names one that is not on disk.
        """
        if spec.mmproj is None:
            return None
        where = self.locate_projector(spec.mmproj)
        if where.is_file():
            return where
        if spec.mmproj.url:
            hint = f"download it with: chattui models pull {spec.id}"
        else:
            hint = f"put the file at {where}, or remove [models.mmproj] from its entry"
        raise ModelNotFoundError(f"the vision projector of model '{spec.id}' is missing; {hint}")

    def default(self) -> ResolvedModel:
        """Return the first entry whose file is present.

        Raises:
            ModelNotFoundError: No model is installed, with how to get one.
        """
        for spec in self.specs:
            if self.is_installed(spec):
                return self._ready(spec)
        raise ModelNotFoundError(
            "no model is installed; get the demo model with: pip install 'chattui[demo]'"
            " (or pass -m PATH/TO/MODEL.gguf)"
        )

    def choose(self, *names: str | None) -> ResolvedModel:
        """Resolve the first name given, else the default model.

        Args:
            names: Candidates in priority order (command line, environment, config); None or
                empty ones are skipped.
        """
        for name in names:
            if name and name.strip():
                return self.resolve(name.strip())
        return self.default()


def remote_model(endpoint: Endpoint, model: str) -> ResolvedModel:
    """Model ``model`` of ``endpoint``, as the catalog resolves it."""
    spec = ModelSpec(
        id=f"{endpoint.id}/{model}",
        name=f"{model} ({endpoint.id})",
        n_ctx=endpoint.n_ctx or DEFAULT_N_CTX,
        engine=EngineKind.REMOTE,
        description=f"served by {endpoint.public_url}",
    )
    return ResolvedModel(spec, None, endpoint, model)


def _spec_for_file(path: Path) -> ModelSpec:
    return ModelSpec(id=path.stem, name=path.stem, file=path.name, path=str(path.absolute()))
