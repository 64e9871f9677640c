"""KubernetesModelService: one model served on Kubernetes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.labels import model_labels, selector_labels
from components.settings import KubernetesSettings, ServedModel


@dataclass(frozen=True)
class KubernetesModelServiceArgs:
    model: ServedModel
    image: pulumi.Input[str]
    namespace: pulumi.Input[str]
    environment: str
    settings: KubernetesSettings
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class KubernetesModelService(pulumi.ComponentResource):
    """Deployment and Service for one model; `endpoint` is its in-cluster URL."""

    endpoint: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: KubernetesModelServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlstack:kubernetes:ModelService", name, None, opts)
        model = args.model
        child = pulumi.ResourceOptions(parent=self)
        labels = model_labels(model, args.environment)
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=model.name, namespace=args.namespace, labels=labels
        )
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels=selector_labels(model, args.environment)
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        containers=[
                            k8s.core.v1.ContainerArgs(name="model-server", image=args.image)
                        ]
                    ),
                ),
            ),
            opts=child,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata,
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector_labels(model, args.environment),
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http")],
            ),
            opts=child,
        )
        self.endpoint = pulumi.Output.concat(
            "http://", service.metadata.name, ".", args.namespace, ".svc.cluster.local"
        )
        self.register_outputs({"endpoint": self.endpoint})
