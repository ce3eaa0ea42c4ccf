"""Where chattui keeps its files: config, user catalog, data, database, models and cache.

Every location comes from platformdirs, except that ``CHATTUI_HOME`` (when set) puts all of them
under one folder, which is how tests and portable installs isolate chattui.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "chattui"
HOME_ENV = "CHATTUI_HOME"


@dataclass(frozen=True, slots=True)
class Paths:
    """The folders and files chattui uses."""

    config_dir: Path
    """Holds ``config.toml`` and the user's ``models.toml``."""
    data_dir: Path
    """Holds the conversation database and downloaded models."""
    cache_dir: Path
    """Holds files that can be rebuilt."""

    @property
    def config_file(self) -> Path:
        """The user's ``config.toml``."""
        return self.config_dir / "config.toml"

    @property
    def user_catalog(self) -> Path:
        """The user's ``models.toml``, merged over the shipped catalog."""
        return self.config_dir / "models.toml"

    @property
    def database(self) -> Path:
        """The SQLite file of saved conversations."""
        return self.data_dir / "chattui.db"

    @property
    def models_dir(self) -> Path:
        """Where downloaded model files go."""
        return self.data_dir / "models"

    @property
    def roles_dir(self) -> Path:
        """The user's roles (Markdown files), over the shipped ones."""
        return self.config_dir / "roles"

    @property
    def kb_dir(self) -> Path:
        """Knowledge bases: one SQLite index per base."""
        return self.data_dir / "kb"

    @property
    def kv_dir(self) -> Path:
        """KV snapshots of conversations (rebuilt when missing)."""
        return self.cache_dir / "kv"

    @property
    def probe_dir(self) -> Path:
        """Verdicts of the crash-safe probes of llama.cpp's repacked kernels (engine/probe.py)."""
        return self.cache_dir / "probes"

    @property
    def runs_dir(self) -> Path:
        """A marker for each live run of ask or the app, to tell a crash afterwards."""
        return self.cache_dir / "runs"

    @property
    def tools_log_dir(self) -> Path:
        """What tool servers write on stderr, a file per server, and the MCP client's log."""
        return self.cache_dir / "tools"

    @property
    def log_file(self) -> Path:
        """Where the app writes unexpected errors and, with --verbose, llama.cpp's log."""
        return self.cache_dir / "chattui.log"

    def as_dict(self) -> dict[str, str]:
        """Return every location by name, for ``chattui paths``."""
        return {
            "config": str(self.config_file),
            "models_toml": str(self.user_catalog),
            "data": str(self.data_dir),
            "database": str(self.database),
            "models": str(self.models_dir),
            "cache": str(self.cache_dir),
            "roles": str(self.roles_dir),
            "knowledge_bases": str(self.kb_dir),
            "kv_snapshots": str(self.kv_dir),
            "probes": str(self.probe_dir),
            "log": str(self.log_file),
            "tool_logs": str(self.tools_log_dir),
        }


def resolve_paths(environ: Mapping[str, str] | None = None) -> Paths:
    """Work out chattui's locations from the environment.

    Args:
        environ: Environment to read; ``os.environ`` when omitted.

    Returns:
        The locations; nothing is created on disk.
    """
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV, "").strip()
    if home:
        root = Path(home).expanduser().absolute()
        return Paths(root / "config", root / "data", root / "cache")
    import platformdirs

    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
    )


def append_private(path: Path, text: str) -> None:
    """Append ``text`` to ``path``, creating the file (0600) and its folder (0700) as needed.

    Raises:
        OSError: The file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as file:
        file.write(text)
