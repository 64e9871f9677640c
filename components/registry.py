"""Where images live, decided once: the registry host of `mlstack:image.registry`, the server
address credentials are presented to (push, Swarm pulls, the Kubernetes pull secret), and the
names images get, pushed or not.

The conventions are Docker's, which every consumer shares:
- an image name's first component is a registry host only if it has a '.' or ':' or is
  `localhost`; otherwise the image is on Docker Hub (`acme/models` is the Docker Hub namespace
  acme, whose registry is docker.io);
- Docker Hub credentials are keyed by `https://index.docker.io/v1/`: `docker login` stores them
  there, the engine's registry code names it IndexServer, pulumi-docker 5.2 maps docker.io and
  index.docker.io to it for push (provider/image.go getRegistryAddrForAuth), and the kubelet
  reads that key as Docker Hub's for any docker.io image (pkg/credentialprovider/keyring.go:
  /v1/ is stripped, leaving its defaultRegistryHost index.docker.io);
- any other registry's credentials are keyed by its host[:port].

Images that are not pushed are named `localhost/mlstack/<name>`: no public registry can serve
that name, so neither a Swarm node (which tries to pull on every task start) nor anything else
ever runs an image someone else published under it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
_DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
LOCAL_REPOSITORY = "localhost/mlstack"


def split_domain(name: str) -> tuple[str, str]:
    """'ghcr.io/acme/x' -> ('ghcr.io', 'acme/x'); 'acme/x' -> ('docker.io', 'acme/x').
    Docker's rule (distribution/reference splitDockerDomain); Docker Hub's aliases fold into
    docker.io."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = DOCKER_HUB, name
    return (DOCKER_HUB if domain in _DOCKER_HUB_ALIASES else domain), path


def image_domain(reference: str) -> str:
    """The registry an image reference is pulled from ('python:3.11' -> 'docker.io')."""
    name = reference.partition("@")[0]
    return split_domain(name)[0]


@dataclass(frozen=True)
class Registry:
    """A registry and the path under it that images are named in."""

    host: str  # 'ghcr.io', 'registry.example.com:5000', 'docker.io'
    path: str  # 'acme/models', or '' for the registry's root

    @classmethod
    def parse(cls, registry: str) -> Registry:
        """`mlstack:image.registry` as written: 'ghcr.io/acme/models', 'localhost:5000',
        'acme/models' (Docker Hub)."""
        first, _, rest = registry.partition("/")
        if "." in first or ":" in first or first == "localhost":
            host = DOCKER_HUB if first in _DOCKER_HUB_ALIASES else first
            return cls(host, rest)
        return cls(DOCKER_HUB, registry)

    @property
    def is_docker_hub(self) -> bool:
        return self.host == DOCKER_HUB

    @property
    def server_address(self) -> str:
        """The key credentials for this registry are stored and presented under."""
        return DOCKER_HUB_SERVER if self.is_docker_hub else self.host

    def repository(self, name: str) -> str:
        """The fully qualified repository of image `name` in this registry."""
        return "/".join(part for part in (self.host, self.path, name) if part)

    def serves(self, reference: str) -> bool:
        """Whether `reference` is pulled from this registry's host."""
        return image_domain(reference) == self.host


def image_repository(registry: str | None, pushed: bool, name: str) -> str:
    """Where image `name` is known: its registry repository when pushed; otherwise a local name
    no public registry can serve."""
    if pushed and registry:
        return Registry.parse(registry).repository(name)
    return f"{LOCAL_REPOSITORY}/{name}"


def docker_config_json(registry: str, username: str, password: str) -> str:
    """The .dockerconfigjson of a kubernetes.io/dockerconfigjson Secret for `registry`, keyed
    the way `docker login` writes it (call inside apply: it holds the password)."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry = {"username": username, "password": password, "auth": auth}
    return json.dumps({"auths": {Registry.parse(registry).server_address: entry}}, sort_keys=True)
