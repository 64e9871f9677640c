"""ClusterAutoscaler: the cluster-autoscaler itself, for the node group serving pods run on."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ..settings.kubernetes import ClusterAutoscalerSettings
from ..settings.size import ClusterAutoscaling
from .specs.cluster_autoscaler import (
    METRICS_PORT_NAME,
    NAME,
    autoscaler_command,
    autoscaler_deployment_annotations,
    autoscaler_deployment_spec,
    autoscaler_labels,
    autoscaler_selector,
    cluster_rules,
    namespace_rules,
)
from .specs.network import serving_ingress_policy

TYPE = "mlstack:kubernetes:ClusterAutoscaler"


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    settings: ClusterAutoscalerSettings
    """Image, cloud provider, node group name, namespace, ServiceAccount annotations."""
    scaling: ClusterAutoscaling
    """Node-group bounds, expander and scale-down policy (the stack's size)."""


class ClusterAutoscaler(pulumi.ComponentResource):
    """ServiceAccount, ClusterRole/Binding, Role/Binding, Deployment and NetworkPolicy (ingress on
    its metrics port only) of cluster-autoscaler.

    Output: `deployment_name`.
    """

    deployment_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        autoscaler_command(args.settings, args.scaling)  # refuse bad bounds before declaring
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = args.settings.namespace
        labels = autoscaler_labels()

        def metadata(namespaced: bool = True) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=NAME, namespace=namespace if namespaced else None, labels=labels
            )

        account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME,
                namespace=namespace,
                labels=labels,
                annotations=dict(args.settings.service_account_annotations) or None,
            ),
            automount_service_account_token=True,  # it calls the API server
            opts=child,
        )
        subject = k8s.rbac.v1.SubjectArgs(
            kind="ServiceAccount", name=account.metadata.name, namespace=namespace
        )
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-cluster-role", metadata=metadata(False), rules=cluster_rules(), opts=child
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-cluster-role-binding",
            metadata=metadata(False),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io",
                kind="ClusterRole",
                name=cluster_role.metadata.name,
            ),
            subjects=[subject],
            opts=child,
        )
        role = k8s.rbac.v1.Role(
            f"{name}-role", metadata=metadata(), rules=namespace_rules(), opts=child
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-role-binding",
            metadata=metadata(),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name
            ),
            subjects=[subject],
            opts=child,
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME,
                namespace=namespace,
                labels=labels,
                annotations=autoscaler_deployment_annotations(),
            ),
            spec=autoscaler_deployment_spec(
                args.settings, args.scaling, account.metadata.name, labels
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[binding]),
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=metadata(),
            spec=serving_ingress_policy(autoscaler_selector(labels), METRICS_PORT_NAME),
            opts=child,
        )
        self.deployment_name = deployment.metadata.name
        self.register_outputs({"deploymentName": self.deployment_name})
