"""A real Docker engine in Swarm mode for the tests that need one (image builds, Swarm services).

`engine()` returns a docker SDK client, starting dockerd (and installing docker.io with apt as
root) when none answers, and initialising a single-node Swarm. When no engine can be had it
returns the reason, and the tests skip with it; with MLSTACK_REQUIRE_ENGINE=1 (set by .ci/run)
they fail instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from functools import cache
from pathlib import Path

import docker
import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
BASE_IMAGE_TAG = "mlstack/python-base:3.11-bookworm"
DOCKERD_LOG = Path("/var/log/mlstack-dockerd.log")


def _client() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception:  # noqa: BLE001 - any failure means "no engine answering"
        return None


def apt_install(package: str) -> str | None:
    """Install a Debian package (as root); why it failed, or None."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
    ):
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            return f"installing {package} failed: {result.stderr.strip()[-300:]}"
    return None


def _install_and_start() -> str | None:
    """Start (installing if needed) a local dockerd. Returns why it could not, or None."""
    if os.geteuid() != 0:
        return "no Docker engine answers and starting one needs root"
    if shutil.which("dockerd") is None:
        if shutil.which("apt-get") is None:
            return "no Docker engine answers, dockerd is not installed and apt-get is missing"
        failed = apt_install("docker.io")
        if failed is not None:
            return failed
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    for _ in range(60):
        if _client() is not None:
            return None
        time.sleep(0.5)
    return f"dockerd did not answer within 30 s; see {DOCKERD_LOG}"


@cache
def _engine() -> docker.DockerClient | str:
    client = _client()
    if client is None:
        reason = _install_and_start()
        if reason is not None:
            return reason
        client = _client()
        if client is None:
            return "dockerd started but the client cannot reach it"
    if client.info().get("Swarm", {}).get("LocalNodeState") != "active":
        try:
            client.swarm.init(advertise_addr="127.0.0.1")
        except docker.errors.APIError as error:
            return f"docker swarm init failed: {error}"
    return client


def engine() -> docker.DockerClient:
    """The engine client, or skip (fail under MLSTACK_REQUIRE_ENGINE=1) saying why not."""
    found = _engine()
    if isinstance(found, str):
        if os.environ.get("MLSTACK_REQUIRE_ENGINE") == "1":
            pytest.fail(f"a Docker engine is required here (MLSTACK_REQUIRE_ENGINE=1): {found}")
        pytest.skip(f"no Docker engine: {found}")
    return found


@cache
def _base_image() -> str:
    """A Python base image made offline (no registry needed), built once and then reused."""
    result = subprocess.run(
        ["bash", str(PROJECT_DIR / "scripts" / "offline-base-image.sh"), BASE_IMAGE_TAG],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"offline base image failed: {result.stderr.strip()[-500:]}")
    return result.stdout.strip().splitlines()[-1]


def base_image() -> str:
    engine()
    return _base_image()
