"""The components as a Python API for other programs (issue 16, item 3): the caller's providers
or kubeconfig, MLServingStackArgs, the model services' outputs, served models from plain values,
and refusals as ResourceError. Each case is a small program recorded by the offline recorder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlstack.components.errors import ResourceError
from mlstack.offline import ProgramError, Recording, Secret, record
from tests.support.harness import PROJECT_DIR

HEADER = """\
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from mlstack.components import (
    KubernetesModelService, KubernetesModelServiceArgs, MLServingStack, MLServingStackArgs,
    SwarmModelService, SwarmModelServiceArgs, served_model,
)
from mlstack.components.settings import KubernetesSettings, SwarmSettings

HERE = str(Path(__file__).resolve().parent)
IRIS = {"name": "iris", "framework": "sklearn", "artifact": "iris.joblib", "version": "1.0.0"}
"""


def run_program(tmp_path: Path, body: str) -> Recording:
    (tmp_path / "Pulumi.yaml").write_text("name: consumer\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "iris.joblib").write_bytes((PROJECT_DIR / "examples/iris/iris.joblib").read_bytes())
    (tmp_path / "__main__.py").write_text(HEADER + textwrap.dedent(body))
    return record(tmp_path, "dev")


def failure(tmp_path: Path, body: str) -> ProgramError:
    with pytest.raises(ProgramError) as caught:
        run_program(tmp_path, body)
    return caught.value


def providers(recording: Recording, package: str) -> list[str]:
    return [r.urn for r in recording.resources if r.type == f"pulumi:providers:{package}"]


def test_a_kubernetes_stack_declares_everything_with_the_callers_provider(tmp_path: Path) -> None:
    recording = run_program(
        tmp_path,
        """
        cluster = k8s.Provider("cluster", kubeconfig="~/.kube/other", namespace="apps")
        MLServingStack("serving", MLServingStackArgs(
            orchestrator="kubernetes", size="small", models=[IRIS], project_dir=HERE,
            image={"registry": "ghcr.io/acme/models", "push": True},
            kubernetes_provider=cluster,
        ))
        """,
    )
    [cluster] = providers(recording, "kubernetes")
    assert cluster.endswith("::cluster")
    objects = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    assert {r.type for r in objects} >= {
        "kubernetes:core/v1:Namespace",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
    }
    assert {r.provider.split("::cluster-id")[0] for r in objects if r.provider} == {cluster}
    assert all(r.provider for r in objects)


def test_a_kubeconfig_input_configures_the_stacks_own_provider(tmp_path: Path) -> None:
    recording = run_program(
        tmp_path,
        """
        kubeconfig = pulumi.Output.secret("apiVersion: v1\\nkind: Config\\n")
        MLServingStack("serving", MLServingStackArgs(
            orchestrator="kubernetes", size="small", models=[IRIS], project_dir=HERE,
            image={"registry": "ghcr.io/acme/models", "push": True}, kubeconfig=kubeconfig,
        ))
        """,
    )
    [own] = [r for r in recording.resources if r.type == "pulumi:providers:kubernetes"]
    assert own.name == "serving-kubernetes-provider"
    assert own.inputs["kubeconfig"] == Secret("apiVersion: v1\nkind: Config\n")


def test_provider_and_kubeconfig_together_are_refused(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        """
        MLServingStack("serving", MLServingStackArgs(
            orchestrator="kubernetes", size="small", models=[IRIS], project_dir=HERE,
            image={"registry": "ghcr.io/acme/models", "push": True},
            kubernetes_provider=k8s.Provider("cluster"), kubeconfig="~/.kube/config",
        ))
        """,
    ).error
    assert isinstance(error, ResourceError)
    assert str(error).startswith("mlstack:kubernetes:Platform serving-kubernetes: give either")


def test_a_swarm_stack_builds_and_serves_with_the_callers_docker_provider(tmp_path: Path) -> None:
    recording = run_program(
        tmp_path,
        """
        engine = docker.Provider("engine", host="ssh://ops@swarm-manager")
        serving = MLServingStack("serving", MLServingStackArgs(
            orchestrator="swarm", size="small", models=[IRIS], project_dir=HERE,
            swarm={"proxy": {"enabled": False}}, docker_provider=engine,
        ))
        pulumi.export("serviceNames", serving.service_names)
        pulumi.export("endpoints", serving.endpoints)
        """,
    )
    [engine] = providers(recording, "docker")
    objects = [r for r in recording.resources if r.type.startswith("docker:")]
    assert {r.type for r in objects} >= {
        "docker:index/image:Image", "docker:index/network:Network", "docker:index/service:Service",
    }  # fmt: skip
    assert {r.provider.split("::engine-id")[0] for r in objects} == {engine}
    assert recording.outputs["serviceNames"] == {"iris": "dev-iris"}
    assert recording.outputs["endpoints"] == {"iris": "http://localhost:8080"}


def test_model_services_composed_by_hand_expose_service_name_namespace_and_endpoint(
    tmp_path: Path,
) -> None:
    recording = run_program(
        tmp_path,
        """
        import dataclasses
        model = served_model("iris", "sklearn", "1.0.0", artifact="iris.joblib", size="medium",
                             project_dir=HERE)
        namespace = k8s.core.v1.Namespace("team", metadata={"name": "team-ml"})
        on_kubernetes = KubernetesModelService("iris", KubernetesModelServiceArgs(
            model=model, image="ghcr.io/acme/iris@sha256:" + "a" * 64,
            namespace=namespace.metadata.name, environment="dev", settings=KubernetesSettings(),
        ))
        on_swarm = SwarmModelService("iris-swarm", SwarmModelServiceArgs(
            model=dataclasses.replace(model, healthcheck=("wget", "-qO-", "localhost:8080/ready")),
            image="ghcr.io/acme/iris@sha256:" + "a" * 64,
            network_id="net-1", environment="dev", settings=SwarmSettings(),
        ))
        pulumi.export("k8s", {
            "service": on_kubernetes.service.metadata.name,
            "serviceName": on_kubernetes.service_name,
            "namespace": on_kubernetes.namespace,
            "endpoint": on_kubernetes.endpoint,
        })
        pulumi.export("swarm", {
            "service": on_swarm.service.name,
            "serviceName": on_swarm.service_name,
            "endpoint": on_swarm.endpoint,
        })
        """,
    )
    assert recording.outputs["k8s"] == {
        "service": "iris",
        "serviceName": "iris",
        "namespace": "team-ml",
        "endpoint": "http://iris.team-ml.svc.cluster.local",
    }
    assert recording.outputs["swarm"] == {
        "service": "dev-iris",
        "serviceName": "dev-iris",
        "endpoint": "http://localhost:8080",
    }
    deployment = next(r for r in recording.resources if r.type == "kubernetes:apps/v1:Deployment")
    assert "replicas" not in deployment.inputs["spec"]  # the HPA owns it
    hpa = next(r for r in recording.resources if r.type.endswith("HorizontalPodAutoscaler"))
    assert (hpa.inputs["spec"]["minReplicas"], hpa.inputs["spec"]["maxReplicas"]) == (2, 6)


def test_bad_args_are_a_resource_error_naming_the_key(tmp_path: Path) -> None:
    failed = failure(
        tmp_path,
        """
        MLServingStack("serving", MLServingStackArgs(
            orchestrator="swarm", size="huge", models=[IRIS], project_dir=HERE,
        ))
        """,
    )
    error = failed.error
    assert isinstance(error, ResourceError)
    assert error.resource is not None
    assert error.resource.pulumi_resource_type == "mlstack:index:MLServingStack"
    assert (
        "\nMLServingStackArgs: mlstack:size: unknown size preset (got huge); "
        "allowed: gpu, large, medium, small"
    ) in str(error)
    assert [r.type for r in failed.declared] == ["mlstack:index:MLServingStack"]


def test_a_hand_built_model_with_a_reserved_env_is_refused_by_the_service(tmp_path: Path) -> None:
    failed = failure(
        tmp_path,
        """
        import dataclasses
        model = served_model("iris", "sklearn", "1.0.0", artifact="iris.joblib", project_dir=HERE)
        KubernetesModelService("iris", KubernetesModelServiceArgs(
            model=dataclasses.replace(model, env={"PORT": "9000"}),
            image="ghcr.io/acme/iris@sha256:" + "a" * 64,
            namespace="ml", environment="dev", settings=KubernetesSettings(),
        ))
        """,
    )
    assert isinstance(failed.error, ResourceError)
    assert str(failed.error).startswith("mlstack:kubernetes:ModelService iris: model 'iris': env")
    assert [r.type for r in failed.declared] == ["mlstack:kubernetes:ModelService"]


def test_a_swarm_service_of_an_image_without_its_readiness_command_is_refused(
    tmp_path: Path,
) -> None:
    failed = failure(
        tmp_path,
        """
        pinned = "ghcr.io/acme/iris@sha256:" + "a" * 64
        model = served_model("iris", "sklearn", "1.0.0", image=pinned)
        SwarmModelService("iris", SwarmModelServiceArgs(
            model=model, image=model.image, network_id="net-1", environment="dev",
            settings=SwarmSettings(),
        ))
        """,
    )
    assert isinstance(failed.error, ResourceError)
    assert str(failed.error).startswith(
        "mlstack:swarm:ModelService iris: model 'iris' runs its own image ghcr.io/acme/iris@sha256:"
    )
    assert [r.type for r in failed.declared] == ["mlstack:swarm:ModelService"]


def test_served_model_refuses_what_a_stack_file_would(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        """
        served_model("iris", "sklearn", "1.0.0", artifact="missing.joblib", project_dir=HERE)
        """,
    ).error
    assert (
        str(error)
        .splitlines()[1]
        .startswith(
            "served_model(): mlstack:models[0].artifact: model file not found (got missing.joblib)"
        )
    )


def test_a_secret_looking_env_name_is_a_warning_as_from_a_stack_file(tmp_path: Path) -> None:
    recording = run_program(
        tmp_path,
        """
        MLServingStack("serving", MLServingStackArgs(
            orchestrator="swarm", size="small", project_dir=HERE,
            models=[{**IRIS, "env": {"API_TOKEN": "plain"}}],
        ))
        """,
    )
    [warning] = recording.warnings
    assert warning.startswith(
        "MLServingStackArgs: mlstack:models[0].env.API_TOKEN: the name looks like a secret"
    )
