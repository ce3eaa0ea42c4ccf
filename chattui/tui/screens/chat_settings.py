"""ChatSettings: the half of the chat screen that sets how the chat is answered.

The model, system prompt, sampling, context size and role: from the settings panel, the slash
commands and the command line. ``ChatScreen`` builds on it and adds the conversation itself.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

from textual.message import Message

from chattui.chat import ChatSession
from chattui.conversation import Conversation
from chattui.errors import ChattuiError
from chattui.roles import RoleProfile, find_role
from chattui.sampling import SAMPLING_LIMITS, GenerationOptions, Sampling, check_sampling
from chattui.tui import slash
from chattui.tui.boundary import write_log
from chattui.tui.screens.saved_chats import BUSY, SavedChats
from chattui.tui.screens.settings import FIELDS, Settings, SettingsScreen
from chattui.tui.services import Services
from chattui.tui.widgets.messages import Notice
from chattui.tui.widgets.transcript import Transcript


@dataclass
class EndpointsAsked(Message):
    """The models the endpoints serve, as ``ID/MODEL``."""

    served: list[str]


class ChatSettings(SavedChats):
    """The settings panel and the slash commands; the screen built on it shows the chat."""

    overrides: Sampling
    """Sampling set for this chat (panel, /temp, a role), over the model's and the config's."""
    system_prompt: str | None
    context_size: int | None
    _given_system: str | None
    """The system prompt of the command line (-s): it wins over a role's."""
    served: list[str]

    def _show_chat(
        self,
        conversation: Conversation | None,
        *,
        session: ChatSession | None = None,
        at: int | None = None,
    ) -> None:
        """Show a chat (the screen built on this one does it)."""
        raise NotImplementedError

    def _options(self) -> GenerationOptions:
        model = self.host.model
        spec_sampling = model.spec.sampling if model else Sampling()
        base = self.services.config.sampling.over(spec_sampling)
        return self.overrides.over(base).resolve()

    def _ask_endpoints(self) -> None:
        """Learn the models the endpoints serve, for the settings panel (never blocks it).

        An endpoint whose key comes from a command is not asked: the command may ask the user
        for a passphrase, which only using the endpoint should do.
        """
        from chattui.engine.remote import list_models

        served: list[str] = []
        for endpoint in self.services.catalog.endpoints:
            if endpoint.api_key_cmd is not None:
                continue
            # One that cannot be asked is left out: using it says why, and so does doctor.
            try:
                served += [f"{endpoint.id}/{m.id}" for m in list_models(endpoint, timeout=5)]
            except ChattuiError:
                continue
            except Exception as error:  # noqa: BLE001 - a thread of ours: logged, never raised
                with contextlib.suppress(OSError):
                    write_log(self.services.paths.log_file, error, "asking an endpoint's models")
        self.post_message(EndpointsAsked(served))  # safe from a thread, even after quitting

    def on_endpoints_asked(self, message: EndpointsAsked) -> None:
        """Keep what the endpoints serve, for the settings panel."""
        self.served = message.served

    def action_settings(self) -> None:
        """Open the settings panel."""
        options = self._options()
        session, model = self.host.session, self.host.model
        current = Settings(
            model=_model_key(model.spec.id, model.file, self.services) if model else "",
            system_prompt=(session.system_prompt if session else self.system_prompt) or "",
            sampling={name: getattr(options, name) for name in FIELDS},
            context_size=self.context_size,
            role=self.host.role or "",
        )
        catalog = self.services.catalog
        models = [
            (s.id, f"{s.name} ({'installed' if catalog.is_installed(s) else 'not installed'})")
            for s in catalog
        ]
        remote = dict.fromkeys([*catalog.remote_names(), *self.served])
        models += [(name, f"{name} (remote)") for name in remote]
        if model is not None and current.model not in {m[0] for m in models}:
            kind = "remote" if model.endpoint is not None else "file"
            models.insert(0, (current.model, f"{model.spec.name} ({kind})"))
        try:
            roles = [(r.name, r.description) for r in self.services.roles().values()]
        except ChattuiError as error:
            self.notify(str(error), severity="error")
            roles = []
        panel = SettingsScreen(current, models, sorted(roles))
        self.app.push_screen(panel, lambda chosen: self._apply_settings(current, chosen))

    def _apply_settings(self, before: Settings, settings: Settings | None) -> None:
        if settings is None:
            return
        edited = {k: v for k, v in settings.sampling.items() if v != before.sampling.get(k)}
        prompt = settings.system_prompt
        if settings.role != before.role:  # the new role's prompt and sampling, unless edited
            role = self._follow(settings.role) if settings.role else None
            if role is None:  # no role: back to the defaults
                self.host.set_role(None)
                self.overrides = Sampling()
            elif prompt == before.system_prompt:
                prompt = role.system_prompt
            self.overrides = Sampling(**edited).over(self.overrides)  # type: ignore[arg-type]
        else:
            self.overrides = Sampling(**settings.sampling)  # type: ignore[arg-type]
        self.system_prompt = prompt
        self.host.set_system_prompt(prompt or None)
        self.host.set_options(self._options())
        reload = settings.context_size != self.context_size
        self.context_size = settings.context_size
        if settings.save_as_default:
            try:
                self.services.save_defaults(settings)
            except ChattuiError as error:
                self.notify(str(error), title="Settings not saved", severity="error")
        model = self.host.model
        same = model is not None and settings.model in (
            model.spec.id,
            _model_key(model.spec.id, model.file, self.services),
        )
        if reload:
            self.host.settings = replace(self.host.settings, n_ctx=settings.context_size)
        if not same or reload:
            self.slash_model(settings.model)
        self.host.measure()

    # Slash commands (see slash.py) -------------------------------------------------------

    def slash_new(self, _: str) -> None:
        """/new: a new chat."""
        self.action_new_chat()

    def slash_clear(self, _: str) -> None:
        """/clear: a new chat that keeps the system prompt and settings."""
        if self.host.busy:
            self._refuse(BUSY)
            return
        self._show_chat(None)

    def slash_model(self, name: str) -> None:
        """/model NAME: switch models (the old one is freed first)."""
        if not name:
            model = self.host.model
            self.notify(f"Model: {model.spec.name if model else 'none'}. /model NAME switches.")
            return
        try:
            self.host.load(self.services.catalog.resolve(name))
        except ChattuiError as error:
            self.notify(str(error), severity="error")

    def slash_system(self, text: str) -> None:
        """/system TEXT: set or clear the system prompt."""
        self.system_prompt = text
        self.host.set_system_prompt(text or None)
        self.notify("System prompt set." if text else "System prompt cleared.")
        self.host.measure()

    def slash_temp(self, argument: str) -> None:
        """/temp VALUE: set the temperature for the next replies."""
        try:
            value = float(check_sampling("temperature", float(argument)))
        except ValueError:
            allowed = SAMPLING_LIMITS["temperature"].describe()
            self.notify(f"/temp {argument}: allowed: {allowed}", severity="error")
            return
        self.overrides = replace(self.overrides, temperature=value)
        self.host.set_options(self._options())
        self.notify(f"Temperature {value}.")

    def slash_role(self, name: str) -> None:
        """/role NAME: follow a role from the next reply on; /role alone lists them."""
        if not name:
            try:
                roles = self.services.roles()
            except ChattuiError as error:
                self.notify(str(error), severity="error")
                return
            listed = "\n".join(
                f"{r.name}: {r.description}" for r in sorted(roles.values(), key=lambda r: r.name)
            )
            self.query_one(Transcript).add(Notice(f"Roles (/role NAME follows one):\n{listed}"))
            return
        role = self._follow(name)
        if role is not None:
            self.host.set_options(self._options())
            self.notify(f"Role {role.name}: {role.description}")
            self.host.measure()

    def _follow(self, name: str) -> RoleProfile | None:
        """Take a role's system prompt and sampling (a -s prompt still wins); None if unknown."""
        try:
            role = find_role(self.services.roles(), name)
        except ChattuiError as error:
            self.notify(str(error), severity="error")
            return None
        self.system_prompt = self._given_system or role.system_prompt
        self.host.set_system_prompt(self.system_prompt)
        self.overrides = role.sampling
        self.host.set_role(role.name)
        return role

    def slash_export(self, target: str) -> None:
        """/export [FILE]: save the chat as Markdown."""
        self.action_export(target)

    def slash_help(self, _: str) -> None:
        """/help: keys and commands."""
        self.query_one(Transcript).add(Notice(slash.help_text()))


def _model_key(model_id: str, file: Path | None, services: Services) -> str:
    """How the settings panel names a model: its catalog id, or its file when not in the catalog."""
    if any(spec.id == model_id for spec in services.catalog) or file is None:
        return model_id
    return str(file)
