"""``ToolRunner``: one chat's tools offered to its model, and each call checked, approved and run.

The policy lives here once, for ``ask`` and the app alike: a call names a tool that exists and
has arguments that fit its schema, or the model is told what was wrong; it runs only when the
user approved it (once, always for that tool in this chat, or by ``auto_approve``), or the model
is told it was denied; its result is cut to a token budget with a note saying so.
"""

from __future__ import annotations

import enum
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chattui.conversation import ToolCall, ToolOutcome, ToolSpec
from chattui.errors import ToolError
from chattui.tools.approval import auto_approved
from chattui.tools.tool import Tool, argument_problem, cut_result, parse_arguments

if TYPE_CHECKING:  # the client's asyncio loads only when a server is used
    from chattui.tools.client import ToolServers

DENIED = "The user did not allow this call. Do not call it again; answer without it."
"""What the model is told when the user says no."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class Approval(enum.StrEnum):
    """The user's answer to a call."""

    ONCE = "once"
    ALWAYS = "always"
    """This tool, for the rest of this chat."""
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class CallRequest:
    """What the user is asked about before a call."""

    tool: Tool
    arguments: dict[str, Any]

    @property
    def pretty(self) -> str:
        """The arguments as indented JSON."""
        return json.dumps(self.arguments, indent=2, ensure_ascii=False)


Approver = Callable[[CallRequest], Approval]
"""Asks the user (blocking the reply's thread until they answer)."""


def function_names(tools: Sequence[Tool]) -> dict[str, Tool]:
    """Each tool under the function name a model writes: ``server__tool`` (64 characters)."""
    named: dict[str, Tool] = {}
    for tool in tools:
        base = _UNSAFE.sub("_", f"{tool.server}__{tool.name}")[:64]
        name, n = base, 1
        while name in named:
            n += 1
            name = f"{base[: 64 - len(str(n)) - 1]}_{n}"
        named[name] = tool
    return named


class ToolRunner:
    """The tools of one chat: what its model is offered, and running what it calls.

    Args:
        servers: The tool servers (started at first need; the caller closes them).
        approve: Asks the user about a call.
        auto_approve: ``server.tool`` or ``server.*`` patterns that run without asking.
        max_steps: Most calls in one reply.
        result_tokens: Longest result given back to the model.
    """

    def __init__(
        self,
        servers: ToolServers,
        *,
        approve: Approver,
        auto_approve: Sequence[str] = (),
        max_steps: int = 8,
        result_tokens: int = 2000,
    ) -> None:
        self.servers = servers
        self.approve = approve
        self.auto_approve = tuple(auto_approve)
        self.max_steps = max_steps
        self.result_tokens = result_tokens
        self.always: set[str] = set()
        """Tools the user allowed for the rest of this chat."""
        self.problems: list[str] = []
        """Servers that did not start and tools skipped, one line each (said once)."""
        self._named: dict[str, Tool] | None = None
        self._lock = threading.Lock()

    def offered(self) -> tuple[ToolSpec, ...]:
        """The tools the model is offered (every server is started the first time)."""
        with self._lock:
            if self._named is None:
                tools: list[Tool] = []
                for state in self.servers.start_all():
                    if state.error is not None:
                        self.problems.append(state.error)
                    self.problems += [f"{state.name}: skipped {s}" for s in state.skipped]
                    tools += state.tools
                self._named = function_names(tools)
            named = self._named
        return tuple(
            ToolSpec(name, tool.description or tool.qualified, tool.input_schema)
            for name, tool in named.items()
        )

    def take_problems(self) -> list[str]:
        """The problems not said yet: each is said once."""
        with self._lock:
            problems, self.problems = self.problems, []
        return problems

    def tool(self, function: str) -> Tool | None:
        """The tool a function name stands for."""
        self.offered()
        assert self._named is not None
        return self._named.get(function)

    def run(
        self, call: ToolCall, cancel: threading.Event, count_tokens: Callable[[str], int]
    ) -> ToolCall:
        """Check, approve and run ``call``; the call with its result and how it ended.

        Never raises for the call's sake: whatever went wrong is what the model is told.
        """
        tool = self.tool(call.name)
        if tool is None:
            known = ", ".join(sorted(self._named or {})) or "none"
            return _failed(call, f"There is no tool named {call.name!r}. The tools are: {known}.")
        try:
            arguments = parse_arguments(call.arguments)
        except ValueError as error:
            return _failed(call, f"The call was not made: {error}.")
        problem = argument_problem(tool, arguments)
        if problem is not None:
            return _failed(call, f"The call was not made: its arguments do not fit: {problem}.")
        if not self._allowed(tool, arguments):
            return replace(call, result=DENIED, outcome=ToolOutcome.DENIED)
        if cancel.is_set():
            return replace(call, result="The user stopped the reply.", outcome=ToolOutcome.STOPPED)
        try:
            result = self.servers.call(tool, arguments, cancel)
        except ToolError as error:
            if cancel.is_set():
                return replace(
                    call, result="The user stopped the call.", outcome=ToolOutcome.STOPPED
                )
            return _failed(call, f"The call failed: {error}")
        text = result.text if not result.is_error else f"The tool reported an error: {result.text}"
        return replace(
            call,
            result=cut_result(text, self.result_tokens, count_tokens),
            outcome=ToolOutcome.RAN,
            seconds=round(result.seconds, 3),
        )

    def _allowed(self, tool: Tool, arguments: dict[str, Any]) -> bool:
        if tool.qualified in self.always or auto_approved(tool.qualified, self.auto_approve):
            return True
        answer = self.approve(CallRequest(tool, arguments))
        if answer is Approval.ALWAYS:
            self.always.add(tool.qualified)
        return answer is not Approval.DENY


def _failed(call: ToolCall, why: str) -> ToolCall:
    return replace(call, result=why, outcome=ToolOutcome.FAILED)
