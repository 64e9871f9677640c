"""The cluster-autoscaler: flags from the stack's size, RBAC from the official manifests.

RBAC is the official AWS example (kubernetes/autoscaler, cluster-autoscaler/cloudprovider/aws/
examples/cluster-autoscaler-one-asg.yaml and -autodiscover.yaml at commit 046b7e82b912), plus
read access to volumeattachments and resource.k8s.io (dynamic resource allocation) that later
revisions of the same manifests grant for cluster-autoscaler 1.32+. Other cloud providers may need
more (clusterapi reads its machine objects); the names are the upstream ones, because the
autoscaler's lease and status ConfigMap carry them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from ...labels import ownership_labels, selector_of
from ...settings.kubernetes import ClusterAutoscalerSettings
from ...settings.size import ClusterAutoscaling
from .priority import EXPENDABLE_PODS_PRIORITY_CUTOFF
from .security import (
    container_security_context,
    pod_security_context,
    scanner_exceptions,
    scratch_mount,
    scratch_volume,
)
from .workload import LINUX_NODES

NAME = "cluster-autoscaler"
METRICS_PORT = 8085
METRICS_PORT_NAME = "metrics"
# The image is distroless and runs as "nobody", as in the upstream manifests.
AUTOSCALER_UID = 65534
HEALTH_PATH = "/health-check"
# Scanner findings that are right for the autoscaler (annotated on its Deployment).
ACCEPTED_FINDINGS = {
    "CKV_K8S_38": "the autoscaler calls the API server with its ServiceAccount token",
}


def autoscaler_labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": NAME,
        "app.kubernetes.io/component": "node-autoscaler",
        **ownership_labels(),
    }


def autoscaler_selector(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that pick the autoscaler's pods (Deployment selector, NetworkPolicy)."""
    return selector_of(labels)


def autoscaler_command(
    autoscaler: ClusterAutoscalerSettings, scaling: ClusterAutoscaling
) -> list[str]:
    """The autoscaler's command line: one node group with the size's bounds and policies."""
    if not autoscaler.node_group:
        raise ValueError(
            "the cluster-autoscaler needs the node group it scales: "
            "set kubernetes.clusterAutoscaler.nodeGroup"
        )
    nodes = scaling.node_group
    if nodes.min > nodes.max:
        raise ValueError(f"node group min ({nodes.min}) exceeds max ({nodes.max})")
    return [
        "./cluster-autoscaler",
        f"--cloud-provider={autoscaler.cloud_provider}",
        f"--nodes={nodes.min}:{nodes.max}:{autoscaler.node_group}",
        f"--expander={scaling.expander}",
        f"--scale-down-utilization-threshold={scaling.scale_down_utilization_threshold:g}",
        f"--scale-down-delay-after-add={scaling.scale_down_delay_after_add}",
        f"--scale-down-unneeded-time={scaling.scale_down_unneeded_time}",
        # Grow node groups of the same shape in step (one per zone, typically).
        "--balance-similar-node-groups=true",
        # Serving pods keep scratch in an emptyDir; by default that would pin their nodes.
        "--skip-nodes-with-local-storage=false",
        # Stated, not defaulted: the headroom placeholders' priority is set against it.
        f"--expendable-pods-priority-cutoff={EXPENDABLE_PODS_PRIORITY_CUTOFF}",
        "--v=4",
        "--stderrthreshold=info",
    ]


def _rule(
    groups: Sequence[str],
    resources: Sequence[str],
    verbs: Sequence[str],
    names: Sequence[str] = (),
) -> k8s.rbac.v1.PolicyRuleArgs:
    return k8s.rbac.v1.PolicyRuleArgs(
        api_groups=list(groups),
        resources=list(resources),
        verbs=list(verbs),
        resource_names=list(names) or None,
    )


READ = ("watch", "list", "get")


def cluster_rules() -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [
        _rule([""], ["events", "endpoints"], ["create", "patch"]),
        _rule([""], ["pods/eviction"], ["create"]),
        _rule([""], ["pods/status"], ["update"]),
        _rule([""], ["endpoints"], ["get", "update"], names=[NAME]),
        _rule([""], ["nodes"], ["watch", "list", "get", "update"]),
        _rule(
            [""],
            [
                "namespaces",
                "pods",
                "services",
                "replicationcontrollers",
                "persistentvolumeclaims",
                "persistentvolumes",
            ],
            READ,
        ),
        _rule(["extensions"], ["replicasets", "daemonsets"], READ),
        _rule(["policy"], ["poddisruptionbudgets"], ["watch", "list"]),
        _rule(["apps"], ["statefulsets", "replicasets", "daemonsets"], READ),
        _rule(
            ["storage.k8s.io"],
            [
                "storageclasses",
                "csinodes",
                "csidrivers",
                "csistoragecapacities",
                "volumeattachments",
            ],
            READ,
        ),
        _rule(["resource.k8s.io"], ["deviceclasses", "resourceslices", "resourceclaims"], READ),
        _rule(["batch", "extensions"], ["jobs"], ["get", "list", "watch", "patch"]),
        _rule(["coordination.k8s.io"], ["leases"], ["create"]),
        _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], names=[NAME]),
    ]


def namespace_rules() -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [
        _rule([""], ["configmaps"], ["create", "list", "watch"]),
        _rule(
            [""],
            ["configmaps"],
            ["delete", "get", "update", "watch"],
            names=["cluster-autoscaler-status", "cluster-autoscaler-priority-expander"],
        ),
    ]


def autoscaler_deployment_annotations() -> dict[str, str]:
    return scanner_exceptions(ACCEPTED_FINDINGS)


def autoscaler_deployment_spec(
    autoscaler: ClusterAutoscalerSettings,
    scaling: ClusterAutoscaling,
    service_account: pulumi.Input[str],
    labels: Mapping[str, str],
) -> k8s.apps.v1.DeploymentSpecArgs:
    selector = autoscaler_selector(labels)
    resources = {"cpu": "100m", "memory": "600Mi", "ephemeral-storage": "64Mi"}
    return k8s.apps.v1.DeploymentSpecArgs(
        replicas=1,  # leader-elected; one active instance is the design
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(
                labels=dict(labels),
                annotations={
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(METRICS_PORT),
                    "prometheus.io/path": "/metrics",
                },
            ),
            spec=k8s.core.v1.PodSpecArgs(
                priority_class_name="system-cluster-critical",
                service_account_name=service_account,
                # The autoscaler talks to the API server: it needs its token.
                automount_service_account_token=True,
                enable_service_links=False,
                security_context=pod_security_context(AUTOSCALER_UID, AUTOSCALER_UID),
                node_selector=dict(LINUX_NODES),
                volumes=[scratch_volume()],
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name=NAME,
                        image=autoscaler.image,
                        image_pull_policy="IfNotPresent",
                        command=autoscaler_command(autoscaler, scaling),
                        ports=[
                            k8s.core.v1.ContainerPortArgs(
                                name=METRICS_PORT_NAME, container_port=METRICS_PORT, protocol="TCP"
                            )
                        ],
                        resources=k8s.core.v1.ResourceRequirementsArgs(
                            requests=resources, limits=dict(resources)
                        ),
                        # /health-check fails once the autoscaling loop has stalled (no activity
                        # or no successful run within its timeouts): shown NotReady at once,
                        # restarted after three failures.
                        readiness_probe=k8s.core.v1.ProbeArgs(
                            http_get=k8s.core.v1.HTTPGetActionArgs(
                                path=HEALTH_PATH, port=METRICS_PORT_NAME
                            ),
                            period_seconds=10,
                            failure_threshold=1,
                            timeout_seconds=5,
                        ),
                        liveness_probe=k8s.core.v1.ProbeArgs(
                            http_get=k8s.core.v1.HTTPGetActionArgs(
                                path=HEALTH_PATH, port=METRICS_PORT_NAME
                            ),
                            period_seconds=10,
                            failure_threshold=3,
                            timeout_seconds=5,
                        ),
                        security_context=container_security_context(AUTOSCALER_UID, AUTOSCALER_UID),
                        volume_mounts=[scratch_mount()],
                    )
                ],
            ),
        ),
    )
