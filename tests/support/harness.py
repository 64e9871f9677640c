"""The offline harness every test uses: run the real program for a stack file under Pulumi mocks.

`run_stack("dev")` evaluates __main__.py exactly as `pulumi up --stack dev` would (project name
from Pulumi.yaml, config from Pulumi.dev.yaml), with the engine replaced by a recorder; it
returns every resource declared: type token, name, parent, inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlstack.offline import ProgramError, RecordedResource, Recording, record

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")


def run_stack(
    environment: str,
    *,
    config: dict[str, Any] | None = None,
    secret_config: dict[str, Any] | None = None,
    project_dir: Path = PROJECT_DIR,
) -> Recording:
    return record(project_dir, environment, config=config, secret_config=secret_config)


def settings_error(environment: str, **config: Any) -> tuple[str, tuple[RecordedResource, ...]]:
    """Run a stack with `config` replacing keys of its stack file; it must fail. Returns the
    error text and what had been declared before the failure."""
    try:
        run_stack(environment, config=config)
    except ProgramError as failure:
        return str(failure.error), failure.declared
    raise AssertionError(f"stack {environment} with {config} evaluated without an error")


def only(recording: Recording, type_token: str) -> RecordedResource:
    found = recording.of_type(type_token)
    assert len(found) == 1, f"expected one {type_token}, found {[r.name for r in found]}"
    return found[0]
