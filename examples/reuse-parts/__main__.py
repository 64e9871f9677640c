"""mlstack's parts composed by hand (Python route, docs/components.md): one model from plain
values, served by KubernetesModelService in the team's namespace with the team's provider."""

import pulumi
import pulumi_kubernetes as k8s

from mlstack.components import KubernetesModelService, KubernetesModelServiceArgs, served_model
from mlstack.components.settings import KubernetesSettings

IRIS_IMAGE = (
    "ghcr.io/acme/models/iris:1.0.0"
    "@sha256:3f2a9c1e5b7d40a8c6e2f1b9d8a7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9"
)

config = pulumi.Config()
cluster = k8s.Provider("cluster", kubeconfig=config.get("kubeconfig"))
namespace = k8s.core.v1.Namespace(
    "search-ml", metadata={"name": "search-ml"}, opts=pulumi.ResourceOptions(provider=cluster)
)

# Checked like a stack file's models[] entry; the size comes from the medium preset.
model = served_model(
    "iris",
    "sklearn",
    "1.0.0",
    image=IRIS_IMAGE,  # run as is, never built
    size="medium",
    overrides={"replicas": {"max": 4}},
)
iris = KubernetesModelService(
    "iris",
    KubernetesModelServiceArgs(
        model=model,
        image=IRIS_IMAGE,
        namespace=namespace.metadata.name,
        environment=pulumi.get_stack(),
        settings=KubernetesSettings(),
    ),
    pulumi.ResourceOptions(providers=[cluster]),
)

pulumi.export("service", iris.service_name)
pulumi.export("namespace", iris.namespace)
pulumi.export("endpoint", iris.endpoint)
