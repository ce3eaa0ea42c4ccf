"""chattui: chat with a local GGUF model in your terminal."""

__version__ = "0.1.0"
