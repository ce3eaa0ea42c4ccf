"""Tools in the chat: ``/tools on`` lets the model call the MCP servers' tools, each approved.

Servers start when the first reply offers their tools (a server that cannot start is said in
one line, and the rest are offered); each call is asked about in a dialog unless the user said
"always" for that tool in this chat or config.toml's ``auto_approve`` names it; calls are shown
folded in the reply. ``ChatScreen`` builds on it.
"""

from __future__ import annotations

from chattui.errors import ChattuiError
from chattui.tui.model_host import ModelHost
from chattui.tui.screens.knowledge import Knowledge


class Tools(Knowledge):
    """``/tools``: which servers there are, and tools on or off for the chat."""

    def slash_tools(self, argument: str) -> None:
        """``/tools on`` or ``/tools off``; ``/tools`` alone says which servers there are."""
        word = argument.strip().lower()
        servers = self.services.config.mcp_servers
        if not word:
            state = "on" if self.host.tools_on else "off"
            names = ", ".join(s.name for s in servers) or "none (chattui tools add NAME -- COMMAND)"
            self.notify(
                f"Tools are {state} for this chat.\nTool servers: {names}\n"
                "/tools on lets the model call them (you approve each call), /tools off stops it.",
                timeout=8,
            )
            return
        if word not in ("on", "off"):
            self._refuse("/tools takes on or off")
            return
        try:
            self.host.set_tools(word == "on")
        except ChattuiError as error:
            self._refuse(str(error))
            return
        if word == "off":
            self.notify("Tools off for this chat.", timeout=3)
        else:
            self.notify(
                "The model may now call the tools of "
                + ", ".join(s.name for s in servers)
                + ": you are asked before each call (y once, a always in this chat, n no).",
                timeout=6,
            )

    def on_model_host_tool_problems(self, message: ModelHost.ToolProblems) -> None:
        """Servers that did not start, tools skipped: said once, the rest are offered."""
        self.notify(message.text, severity="warning", timeout=10)
