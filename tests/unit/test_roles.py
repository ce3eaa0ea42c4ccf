"""Role files: the shipped roles in both wordings, the user's over them, errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from chattui.errors import ConfigError, UsageError
from chattui.roles import find_role, load_roles, parse_role, role_language, user_copy

JOBS = {"translate", "qa", "write", "summarize", "explain"}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_shipped_roles_parse_in_both_wordings(language: str, tmp_path: Path) -> None:
    roles = load_roles(tmp_path / "none", language)
    assert set(roles) == JOBS
    for role in roles.values():
        assert role.shipped and role.description and role.system_prompt
    translate = roles["translate"]
    assert translate.sampling.temperature == 0.2
    assert "hello" in translate.apply("hello") and translate.apply("hello") != "hello"
    assert roles["qa"].apply("hello") == "hello"  # no input template


def test_the_locale_picks_the_wording() -> None:
    assert role_language("auto", {"LANG": "zh_CN.UTF-8"}) == "zh"
    assert role_language("auto", {"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}) == "zh"
    assert role_language("auto", {"LANG": "fr_FR.UTF-8"}) == "en"
    assert role_language("en", {"LANG": "zh_CN.UTF-8"}) == "en"


def test_user_roles_add_and_override(tmp_path: Path) -> None:
    mine = tmp_path / "roles"
    mine.mkdir()
    (mine / "translate.md").write_text('+++\ndescription = "mine"\n+++\nOnly French.\n')
    (mine / "poet.md").write_text(
        '+++\nname = "poet"\ntemperature = 1.1\ninput = "A poem on {input}"\n+++\nRhyme.\n'
    )
    roles = load_roles(mine, "en")
    assert roles["translate"].system_prompt == "Only French." and not roles["translate"].shipped
    assert roles["poet"].apply("cats") == "A poem on cats"
    assert roles["poet"].sampling.temperature == 1.1


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("no front matter", "starts with a '+++' line"),
        ("+++\nname = 'x'\n", "no closing '+++'"),
        ("+++\ntemperature = 9\n+++\nbody", "key 'temperature' is 9"),
        ("+++\ncolour = 'red'\n+++\nbody", "unknown key 'colour'"),
        ("+++\ninput = 'no slot'\n+++\nbody", "key 'input'"),
        ("+++\nname = [\n+++\nbody", "not valid TOML"),
        ("+++\nname = 'x'\n+++\n", "no system prompt"),
    ],
)
def test_a_bad_role_file_is_one_line_naming_it(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.md"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        parse_role(path)
    message = str(error.value)
    assert str(path) in message and words in message and "\n" not in message


def test_unknown_role_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown role 'poet'; roles: explain, qa"):
        find_role(load_roles(tmp_path, "en"), "poet")


def test_editing_a_shipped_role_copies_it_first(tmp_path: Path) -> None:
    role = load_roles(tmp_path / "none", "zh")["explain"]
    copy = user_copy(role, tmp_path / "roles")
    assert copy.read_text() == role.path.read_text()
    assert load_roles(tmp_path / "roles", "en")["explain"].system_prompt == role.system_prompt
