"""Secrets named by reference: an environment variable or a command that prints the value.

A secret never sits in a file chattui writes: a setting names where to read it (``*_env`` or
``*_cmd``) and it is read only when it is about to be used. Errors name the reference, never
the value or what the command printed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from chattui.errors import ChattuiError

COMMAND_SECONDS = 30
"""How long a ``*_cmd`` may take (a password manager may ask for a passphrase)."""


def read_secret(
    owner: str,
    what: tuple[str, str],
    *,
    env: str | None,
    command: str | None,
    error: type[ChattuiError],
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The secret that ``env`` or ``command`` names, read now; None when neither is given.

    Args:
        owner: How errors name what wants the secret ("endpoint 'lab'").
        what: How errors name the secret and its command key ("API key", "api_key_cmd").
        env: An environment variable holding it.
        command: A shell command printing it on its first line.
        error: The error raised when it cannot be read.
        environ: The environment to read (the process's by default).

    Raises:
        ChattuiError: Of type ``error``: the variable is unset or the command fails.
    """
    values = os.environ if environ is None else environ
    if env is not None:
        value = values.get(env, "").strip()
        if not value:
            raise error(f"{owner} reads its {what[0]} from ${env}, which is not set")
        return value
    if command is None:
        return None
    try:
        done = subprocess.run(  # noqa: S602 - the user's own command, from their file
            command,
            shell=True,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as failure:
        raise error(f"{owner}: {what[1]} failed ({type(failure).__name__})") from None
    lines = done.stdout.strip().splitlines()
    value = lines[0].strip() if lines else ""
    if done.returncode != 0 or not value:
        raise error(f"{owner}: {what[1]} exited with {done.returncode} and printed nothing")
    return value
