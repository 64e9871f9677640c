"""Serve models on Kubernetes: a platform per stack and a ModelService per model.

`KubernetesPlatform` (provider, namespace, priority classes, headroom, cluster-autoscaler,
registry pull secret) and `KubernetesModelService` (Deployment, Service, HPA, VPA, PDB per
model); `ClusterAutoscaler` and `Headroom` are usable on their own. The decisions live in the
pure builders of `components.kubernetes.specs`.
"""

from .cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from .headroom import Headroom, HeadroomArgs
from .model_service import KubernetesModelService, KubernetesModelServiceArgs
from .platform import KubernetesPlatform, KubernetesPlatformArgs

__all__ = [
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "Headroom",
    "HeadroomArgs",
    "KubernetesModelService",
    "KubernetesModelServiceArgs",
    "KubernetesPlatform",
    "KubernetesPlatformArgs",
]
