"""Pushing to a registry that demands a login, and pulling from it, with what the stacks declare.

The dev (Swarm) and staging (Kubernetes) stacks are recorded with `image.push`, a registry on a real
local registry (tests/support/registry.py), `image.registryUsername` and the password as a Pulumi
secret. Then, on the real engine: the model image is built from the recorded inputs and pushed with
the recorded registry credentials (a wrong password is refused, so the login is really checked); it
is removed locally and pulled back by digest (`repo@sha256:...`, the reference ModelImage outputs
when it pushes) with the credentials of the Kubernetes pull secret; and a Swarm service created from
the recorded spec, with the recorded service auth, has its node pull that digest and run it. What
the pulumi-docker provider does itself (push during `pulumi up`, report repoDigest) cannot run here
(no Pulumi engine); everything it is handed is exercised."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker
import pytest

from mlstack.offline import RecordedResource, Recording, reveal
from tests.support.harness import run_stack
from tests.support.images import IMAGE_TYPE, build_image
from tests.support.registry import Registry, start_registry
from tests.support.swarm_engine import SwarmDeployment, converged, wait_for
from tests.support.swarm_spec import plan

pytestmark = pytest.mark.engine

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PULL_SECRET_TYPE = "kubernetes:core/v1:Secret"
MODEL_SERVICE = "dev-iris"
RUN_ID = uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Pushed:
    recording: Recording  # the dev stack
    image: RecordedResource
    repository: str
    digest: str
    image_id: str

    @property
    def by_digest(self) -> str:
        return f"{self.repository}@{self.digest}"

    def forget(self, client: docker.DockerClient) -> None:
        """Drop this registry's references (tag and digest) so the engine must pull again; by
        reference, never by ID: an identical build of another test may share the image."""
        for reference in (self.image.inputs["imageName"], self.by_digest):
            with suppress(docker.errors.ImageNotFound):
                client.images.remove(reference)


def registry_config(registry: Registry, base_image: str) -> dict[str, Any]:
    return {
        "mlstack:image": {
            "registry": f"{registry.address}/mlstack-test-{RUN_ID}",
            "push": True,
            "registryUsername": registry.username,
            "baseImage": base_image,
            "caBundle": SYSTEM_CA_BUNDLE,
        }
    }


def model_image(recording: Recording) -> RecordedResource:
    (found,) = [
        r
        for r in recording.of_type(IMAGE_TYPE)
        if recording.by_urn(r.parent or "").type == "mlstack:image:ModelImage"
    ]
    return found


def push(client: docker.DockerClient, name: str, credentials: dict[str, str]) -> str:
    """Push `name` with `credentials`; the pushed manifest's digest, or the registry's error."""
    repository, tag = name.rsplit(":", 1)
    auth = {
        "username": credentials["username"],
        "password": credentials["password"],
        "serveraddress": credentials["server"],
    }
    digest = ""
    for event in client.api.push(repository, tag, auth_config=auth, stream=True, decode=True):
        if "error" in event:
            raise docker.errors.APIError(event["error"])
        digest = (event.get("aux") or {}).get("Digest", digest)
    assert digest.startswith("sha256:"), f"push of {name} reported no digest"
    return digest


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with start_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="module")
def pushed(
    docker_engine: docker.DockerClient, python_base_image: str, registry: Registry
) -> Iterator[Pushed]:
    recording = run_stack(
        "dev",
        config=registry_config(registry, python_base_image),
        secret_config={"mlstack:registryPassword": registry.password},
    )
    image = model_image(recording)
    name = image.inputs["imageName"]
    built = build_image(image, docker_engine)
    result = Pushed(recording, image, name.rsplit(":", 1)[0], "", built.image_id)
    try:
        digest = push(docker_engine, name, reveal(image.inputs["registry"]))
        result = replace(result, digest=digest)
        yield result
    finally:
        result.forget(docker_engine)


def test_the_declared_registry_login_is_what_the_registry_accepts(
    registry: Registry, pushed: Pushed
) -> None:
    credentials = reveal(pushed.image.inputs["registry"])
    assert pushed.image.inputs["imageName"].startswith(f"{credentials['server']}/")
    assert credentials["username"] == registry.username
    assert registry.answers() == 401  # the registry demands a login ...
    assert registry.answers(credentials["username"], credentials["password"]) == 200
    assert registry.answers(credentials["username"], "wrong") == 401  # ... and checks it


def test_a_wrong_password_cannot_push(docker_engine: docker.DockerClient, pushed: Pushed) -> None:
    credentials = {**reveal(pushed.image.inputs["registry"]), "password": "wrong"}
    with pytest.raises(docker.errors.APIError, match=r"(?i)unauthorized|authentication required"):
        push(docker_engine, pushed.image.inputs["imageName"], credentials)


def test_the_kubernetes_pull_secret_pulls_the_pushed_image_by_digest(
    docker_engine: docker.DockerClient,
    python_base_image: str,
    registry: Registry,
    pushed: Pushed,
) -> None:
    staging = run_stack(
        "staging",
        config=registry_config(registry, python_base_image),
        secret_config={"mlstack:registryPassword": registry.password},
    )
    (secret,) = [
        r
        for r in staging.of_type(PULL_SECRET_TYPE)
        if r.inputs.get("type") == "kubernetes.io/dockerconfigjson"
    ]
    config = json.loads(reveal(secret.inputs["stringData"])[".dockerconfigjson"])
    host = pushed.repository.split("/", 1)[0]
    assert set(config["auths"]) == {host}  # keyed as the kubelet looks it up: the image's host
    entry = config["auths"][host]
    username, password = base64.b64decode(entry["auth"]).decode().split(":", 1)

    pushed.forget(docker_engine)  # the pull must ask the registry
    with pytest.raises(docker.errors.APIError, match=r"(?i)no basic auth|unauthorized"):
        docker_engine.images.pull(pushed.by_digest)  # anonymous: refused
    pulled = docker_engine.images.pull(
        pushed.by_digest, auth_config={"username": username, "password": password}
    )
    assert pulled.id == pushed.image_id  # the very image that was built, content-addressed


def test_a_swarm_service_pulls_the_digest_with_the_declared_auth(
    docker_engine: docker.DockerClient, pushed: Pushed, tmp_path: Path
) -> None:
    swarm_plan = plan(pushed.recording)
    model = swarm_plan.service(MODEL_SERVICE).with_image(pushed.by_digest)
    assert model.registry_auth is not None, "the service declares no registry auth"
    pushed.forget(docker_engine)  # the node must pull it

    # A client of its own: login() keeps the credentials in the client, and create_service
    # forwards them to the node as X-Registry-Auth, as the provider does with `auth`.
    client = docker.from_env(timeout=120)
    auth = model.registry_auth
    client.login(auth["username"], auth["password"], registry=auth["serveraddress"])
    only_the_model = replace(swarm_plan, services=(model,), secrets=())
    deployment = SwarmDeployment(client, only_the_model, host_ports=())
    deployment.acquire()
    try:
        deployment.create()
        replicas = model.mode["Replicated"]["Replicas"]
        wait_for(
            f"{MODEL_SERVICE} to run {replicas} healthy tasks of {pushed.by_digest}",
            lambda: converged(deployment, MODEL_SERVICE, replicas, pushed.by_digest),
            240,
        )
        (container, *_) = deployment.containers(MODEL_SERVICE)
        assert container.image.id == pushed.image_id
    finally:
        problems = deployment.teardown()
        client.close()
        assert not problems, problems


def test_the_registry_query_pins_the_tag_to_the_pushed_digest_and_platform(
    docker_engine: docker.DockerClient, pushed: Pushed
) -> None:
    """What the provider's create does before it sends a service (QueryRegistry): the registry is
    asked for the image's digest and platforms with the service's credentials, and both are
    pinned in the spec (tests/support/swarm_engine.py SwarmDeployment.registry_query)."""
    swarm_plan = plan(pushed.recording)
    tag = pushed.image.inputs["imageName"]
    tagged = swarm_plan.service(MODEL_SERVICE).with_image(tag)
    assert tagged.registry_auth is not None
    deployment = SwarmDeployment(docker_engine, swarm_plan, host_ports=())
    resolved = deployment.registry_query(tagged)
    assert resolved.image == f"{tag}@{pushed.digest}"
    assert resolved.task_template["Placement"]["Platforms"] == [
        {"Architecture": "amd64", "OS": "linux"}
    ]
    # Without the credentials the registry refuses the lookup, and the spec stays as it was,
    # as the docker client leaves it (a warning, no pin).
    anonymous = replace(tagged, registry_auth=None)
    assert deployment.registry_query(anonymous).image == tag
