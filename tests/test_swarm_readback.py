"""A second `pulumi up` changes nothing: what a stack sends is what the provider reads back.

The recorded network, secrets and services of a stack are created on the real engine exactly as the
provider would create them (tests.support.swarm_spec sends what terraform-provider-docker's
expanders send), read back through the Engine API, and turned into provider state by the provider's
own Read functions, ported in tests/support/provider_read.py. Every field the stack sets must equal
its read-back value, and every field read back that the stack leaves out must be one the provider
computes or defaults to that value (tests/support/readback_diff.py): otherwise the next `pulumi up`
would show a change, or for a replace-only field a replacement, every time.

Variants: the dev stack (proxy in host mode, dnsrr models, a secret) and dev with an encrypted
network and no proxy (the model publishing its own port through ingress). The objects are not
expected to run (their images need not exist); only their specs are read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import pytest

from mlstack.offline import Recording, reveal
from tests.support.provider_read import (
    NETWORK_READ_DELAY_SECONDS,
    NotReadyError,
    read_network,
    read_secret,
    read_service,
)
from tests.support.readback_diff import differences
from tests.support.stack_variants import recorded
from tests.support.swarm_engine import SwarmDeployment
from tests.support.swarm_spec import NETWORK_TYPE, SECRET_TYPE, SERVICE_TYPE, plan

pytestmark = pytest.mark.engine

HOST_PORT = 8080  # both variants publish the iris model's port 8080
READ_TIMEOUT_SECONDS = 30  # resourceDockerServiceRead: StateChangeConf Timeout 30 s


@dataclass
class ReadBack:
    recording: Recording
    deployment: SwarmDeployment
    state: dict[str, tuple[str, dict[str, Any]]]  # resource name -> (kind, provider state)

    def sent(self, resource_name: str) -> dict[str, Any]:
        """The resource's recorded inputs as the provider gets them: secrets revealed, and the
        recorded IDs of networks and secrets replaced by the engine's."""
        ids = self.deployment.engine_ids()

        def resolve(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            if isinstance(value, list):
                return [resolve(v) for v in value]
            return ids.get(value, value) if isinstance(value, str) else value

        (resource,) = [r for r in self.recording.resources if r.name == resource_name]
        resolved: dict[str, Any] = resolve(reveal(resource.inputs))
        return resolved


def _read_service(api: docker.APIClient, service_id: str) -> dict[str, Any]:
    """Poll as the provider's Read does until the engine exposes the endpoint."""
    deadline = time.monotonic() + READ_TIMEOUT_SECONDS
    while True:
        try:
            return read_service(api.inspect_service(service_id), api.api_version)
        except NotReadyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.fixture(scope="module", params=["dev", "dev-no-proxy-encrypted"])
def read_back(
    request: pytest.FixtureRequest, docker_engine: docker.DockerClient
) -> Iterator[ReadBack]:
    recording = recorded(request.param)
    swarm_plan = plan(recording)
    deployment = SwarmDeployment(docker_engine, swarm_plan, host_ports=(HOST_PORT,))
    deployment.acquire()
    try:
        deployment.create()
        time.sleep(NETWORK_READ_DELAY_SECONDS)  # the provider's Read waits as long
        api = deployment.api
        state: dict[str, tuple[str, dict[str, Any]]] = {}
        for network in swarm_plan.networks:
            inspect = api.inspect_network(deployment.created_networks[network.resource])
            state[network.resource] = ("network", read_network(inspect))
        for secret in swarm_plan.secrets:
            inspect = api.inspect_secret(deployment.created_secrets[secret.resource])
            state[secret.resource] = ("secret", read_secret(inspect))
        for service in swarm_plan.services:
            service_id = deployment.created_services[service.name]
            state[service.resource] = ("service", _read_service(api, service_id))
        yield ReadBack(recording, deployment, state)
    finally:
        problems = deployment.teardown()
        assert not problems, problems


def test_every_swarm_object_is_read_back(read_back: ReadBack) -> None:
    declared = {
        r.name
        for r in read_back.recording.resources
        if r.type in (NETWORK_TYPE, SECRET_TYPE, SERVICE_TYPE)
    }
    assert declared == set(read_back.state)


def test_what_the_stack_sends_is_what_the_provider_reads_back(read_back: ReadBack) -> None:
    found = {}
    for resource_name, (kind, state) in sorted(read_back.state.items()):
        problems = differences(kind, read_back.sent(resource_name), state)
        if problems:
            found[resource_name] = problems
    report = "\n".join(f"{name}:\n  " + "\n  ".join(items) for name, items in found.items())
    print(
        f"\n[swarm read-back] {read_back.recording.stack}: {len(found)} resources differ\n{report}"
    )
    assert not found, report
