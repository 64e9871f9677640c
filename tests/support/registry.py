"""A real container registry that demands a login, for the push and pull tests.

Debian's `docker-registry` (the CNCF Distribution registry, what registry:2 runs) serves on a
free loopback port with htpasswd (bcrypt) authentication; the engine talks plain HTTP to it
because 127.0.0.0/8 is an insecure registry by default. `start_registry` installs the package
with apt (as root) when it is missing, like tests/support/engine.py does for the engine, and returns
why it could not otherwise, so the tests skip saying why (fail under MLSTACK_REQUIRE_ENGINE=1).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from tests.support.engine import apt_install

REGISTRY_BINARY = "docker-registry"


@dataclass(frozen=True)
class Registry:
    address: str  # host:port, what an image name starts with
    username: str
    password: str  # a fresh random one per run

    def answers(self, username: str | None = None, password: str | None = None) -> int:
        """HTTP status of GET /v2/ (the registry API root), with basic auth when given."""
        request = urllib.request.Request(f"http://{self.address}/v2/")
        if username is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code


def _install() -> str | None:
    if shutil.which(REGISTRY_BINARY) is not None:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{REGISTRY_BINARY} is not installed and apt-get (as root) is not available"
    return apt_install(REGISTRY_BINARY)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_registry(directory: Path) -> Iterator[Registry]:
    """A registry on a free loopback port with one user; stopped and emptied afterwards."""
    reason = _install()
    if reason is not None:
        if os.environ.get("MLSTACK_REQUIRE_ENGINE") == "1":
            pytest.fail(f"a registry is required here (MLSTACK_REQUIRE_ENGINE=1): {reason}")
        pytest.skip(f"no registry: {reason}")
    registry = Registry(
        address=f"127.0.0.1:{_free_port()}",
        username="mlstack-ci",
        password=secrets.token_urlsafe(18),
    )
    hashed = bcrypt.hashpw(registry.password.encode(), bcrypt.gensalt(rounds=5)).decode()
    (directory / "htpasswd").write_text(f"{registry.username}:{hashed}\n")
    (directory / "config.yml").write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {directory / 'data'}}}}}\n"
        f"http: {{addr: '{registry.address}'}}\n"
        f"auth: {{htpasswd: {{realm: mlstack-tests, path: {directory / 'htpasswd'}}}}}\n"
    )
    log = (directory / "registry.log").open("wb")
    process = subprocess.Popen(
        [REGISTRY_BINARY, "serve", str(directory / "config.yml")], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if registry.answers() == 401:  # up, and demanding a login
                    break
            except OSError:
                pass
            assert process.poll() is None, (directory / "registry.log").read_text()
            assert time.monotonic() < deadline, "the registry did not answer within 30 s"
            time.sleep(0.2)
        yield registry
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
