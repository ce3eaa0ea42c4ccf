"""Reasoning written inline, ``<think>…</think>`` before the answer, split off as it streams.

DeepSeek-R1 and Qwen3 write it so when the server does not separate it.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


class ThinkSplitter:
    """Splits streamed text into reasoning and answer; tags may be cut between pieces."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self._buffer = ""
        self._state = "start"
        """start (it may open with <think>), thinking, or answer."""

    def feed(self, text: str) -> tuple[str, str]:
        """Take a piece; return the reasoning and the answer it completes (either may be "")."""
        self._buffer += text
        reasoning, answer = "", ""
        while True:
            if self._state == "start":
                head = self._buffer.lstrip()
                if not head or (len(head) < len(OPEN) and OPEN.startswith(head)):
                    return reasoning, answer  # too early to tell
                if head.startswith(OPEN):
                    self._buffer, self._state = head[len(OPEN) :], "thinking"
                else:
                    self._state = "answer"
            elif self._state == "thinking":
                end = self._buffer.find(CLOSE)
                if end < 0:
                    keep = _partial_suffix(self._buffer, CLOSE)
                    cut = len(self._buffer) - keep
                    reasoning += self._buffer[:cut]
                    self._buffer = self._buffer[cut:]
                    return reasoning, answer
                reasoning += self._buffer[:end]
                self._buffer = self._buffer[end + len(CLOSE) :].lstrip("\n")
                self._state = "answer"
            else:
                answer += self._buffer
                self._buffer = ""
                return reasoning, answer

    def flush(self) -> tuple[str, str]:
        """The end of the text: return what was held back."""
        rest, self._buffer = self._buffer, ""
        if self._state == "thinking":
            return rest, ""
        return "", rest


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that begins ``tag`` (a tag cut between pieces)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
