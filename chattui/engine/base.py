"""The ``Engine`` protocol, what a turn reports and how a model is loaded: no implementation.

An engine streams a reply for a message list through a ``Reply``: iterate it for text pieces,
call ``stop()`` from any thread to end it early, read ``stats`` once it is exhausted.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from chattui.config import Config
from chattui.conversation import Message, ToolCall
from chattui.engine.kvstate import Snapshot
from chattui.engine.probe import RepackMode
from chattui.paths import Paths
from chattui.sampling import GenerationOptions

__all__ = [
    "ContextFit",
    "Engine",
    "EngineSettings",
    "FinishReason",
    "GenerationOptions",
    "Reply",
    "Snapshotting",
    "TurnStats",
]


class FinishReason(enum.StrEnum):
    """Why a reply ended."""

    STOP = "stop"
    """The model ended its turn."""
    LENGTH = "length"
    """The reply reached ``max_tokens`` or the context filled up."""
    STOPPED = "stopped"
    """The user stopped it."""
    ERROR = "error"
    """The engine failed mid-reply."""


@dataclass(frozen=True, slots=True)
class ContextFit:
    """The messages that will be sent after fitting them into the context window."""

    messages: tuple[Message, ...]
    """The messages kept, in order."""
    dropped: int
    """How many of the oldest messages were left out to make room."""
    prompt_tokens: int
    """Tokens of the kept messages as the model sees them (template included)."""
    reply_budget: int
    """Tokens kept free for the reply when planning."""


@dataclass(frozen=True, slots=True)
class TurnStats:
    """What one reply cost and how it ended."""

    prompt_tokens: int
    """Tokens in the prompt."""
    prompt_evaluated: int
    """Prompt tokens actually computed (the rest were reused from the KV cache)."""
    completion_tokens: int
    """Tokens generated."""
    time_to_first_token: float
    """Seconds from the request to the first generated token (or to the end, if none)."""
    decode_seconds: float
    """Seconds spent generating after the first token."""
    finish_reason: FinishReason
    """Why the reply ended."""
    dropped_messages: int
    """Oldest messages left out to fit the context."""
    seed: int
    """Random seed the reply was sampled with."""

    @property
    def decode_tps(self) -> float:
        """Generated tokens per second after the first token (0 when too short to tell)."""
        if self.completion_tokens < 2 or self.decode_seconds <= 0:
            return 0.0
        return (self.completion_tokens - 1) / self.decode_seconds


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How to load a model; None values mean "chattui's default"."""

    n_ctx: int | None = None
    """Context size; None takes the catalog's value."""
    threads: int | None = None
    """CPU threads; None uses every usable core."""
    gpu_layers: int | None = None
    """Layers to offload; None offloads all where the build supports it."""
    verbose: bool = False
    """Show llama.cpp's log: on stderr, or in ``log_file`` when one is given."""
    log_file: Path | None = None
    """Where llama.cpp's log goes when verbose (the TUI: stderr would draw over the screen)."""
    cpu_repack: RepackMode = RepackMode.AUTO
    """Whether weights use llama.cpp's repacked CPU kernels; auto: a crash-safe probe decides."""
    probe_folder: Path | None = None
    """Where probe verdicts are remembered; None probes at every load."""

    @classmethod
    def from_config(
        cls, config: Config, paths: Paths, *, n_ctx: int | None = None, verbose: bool = False
    ) -> EngineSettings:
        """The settings ``ask`` and the app load models with.

        Args:
            config: The user's config.
            paths: Where the probe verdicts are remembered.
            n_ctx: A context size asked for on the command line, over the config's.
            verbose: Show llama.cpp's log (the caller says where, with ``log_file``).
        """
        return cls(
            n_ctx=n_ctx or config.context_size,
            threads=config.threads,
            gpu_layers=config.gpu_layers,
            verbose=verbose,
            cpu_repack=RepackMode(config.cpu_repack),
            probe_folder=paths.probe_dir,
        )


class Reply:
    """A reply being generated: an iterator of text pieces that can be stopped."""

    def __init__(self, fit: ContextFit, run: Callable[[Reply], Iterator[str]]) -> None:
        """Wrap an engine's generator.

        Args:
            fit: The messages the reply is generated from.
            run: Called once with this reply; yields text and calls ``finish`` before it ends.
        """
        self.fit = fit
        self._run = run
        self._stop = threading.Event()
        self._stats: TurnStats | None = None
        self._pieces: list[str] = []
        self._reasoning: list[str] = []
        self._on_stop: Callable[[], None] | None = None
        self.provenance: dict[str, str] = {}
        """Where the reply came from beyond the model (a remote endpoint and what it reported),
        saved with it."""
        self.tool_calls: list[ToolCall] = []
        """The tools the model asked to call (set by the engine by the end of the reply)."""
        self.on_prompt_progress: Callable[[int, int], None] | None = None
        """Called on the generating thread after each batch of prompt tokens with (evaluated so
        far, to evaluate in all); set it before iterating. A stop requested from it lands before
        the next batch."""

    def __iter__(self) -> Generator[str, None, None]:
        pieces = self._run(self)
        try:
            for piece in pieces:
                self._pieces.append(piece)
                yield piece
        finally:
            # Leaving early (a break, Ctrl+C) must still end the engine's loop and its stats.
            if isinstance(pieces, Generator):
                pieces.close()

    @property
    def text(self) -> str:
        """Everything yielded so far."""
        return "".join(self._pieces)

    @property
    def reasoning(self) -> str:
        """The model's reasoning so far, kept apart from the answer (empty if it gave none)."""
        return "".join(self._reasoning)

    def add_reasoning(self, text: str) -> None:
        """Record reasoning text; called by the engine as it arrives."""
        self._reasoning.append(text)

    def stop(self) -> None:
        """Ask the engine to stop; safe to call from any thread."""
        self._stop.set()
        if self._on_stop is not None:
            self._on_stop()

    def when_stopped(self, action: Callable[[], None] | None) -> None:
        """Have ``stop()`` also run ``action`` (a remote engine closes its connection)."""
        self._on_stop = action
        if action is not None and self._stop.is_set():
            action()

    def wait_for_stop(self, seconds: float) -> bool:
        """Wait up to ``seconds`` (a pause before a retry); True if stopped meanwhile."""
        return self._stop.wait(seconds)

    @property
    def stop_requested(self) -> bool:
        """Whether ``stop()`` was called."""
        return self._stop.is_set()

    def prompt_progress(self, evaluated: int, total: int) -> None:
        """Report prompt evaluation; called by the engine after each batch."""
        if self.on_prompt_progress is not None:
            self.on_prompt_progress(evaluated, total)

    def finish(self, stats: TurnStats) -> None:
        """Record the turn's figures; called by the engine when the reply ends."""
        self._stats = stats

    @property
    def stats_or_none(self) -> TurnStats | None:
        """The turn's figures, or None if it has not ended (or failed before reporting)."""
        return self._stats

    @property
    def stats(self) -> TurnStats:
        """The turn's figures.

        Raises:
            RuntimeError: The reply has not been consumed to its end yet.
        """
        if self._stats is None:
            raise RuntimeError("the reply has not finished")
        return self._stats


@runtime_checkable
class Snapshotting(Protocol):
    """An engine whose KV state can be saved and restored (see engine/kvstate.py)."""

    @property
    def snapshot_key(self) -> str:
        """What a snapshot must have been made with to be restored here."""
        ...

    def snapshot(self, upto: int | None = None) -> Snapshot | None:
        """The evaluated tokens (the first ``upto``) and their KV state, or None if none.

        Taking fewer tokens than are cached drops the rest from the cache.
        """
        ...

    def prefix(self, messages: Sequence[Message]) -> list[int]:
        """The prompt's tokens before the last message's own text (after its attachments).

        What a prompt that differs only in that text shares with this one; a batch of the
        prompt ends there, so that its KV state is the same however the prompt went on.
        """
        ...

    def restore(self, snapshot: Snapshot) -> int:
        """Load a snapshot; returns the tokens restored (0 when it could not be)."""
        ...

    def settle(self, stop: Callable[[], bool] | None = None) -> None:
        """Make the cache hold what evaluating the chat afresh would (see LlamaEngine.settle).

        ``stop`` is asked now and then; True leaves the rest for the next reply.
        """
        ...


class Engine(Protocol):
    """A loaded model that generates replies."""

    model_id: str
    """Catalog id of the loaded model."""
    n_ctx: int
    """Context window in tokens."""
    load_seconds: float
    """How long loading took."""
    reads_images: bool
    """Whether images may be given to it (an endpoint's server decides for its models)."""
    images_note: str
    """Why a model that has a vision projector reads no images here (empty otherwise)."""

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Count the prompt tokens of ``messages`` as the model would see them."""
        ...

    def stream(self, messages: Sequence[Message], options: GenerationOptions) -> Reply:
        """Start a reply to ``messages``.

        Raises:
            ContextOverflowError: The newest message cannot fit even after dropping history.
        """
        ...

    def close(self) -> None:
        """Free the model."""
        ...


class Embedder(Protocol):
    """A model that turns texts into vectors (a knowledge base's dense pass)."""

    model_id: str
    """Catalog id of the model (a base remembers which model made its vectors)."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order.

        Raises:
            GenerationError: The model cannot embed (one line saying why).
        """
        ...

    def close(self) -> None:
        """Free the model or the connection."""
        ...
