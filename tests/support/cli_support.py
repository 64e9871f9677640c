"""Helpers for the CLI tests: run `mlstack` in-process, copy the project, make a git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from typer.testing import CliRunner, Result

from mlstack.cli import app
from tests.support.harness import PROJECT_DIR

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "mlstack tests",
    "GIT_AUTHOR_EMAIL": "tests@mlstack.invalid",
    "GIT_COMMITTER_NAME": "mlstack tests",
    "GIT_COMMITTER_EMAIL": "tests@mlstack.invalid",
}


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def project_files() -> list[str]:
    """The project's files as a clone would have them: tracked and new, not ignored."""
    listed = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    )
    names = [name for name in listed.stdout.decode().split("\0") if name]
    return [
        name
        for name in names
        if (PROJECT_DIR / name).is_file() or (PROJECT_DIR / name).is_symlink()
    ]


def copy_project(target: Path) -> Path:
    for name in project_files():
        source, destination = PROJECT_DIR / name, target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():  # mlstack/components -> ../components: a link, as git keeps it
            destination.symlink_to(source.readlink())
        else:
            shutil.copy2(source, destination)
    return target


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_IDENTITY},
    )
    return done.stdout.strip()


def git_project(target: Path) -> Path:
    """A copy of the project as a fresh repository with one commit on branch main."""
    copy_project(target)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "base")
    return target
