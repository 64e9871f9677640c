"""Secrets advice is safe and the same everywhere: every `pulumi config set --secret` mlstack
shows (CLI hints, generated stack-file headers, README and docs/) names the stack and leaves the
value to stdin; one statement says Pulumi stores secrets encrypted in the stack file."""

from __future__ import annotations

import re
import shlex

from mlstack.components.settings.secret_advice import ENCRYPTED_NOTE, set_secret_command
from tests.support.harness import PROJECT_DIR, STACKS

COMMAND = re.compile(r"pulumi config set --secret[^`\n)]*")


def _check(command: str) -> None:
    words = shlex.split(re.split(r" [#<(]", command)[0])
    assert "--stack" in words, command
    key = next(word for word in words[3:] if word.startswith("mlstack:"))
    # Nothing after the key: the value is never on the command line.
    assert words[-1] == key or words[words.index(key) + 1 :] == [], command


def test_the_one_command_form() -> None:
    assert set_secret_command("registryPassword", "prod") == (
        "pulumi config set --secret --stack prod mlstack:registryPassword"
    )
    assert set_secret_command("secrets.iris.api-token", "prod") == (
        "pulumi config set --secret --stack prod --path 'mlstack:secrets.iris.api-token'"
    )


def test_docs_and_stack_file_headers_say_the_same() -> None:
    docs = {
        str(path.relative_to(PROJECT_DIR)): path.read_text()
        for path in [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]
    }
    headers = {
        f"Pulumi.{stack}.yaml": (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text()
        for stack in STACKS
    }
    shown = set()
    for name, text in {**docs, **headers}.items():
        found = COMMAND.findall(text.replace("\n   ", " ").replace("\n", " \n"))
        assert found or name in docs, name
        for command in found:
            shown.add(name)
            if "mlstack:" in command:
                _check(command)
        if name in headers:
            assert f"# {ENCRYPTED_NOTE}." in text
    # The pages that teach secrets show the command; the one statement lives with them.
    assert {"docs/configuration.md", "docs/cli.md"} <= shown
    assert "Pulumi stores secrets encrypted in the stack file" in docs["docs/configuration.md"]
