"""A changed overlay network, replaced on the real engine in the order `pulumi up` takes.

Every argument of a Docker network forces its replacement (components/replacements.py), and the
services attach by the network's ID, which is replace-only too. Under a fixed name neither order
works: created first, the replacement's name is taken; deleted first, Docker refuses to remove a
network services still use (and the engine's dependent-replacement pass does not reliably move
them off first: the services' whole `taskSpec` is what depends on the network). mlstack names the
network after a hash of its settings and declares `delete_before_replace=False`
(components/swarm/specs/network.py), so the engine's steps are: create the new network beside
the old one, replace each service (delete first: their names are fixed) onto the new network,
and delete the old network last. This test replays those steps, with the engine's refusal of
the other order as the control. The services' images need not exist: only their specs matter.
"""

from __future__ import annotations

import contextlib
from typing import Any

import docker
import pytest
import yaml

from tests.support.harness import PROJECT_DIR, run_stack
from tests.support.stack_variants import SECRETS, recorded
from tests.support.swarm_engine import SwarmDeployment, wait_for
from tests.support.swarm_spec import SwarmPlan, engine_ids, plan

pytestmark = pytest.mark.engine

HOST_PORT = 8080  # the dev proxy's published port


def _dev_with_network(network: dict[str, Any]) -> SwarmPlan:
    dev = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())["config"]
    swarm = {
        **dev["mlstack:swarm"],
        "network": {**dev["mlstack:swarm"].get("network", {}), **network},
    }
    return plan(run_stack("dev", config={"mlstack:swarm": swarm}, secret_config=SECRETS))


def _services_on(api: docker.APIClient, network_id: str) -> list[str]:
    return [
        service["Spec"]["Name"]
        for service in api.services()
        if any(
            n.get("Target") == network_id
            for n in service["Spec"].get("TaskTemplate", {}).get("Networks", [])
        )
    ]


def test_a_changed_network_is_created_beside_the_old_one_and_deleted_after_its_services_move(
    docker_engine: docker.DockerClient,
) -> None:
    before = plan(recorded("dev"))
    after = _dev_with_network({"vxlanId": 4242})  # any network setting: a new settings hash
    (old_network,), (new_network,) = before.networks, after.networks
    assert old_network.resource == new_network.resource  # the same Pulumi resource, replaced
    assert old_network.name != new_network.name
    deployment = SwarmDeployment(docker_engine, before, host_ports=(HOST_PORT,))
    deployment.acquire()
    api = deployment.api
    new_network_id = ""
    moved: list[str] = []
    try:
        deployment.create()
        old_network_id = deployment.created_networks[old_network.resource]
        # The control: deleting the network first, as a fixed name would need, is refused.
        with pytest.raises(docker.errors.APIError, match="in use"):
            api.remove_network(old_network_id)

        # 1. The replacement is created while the old network still exists.
        new_network_id = api.create_network(**new_network.create_kwargs())["Id"]
        created = api.inspect_network(new_network_id)
        assert created["Name"] == new_network.name
        assert created["Options"] == new_network.create_kwargs()["options"]

        # 2. Each service is replaced onto it: deleted first (fixed name), then created.
        ids = engine_ids(
            after,
            {new_network.resource: new_network_id, **deployment.created_secrets},
        )
        for service in after.services:
            api.remove_service(deployment.created_services.pop(service.name))
            spec = service.resolve(ids)
            moved.append(api.create_service(**spec.create_kwargs())["ID"])
        assert sorted(_services_on(api, new_network_id)) == sorted(s.name for s in after.services)
        assert _services_on(api, old_network_id) == []

        # 3. Nothing uses the old network any more: the engine deletes it last.
        wait_for(
            "the old network to go once no service uses it",
            lambda: _removed(api, old_network_id),
            60,
        )
        deployment.created_networks.pop(old_network.resource)
    finally:
        for service_id in moved:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_service(service_id)
        if new_network_id:
            # the new network goes with the deployment's teardown, after its services
            deployment.created_networks["replacement"] = new_network_id
        problems = deployment.teardown()
        assert not problems, problems


def _removed(api: docker.APIClient, network_id: str) -> bool:
    try:
        api.remove_network(network_id)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return False  # a task's attachment may take a moment to be released
    return True
