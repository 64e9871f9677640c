"""Serve models on Kubernetes: a platform per stack and a ModelService per model."""

from components.kubernetes.model_service import KubernetesModelService, KubernetesModelServiceArgs
from components.kubernetes.platform import KubernetesPlatform, KubernetesPlatformArgs

__all__ = [
    "KubernetesModelService",
    "KubernetesModelServiceArgs",
    "KubernetesPlatform",
    "KubernetesPlatformArgs",
]
