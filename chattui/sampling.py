"""Sampling settings: their allowed ranges, layered overrides, and the resolved options.

One table of limits serves config.toml, models.toml, the command line and the settings panel, so
every place rejects the same values with the same words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from chattui.conversation import ToolSpec


@dataclass(frozen=True, slots=True)
class Limit:
    """The allowed values of one numeric setting."""

    kind: type[int] | type[float]
    """``int`` or ``float``."""
    low: float
    """Smallest allowed value."""
    high: float
    """Largest allowed value."""

    def describe(self) -> str:
        """Say in words what is allowed, for error messages."""
        noun = "a whole number" if self.kind is int else "a number"
        low = int(self.low) if self.kind is int else self.low
        high = int(self.high) if self.kind is int else self.high
        return f"{noun} from {low} to {high}"

    def check(self, value: object) -> int | float:
        """Return ``value`` converted to this limit's kind.

        Raises:
            ValueError: The value is of the wrong type or out of range; the message says what is
                allowed.
        """
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(self.describe())
        if self.kind is int and not (isinstance(value, int) or float(value).is_integer()):
            raise ValueError(self.describe())
        number = self.kind(value)
        if math.isnan(number) or not self.low <= number <= self.high:
            raise ValueError(self.describe())
        return number


SAMPLING_LIMITS: dict[str, Limit] = {
    "temperature": Limit(float, 0.0, 5.0),
    "top_p": Limit(float, 0.0, 1.0),
    "top_k": Limit(int, 0, 1000),
    "min_p": Limit(float, 0.0, 1.0),
    "repeat_penalty": Limit(float, 0.5, 2.0),
    "max_tokens": Limit(int, 1, 1_000_000),
    "seed": Limit(int, 0, 2**32 - 2),
}
"""Allowed values of each sampling setting, by name."""


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Fully resolved settings for one reply."""

    temperature: float = 0.7
    """Randomness; 0 always picks the likeliest token."""
    top_p: float = 0.9
    """Nucleus sampling: keep the smallest set of tokens whose probability adds up to this."""
    top_k: int = 40
    """Keep only the k likeliest tokens (0 keeps all)."""
    min_p: float = 0.05
    """Drop tokens less likely than this fraction of the likeliest."""
    repeat_penalty: float = 1.1
    """Penalty on recently used tokens (1 is none)."""
    max_tokens: int | None = None
    """Longest reply in tokens; None runs until the model stops or the context is full."""
    seed: int | None = None
    """Random seed; None draws a fresh one for each reply."""
    ignore_eos: bool = False
    """Ban the model's end-of-turn tokens, so the reply runs to ``max_tokens`` or a full context
    (llama-cli's ``--ignore-eos``): a reply of a known length, for tests and benchmarks."""
    tools: tuple[ToolSpec, ...] = ()
    """Tools the model may call; the reply's ``tool_calls`` lists the calls it asks for."""
    tool_choice: str = "auto"
    """"auto" (the model decides) or "required" (it must call one of ``tools``)."""


@dataclass(frozen=True, slots=True)
class Sampling:
    """A partial set of sampling settings; None means "not set at this layer"."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    ignore_eos: bool | None = None
    """Set by ``ask --ignore-eos``, tests and benchmarks; no config file key."""

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Sampling:
        """Build from already validated ``{name: value}`` pairs, ignoring other keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def over(self, base: Sampling) -> Sampling:
        """Return these settings layered over ``base``: values set here win."""
        changes = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(base, **{k: v for k, v in changes.items() if v is not None})

    def resolve(self) -> GenerationOptions:
        """Fill the unset settings with chattui's defaults."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(GenerationOptions(), **{k: v for k, v in values.items() if v is not None})


def check_sampling(name: str, value: object) -> int | float:
    """Validate one sampling setting.

    Args:
        name: A key of ``SAMPLING_LIMITS``.
        value: The value found.

    Returns:
        The value, converted to the setting's type.

    Raises:
        ValueError: With a description of what is allowed.
    """
    return SAMPLING_LIMITS[name].check(value)
