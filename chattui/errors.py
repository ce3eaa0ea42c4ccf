"""The errors chattui raises, each carrying a message written for the user.

The tree::

    ChattuiError                 exit 1 unless stated
    ├── UsageError               exit 2: bad arguments or empty input
    │   └── AttachmentError      an attachment cannot be read, or is over a limit
    ├── ConfigError              config.toml or models.toml is malformed or holds a bad value
    ├── ModelError
    │   ├── ModelNotFoundError   unknown id/alias, missing file, or no model installed
    │   └── ModelLoadError       the file exists but llama.cpp cannot load it
    ├── GenerationError          the engine failed mid-reply
    ├── ContextOverflowError     a message cannot fit in the context window at all
    ├── StoreError               the conversation database cannot be opened or used
    │   └── ConversationNotFoundError   no conversation (or more than one) matches an id
    ├── KnowledgeError           a knowledge base is missing, busy, or cannot be written
    └── ToolError                a tool server cannot be started or reached, or a call failed

The CLI prints ``str(error)`` as one line on stderr and exits with ``error.exit_code``.
"""

from __future__ import annotations


class ChattuiError(Exception):
    """Base of every error chattui reports to the user."""

    exit_code: int = 1
    """Process exit code the CLI uses for this error."""


class UsageError(ChattuiError):
    """The command line or its input is unusable (empty prompt, conflicting flags)."""

    exit_code = 2


class ConfigError(ChattuiError):
    """A configuration or catalog file is malformed or holds a bad value."""


class ModelError(ChattuiError):
    """A model cannot be found or used."""


class ModelNotFoundError(ModelError):
    """No model matches the request, or its file is not on disk."""


class ModelLoadError(ModelError):
    """The model file exists but cannot be loaded."""


class GenerationError(ChattuiError):
    """The engine failed while generating a reply."""


class ContextOverflowError(ChattuiError):
    """A message is too long for the model's context window even after trimming history."""


class StoreError(ChattuiError):
    """The conversation database cannot be opened, read or written."""


class ConversationNotFoundError(StoreError):
    """No saved conversation matches an id or prefix, or several do."""


class AttachmentError(UsageError):
    """A file, folder, page or image the user attached cannot be read or is over a limit."""


class KnowledgeError(ChattuiError):
    """A knowledge base does not exist, is being updated elsewhere, or cannot be written."""


class ToolError(ChattuiError):
    """A tool server cannot be started, stopped answering, or a call cannot be made."""
