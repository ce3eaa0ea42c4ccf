"""What the TUI is given by the CLI: settings, catalog, store and how to open an engine."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chattui.catalog import MODEL_ENV, Catalog, ResolvedModel
from chattui.config import Config
from chattui.conversation import Conversation
from chattui.engine.base import Engine, EngineSettings
from chattui.exit_guard import ExitGuard
from chattui.paths import Paths
from chattui.roles import RoleProfile, load_roles, role_language
from chattui.store import ConversationStore

if TYPE_CHECKING:
    from chattui.kb.bases import KnowledgeBases
    from chattui.tools.client import ToolServers
    from chattui.tui.screens.settings import Settings


@dataclass(frozen=True, slots=True)
class StartOptions:
    """How the user asked the app to start (the command line's options)."""

    model: str | None = None
    """Model to start with (id, alias or path); None for the default."""
    continue_latest: bool = False
    """Reopen the most recent conversation (-c)."""
    system_prompt: str | None = None
    """System prompt for the chat (-s), over the role's and the config's."""
    role: str | None = None
    """Name of a role for the chat (-r)."""
    verbose: bool = False
    """Write llama.cpp's log to the log file (--verbose)."""
    notice: str | None = None
    """A line to show as the app opens (the last run crashed)."""
    early_signals: list[int] = field(default_factory=list)
    """SIGTERM or SIGHUP received before the app could handle them itself (noted by the CLI,
    acted on as the app mounts)."""


@dataclass
class Services:
    """Everything the app needs from outside, built by the CLI and passed in."""

    config: Config
    catalog: Catalog
    paths: Paths
    store: ConversationStore | None
    """None when history is off."""
    open_engine: Callable[[ResolvedModel, EngineSettings], Engine]
    exit_guard: ExitGuard | None = None
    """Ends the process once quitting has begun and the reply is saved (None in tests)."""
    _bases: KnowledgeBases | None = field(default=None, init=False, repr=False)
    _tools: ToolServers | None = field(default=None, init=False, repr=False)

    def choose_model(self, name: str | None, conversation: Conversation | None) -> ResolvedModel:
        """The model to start with.

        In order: -m, the conversation's own, CHATTUI_MODEL, config, the first installed.
        """
        saved = conversation.model_id if conversation else None
        return self.catalog.choose(name, saved, os.environ.get(MODEL_ENV), self.config.model)

    def knowledge_bases(self) -> KnowledgeBases:
        """The knowledge bases of the data folder (``/kb``), made once (its model loads once)."""
        if self._bases is None:
            from chattui.kb.bases import KnowledgeBases

            self._bases = KnowledgeBases.of(self.config, self.paths)
        return self._bases

    def tool_servers(self) -> ToolServers:
        """The MCP servers of config.toml, made once; each starts when a chat first needs it."""
        if self._tools is None:
            from chattui.tools.client import ToolServers

            self._tools = ToolServers(self.config.mcp_servers, self.paths.tools_log_dir)
        return self._tools

    def close_tools(self) -> None:
        """Stop the tool servers that run (the app is quitting)."""
        if self._tools is not None:
            self._tools.close()

    def close(self) -> None:
        """Free what the app loaded besides the chat's model (embedding model, tool servers)."""
        if self._bases is not None:
            self._bases.close()
        self.close_tools()

    def roles(self) -> dict[str, RoleProfile]:
        """Every role: shipped ones in the configured language, the user's over them.

        Raises:
            ConfigError: A role file is malformed.
        """
        return load_roles(self.paths.roles_dir, role_language(self.config.language))

    def save_defaults(self, settings: Settings) -> None:
        """Write the settings panel's values to config.toml (comments kept)."""
        from chattui.toml_edit import set_config_value

        values = {
            "model": settings.model,
            "system_prompt": settings.system_prompt,
            "context_size": settings.context_size,
            **settings.sampling,
        }
        for key, value in values.items():
            if value not in (None, ""):
                set_config_value(self.paths.config_file, key, value)

    def save_theme(self, theme: str) -> None:
        """Remember the theme in config.toml."""
        from chattui.toml_edit import set_config_value

        set_config_value(self.paths.config_file, "theme", theme)
