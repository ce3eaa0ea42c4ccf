"""Roles: a system prompt for one everyday job, with optional model, sampling and input template.

A role is a Markdown file: TOML front matter between ``+++`` lines (``name``, ``description``,
optional ``model``, sampling values such as ``temperature``, and an ``input`` template holding
``{input}``), then the system prompt as its body. chattui ships translate, qa, write, summarize and
explain, each in English and Chinese wording (``language`` in config.toml, else the locale);
files in the config folder's ``roles/`` add roles or replace shipped ones of the same name.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chattui.errors import ConfigError, UsageError
from chattui.sampling import SAMPLING_LIMITS, Sampling
from chattui.toml_checks import any_string, read_toml_text, validate_table

SHIPPED = Path(__file__).with_name("shipped_roles")
"""The shipped roles, one folder per language."""
LANGUAGES = ("en", "zh")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
FENCE = "+++"


@dataclass(frozen=True, slots=True)
class RoleProfile:
    """One role, as its file defines it."""

    name: str
    description: str
    system_prompt: str
    """The file's body."""
    path: Path
    """Where it was read from."""
    model: str | None = None
    """Model to use unless one is asked for."""
    sampling: Sampling = field(default_factory=Sampling)
    """Sampling values, over the config's and under the command line's."""
    input: str | None = None
    """Template for a one-shot question (``ask``); ``{input}`` is replaced by the text."""
    shipped: bool = False
    """Whether chattui ships it (else it is the user's)."""

    def apply(self, text: str) -> str:
        """``text`` put in the role's input template (unchanged without one)."""
        return self.input.replace("{input}", text) if self.input else text


def _name(value: object) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ValueError("lowercase letters, digits, - and _ (up to 40)")
    return value


def _template(value: object) -> str:
    if not isinstance(value, str) or "{input}" not in value:
        raise ValueError("a string holding {input}")
    return value


_CHECKS: dict[str, Callable[[object], object]] = {
    "name": _name,
    "description": any_string,
    "model": any_string,
    "input": _template,
    **{name: limit.check for name, limit in SAMPLING_LIMITS.items()},
}


def parse_role(path: Path, *, shipped: bool = False) -> RoleProfile:
    """Read one role file.

    Raises:
        ConfigError: One line naming the file and what is wrong (and the key, for a bad value).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the role: {error}") from None
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FENCE:
        raise ConfigError(f"{path}: a role starts with a '+++' line, then TOML, then '+++'")
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == FENCE), None)
    if end is None:
        raise ConfigError(f"{path}: the front matter has no closing '+++' line")
    values = validate_table(read_toml_text("".join(lines[1:end]), path), _CHECKS, str(path))
    body = "".join(lines[end + 1 :]).strip()
    if not body:
        raise ConfigError(f"{path}: the role has no system prompt after its front matter")
    sampling = Sampling.from_mapping({k: v for k, v in values.items() if k in SAMPLING_LIMITS})
    return RoleProfile(
        name=values.get("name", path.stem),
        description=values.get("description", ""),
        system_prompt=body,
        path=path,
        model=values.get("model"),
        sampling=sampling,
        input=values.get("input"),
        shipped=shipped,
    )


def role_language(setting: str, environ: Mapping[str, str] | None = None) -> str:
    """The wording of shipped roles: the config's choice, or Chinese for a Chinese locale."""
    if setting in LANGUAGES:
        return setting
    env = os.environ if environ is None else environ
    locale = next((env[key] for key in ("LC_ALL", "LC_MESSAGES", "LANG") if env.get(key)), "")
    return "zh" if locale.lower().startswith("zh") else "en"


def load_roles(user_dir: Path, language: str) -> dict[str, RoleProfile]:
    """Every role by name: the shipped ones in ``language``, then the user's over them.

    Raises:
        ConfigError: A role file is malformed.
    """
    roles = {
        role.name: role
        for role in (parse_role(path, shipped=True) for path in _files(SHIPPED / language))
    }
    for path in _files(user_dir):
        role = parse_role(path)
        roles[role.name] = role
    return roles


def find_role(roles: Mapping[str, RoleProfile], name: str) -> RoleProfile:
    """The role called ``name``.

    Raises:
        UsageError: There is none (the known ones are listed).
    """
    if name in roles:
        return roles[name]
    raise UsageError(f"unknown role '{name}'; roles: {', '.join(sorted(roles))}")


def user_copy(role: RoleProfile, user_dir: Path) -> Path:
    """The user's file for ``role``, copied from the shipped one first if needed.

    Raises:
        ConfigError: The folder or the copy cannot be written.
    """
    target = user_dir / f"{role.name}.md"
    if target.exists():
        return target
    try:
        user_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(role.path, target)
    except OSError as error:
        raise ConfigError(f"cannot write {target}: {error.strerror or error}") from None
    return target


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.md")) if folder.is_dir() else []
