"""Headroom: low-priority placeholder pods that keep capacity warm for serving scale-ups."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ..settings import KubernetesSettings, Size
from .specs.headroom import (
    headroom_deployment_annotations,
    headroom_deployment_spec,
    headroom_labels,
    headroom_selector,
)
from .specs.network import no_ingress_policy
from .specs.priority import (
    headroom_priority_class,
    headroom_priority_class_name,
)

TYPE = "mlstack:kubernetes:Headroom"
HEADROOM_DEPLOYMENT = "mlstack-headroom"  # one per serving namespace


@dataclass(frozen=True)
class HeadroomArgs:
    size: Size
    """The stack's size: clusterAutoscaling.headroom says how many placeholders and how big."""
    settings: KubernetesSettings
    """Priority class naming, GPU scheduling and the placeholder image."""
    namespace: pulumi.Input[str]
    """Where the placeholders run (the serving namespace)."""
    environment: str


class Headroom(pulumi.ComponentResource):
    """A negative-priority PriorityClass and a Deployment of pause containers.

    Serving pods preempt the placeholders when they need room; the placeholders then wait for
    the cluster-autoscaler to add a node, restoring the headroom. Output: `priority_class_name`.
    """

    priority_class_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: HeadroomArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = headroom_labels(args.environment)
        spec = headroom_priority_class()
        priority_class = k8s.scheduling.v1.PriorityClass(
            f"{name}-priority-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=headroom_priority_class_name(args.settings.priority_class), labels=labels
            ),
            value=spec.value,
            global_default=False,
            preemption_policy=spec.preemption_policy,
            description=spec.description,
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=list(spec.IMMUTABLE)),
        )
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=HEADROOM_DEPLOYMENT, namespace=args.namespace, labels=labels
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=metadata,
            spec=no_ingress_policy(headroom_selector(args.environment)),
            opts=child,
        )
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=HEADROOM_DEPLOYMENT,
                namespace=args.namespace,
                labels=labels,
                annotations=headroom_deployment_annotations(),
            ),
            spec=headroom_deployment_spec(
                args.size, args.settings, args.environment, priority_class.metadata.name
            ),
            opts=child,
        )
        self.priority_class_name = priority_class.metadata.name
        self.register_outputs({"priorityClassName": self.priority_class_name})
