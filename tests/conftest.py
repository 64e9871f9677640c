"""Shared fixtures: the real Docker engine, an offline-made Python base image, a copy of the
project to change, and a sys.path that a test may change."""

from __future__ import annotations

import sys
from pathlib import Path

import docker
import pytest

from tests.support import engine as engine_support
from tests.support.cli_support import copy_project


@pytest.fixture(scope="session")
def docker_engine() -> docker.DockerClient:
    return engine_support.engine()


@pytest.fixture(scope="session")
def python_base_image(docker_engine: docker.DockerClient) -> str:
    return engine_support.base_image()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project as a clone would have it (tracked and new files), to change freely."""
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project as a clone has it, copied once a session, for tests that run the CLI on the
    project unchanged: what the CLI writes into a project (image build contexts under
    .mlstack/build/) lands in the copy, not in the repository."""
    return copy_project(tmp_path_factory.mktemp("checkout"))


@pytest.fixture
def in_checkout(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test runs in `checkout`, so the CLI's default project (the working directory) is the
    copy."""
    monkeypatch.chdir(checkout)
    return checkout


@pytest.fixture
def isolated_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """sys.path as it was before the test, whatever the test (or the program it runs) adds."""
    monkeypatch.setattr(sys, "path", sys.path.copy())
