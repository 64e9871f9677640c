"""Shared fixtures: the real Docker engine and an offline-made Python base image."""

from __future__ import annotations

import docker
import pytest

from tests import engine as engine_support


@pytest.fixture(scope="session")
def docker_engine() -> docker.DockerClient:
    return engine_support.engine()


@pytest.fixture(scope="session")
def python_base_image(docker_engine: docker.DockerClient) -> str:
    return engine_support.base_image()
