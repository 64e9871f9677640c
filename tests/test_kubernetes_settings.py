"""Kubernetes rules of the settings: conflicting autoscalers are refused before anything is
declared, with the key the user set; the Kubernetes settings added for the component parse."""

from __future__ import annotations

import pytest

from mlstack.components.settings import KubernetesSettings, SettingsError, load_settings
from tests.support.harness import PROJECT_DIR, settings_error

# Kubernetes stacks push their images (the nodes pull them from the registry).
PUSHED = {"registry": "registry.example.com/ml", "push": True}
IRIS = {
    "name": "iris",
    "framework": "sklearn",
    "artifact": "examples/iris/iris.joblib",
    "version": "1.0.0",
}


def problems(**config: object) -> list[str]:
    raw = {
        "orchestrator": "kubernetes",
        "size": "medium",
        "models": [IRIS],
        "image": PUSHED,
        **config,
    }
    with pytest.raises(SettingsError) as info:
        load_settings(raw, environment="staging", project_dir=PROJECT_DIR)
    return info.value.problems


def test_a_memory_hpa_on_a_memory_vpa_is_refused_at_the_key_the_stack_set() -> None:
    assert problems(overrides={"autoscaling": {"memoryUtilization": 80}}) == [
        "Pulumi.staging.yaml: mlstack:overrides.autoscaling.memoryUtilization: the HPA would "
        "scale on memory, which the VPA controls (HPA and VPA must never act on the same "
        "resource) (got 80); allowed: null (no memory target), or "
        "verticalAutoscaling.updateMode 'Off' (recommendations only)"
    ]


def test_a_memory_only_hpa_suggests_moving_the_vpa_to_cpu() -> None:
    [problem] = problems(
        overrides={"autoscaling": {"memoryUtilization": 80, "cpuUtilization": None}}
    )
    assert "verticalAutoscaling.controlledResources [cpu]" in problem


def test_both_resources_on_both_autoscalers_give_one_line_per_resource() -> None:
    found = problems(
        models=[{**IRIS, "overrides": {
            "autoscaling": {"memoryUtilization": 80},
            "verticalAutoscaling": {"controlledResources": ["cpu", "memory"]},
        }}]
    )  # fmt: skip
    assert len(found) == 2
    assert "mlstack:models[0].overrides.verticalAutoscaling.controlledResources" in found[0]
    assert "verticalAutoscaling.enabled false (the HPA scales on both resources)" in found[0]
    assert "mlstack:models[0].overrides.autoscaling.memoryUtilization" in found[1]


@pytest.mark.parametrize(
    "overrides",
    [
        {"autoscaling": {"memoryUtilization": 80}, "verticalAutoscaling": {"updateMode": "Off"}},
        {"autoscaling": {"memoryUtilization": 80}, "verticalAutoscaling": {"enabled": False}},
        {
            "autoscaling": {"cpuUtilization": None, "memoryUtilization": 80},
            "verticalAutoscaling": {"controlledResources": ["cpu"]},
        },
    ],
    ids=["vpa-off", "vpa-disabled", "split"],
)
def test_combinations_that_never_overlap_are_accepted(overrides: dict) -> None:
    raw = {
        "orchestrator": "kubernetes",
        "size": "medium",
        "models": [IRIS],
        "image": PUSHED,
        "overrides": overrides,
    }
    load_settings(raw, environment="staging", project_dir=PROJECT_DIR)


def test_a_conflicting_stack_declares_nothing() -> None:
    error, declared = settings_error(
        "staging", **{"mlstack:overrides": {"autoscaling": {"memoryUtilization": 80}}}
    )
    assert "never act on the same resource" in error
    assert declared == ()


def test_kubernetes_settings_for_the_autoscaler_account_and_the_headroom_image() -> None:
    settings = KubernetesSettings.model_validate(
        {
            "clusterAutoscaler": {
                "serviceAccountAnnotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}
            },
            "headroomImage": "mirror.example.com/pause:3.10",
        }
    )
    assert settings.cluster_autoscaler.service_account_annotations
    assert settings.headroom_image == "mirror.example.com/pause:3.10"
    with pytest.raises(ValueError, match="pinned"):
        KubernetesSettings.model_validate({"headroomImage": "registry.k8s.io/pause:latest"})
