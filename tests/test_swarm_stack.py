"""The Swarm side of whole stacks, recorded offline: what `pulumi up` would declare."""

from __future__ import annotations

import re
import warnings
from typing import Any

from mlstack.offline import Recording, Secret, reveal
from tests.support.harness import recorded_in, run_stack

SERVICE = "docker:index/service:Service"
NETWORK = "docker:index/network:Network"
SECRET = "docker:index/secret:Secret"
IMAGE = "docker:index/image:Image"
DEV_MODEL = {
    "name": "iris",
    "framework": "sklearn",
    "artifact": "examples/iris/iris.joblib",
    "version": "1.0.0",
    "publishedPort": 8080,
}


def services(recording: Recording) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: r.inputs for r in recording.of_type(SERVICE)}


def test_dev_declares_the_network_the_model_service_and_the_proxy() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # e.g. networks_advanced `name`
        recording = run_stack("dev")
    (network,) = recording.of_type(NETWORK)
    assert re.fullmatch(r"mlstack-dev-[0-9a-f]{8}", network.inputs["name"])  # a settings hash
    assert (network.inputs["driver"], network.inputs["attachable"]) == ("overlay", True)
    declared = services(recording)
    assert set(declared) == {"dev-iris", "dev-proxy"}
    for inputs in declared.values():
        assert inputs["taskSpec"]["networksAdvanceds"] == [{"id": f"{network.name}-id"}]
    assert declared["dev-iris"]["endpointSpec"] == {"mode": "dnsrr"}
    assert declared["dev-proxy"]["endpointSpec"]["ports"] == [
        {
            "name": "iris",
            "protocol": "tcp",
            "targetPort": 8080,
            "publishedPort": 8080,
            "publishMode": "host",
        }
    ]
    assert recording.outputs["endpoints"] == {"iris": "http://localhost:8080"}
    types = {r.name: r.type for r in recording.resources}
    assert types["mlstack-proxy"] == "mlstack:swarm:Proxy"
    assert types["mlstack-swarm"] == "mlstack:swarm:Platform"


def test_the_proxy_image_is_declared_and_built_from_the_base_image() -> None:
    recording = run_stack("dev", config={"mlstack:image": {"baseImage": "base/python:3.11"}})
    (image,) = [r for r in recording.of_type(IMAGE) if r.name == "mlstack-proxy-image"]
    build = image.inputs["build"]
    assert build["context"] == ".mlstack/build/dev/proxy"
    assert build["dockerfile"] == ".mlstack/build/dev/proxy/Dockerfile"
    context = recorded_in(image) / build["context"]
    assert sorted(p.name for p in context.iterdir()) == [
        "Dockerfile",
        "healthcheck.py",
        "nginx.conf",
    ]
    assert build["args"] == {"BASE_IMAGE": "base/python:3.11"}
    assert image.inputs["imageName"].startswith("localhost/mlstack/proxy:nginx-")
    assert image.inputs["skipPush"] is True
    proxy = services(recording)["dev-proxy"]
    assert proxy["taskSpec"]["containerSpec"]["image"] == image.inputs["imageName"]


def test_secrets_are_swarm_secrets_named_by_content_and_mounted_as_files() -> None:
    token = "tok-0123456789abcdef"
    recording = run_stack("dev", secret_config={"mlstack:secrets": {"iris": {"api-token": token}}})
    (secret,) = recording.of_type(SECRET)
    assert isinstance(secret.inputs["data"], Secret)
    assert token not in repr(recording.resources)
    name = secret.inputs["name"]
    assert isinstance(name, str)
    assert name.startswith("dev-iris-api-token-")
    container = services(recording)["dev-iris"]["taskSpec"]["containerSpec"]
    assert container["secrets"] == [
        {
            "secretId": f"{secret.name}-id",
            "secretName": name,
            "fileName": "api-token",
            "fileUid": "10001",
            "fileGid": "10001",
            "fileMode": 0o400,
        }
    ]
    assert token not in str(container["env"])
    other = run_stack("dev", secret_config={"mlstack:secrets": {"iris": {"api-token": "new"}}})
    (changed,) = other.of_type(SECRET)
    assert changed.inputs["name"] != name  # a new immutable secret, rolled out by an update
    # A new model version or size changes nothing about the secret (no replacement).
    bumped = run_stack(
        "dev",
        config={"mlstack:models": [{**DEV_MODEL, "version": "2.0.0"}], "mlstack:size": "medium"},
        secret_config={"mlstack:secrets": {"iris": {"api-token": token}}},
    )
    (same,) = bumped.of_type(SECRET)
    assert same.inputs["name"] == name
    assert same.inputs["labels"] == secret.inputs["labels"]


def test_pushed_swarm_images_are_pulled_with_the_registry_credentials() -> None:
    recording = run_stack(
        "dev",
        config={
            "mlstack:image": {
                "registry": "registry.example.com/ml",
                "push": True,
                "registryUsername": "ci",
            }
        },
        secret_config={"mlstack:registryPassword": "pull-pass"},
    )
    for inputs in services(recording).values():
        assert isinstance(inputs["auth"], Secret)
        assert reveal(inputs["auth"]) == {
            "serverAddress": "registry.example.com",
            "username": "ci",
            "password": "pull-pass",
        }
        assert inputs["taskSpec"]["containerSpec"]["image"].startswith("registry.example.com/ml/")
    assert "pull-pass" not in repr(recording.resources)


def test_two_models_share_one_proxy_on_their_own_ports() -> None:
    models = [
        {
            "name": "iris",
            "framework": "sklearn",
            "artifact": "examples/iris/iris.joblib",
            "version": "1.0.0",
            "publishedPort": 8080,
        },
        {
            "name": "iris-onnx",
            "framework": "onnx",
            "artifact": "examples/iris/iris.onnx",
            "version": "1.0.0",
        },
    ]
    recording = run_stack("dev", config={"mlstack:models": models})
    declared = services(recording)
    assert set(declared) == {"dev-iris", "dev-iris-onnx", "dev-proxy"}
    ports = declared["dev-proxy"]["endpointSpec"]["ports"]
    assert [(p["targetPort"], p["publishedPort"]) for p in ports] == [(8080, 8080), (8081, 8081)]
    assert recording.outputs["endpoints"] == {
        "iris": "http://localhost:8080",
        "iris-onnx": "http://localhost:8081",
    }
