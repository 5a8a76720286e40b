"""The README keeps up with the code: every setting and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from orchestrator import cli_signal
from orchestrator.cli import app
from orchestrator.settings import Settings

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"
CONFIG_HEADING = "## Configuration reference"
PREFIX = str(Settings.model_config.get("env_prefix", ""))
CLI_VARIABLES = frozenset({cli_signal.TOKEN_VARIABLE, cli_signal.HMAC_VARIABLE})


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _configuration_reference() -> str:
    """The text of the configuration reference section, up to the next second-level heading."""
    text = _readme()
    start = text.find(CONFIG_HEADING + "\n")
    assert start >= 0, f"README.md has no section {CONFIG_HEADING!r}"
    end = text.find("\n## ", start + len(CONFIG_HEADING))
    return text[start : end if end >= 0 else len(text)]


def _variables() -> list[str]:
    return [PREFIX + name.upper() for name in Settings.model_fields]


def _commands() -> list[str]:
    """Every leaf sub-command of the `gridshift` typer app, as `dev up`, `run`, ..."""
    found: list[str] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        children = getattr(command, "commands", None)
        if not children:
            found.append(" ".join(path))
            return
        for name, child in children.items():
            if not child.hidden:
                walk(child, (*path, name))

    walk(get_command(app), ())
    return sorted(found)


def _mentioned(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


def test_settings_are_read_from_gridshift_variables() -> None:
    """The names checked below are the ones pydantic-settings reads (prefix GRIDSHIFT_)."""
    assert PREFIX == "GRIDSHIFT_"
    assert "GRIDSHIFT_DATABASE_URL" in _variables()
    assert len(_variables()) == len(Settings.model_fields) > 10


@pytest.mark.parametrize("variable", _variables())
def test_every_setting_is_in_the_configuration_reference(variable: str) -> None:
    """Each Settings field appears in the configuration reference as its environment variable."""
    assert _mentioned(_configuration_reference(), variable), (
        f"{variable} is a setting (orchestrator/settings.py) but README.md's "
        f"{CONFIG_HEADING!r} does not document it"
    )


def test_the_configuration_reference_names_no_setting_that_does_not_exist() -> None:
    """Every GRIDSHIFT_ variable the reference documents is a setting or a CLI variable."""
    named = set(re.findall(r"GRIDSHIFT_[A-Z0-9_]*[A-Z0-9]", _configuration_reference()))
    unknown = named - set(_variables()) - CLI_VARIABLES
    assert not unknown, f"README.md documents variables gridshift does not read: {sorted(unknown)}"


def test_the_command_walk_finds_the_known_commands() -> None:
    """The walk reaches top-level commands and those inside groups."""
    commands = _commands()
    assert {"run", "migrate", "plan", "dev up", "dev down", "signal send"} <= set(commands)
    assert "dev" not in commands


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_mentioned_in_the_readme(command: str) -> None:
    """Each `gridshift` sub-command the CLI defines appears in README.md as `gridshift CMD`."""
    assert _mentioned(_readme(), f"gridshift {command}"), (
        f"`gridshift {command}` is a command (orchestrator/cli.py) that README.md never mentions"
    )
