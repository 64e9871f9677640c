"""Helpers for the Kubernetes tests: sizes and models built from the real presets, and the
Kubernetes objects of a recording as manifests (the same view the schema checker takes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlstack.checks import Manifest, kubernetes_manifests
from mlstack.components.settings import Framework, ServedModel, Size
from mlstack.components.settings.presets import deep_merge, load_preset
from mlstack.offline import Recording
from tests.support.harness import run_stack

# The stacks the schema and invariant tests cover: the stack files as they are, and variants
# that switch on what they leave off (GPUs, the cluster-autoscaler with more headroom, a custom
# pods metric with a memory HPA, a recommending-only VPA, registry credentials, secrets).
STAGING_KUBERNETES = {"context": "staging", "namespace": "ml-serving"}
# On the gpu size: the ONNX model (its framework can use a GPU); scikit-learn stays on medium.
GPU_MODELS = [
    {
        "name": "iris",
        "framework": "sklearn",
        "artifact": "examples/iris/iris.joblib",
        "version": "1.0.0",
        "size": "medium",
    },
    {
        "name": "iris-onnx",
        "framework": "onnx",
        "artifact": "examples/iris/iris.onnx",
        "version": "1.0.0",
    },
]
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "staging": ("staging", {}, {}),
    "prod": ("prod", {}, {}),
    "staging-gpu": ("staging", {"mlstack:size": "gpu", "mlstack:models": GPU_MODELS}, {}),
    "staging-gpu-headroom-autoscaler": (
        "staging",
        {
            "mlstack:size": "gpu",
            "mlstack:models": GPU_MODELS,
            "mlstack:overrides": {"clusterAutoscaling": {"headroom": {"replicas": 2}}},
            "mlstack:kubernetes": {
                **STAGING_KUBERNETES,
                "clusterAutoscaler": {
                    "enabled": True,
                    "cloudProvider": "aws",
                    "nodeGroup": "gpu-nodes",
                    "serviceAccountAnnotations": {
                        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ca"
                    },
                },
            },
        },
        {},
    ),
    "staging-memory-hpa-pods-metric": (
        "staging",
        {
            "mlstack:overrides": {
                "autoscaling": {
                    "cpuUtilization": None,
                    "memoryUtilization": 75,
                    "podsMetric": {"name": "mlstack_requests_in_flight", "averageValue": "8"},
                },
                "verticalAutoscaling": {"controlledResources": ["cpu"], "updateMode": "Recreate"},
            }
        },
        {},
    ),
    "staging-vpa-recommends-only": (
        "staging",
        {
            "mlstack:overrides": {
                "verticalAutoscaling": {
                    "updateMode": "Off",
                    "controlledResources": ["cpu", "memory"],
                }
            }
        },
        {},
    ),
    "prod-registry-and-secrets": (
        "prod",
        {"mlstack:image": {"registry": "registry.example.com/ml", "push": True,
                           "registryUsername": "deployer"}},
        {
            "mlstack:registryPassword": "registry-pa55word",
            "mlstack:secrets": {"iris": {"api-token": "s3cr3t-value", "db.password": "hunter2"}},
        },
    ),
}  # fmt: skip


def run_variant(variant: str) -> Recording:
    environment, config, secret_config = VARIANTS[variant]
    return run_stack(environment, config=config, secret_config=secret_config)


def manifests(recording: Recording, kind: str | None = None) -> list[dict[str, Any]]:
    return [
        manifest.body
        for manifest in kubernetes_manifests(recording)
        if kind is None or manifest.kind == kind
    ]


def manifest_objects(recording: Recording) -> list[Manifest]:
    return kubernetes_manifests(recording)


def by_name(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [o for o in objects if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one object named {name}, found {len(found)}"
    return found[0]


def size(preset: str = "medium", **patch: Any) -> Size:
    """A preset with `patch` merged in (as mlstack:overrides would), validated as a Size."""
    return Size.model_validate(deep_merge(load_preset(preset), patch))


def served_model(
    model_size: Size | None = None, *, name: str = "iris", **fields: Any
) -> ServedModel:
    values: dict[str, Any] = {
        "name": name,
        "framework": Framework.SKLEARN,
        "artifact": Path("examples/iris/iris.joblib"),
        "version": "1.0.0",
        "size_name": "medium",
        "size": model_size or size(),
        "env": {},
        "port": 8080,
        "published_port": 8080,
        "startup_timeout_seconds": 300,
    }
    values.update(fields)
    return ServedModel(**values)


def allowed_disruptions(max_unavailable_pods: int, healthy_pods: int) -> int:
    """What the disruption controller allows with every expected pod healthy: the healthy pods
    above the desired healthy count (healthy minus maxUnavailable, never below zero)."""
    desired_healthy = max(0, healthy_pods - max_unavailable_pods)
    return healthy_pods - desired_healthy
