"""The user's settings: the ``Config`` dataclass and loading ``config.toml``.

A bad file is reported as one line naming the file, the key, what was found and what is allowed;
loading never writes to the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chattui.sampling import SAMPLING_LIMITS, Limit, Sampling
from chattui.toml_checks import (
    any_string,
    boolean,
    limit_checker,
    one_of,
    read_toml,
    validate_table,
)
from chattui.tools.servers import ToolServer, parse_tool_servers, tool_patterns


@dataclass(frozen=True, slots=True)
class Config:
    """Settings from ``config.toml``; every field has a working default."""

    model: str | None = None
    """Default model: a catalog id, an alias or a path to a ``.gguf`` file."""
    system_prompt: str | None = None
    """System prompt for new chats."""
    sampling: Sampling = field(default_factory=Sampling)
    """Sampling defaults, layered over the model's own."""
    context_size: int | None = None
    """Context window in tokens; None uses the model's catalog value."""
    threads: int | None = None
    """CPU threads; None uses every core this process may run on."""
    gpu_layers: int | None = None
    """Layers to offload to the GPU; -1 all, 0 none, None all where supported."""
    theme: str | None = None
    """Textual theme of the TUI."""
    save_history: bool = True
    """Whether chats are saved to the conversation store."""
    language: str = "auto"
    """Wording of the shipped roles: "en", "zh", or "auto" (from the locale)."""
    kv_cache_max_mb: int = 2048
    """Most MiB the KV snapshots of chats may take (0: keep none)."""
    cpu_repack: str = "auto"
    """llama.cpp's repacked CPU kernels: "on", "off", or "auto" (a crash-safe probe decides)."""
    attach_max_file_kb: int = 1024
    """Largest text file attached, in KiB (a folder skips and lists larger ones)."""
    attach_max_files: int = 200
    """Most files a folder or a glob attaches."""
    attach_max_image_mb: int = 10
    """Largest image attached (and saved with the chat), in MiB."""
    kb_passages: int = 5
    """Most passages a knowledge base gives with a question."""
    kb_embedding_model: str = ""
    """A model whose vectors add a dense pass to knowledge bases ("": words only)."""
    mcp_servers: tuple[ToolServer, ...] = ()
    """The MCP servers whose tools the model may use (``[[mcp_servers]]``)."""
    auto_approve: tuple[str, ...] = ()
    """Tools that run without asking: ``"server.tool"`` or ``"server.*"``."""
    max_tool_steps: int = 8
    """Most tool calls the model may make in one reply."""
    tool_result_tokens: int = 2000
    """Longest tool result given back to the model, in tokens (the rest is cut, and it is told)."""


_CHECKS: dict[str, Callable[[object], object]] = {
    "model": any_string,
    "system_prompt": any_string,
    "context_size": limit_checker(Limit(int, 256, 1_048_576)),
    "threads": limit_checker(Limit(int, 1, 1024)),
    "gpu_layers": limit_checker(Limit(int, -1, 100_000)),
    "theme": any_string,
    "save_history": boolean,
    "language": one_of("auto", "en", "zh"),
    "kv_cache_max_mb": limit_checker(Limit(int, 0, 1_000_000)),
    "cpu_repack": one_of("auto", "on", "off"),
    "attach_max_file_kb": limit_checker(Limit(int, 1, 1_048_576)),
    "attach_max_files": limit_checker(Limit(int, 1, 100_000)),
    "attach_max_image_mb": limit_checker(Limit(int, 1, 1024)),
    "kb_passages": limit_checker(Limit(int, 1, 20)),
    "kb_embedding_model": any_string,
    "auto_approve": tool_patterns,
    "max_tool_steps": limit_checker(Limit(int, 1, 64)),
    "tool_result_tokens": limit_checker(Limit(int, 100, 200_000)),
    **{name: limit_checker(limit) for name, limit in SAMPLING_LIMITS.items()},
}
"""Validator of each key; each raises ValueError describing what is allowed."""

CONFIG_KEYS = (*_CHECKS, "mcp_servers")
"""Every key config.toml may hold."""


def load_config(path: Path) -> Config:
    """Load ``config.toml``; a missing file gives the defaults.

    Args:
        path: The config file.

    Raises:
        ConfigError: The file is malformed or holds a bad value.
    """
    if not path.exists():
        return Config()
    data = read_toml(path)
    servers = parse_tool_servers(data, str(path))
    data.pop("mcp_servers", None)
    values = validate_table(data, _CHECKS, str(path))
    sampling = Sampling.from_mapping(values)
    plain = {k: v for k, v in values.items() if k not in SAMPLING_LIMITS}
    return Config(sampling=sampling, mcp_servers=servers, **plain)
