"""mlstack.swarm_spec: recorded pulumi-docker inputs -> Docker Engine API specs."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mlstack.offline import RecordedResource, Secret
from mlstack.swarm_spec import (
    NETWORK_TYPE,
    SECRET_TYPE,
    SERVICE_TYPE,
    TranslationError,
    engine_ids,
    go_duration_nanos,
    plan,
    translate_network,
    translate_secret,
    translate_service,
)
from tests.harness import run_stack

SECOND = 10**9


def resource(type_: str, inputs: dict[str, Any], name: str = "r") -> RecordedResource:
    return RecordedResource(type_, name, f"urn:{name}", None, True, None, inputs)


def service(**inputs: Any) -> RecordedResource:
    base: dict[str, Any] = {
        "name": "svc",
        "taskSpec": {"containerSpec": {"image": "img:1"}},
    }
    return resource(SERVICE_TYPE, {**base, **inputs}, name="svc-resource")


@pytest.mark.parametrize(
    ("text", "nanos"),
    [("30s", 30 * SECOND), ("1m30s", 90 * SECOND), ("500ms", SECOND // 2), ("1h", 3600 * SECOND)],
)
def test_go_durations_become_nanoseconds(text: str, nanos: int) -> None:
    assert go_duration_nanos(text) == nanos


@pytest.mark.parametrize("text", ["", "30", "5 s", "1d", "s"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(TranslationError, match="not a Go duration"):
        go_duration_nanos(text, "updateConfig.delay")


def test_the_dev_stack_translates_completely() -> None:
    recorded = run_stack("dev", secret_config={"mlstack:secrets": {"iris": {"token": "abc"}}})
    swarm = plan(recorded)
    assert [n.name for n in swarm.networks] == ["mlstack-dev"]
    assert [s.name for s in swarm.services] == ["dev-iris", "dev-proxy"]
    (secret,) = swarm.secrets
    assert secret.data == b"abc"
    assert "abc" not in repr(secret)
    model = swarm.service("dev-iris").engine_spec()
    container = model["TaskTemplate"]["ContainerSpec"]
    assert container["Healthcheck"] == {
        "Test": ["CMD", "python", "-m", "model_server.healthcheck"],
        "Interval": 5 * SECOND,
        "Timeout": 3 * SECOND,
        "StartPeriod": 300 * SECOND,
        "Retries": 3,
    }
    assert container["Env"] == [
        "GRACEFUL_TIMEOUT=20",
        "MODEL_NAME=iris",
        "MODEL_VERSION=1.0.0",
        "PORT=8080",
    ]
    assert (container["User"], container["ReadOnly"], container["CapabilityDrop"]) == (
        "10001:10001",
        True,
        ["ALL"],
    )
    assert container["Mounts"] == [
        {"Target": "/tmp", "Type": "tmpfs", "TmpfsOptions": {"SizeBytes": 256 * 2**20}}
    ]
    assert container["StopGracePeriod"] == 28 * SECOND
    assert container["Secrets"][0]["File"] == {
        "Name": "token",
        "UID": "10001",
        "GID": "10001",
        "Mode": 0o400,
    }
    assert model["TaskTemplate"]["Resources"] == {
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 512 * 2**20},
        "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 256 * 2**20},
    }
    assert model["Mode"] == {"Replicated": {"Replicas": 2}}
    assert model["UpdateConfig"] == {
        "Parallelism": 1,
        "Delay": 5 * SECOND,
        "FailureAction": "rollback",
        "Monitor": 30 * SECOND,
        "MaxFailureRatio": 0.0,
        "Order": "start-first",
    }
    assert model["EndpointSpec"] == {"Mode": "dnsrr"}
    proxy = swarm.service("dev-proxy").engine_spec()
    assert proxy["Mode"] == {"Global": {}}
    assert proxy["EndpointSpec"]["Ports"] == [
        {
            "Protocol": "tcp",
            "TargetPort": 8080,
            "Name": "iris",
            "PublishedPort": 8080,
            "PublishMode": "host",
        }
    ]


def test_references_resolve_to_the_engines_ids() -> None:
    recorded = run_stack("dev", secret_config={"mlstack:secrets": {"iris": {"token": "abc"}}})
    swarm = plan(recorded)
    model = swarm.service("dev-iris")
    assert model.references() == {"mlstack-swarm-network-id", "mlstack-iris-secret-token-id"}
    ids = engine_ids(
        swarm, {"mlstack-swarm-network": "net123", "mlstack-iris-secret-token": "sec456"}
    )
    resolved = model.resolve(ids)
    assert resolved.task_template["Networks"] == [{"Target": "net123"}]
    assert resolved.task_template["ContainerSpec"]["Secrets"][0]["SecretID"] == "sec456"
    assert model.task_template["Networks"] == [{"Target": "mlstack-swarm-network-id"}]
    with pytest.raises(TranslationError, match="was not created"):
        model.resolve({})


def test_with_image_changes_only_the_image() -> None:
    spec = translate_service(service())
    moved = spec.with_image("img:2")
    assert moved.image == "img:2"
    assert spec.image == "img:1"
    assert moved.engine_spec()["TaskTemplate"]["ContainerSpec"] == {"Image": "img:2"}


def test_an_unknown_input_is_refused_by_name() -> None:
    bad = service(taskSpec={"containerSpec": {"image": "x", "ulimits": [{"nofile": 1}]}})
    with pytest.raises(
        TranslationError, match=r"taskSpec\.containerSpec: no Engine API .* ulimits"
    ):
        translate_service(bad)


def test_fractional_counts_are_refused() -> None:
    with pytest.raises(TranslationError, match=r"mode\.replicated\.replicas: expected a whole"):
        translate_service(service(mode={"replicated": {"replicas": 1.5}}))


def test_gpu_reservations_become_generic_resources() -> None:
    spec = translate_service(
        service(
            taskSpec={
                "containerSpec": {"image": "x"},
                "resources": {
                    "reservation": {
                        "genericResources": {
                            "discreteResourcesSpecs": ["NVIDIA-GPU=2"],
                            "namedResourcesSpecs": ["GPU=uuid-1"],
                        }
                    }
                },
            }
        )
    )
    assert spec.task_template["Resources"]["Reservations"]["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 2}},
        {"NamedResourceSpec": {"Kind": "GPU", "Value": "uuid-1"}},
    ]


def test_placement_preferences_are_spread_descriptors() -> None:
    spec = translate_service(
        service(
            taskSpec={
                "containerSpec": {"image": "x"},
                "placement": {
                    "constraints": ["node.role==worker"],
                    "prefs": ["node.labels.zone"],
                    "maxReplicas": 1.0,
                },
            }
        )
    )
    assert spec.task_template["Placement"] == {
        "Constraints": ["node.role==worker"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
        "MaxReplicas": 1,
    }


def test_provider_only_inputs_stay_out_of_the_spec() -> None:
    spec = translate_service(
        service(
            convergeConfig={"delay": "5s", "timeout": "700s"},
            auth=Secret({"serverAddress": "r.example", "username": "u", "password": "p"}),
        )
    )
    assert "convergeConfig" not in str(spec.engine_spec())
    assert spec.registry_auth == {"serveraddress": "r.example", "username": "u", "password": "p"}
    assert "p'" not in repr(spec)


def test_networks_and_secrets_translate_to_sdk_arguments() -> None:
    network = translate_network(
        resource(
            NETWORK_TYPE,
            {
                "name": "mlstack-dev",
                "driver": "overlay",
                "attachable": True,
                "options": {"encrypted": "true"},
                "labels": [{"label": "a", "value": "b"}],
            },
        )
    )
    assert network.create_kwargs()["options"] == {"encrypted": "true"}
    assert network.create_kwargs()["labels"] == {"a": "b"}
    assert network.create_kwargs()["attachable"] is True
    secret = translate_secret(
        resource(
            SECRET_TYPE,
            {"name": "s-1", "data": Secret(base64.b64encode(b"v").decode()), "labels": []},
        )
    )
    assert secret.create_kwargs() == {"name": "s-1", "data": b"v", "labels": None}
    with pytest.raises(TranslationError, match="not base64"):
        translate_secret(resource(SECRET_TYPE, {"name": "s", "data": "%%%"}))


def test_a_service_referring_to_an_undeclared_network_is_refused() -> None:
    recorded = run_stack("dev")
    broken = [
        r
        for r in recorded.resources
        if r.type != NETWORK_TYPE  # the services still refer to it
    ]
    with pytest.raises(TranslationError, match="does not declare"):
        plan(type(recorded)(recorded.project, recorded.stack, tuple(broken), recorded.outputs))
