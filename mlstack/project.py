"""The Pulumi project the CLI works on: where it is, its stacks, and its recording.

The CLI is a client of the project's own program: the project directory goes first on sys.path
(its `__main__.py` imports the components as `mlstack.components`), and every resource comes from
the offline recorder.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlstack.errors import CliError
from mlstack.offline import ProgramError, Recording, record
from mlstack.stackfile import StackFileError, available_stacks, project_name, stack_path

# Pulumi's rule for stack names (letters, digits, '-', '_', '.'), which also keeps the
# environment name from reaching outside the project as a file name.
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def open_project(directory: Path) -> Path:
    """The resolved project directory, first on sys.path; CliError when it is no Pulumi project."""
    project = directory.resolve()
    try:
        project_name(project)
    except StackFileError as error:
        raise CliError(f"{error} (run mlstack in the project or pass --project DIR)") from None
    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    return project


def check_stack_name(environment: str) -> str:
    if not _STACK_NAME.match(environment) or environment in (".", ".."):
        raise CliError(
            f"invalid stack name {environment!r}: use letters, digits, '-', '_' and '.' "
            "(at most 100 characters)"
        )
    return environment


def require_stack(project: Path, environment: str) -> Path:
    """The stack file of `environment`; CliError naming the known stacks when there is none."""
    check_stack_name(environment)
    path = stack_path(project, environment)
    if not path.is_file():
        raise CliError(unknown_stack_message(project, environment))
    return path


def unknown_stack_message(project: Path, environment: str) -> str:
    known = ", ".join(available_stacks(project)) or "none yet (create one with mlstack new-stack)"
    return (
        f"unknown stack {environment!r}: no Pulumi.{environment}.yaml in {project}; known: {known}"
    )


def record_stack(
    project: Path,
    environment: str,
    *,
    config: Mapping[str, Any] | None = None,
    secret_config: Mapping[str, Any] | None = None,
) -> Recording:
    """Run the project's program offline for one stack; errors become CliError lines."""
    require_stack(project, environment)
    try:
        return record(project, environment, config=config, secret_config=secret_config)
    except StackFileError as error:
        raise CliError(str(error)) from None
    except ProgramError as failure:
        raise CliError(*program_error_lines(failure.error)) from None


def program_error_lines(error: BaseException) -> list[str]:
    """Settings errors as their own lines; anything else as one line naming the exception."""
    problems = getattr(error, "problems", None)
    if isinstance(problems, list) and all(isinstance(line, str) for line in problems):
        return str(error).splitlines()  # SettingsError: a header, then one line per problem
    return [f"the Pulumi program failed: {type(error).__name__}: {error}"]


# Stacks the checklist treats as development: one replica may serve, state may stay local.
DEVELOPMENT_STACKS = ("dev", "local")


def is_development(environment: str) -> bool:
    """`dev`, `local`, or a name starting with one of them and '-' (dev-alice)."""
    return any(
        environment == name or environment.startswith(f"{name}-") for name in DEVELOPMENT_STACKS
    )
