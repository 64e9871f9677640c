"""KubernetesPlatform: what every model of a stack shares on a cluster."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.settings import KubernetesSettings, Size


@dataclass(frozen=True)
class KubernetesPlatformArgs:
    settings: KubernetesSettings
    environment: str
    size: Size


class KubernetesPlatform(pulumi.ComponentResource):
    """The explicit provider (kubeconfig context) and the namespace models are served in."""

    provider: k8s.Provider
    namespace: pulumi.Output[str]

    def __init__(
        self, name: str, args: KubernetesPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlstack:kubernetes:Platform", name, None, opts)
        settings = args.settings
        self.provider = k8s.Provider(
            f"{name}-provider",
            context=settings.context,
            kubeconfig=settings.kubeconfig,
            namespace=settings.namespace,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        if settings.create_namespace:
            namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=settings.namespace),
                opts=child,
            )
            self.namespace = namespace.metadata.name
        else:
            self.namespace = pulumi.Output.from_input(settings.namespace)
        self.register_outputs({"namespace": self.namespace})
