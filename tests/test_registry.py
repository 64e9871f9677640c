"""Image names, the registry host and who builds for which engine (issue 12).

The Docker client's own conventions are the oracle: docker-py (the Python Docker SDK, installed
for the engine tests) implements the docker CLI's rules for which registry an image name is
pulled from (`resolve_repository_name`) and which stored credentials a registry gets
(`AuthConfig.resolve_authconfig`, legacy URL keys stripped to host names as the CLI does).
"""

from __future__ import annotations

import json
from typing import Any

import docker.auth
import pytest

from mlstack.components.registry import (
    DOCKER_HUB_SERVER,
    Registry,
    docker_config_json,
    image_domain,
    image_repository,
)
from mlstack.offline import RecordedResource, Recording, reveal
from tests.support.harness import run_stack, settings_error

IMAGE_TYPE = "docker:index/image:Image"
SERVICE_TYPE = "docker:index/service:Service"
PULL_SECRET_TYPE = "kubernetes:core/v1:Secret"
PASSWORD = "s3cret-pass"


def pulled_from(image: str) -> str:
    """The registry the docker client pulls `image` from."""
    return str(docker.auth.resolve_repository_name(image.partition("@")[0].rpartition(":")[0])[0])


def credentials_for(server_address: str, image: str) -> Any:
    """What the docker client presents when pulling `image`, given credentials stored under
    `server_address` (None: it finds none, and pulls anonymously)."""
    config = docker.auth.AuthConfig({"auths": {server_address: {"username": "u", "password": "p"}}})
    return config.resolve_authconfig(pulled_from(image))


# --- names ----------------------------------------------------------------------------------------


def test_unpushed_images_are_named_where_no_public_registry_can_serve_them() -> None:
    """A Swarm node tries to pull a task's image on every start: a name on Docker Hub would run
    whatever its namespace's owner pushed under that tag."""
    recording = run_stack("dev")
    names = [image.inputs["imageName"] for image in recording.of_type(IMAGE_TYPE)]
    assert len(names) == 2  # the model and the proxy
    for name in names:
        assert name.startswith("localhost/mlstack/"), name
        assert pulled_from(name) == "localhost"  # loopback, never a public registry
    services = recording.of_type(SERVICE_TYPE)
    for service in services:
        assert service.inputs["taskSpec"]["containerSpec"]["image"] in names


@pytest.mark.parametrize(
    ("registry", "repository", "server"),
    [
        ("ghcr.io/acme/models", "ghcr.io/acme/models/iris", "ghcr.io"),
        (
            "registry.example.com:5000/ml",
            "registry.example.com:5000/ml/iris",
            "registry.example.com:5000",
        ),
        ("localhost:5000", "localhost:5000/iris", "localhost:5000"),
        ("acme/models", "docker.io/acme/models/iris", DOCKER_HUB_SERVER),
        ("acme", "docker.io/acme/iris", DOCKER_HUB_SERVER),
        ("docker.io/acme", "docker.io/acme/iris", DOCKER_HUB_SERVER),
        ("index.docker.io/acme", "docker.io/acme/iris", DOCKER_HUB_SERVER),
    ],
)
def test_a_registry_has_one_host_one_server_address_and_fully_qualified_names(
    registry: str, repository: str, server: str
) -> None:
    parsed = Registry.parse(registry)
    assert image_repository(registry, True, "iris") == repository
    assert parsed.server_address == server
    image = f"{repository}:1.0.0-abc"
    # The docker client pulls the name from this registry, with the credentials keyed by it.
    assert pulled_from(image) == parsed.host
    assert credentials_for(server, image) == {"username": "u", "password": "p"}
    assert image_domain(image) == parsed.host
    config = json.loads(docker_config_json(registry, "u", "p"))
    assert list(config["auths"]) == [server]


def test_a_docker_hub_namespace_was_given_a_server_no_client_matches() -> None:
    """The old rule took the first path component as the server ('acme'): docker finds no
    credentials under it for a Docker Hub image, so the push and the Swarm pulls went out
    anonymous while the pull secret (keyed by Docker Hub) worked."""
    image = "acme/models/iris:1.0.0-abc"
    assert credentials_for("acme", image) is None
    assert credentials_for(DOCKER_HUB_SERVER, image) is not None


# --- the stacks declare one registry decision everywhere ------------------------------------


def pushed(registry: str) -> dict[str, Any]:
    return {"mlstack:image": {"registry": registry, "push": True, "registryUsername": "ci"}}


def model_images(recording: Recording) -> list[RecordedResource]:
    return [
        r
        for r in recording.of_type(IMAGE_TYPE)
        if recording.by_urn(r.parent or "").type == "mlstack:image:ModelImage"
    ]


@pytest.mark.parametrize("registry", ["acme/models", "ghcr.io/acme/models"])
def test_push_swarm_auth_and_pull_secret_present_credentials_to_the_same_server(
    registry: str,
) -> None:
    server = Registry.parse(registry).server_address
    secret = {"mlstack:registryPassword": PASSWORD}
    swarm = run_stack("dev", config=pushed(registry), secret_config=secret)
    kubernetes = run_stack("staging", config=pushed(registry), secret_config=secret)
    pushes = [reveal(r.inputs["registry"]) for r in swarm.of_type(IMAGE_TYPE)]
    pushes += [reveal(r.inputs["registry"]) for r in kubernetes.of_type(IMAGE_TYPE)]
    assert {push["server"] for push in pushes} == {server}
    auths = [reveal(s.inputs["auth"]) for s in swarm.of_type(SERVICE_TYPE)]
    assert {auth["serverAddress"] for auth in auths} == {server}
    (pull_secret,) = kubernetes.of_type(PULL_SECRET_TYPE)
    config = json.loads(reveal(pull_secret.inputs["stringData"])[".dockerconfigjson"])
    assert list(config["auths"]) == [server]
    for image in model_images(swarm) + model_images(kubernetes):
        assert credentials_for(server, image.inputs["imageName"]) is not None
    assert PASSWORD not in repr(swarm.resources) + repr(kubernetes.resources)


# --- one engine builds what it runs ------------------------------------------------------------


def test_swarm_images_are_built_by_the_engine_that_runs_the_services() -> None:
    """Unpushed, an image exists only on the engine that built it: the model and proxy images
    must be built by the stack's Swarm provider (swarm.dockerHost), not the default one."""
    remote = {
        "mlstack:swarm": {
            "dockerHost": "ssh://admin@manager-1",
            "endpointMode": "dnsrr",
            "publishMode": "host",
            "proxy": {"enabled": True},
        }
    }
    recording = run_stack("dev", config=remote)
    (provider,) = [r for r in recording.resources if r.type == "pulumi:providers:docker"]
    assert provider.inputs["host"] == "ssh://admin@manager-1"
    engines = {r.provider for r in recording.of_type(IMAGE_TYPE) + recording.of_type(SERVICE_TYPE)}
    assert engines == {f"{provider.urn}::{provider.name}-id"}


# --- settings that cannot work are refused, naming the key ----------------------------------


def test_a_kubernetes_stack_must_push_to_a_registry() -> None:
    error, declared = settings_error("staging", **{"mlstack:image": {}})
    assert "mlstack:image.registry: a Kubernetes stack needs a registry to push its images" in (
        error
    )
    assert declared == ()
    error, _ = settings_error("staging", **{"mlstack:image": {"registry": "ghcr.io/acme"}})
    assert "mlstack:image.push: a Kubernetes stack must push its images to ghcr.io/acme" in error


def test_cache_from_needs_a_registry_and_images_on_it() -> None:
    error, declared = settings_error("dev", **{"mlstack:image": {"cacheFrom": ["acme/iris:c"]}})
    assert "Pulumi.dev.yaml: mlstack:image.cacheFrom: cache images come from a registry" in error
    assert declared == ()
    error, _ = settings_error(
        "staging",
        **{
            "mlstack:image": {
                "registry": "ghcr.io/acme/models",
                "push": True,
                "cacheFrom": ["ghcr.io/acme/models/iris:cache", "acme/models/iris:cache"],
            }
        },
    )
    assert (
        "mlstack:image.cacheFrom[1]: an image on docker.io; the provider would pull it with "
        in (error)
    )
    assert "cacheFrom[0]" not in error


def test_cache_from_on_the_registry_is_pulled_with_its_login_even_without_push() -> None:
    recording = run_stack(
        "dev",
        config={
            "mlstack:image": {
                "registry": "ghcr.io/acme/models",
                "cacheFrom": ["ghcr.io/acme/models/iris:cache"],
            }
        },
    )
    (image,) = model_images(recording)
    assert image.inputs["skipPush"] is True
    assert image.inputs["imageName"].startswith("localhost/mlstack/iris:")
    assert image.inputs["registry"]["server"] == "ghcr.io"
    assert image.inputs["build"]["cacheFrom"] == {"images": ["ghcr.io/acme/models/iris:cache"]}
