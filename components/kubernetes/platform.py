"""KubernetesPlatform: what every model of a stack shares on a cluster."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ..errors import ResourceError
from ..labels import ownership_labels
from ..registry import docker_config_json
from ..settings import ImageSettings, KubernetesSettings, Size
from .cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from .headroom import Headroom, HeadroomArgs
from .specs.namespace import namespace_labels
from .specs.priority import serving_priority_class

TYPE = "mlstack:kubernetes:Platform"
PULL_SECRET_NAME = "mlstack-registry"  # noqa: S105 - an object name, not a password


@dataclass(frozen=True)
class KubernetesPlatformArgs:
    settings: KubernetesSettings
    """Cluster access, namespace, priority class, cluster-autoscaler and GPU settings."""
    environment: str
    """Stack name; labels the shared objects."""
    size: Size
    """The stack's size: node-group bounds and headroom for the whole cluster."""
    image: ImageSettings | None = None
    """Where images come from; with a registry user and password, pods pull with them."""
    registry_password: pulumi.Input[str] | None = None
    """Secret registry password (kept secret end to end)."""
    provider: k8s.Provider | None = None
    """An existing provider (the caller's cluster) to declare everything with; None: one of
    this platform's own, from `kubeconfig` or the settings' cluster access."""
    kubeconfig: pulumi.Input[str] | None = None
    """Kubeconfig contents or path for the platform's own provider (e.g. a cluster resource's
    output); overrides `settings.kubeconfig`. Not used with `provider`."""


class KubernetesPlatform(pulumi.ComponentResource):
    """The explicit provider (the caller's, or its own) and everything the models of a stack
    share on the cluster.

    Declares: the namespace (restricted Pod Security), the serving PriorityClass, headroom
    placeholders when the stack's size asks for them, the cluster-autoscaler when enabled, and a
    registry pull secret when a registry user and password are set. Outputs: `namespace`,
    `priority_class_name`, `image_pull_secrets` (names; empty without registry credentials).
    """

    provider: k8s.Provider
    namespace: pulumi.Output[str]
    priority_class_name: pulumi.Output[str]
    image_pull_secrets: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: KubernetesPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        settings = args.settings
        serving_class = serving_priority_class(settings.priority_class)
        super().__init__(TYPE, name, None, opts)
        if args.provider is not None and args.kubeconfig is not None:
            raise ResourceError(
                "give either provider or kubeconfig: a kubeconfig configures the platform's own "
                "provider, which an existing provider replaces",
                resource=self,
            )
        self.provider = args.provider or k8s.Provider(
            f"{name}-provider",
            context=settings.context,
            kubeconfig=args.kubeconfig if args.kubeconfig is not None else settings.kubeconfig,
            namespace=settings.namespace,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        components = pulumi.ResourceOptions(parent=self, providers=[self.provider])
        labels = ownership_labels()

        if settings.create_namespace:
            namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=settings.namespace, labels={**labels, **namespace_labels()}
                ),
                opts=child,
            )
            self.namespace = namespace.metadata.name
        else:
            # An existing namespace keeps its own Pod Security labels; mlstack does not own it.
            self.namespace = pulumi.Output.from_input(settings.namespace)

        priority_class = k8s.scheduling.v1.PriorityClass(
            f"{name}-priority-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=settings.priority_class.name, labels=labels),
            value=serving_class.value,
            global_default=False,
            preemption_policy=serving_class.preemption_policy,
            description=serving_class.description,
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(replace_on_changes=list(serving_class.IMMUTABLE))
            ),
        )
        self.priority_class_name = priority_class.metadata.name

        if args.size.cluster_autoscaling.headroom.replicas > 0:
            Headroom(
                f"{name}-headroom",
                HeadroomArgs(args.size, settings, self.namespace, args.environment),
                components,
            )
        if settings.cluster_autoscaler.enabled:
            ClusterAutoscaler(
                f"{name}-cluster-autoscaler",
                ClusterAutoscalerArgs(settings.cluster_autoscaler, args.size.cluster_autoscaling),
                components,
            )

        self.image_pull_secrets = []
        image = args.image
        if (
            image is not None
            and image.registry
            and image.registry_username
            and args.registry_password is not None
        ):
            registry, username = image.registry, image.registry_username
            config = pulumi.Output.secret(args.registry_password).apply(
                lambda password: docker_config_json(registry, username, password)
            )
            pull_secret = k8s.core.v1.Secret(
                f"{name}-registry-secret",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=PULL_SECRET_NAME, namespace=self.namespace, labels=labels
                ),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": config},
                opts=child,
            )
            self.image_pull_secrets.append(pull_secret.metadata.name)

        self.register_outputs(
            {
                "namespace": self.namespace,
                "priorityClassName": self.priority_class_name,
                "imagePullSecrets": self.image_pull_secrets,
            }
        )
