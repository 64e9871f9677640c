"""A team's own Pulumi program: its namespace and quota, its provider, and mlstack's serving
stack for a model image its CI built and pinned (Python route, docs/components.md)."""

import pulumi
import pulumi_kubernetes as k8s

from mlstack.components import MLServingStack, MLServingStackArgs

IRIS_IMAGE = (
    "ghcr.io/acme/models/iris:1.0.0"
    "@sha256:3f2a9c1e5b7d40a8c6e2f1b9d8a7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9"
)

config = pulumi.Config()
cluster = k8s.Provider("cluster", kubeconfig=config.get("kubeconfig"))
in_cluster = pulumi.ResourceOptions(provider=cluster)

# The team's own objects: mlstack serves into this namespace instead of declaring one.
namespace = k8s.core.v1.Namespace(
    "search-ml",
    metadata={"name": "search-ml", "labels": {"team": "search"}},
    opts=in_cluster,
)
k8s.core.v1.ResourceQuota(
    "search-ml-quota",
    metadata={"name": "compute", "namespace": namespace.metadata.name},
    spec={"hard": {"requests.cpu": "8", "requests.memory": "16Gi", "pods": "40"}},
    opts=in_cluster,
)

serving = MLServingStack(
    "search",
    MLServingStackArgs(
        orchestrator="kubernetes",
        size="medium",
        models=[
            {
                "name": "iris",
                "framework": "sklearn",
                "version": "1.0.0",
                "image": IRIS_IMAGE,  # pinned: not built, no registry needed
            }
        ],
        kubernetes={"namespace": "search-ml", "createNamespace": False},
        kubernetes_provider=cluster,
    ),
    pulumi.ResourceOptions(depends_on=[namespace]),
)

pulumi.export("endpoints", serving.endpoints)
pulumi.export("serviceNames", serving.service_names)
