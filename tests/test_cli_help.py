"""`mlstack --help` and every command's help: readable at 80 columns, with an example each."""

from __future__ import annotations

from importlib.metadata import version
from typing import get_args

import pytest
from typer.testing import CliRunner

from mlstack import cli
from mlstack.cli import app
from mlstack.components.settings import Orchestrator
from mlstack.components.settings.kubernetes import ClusterAutoscalerSettings
from mlstack.components.settings.swarm import EndpointMode, PublishMode

COMMANDS = ["new-stack", "render", "diff", "validate", "reference", "up", "preview", "destroy"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"}, catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def test_version() -> None:
    assert run("--version") == (0, f"mlstack {version('mlstack')}\n")


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_an_example_and_readable_placeholders(command: str) -> None:
    code, text = run(command, "--help")
    assert code == 0
    assert f"Example: mlstack {command}" in text
    for unreadable in ("<str>", "<list", "<bool>", "{ENV}", "<dir>", "…"):
        assert unreadable not in text, (unreadable, text)
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_command_list_is_not_cut() -> None:
    code, text = run("--help")
    assert code == 0
    listing = text[text.index("Commands:") :]
    assert "..." not in listing
    assert all(f"  {command} " in listing for command in COMMANDS)


def test_model_format_is_readable_at_80_columns() -> None:
    _, text = run("new-stack", "--help")
    words = " ".join(text.split())
    for key in ("name,", "framework", "artifact", "version;", "publishedPort,", "env.NAME,",
                "overrides.KEY"):  # fmt: skip
        assert key in words, key
    assert "--model SPEC" in text


def test_choices_are_listed_and_enforced_as_the_settings_spell_them() -> None:
    assert set(get_args(cli.OrchestratorName)) == {member.value for member in Orchestrator}
    assert get_args(cli.EndpointModeName) == get_args(EndpointMode)
    assert get_args(cli.PublishModeName) == get_args(PublishMode)
    field = ClusterAutoscalerSettings.model_fields["cloud_provider"]
    assert get_args(cli.CloudProviderName) == get_args(field.annotation)
    _, text = run("new-stack", "--help")
    for shown in ("--orchestrator kubernetes|swarm", "--endpoint-mode vip|dnsrr",
                  "--publish-mode ingress|host"):  # fmt: skip
        assert shown in text
    code, text = run(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small",
        "--model", "name=iris", "--endpoint-mode", "vipp",
    )  # fmt: skip
    assert code == 2
    assert "'vipp' is not one of 'vip', 'dnsrr'" in text
