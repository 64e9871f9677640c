"""The offline harness every test uses: run the real program for a stack file under Pulumi mocks.

`run_stack("dev")` evaluates __main__.py exactly as `pulumi up --stack dev` would (project name
from Pulumi.yaml, config from Pulumi.dev.yaml), with the engine replaced by a recorder; it
returns every resource declared: type token, name, parent, inputs.

A recording is made once per test session: the same stack with the same config returns the same
Recording (treat it as read-only). Each one runs in its own copy of the program's files in a
temporary directory, because running the program writes every image's build context under the
project (.mlstack/build/<environment>/<name>/): the checkout stays untouched, and two recordings
of one stack with different config cannot overwrite each other's contexts. `recorded_in` names
the directory a recording (or one of its resources) was made in.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from mlstack.offline import ProgramError, RecordedResource, Recording, record

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")
# What the program reads from its project directory: the code it runs (mlstack.components, ...)
# comes from the installed packages.
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "stacks", "examples")

_recordings: dict[str, Recording] = {}
# id() of each Recording run_stack made, and of each of its resources -> the directory it was
# recorded in. _made keeps them all alive for the session, so the ids stay theirs.
_directories: dict[int, Path] = {}
_made: list[Recording] = []


@cache
def _session_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="mlstack-recordings-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def _program_copy(environment: str) -> Path:
    """A fresh copy of the program, its stack files and the artifacts they name."""
    target = Path(tempfile.mkdtemp(prefix=f"{environment}-", dir=_session_dir()))
    for entry in (*PROGRAM_FILES, *(p.name for p in PROJECT_DIR.glob("Pulumi.*.yaml"))):
        source = PROJECT_DIR / entry
        if source.is_dir():
            ignored = shutil.ignore_patterns("__pycache__")
            shutil.copytree(source, target / entry, ignore=ignored)
        else:
            shutil.copy2(source, target / entry)
    return target


def run_stack(
    environment: str,
    *,
    config: dict[str, Any] | None = None,
    secret_config: dict[str, Any] | None = None,
    project_dir: Path | None = None,
) -> Recording:
    """Record stack `environment`; `config` and `secret_config` add to or replace keys of its
    stack file. With `project_dir`, that project is recorded as it is, every time (a test's own
    copy it changes); without, the cached recording of this project (see the module doc)."""
    if project_dir is not None:
        return _made_in(project_dir, environment, config, secret_config)
    key = json.dumps([environment, config, secret_config], sort_keys=True, default=str)
    cached = _recordings.get(key)
    if cached is None:
        cached = _made_in(_program_copy(environment), environment, config, secret_config)
        _recordings[key] = cached
    return cached


def _made_in(
    directory: Path,
    environment: str,
    config: dict[str, Any] | None,
    secret_config: dict[str, Any] | None,
) -> Recording:
    made = record(directory, environment, config=config, secret_config=secret_config)
    _made.append(made)
    for item in (made, *made.resources):
        _directories[id(item)] = directory.resolve()
    return made


def recorded_in(item: Recording | RecordedResource) -> Path:
    """The project directory `item` was recorded in: where its build contexts are on disk."""
    found = _directories.get(id(item))
    if found is None and isinstance(item, Recording):
        found = next((_directories[id(r)] for r in item.resources if id(r) in _directories), None)
    if found is None:
        raise KeyError(f"{item!r:.80} was not recorded by run_stack")
    return found


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
