"""`mlstack up | preview | destroy`: the real deployment, through Pulumi's Automation API.

These are the only commands that need the Pulumi CLI (the engine). It is looked for first, and
when it is missing the user is told so and how to get it before anything else happens.

State: PULUMI_BACKEND_URL when set; otherwise development stacks keep theirs in the project
(`file://<project>/.mlstack/state`, gitignored) and every other stack uses the backend
`pulumi login` chose. The file backend encrypts secrets with a passphrase
(PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE).

On a Swarm stack, `up` watches the services it waits on (mlstack.swarm_up) and says why they
have not converged, while it waits and in the error when the wait fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pulumi import automation as auto

from mlstack import swarm_up
from mlstack.errors import CliError
from mlstack.project import is_development, require_stack
from mlstack.stackfile import StackFileError, read_stack_config

Operation = Literal["up", "preview", "destroy"]
INSTALL_COMMAND = "curl -fsSL https://get.pulumi.com | sh"
INSTALL_SCRIPT = "https://get.pulumi.com/install.sh"
STATE_DIR = ".mlstack/state"


def missing_cli_message() -> list[str]:
    return [
        "the Pulumi CLI (`pulumi`, the deployment engine) is not installed: it is not on PATH "
        "nor in ~/.pulumi/bin.",
        f"Install it with `{INSTALL_COMMAND}` and put ~/.pulumi/bin on PATH, or run this "
        "command again with --install-pulumi.",
        "new-stack, render, diff, validate and reference work without it.",
    ]


def locate_pulumi() -> Path | None:
    """The `pulumi` executable: on PATH (a version manager's shim counts), in ~/.pulumi/bin
    (get.pulumi.com's default), or the newest one the Automation API installed under
    ~/.pulumi/versions/ (newest by version number: 3.272.0 is newer than 3.99.0)."""
    found = shutil.which("pulumi")
    if found:
        return Path(found)
    home = Path.home() / ".pulumi"
    candidates = [home / "bin" / "pulumi"]
    installed = (home / "versions").glob("*/bin/pulumi")
    candidates += sorted(installed, key=lambda path: version_key(path.parent.parent.name))[::-1]
    return next((path for path in candidates if os.access(path, os.X_OK)), None)


_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(.*)$")


def version_key(name: str) -> tuple[int, int, int, int, str]:
    """Orders version directory names as versions; a pre-release (3.100.0-alpha) sorts below its
    release, and a name that is no version below every version."""
    match = _VERSION.match(name)
    if match is None:
        return (-1, -1, -1, 0, name)
    major, minor, patch, rest = match.groups()
    return (int(major), int(minor), int(patch), 0 if rest else 1, rest)


def pulumi_command(*, install: bool) -> auto.PulumiCommand:
    path = locate_pulumi()
    if path is None:
        if not install:
            raise CliError(*missing_cli_message())
        return _install_pulumi()
    return _existing_pulumi(path)


def _existing_pulumi(path: Path) -> auto.PulumiCommand:
    # The Automation API runs ROOT/bin/pulumi, or `pulumi` from PATH without a root. An install
    # lives in a bin/ directory; a version manager's shim (asdf, mise: .../shims/pulumi) does not,
    # and is run as `pulumi` from PATH, where it was found.
    root = str(path.parent.parent) if path.parent.name == "bin" else None
    try:
        return auto.PulumiCommand(root=root)
    except auto.InvalidVersionError as error:
        raise CliError(f"the Pulumi CLI at {path} is too old for this SDK: {error}") from None
    except (OSError, subprocess.CalledProcessError) as error:
        raise CliError(
            f"the Pulumi CLI at {path} does not run: `pulumi version` failed ({error}).",
            "A version manager's shim needs a Pulumi version selected for this directory.",
        ) from None


def _install_pulumi() -> auto.PulumiCommand:
    try:
        return auto.PulumiCommand.install()
    except Exception as error:  # noqa: BLE001 - the installer raises whatever its download hits
        raise CliError(
            f"could not install the Pulumi CLI: downloading {INSTALL_SCRIPT} failed "
            f"({type(error).__name__}: {error}).",
            f"This network may not reach get.pulumi.com; where it can: {INSTALL_COMMAND}",
        ) from None


@dataclass(frozen=True)
class Backend:
    env_vars: dict[str, str]
    notes: list[str]


def backend(project: Path, environment: str) -> Backend:
    """Environment variables for the Pulumi CLI: where state lives and how secrets are sealed."""
    env_vars: dict[str, str] = {}
    notes: list[str] = []
    if os.environ.get("PULUMI_BACKEND_URL"):
        return Backend(env_vars, notes)
    if not is_development(environment):
        notes.append(
            f"state of {environment}: the backend of `pulumi login` (set PULUMI_BACKEND_URL "
            "to choose another)"
        )
        return Backend(env_vars, notes)
    state = project / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    env_vars["PULUMI_BACKEND_URL"] = state.as_uri()
    notes.append(f"state of {environment}: {state} (set PULUMI_BACKEND_URL to choose another)")
    if not (
        "PULUMI_CONFIG_PASSPHRASE" in os.environ or "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ
    ):
        env_vars["PULUMI_CONFIG_PASSPHRASE"] = ""
        notes.append(
            f"secrets of {environment} are sealed with an empty passphrase; set "
            "PULUMI_CONFIG_PASSPHRASE (or _FILE) to choose one"
        )
    return Backend(env_vars, notes)


def run(
    operation: Operation,
    project: Path,
    environment: str,
    *,
    yes: bool,
    install: bool,
    diff: bool,
    echo: Callable[[str], None],
    confirm: Callable[[str], bool],
    check_engine: bool = True,
) -> None:
    require_stack(project, environment)
    if check_engine and operation != "destroy":
        _check_target_engine(operation, project, environment, echo)
    command = pulumi_command(install=install)
    settings = backend(project, environment)
    for note in settings.notes:
        echo(f"mlstack: {note}")
    try:
        stack = auto.create_or_select_stack(
            stack_name=environment,
            work_dir=str(project),
            opts=auto.LocalWorkspaceOptions(
                work_dir=str(project), env_vars=settings.env_vars, pulumi_command=command
            ),
        )
        if operation == "preview":
            stack.preview(diff=diff, on_output=echo)
            return
        if not yes:
            _confirm_change(operation, stack, environment, diff, echo, confirm)
        if operation == "up":
            swarm_up.up(stack, project, environment, diff=diff, echo=echo)
        else:
            stack.destroy(on_output=echo)
    except auto.CommandError as error:
        raise CliError(f"pulumi {operation} {environment} failed:", *_tail(str(error))) from None


def _check_target_engine(
    operation: Operation, project: Path, environment: str, echo: Callable[[str], None]
) -> None:
    """A Swarm stack's settings against its engine (mlstack.engine_check), before the Pulumi CLI
    is even looked for: `up` stops on an error, `preview` (which changes nothing) warns."""
    from mlstack.components.settings import NAMESPACE, Orchestrator, SettingsError, load_settings
    from mlstack.engine_check import check_swarm_engine

    try:
        config = read_stack_config(project, environment)
    except StackFileError as error:
        raise CliError(str(error)) from None
    prefix = f"{NAMESPACE}:"
    raw = {
        key[len(prefix) :]: value for key, value in config.values.items() if key.startswith(prefix)
    }
    try:
        settings = load_settings(raw, environment=environment, project_dir=project)
    except SettingsError as error:
        raise CliError(*str(error).splitlines()) from None
    if settings.orchestrator is not Orchestrator.SWARM:
        return
    errors, warnings = check_swarm_engine(settings.swarm, settings.source)
    if errors and operation == "up":
        raise CliError(
            *errors, "(--skip-engine-check deploys anyway, if you know the engine better)"
        )
    for line in [*errors, *warnings]:
        echo(f"warning: {line}")


def _confirm_change(
    operation: Operation,
    stack: auto.Stack,
    environment: str,
    diff: bool,
    echo: Callable[[str], None],
    confirm: Callable[[str], bool],
) -> None:
    if not sys.stdin.isatty():
        raise CliError(f"{operation} changes stack {environment}: pass --yes to confirm it")
    if operation == "up":
        stack.preview(diff=diff, on_output=echo)
    else:
        stack.preview_destroy(on_output=echo)
    question = "Deploy these changes" if operation == "up" else "Destroy every resource"
    if not confirm(f"{question} of stack {environment}?"):
        raise CliError(f"{operation} {environment}: cancelled; nothing changed")


def _tail(text: str, lines: int = 30) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-lines:]
