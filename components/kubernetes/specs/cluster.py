"""Cluster-wide serving objects: the namespace, priority classes and headroom (the registry pull
secret's content comes from components/registry.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.specs.security import (
    container_security_context,
    pod_security_context,
    scanner_exceptions,
)
from components.kubernetes.specs.workload import SAFE_TO_EVICT, node_placement
from components.labels import ownership_labels
from components.settings import KubernetesSettings, Size
from components.settings.kubernetes import PriorityClassSettings

# Pod Security Admission: the namespace refuses any pod that is not "restricted".
POD_SECURITY_LEVEL = "restricted"

# The cluster-autoscaler ignores pods below --expendable-pods-priority-cutoff (default -10): they
# neither trigger a scale-up nor hold a node. Placeholders sit exactly at the cutoff: lowest
# priority that still makes the autoscaler add a node for them once serving pods preempt them.
EXPENDABLE_PODS_PRIORITY_CUTOFF = -10
HEADROOM_PRIORITY = EXPENDABLE_PODS_PRIORITY_CUTOFF
HEADROOM_COMPONENT = "headroom"
HEADROOM_CONTAINER = "placeholder"
# A placeholder only reserves; it is gone the moment a serving pod preempts it.
HEADROOM_EPHEMERAL_STORAGE = "16Mi"


def namespace_labels() -> dict[str, str]:
    return {
        f"pod-security.kubernetes.io/{mode}": POD_SECURITY_LEVEL
        for mode in ("enforce", "audit", "warn")
    } | {
        f"pod-security.kubernetes.io/{mode}-version": "latest"
        for mode in ("enforce", "audit", "warn")
    }


def headroom_priority_class_name(priority: PriorityClassSettings) -> str:
    """Derived from the serving class, so two stacks sharing a cluster with distinct serving
    classes also get distinct headroom classes (PriorityClasses are cluster-scoped)."""
    return f"{priority.name}-headroom"


@dataclass(frozen=True)
class PriorityClassSpec:
    value: int
    preemption_policy: str
    description: str

    # The API server refuses to change these in place (ValidatePriorityClassUpdate) and
    # pulumi-kubernetes would try: declared replace_on_changes (components/replacements.py). The
    # class keeps its name, so pulumi-kubernetes deletes it before creating the new one; running
    # pods keep their priority, only a pod created in that moment is refused until it is back.
    IMMUTABLE: ClassVar[tuple[str, ...]] = ("value", "preemptionPolicy")


def serving_priority_class(priority: PriorityClassSettings) -> PriorityClassSpec:
    """The serving PriorityClass: above the headroom, so serving pods preempt placeholders."""
    if priority.value <= HEADROOM_PRIORITY:
        raise ValueError(
            f"the serving priority ({priority.value}) must exceed the headroom's "
            f"({HEADROOM_PRIORITY})"
        )
    return PriorityClassSpec(
        value=priority.value,
        preemption_policy="PreemptLowerPriority",
        description="mlstack model servers: preempt headroom placeholders for capacity.",
    )


def headroom_priority_class() -> PriorityClassSpec:
    return PriorityClassSpec(
        value=HEADROOM_PRIORITY,
        preemption_policy="Never",  # a placeholder never displaces anything
        description="mlstack headroom placeholders: reserve capacity, yield to any pod.",
    )


def headroom_labels(environment: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mlstack-headroom",
        "app.kubernetes.io/instance": f"mlstack-headroom-{environment}",
        "app.kubernetes.io/component": HEADROOM_COMPONENT,
        **ownership_labels(),
    }


def headroom_selector(environment: str) -> dict[str, str]:
    labels = headroom_labels(environment)
    return {key: labels[key] for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}


# Scanner findings that are right for placeholder pods (annotated on their Deployment).
HEADROOM_ACCEPTED_FINDINGS = {
    "CKV_K8S_8": "placeholder pause containers serve nothing: no liveness to probe",
    "CKV_K8S_9": "placeholder pause containers serve nothing and no Service routes to them",
}


def headroom_deployment_annotations() -> dict[str, str]:
    return scanner_exceptions(HEADROOM_ACCEPTED_FINDINGS)


def headroom_deployment_spec(
    size: Size,
    settings: KubernetesSettings,
    environment: str,
    priority_class: pulumi.Input[str],
) -> k8s.apps.v1.DeploymentSpecArgs:
    """Pause containers that hold capacity for the next serving pods.

    The stack's size says how many and how big. They land where serving pods would (GPU nodes
    and their taints when the size has GPUs, and they reserve the GPUs too), spread over nodes.
    When serving pods need the room they preempt the placeholders, which go Pending; the
    cluster-autoscaler then adds a node for them, so the next scale-up finds room again.
    """
    headroom = size.cluster_autoscaling.headroom
    if headroom.replicas < 1:
        raise ValueError("headroom.replicas is 0: declare no headroom")
    labels = headroom_labels(environment)
    requests = {
        "cpu": headroom.cpu,
        "memory": headroom.memory,
        "ephemeral-storage": HEADROOM_EPHEMERAL_STORAGE,
    }
    gpus = size.resources.gpu
    if gpus > 0:
        requests[settings.gpu.resource_name] = str(gpus)
    node_selector, tolerations = node_placement(gpus, settings.gpu)
    selector = headroom_selector(environment)
    return k8s.apps.v1.DeploymentSpecArgs(
        replicas=headroom.replicas,  # fixed: no HPA scales placeholders
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        strategy=k8s.apps.v1.DeploymentStrategyArgs(
            type="RollingUpdate",
            rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                max_surge="25%", max_unavailable="25%"
            ),
        ),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={SAFE_TO_EVICT: "true"}),
            spec=k8s.core.v1.PodSpecArgs(
                priority_class_name=priority_class,
                automount_service_account_token=False,
                enable_service_links=False,
                termination_grace_period_seconds=0,
                security_context=pod_security_context(),
                node_selector=node_selector,
                tolerations=tolerations,
                topology_spread_constraints=[
                    k8s.core.v1.TopologySpreadConstraintArgs(
                        topology_key="kubernetes.io/hostname",
                        max_skew=1,
                        when_unsatisfiable="ScheduleAnyway",
                        label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    )
                ],
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name=HEADROOM_CONTAINER,
                        image=settings.headroom_image,
                        image_pull_policy="IfNotPresent",
                        resources=k8s.core.v1.ResourceRequirementsArgs(
                            requests=requests, limits=dict(requests)
                        ),
                        security_context=container_security_context(),
                    )
                ],
            ),
        ),
    )
