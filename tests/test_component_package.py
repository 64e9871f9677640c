"""components/ as a Pulumi component package (issue 16, item 1): the provider the engine starts
from PulumiPlugin.yaml answers GetSchema with a valid Pulumi package schema (valid as
tests/support/package_schema.py checks it), and a Construct of MLServingStack registers the
serving stack's resources with the engine's monitor.

No Pulumi CLI here: tests/support/package_host.py plays the engine (see there)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf.json_format import MessageToDict

from tests.support.harness import PROJECT_DIR
from tests.support.package_host import (
    PLUGIN_DIR,
    RecordingMonitor,
    construct,
    get_schema,
    hosted_package,
    provider_host,
    recording_monitor,
)
from tests.support.package_schema import package_schema_problems

SERVING_STACK = "mlstack:index:MLServingStack"


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[RecordingMonitor, str, Any]]:
    with hosted_package("consumer", "dev") as engine:
        yield engine


@pytest.fixture(scope="module")
def schema(engine: tuple[RecordingMonitor, str, Any]) -> dict[str, Any]:
    return get_schema(engine[2])


def test_the_plugin_folder_is_a_python_component_package() -> None:
    assert yaml.safe_load((PLUGIN_DIR / "PulumiPlugin.yaml").read_text()) == {"runtime": "python"}
    assert (PLUGIN_DIR / "__main__.py").is_file()
    # The plugin's virtualenv (components/venv) gets mlstack from the checkout it belongs to.
    assert (PLUGIN_DIR / "requirements.txt").read_text().splitlines()[-1] == ".."


def test_the_plugins_requirements_make_an_environment_it_runs_in(
    project: Path, tmp_path: Path
) -> None:
    """What the Pulumi CLI does for the package (pip install -r requirements.txt in the plugin
    folder, then the plugin started from that environment), offline: no dependencies, no build
    isolation, the install into a site of its own put first on the path."""
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site),
            "-r", "requirements.txt",
        ],
        cwd=project / "components", check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert (site / "mlstack" / "components" / "__main__.py").is_file()
    with (
        recording_monitor("consumer", "dev") as (_, address),
        provider_host(address, project / "components", {"PYTHONPATH": str(site)}) as provider,
    ):
        schema = get_schema(provider)
    assert list(schema["resources"]) == [SERVING_STACK]


def test_the_schema_is_a_valid_pulumi_package(schema: dict[str, Any]) -> None:
    assert package_schema_problems(schema) == []
    assert schema["name"] == "mlstack"
    assert schema["version"] == version("mlstack")
    # The providers a program may pass in, at the versions mlstack pins.
    assert sorted((d["name"], d["version"]) for d in schema["dependencies"]) == [
        ("docker", version("pulumi-docker")),
        ("kubernetes", version("pulumi-kubernetes")),
    ]


def test_the_serving_stack_takes_the_stack_file_keys_and_gives_its_outputs(
    schema: dict[str, Any],
) -> None:
    stack = schema["resources"][SERVING_STACK]
    assert stack["isComponent"] is True
    assert sorted(stack["requiredInputs"]) == ["models", "orchestrator", "size"]
    assert set(stack["inputProperties"]) == {
        "orchestrator", "size", "models", "overrides", "image", "kubernetes", "swarm",
        "secrets", "registryPassword", "environment", "projectDir", "kubeconfig",
        "kubernetesProvider", "dockerProvider",
    }  # fmt: skip
    assert stack["inputProperties"]["kubernetesProvider"]["$ref"] == (
        f"/kubernetes/v{version('pulumi-kubernetes')}/schema.json"
        "#/resources/pulumi:providers:kubernetes"
    )
    assert sorted(stack["properties"]) == ["endpoints", "imageRefs", "serviceNames"]
    model = schema["types"]["mlstack:index:ModelArgs"]
    assert sorted(model["required"]) == ["framework", "name", "version"]
    assert {"artifact", "image", "healthPath", "readyPath", "port"} <= set(model["properties"])


@pytest.fixture
def program_dir(tmp_path: Path) -> Path:
    """A consumer program's directory: the artifact it names, and where build contexts go."""
    shutil.copy(PROJECT_DIR / "examples/iris/iris.joblib", tmp_path / "iris.joblib")
    return tmp_path


def test_construct_registers_the_serving_stack_with_the_engines_monitor(
    engine: tuple[RecordingMonitor, str, Any], program_dir: Path
) -> None:
    monitor, address, provider = engine
    response = construct(
        provider, monitor, address,
        type_token=SERVING_STACK,
        name="serving",
        inputs={
            "orchestrator": "swarm",
            "size": "small",
            "models": [
                {"name": "iris", "framework": "sklearn", "artifact": "iris.joblib",
                 "version": "1.0.0", "publishedPort": 9090},
            ],
            "swarm": {"proxy": {"enabled": False}},
            "projectDir": str(program_dir),
        },
    )  # fmt: skip
    [stack] = monitor.of_type(SERVING_STACK)
    assert stack.parent == monitor.stack_urn
    assert response.urn == stack.urn

    def child(type_token: str) -> Any:
        [found] = [r for r in monitor.registered if r.type == type_token]
        return found

    platform = child("mlstack:swarm:Platform")
    service_component = child("mlstack:swarm:ModelService")
    assert platform.parent == stack.urn
    assert service_component.parent == stack.urn
    docker_provider = child("pulumi:providers:docker")
    assert docker_provider.parent == platform.urn
    assert docker_provider.inputs["host"] == "unix:///var/run/docker.sock"

    service = child("docker:index/service:Service")
    assert service.parent == service_component.urn
    assert service.provider.startswith(docker_provider.urn)
    assert service.inputs["name"] == "dev-iris"
    assert service.inputs["endpointSpec"]["ports"][0]["publishedPort"] == 9090
    image = child("docker:index/image:Image")
    # Absolute: the docker provider runs in the program's folder, this provider in its own.
    context = Path(image.inputs["build"]["context"])
    assert context == program_dir.resolve() / ".mlstack/build/dev/iris"
    assert (context / "Dockerfile").is_file()

    state = MessageToDict(response.state)
    assert state["endpoints"] == {"iris": "http://localhost:9090"}
    assert state["serviceNames"] == {"iris": "dev-iris"}


def test_construct_refuses_bad_args_naming_the_key(
    engine: tuple[RecordingMonitor, str, Any], program_dir: Path
) -> None:
    monitor, address, provider = engine
    with pytest.raises(grpc.RpcError) as caught:
        construct(
            provider, monitor, address,
            type_token=SERVING_STACK,
            name="bad",
            inputs={
                "orchestrator": "swarm", "size": "huge", "projectDir": str(program_dir),
                "models": [{"name": "iris", "framework": "sklearn", "artifact": "iris.joblib",
                            "version": "1.0.0"}],
            },
        )  # fmt: skip
    details = caught.value.details() or ""
    assert "mlstack:index:MLServingStack bad: mlstack: 1 invalid setting" in details
    assert (
        "\nMLServingStackArgs: mlstack:size: unknown size preset (got huge); "
        "allowed: gpu, large, medium, small"
    ) in details


def test_construct_declares_with_the_programs_kubernetes_provider(
    engine: tuple[RecordingMonitor, str, Any], program_dir: Path
) -> None:
    """A provider the program passes (kubernetesProvider) reaches the provider process as a
    resource reference, and every object of the stack is declared with it."""
    monitor, address, provider = engine
    cluster = f"urn:pulumi:{monitor.stack}::{monitor.project}::pulumi:providers:kubernetes::cluster"
    reference = {
        "4dabf18193072939515e22adb298388d": "5cf8f73096256a8f31e491e813e4eb8e",  # a resource ref
        "urn": cluster,
        "id": "cluster-id",
        "packageVersion": version("pulumi-kubernetes"),
    }
    monitor.existing[cluster] = ("cluster-id", {"kubeconfig": "~/.kube/team", "version": "4.32.0"})
    before = len(monitor.registered)
    response = construct(
        provider, monitor, address,
        type_token=SERVING_STACK,
        name="k8s",
        inputs={
            "orchestrator": "kubernetes",
            "size": "small",
            "models": [
                {"name": "iris", "framework": "sklearn", "version": "1.0.0",
                 "image": "ghcr.io/acme/iris@sha256:" + "a" * 64},
            ],
            "kubernetes": {"namespace": "team-ml"},
            "kubernetesProvider": reference,
            "projectDir": str(program_dir),
        },
    )  # fmt: skip
    registered = monitor.registered[before:]
    assert [r.type for r in registered if r.type.startswith("pulumi:providers:")] == []
    objects = [r for r in registered if r.type.startswith("kubernetes:")]
    assert {"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"} <= {
        r.type for r in objects
    }
    assert {r.provider for r in objects} == {f"{cluster}::cluster-id"}
    state = MessageToDict(response.state)
    assert state["endpoints"] == {"iris": "http://iris.team-ml.svc.cluster.local"}
