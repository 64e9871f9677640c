"""Headroom: placeholder pods that hold capacity for the next serving pods (their priority
class: specs/priority.py)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from ...labels import ownership_labels, selector_of
from ...settings import KubernetesSettings, Size
from .security import (
    container_security_context,
    pod_security_context,
    scanner_exceptions,
)
from .workload import SAFE_TO_EVICT, node_placement

HEADROOM_COMPONENT = "headroom"
HEADROOM_CONTAINER = "placeholder"
# A placeholder only reserves; it is gone the moment a serving pod preempts it.
HEADROOM_EPHEMERAL_STORAGE = "16Mi"


def headroom_labels(environment: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mlstack-headroom",
        "app.kubernetes.io/instance": f"mlstack-headroom-{environment}",
        "app.kubernetes.io/component": HEADROOM_COMPONENT,
        **ownership_labels(),
    }


def headroom_selector(environment: str) -> dict[str, str]:
    labels = headroom_labels(environment)
    return selector_of(labels)


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
