"""tests.support.swarm_spec: recorded pulumi-docker inputs -> Docker Engine API specs."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from mlstack.offline import RecordedResource, Secret
from tests.support.harness import run_stack
from tests.support.swarm_spec import (
    NETWORK_TYPE,
    SECRET_TYPE,
    SERVICE_TYPE,
    TranslationError,
    engine_ids,
    go_duration_nanos,
    plan,
    registry_host,
    translate_network,
    translate_secret,
    translate_service,
)

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
    (network,) = swarm.networks
    assert re.fullmatch(r"mlstack-dev-[0-9a-f]{8}", network.name), network.name
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
        {"Target": "/tmp", "Type": "tmpfs", "TmpfsOptions": {"SizeBytes": 256 * 2**20, "Mode": 0}}
    ]
    # What the provider adds for fields the program leaves out (its schema defaults).
    assert (container["Init"], container["Isolation"], container["DNSConfig"]) == (
        True,
        "default",
        {},
    )
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
    assert model["TaskTemplate"]["RestartPolicy"] == {
        "Condition": "on-failure",
        "Delay": 5 * SECOND,
        "MaxAttempts": 3,
        "Window": 384 * SECOND,
    }
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
    assert moved.engine_spec()["TaskTemplate"]["ContainerSpec"] == {
        **spec.engine_spec()["TaskTemplate"]["ContainerSpec"],
        "Image": "img:2",
    }


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
    # createGenericResources: named ones first, then discrete.
    assert spec.task_template["Resources"]["Reservations"]["GenericResources"] == [
        {"NamedResourceSpec": {"Kind": "GPU", "Value": "uuid-1"}},
        {"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 2}},
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


# --- what the provider sends for what the program leaves out ---------------------------------
# terraform-provider-docker v4.5.0 internal/provider/resource_docker_service_structures.go
# (createServiceSpec and its create* expanders) with the schema defaults of
# resource_docker_service.go.


def test_omitted_nested_fields_are_sent_as_the_provider_sends_them() -> None:
    spec = translate_service(service()).engine_spec()
    assert spec["TaskTemplate"] == {
        "ContainerSpec": {
            "Image": "img:1",
            "StopGracePeriod": 0,  # not the engine's 10 s
            "Healthcheck": {},
            "DNSConfig": {},
            "Isolation": "default",
            "Init": False,  # not the daemon's --init
        },
        "Resources": {},
        "RestartPolicy": {},
        "Placement": {},
    }
    assert spec["Mode"] == {}  # the engine then runs one replica
    assert spec["EndpointSpec"] == {}
    assert "UpdateConfig" not in spec
    assert "RollbackConfig" not in spec


def test_a_given_block_gets_the_schema_defaults_of_its_fields() -> None:
    spec = translate_service(
        service(
            taskSpec={
                "containerSpec": {
                    "image": "x",
                    "healthcheck": {"tests": ["CMD", "true"]},
                    "secrets": [{"secretId": "s-id", "fileName": "token"}],
                    "mounts": [
                        {"target": "/data", "type": "bind", "source": "/srv", "bindOptions": {}}
                    ],
                },
                "restartPolicy": {"condition": "on-failure"},
            },
            mode={"replicated": {}},
            updateConfig={},
            rollbackConfig={"order": "start-first"},
            endpointSpec={"ports": [{"targetPort": 8080.0}]},
        )
    )
    container = spec.task_template["ContainerSpec"]
    assert container["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Interval": 0,
        "Timeout": 0,
        "StartPeriod": 0,
        "Retries": 0,
    }
    assert container["Secrets"] == [
        {"SecretID": "s-id", "File": {"Name": "token", "UID": "0", "GID": "0", "Mode": 0o444}}
    ]
    assert container["Mounts"][0]["BindOptions"] == {"Propagation": "rprivate"}
    assert spec.task_template["RestartPolicy"] == {
        "Condition": "on-failure",
        "Delay": 0,  # not the engine's 5 s
        "MaxAttempts": 0,
        "Window": 0,
    }
    assert spec.mode == {"Replicated": {"Replicas": 1}}
    defaults = {
        "Parallelism": 1,
        "Delay": 0,
        "FailureAction": "pause",
        "Monitor": 5 * SECOND,
        "MaxFailureRatio": 0.0,
        "Order": "stop-first",
    }
    assert spec.update_config == defaults
    assert spec.rollback_config == {**defaults, "Order": "start-first"}
    assert spec.endpoint_spec == {
        "Ports": [{"Protocol": "tcp", "TargetPort": 8080, "PublishMode": "ingress"}]
    }


def test_networks_always_carry_the_default_ipam_driver_and_no_duplicate_check() -> None:
    network = translate_network(resource(NETWORK_TYPE, {"name": "n", "driver": "overlay"}))
    kwargs = network.create_kwargs()
    assert kwargs["ipam"] == {"Driver": "default", "Config": []}
    assert "check_duplicate" not in kwargs
    assert kwargs["attachable"] is None  # only sent when true


# --- registry credentials and the registry query ------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        {"serverAddress": "r.example"},
        {"serverAddress": "r.example", "username": "u"},
        {"serverAddress": "r.example", "password": "p"},
        {"serverAddress": "r.example", "username": "", "password": "p"},
    ],
)
def test_partial_registry_credentials_are_dropped(auth: dict[str, str]) -> None:
    """authToServiceAuth: without both a username and a password the provider sends none."""
    assert translate_service(service(auth=auth)).registry_auth is None


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("r.example:5000/ml/iris:1.0", f"r.example:5000/ml/iris:1.0@{DIGEST}"),
        ("r.example/ml/iris", f"r.example/ml/iris@{DIGEST}"),
        (
            f"r.example/ml/iris@{'sha256:' + 'cd' * 32}",
            f"r.example/ml/iris@{'sha256:' + 'cd' * 32}",
        ),
        ("docker.io/library/nginx:1.27", f"nginx:1.27@{DIGEST}"),
        ("docker.io/acme/app:2", f"acme/app:2@{DIGEST}"),
    ],
)
def test_the_registry_query_pins_the_image_as_the_client_does(image: str, pinned: str) -> None:
    spec = translate_service(service(taskSpec={"containerSpec": {"image": image}}))
    resolved = spec.registry_pinned(
        DIGEST, [{"architecture": "amd64", "os": "linux"}, {"architecture": "arm", "os": "linux"}]
    )
    assert resolved.image == pinned
    assert resolved.task_template["Placement"]["Platforms"] == [
        {"Architecture": "amd64", "OS": "linux"},
        {"Architecture": "", "OS": "linux"},  # the client clears "arm" (swarmkit#2294)
    ]


def test_registry_hosts_are_told_from_docker_hub_names() -> None:
    assert registry_host("r.example:5000/ml/iris:1") == "r.example:5000"
    assert registry_host("localhost/iris") == "localhost"
    assert registry_host("127.0.0.1:5000/iris") == "127.0.0.1:5000"
    assert registry_host("mlstack/iris:1") is None  # Docker Hub
    assert registry_host("nginx") is None


# --- what the provider's validation refuses -----------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"updateConfig": {"maxFailureRatio": "1.5"}}, r"has to be between 0\.0 and 1\.0"),
        ({"updateConfig": {"maxFailureRatio": "half"}}, "is not a float"),
        ({"updateConfig": {"order": "first"}}, "doesn't match"),
        ({"rollbackConfig": {"failureAction": "rollback"}}, "doesn't match"),
        ({"updateConfig": {"delay": "-5s"}}, "not a Go duration"),
        ({"updateConfig": {"parallelism": -1.0}}, "cannot be lower than 0"),
        ({"mode": {"replicated": {"replicas": -2.0}}}, "cannot be lower than 0"),
        ({"endpointSpec": {"mode": "lb"}}, "doesn't match"),
        ({"endpointSpec": {"ports": [{"targetPort": 80.0, "protocol": "icmp"}]}}, "doesn't match"),
        (
            {"endpointSpec": {"ports": [{"targetPort": 80.0, "publishMode": "mesh"}]}},
            "doesn't match",
        ),
        (
            {"taskSpec": {"containerSpec": {"image": "x"}, "restartPolicy": {"condition": "no"}}},
            "doesn't match",
        ),
        (
            {
                "taskSpec": {
                    "containerSpec": {"image": "x", "mounts": [{"target": "/a", "type": "npipe"}]}
                }
            },
            "doesn't match",
        ),
        (
            {
                "taskSpec": {
                    "containerSpec": {
                        "image": "x",
                        "mounts": [
                            {"target": "/a", "type": "bind", "bindOptions": {"propagation": "up"}}
                        ],
                    }
                }
            },
            "doesn't match",
        ),
        (
            {"taskSpec": {"containerSpec": {"image": "x", "isolation": "vm"}}},
            "doesn't match",
        ),
        (
            {
                "taskSpec": {
                    "containerSpec": {
                        "image": "x",
                        "secrets": [{"secretId": "s", "fileName": "f", "fileMode": -1.0}],
                    }
                }
            },
            "cannot be lower than 0",
        ),
    ],
)
def test_values_the_provider_refuses_are_refused(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        translate_service(service(**inputs))


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        # Go's own time_test.go parseDurationTests (a selection).
        ("0", 0),
        ("5s", 5 * SECOND),
        ("+5s", 5 * SECOND),
        ("1478s", 1478 * SECOND),
        ("5.6s", 5 * SECOND + 600_000_000),
        ("5.s", 5 * SECOND),
        (".5s", SECOND // 2),
        ("1.004s", SECOND + 4_000_000),
        ("100.00100s", 100 * SECOND + 1_000_000),
        ("10ns", 10),
        ("11us", 11_000),
        ("12µs", 12_000),
        ("12μs", 12_000),
        ("13ms", 13_000_000),
        ("14s", 14 * SECOND),
        ("15m", 15 * 60 * SECOND),
        ("16h", 16 * 3600 * SECOND),
        ("3h30m", (3 * 3600 + 30 * 60) * SECOND),
        ("10.5s4m", 4 * 60 * SECOND + 10 * SECOND + 500_000_000),
        ("1h1m1s", 3661 * SECOND),
    ],
)
def test_durations_parse_as_go_parses_them(text: str, nanos: int) -> None:
    assert go_duration_nanos(text) == nanos
