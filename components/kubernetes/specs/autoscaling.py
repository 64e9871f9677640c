"""HorizontalPodAutoscaler (autoscaling/v2) and VerticalPodAutoscaler (autoscaling.k8s.io/v1).

The rule that ties them: they never act on the same resource. An HPA scaling on CPU utilization
divides usage by the CPU *request*; a VPA changing that request moves the HPA's target under it
and the two chase each other. So with the HPA on CPU the VPA controls memory only (or runs in
Off mode, which only recommends). The settings loader refuses such a size with a message naming
the key (components/settings/invariants.py); the builders here refuse it again, so a program that
builds a Size by hand cannot get a conflicting pair either.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ...settings import Size
from ...settings.invariants import hpa_resources, vpa_acts, vpa_conflict
from ...settings.size import ScalingRules
from .workload import CONTAINER_NAME

VPA_API_VERSION = "autoscaling.k8s.io/v1"
VPA_KIND = "VerticalPodAutoscaler"


class AutoscalerConflictError(ValueError):
    """The HPA and the VPA of a size would act on the same resource."""


def conflicting_resources(size: Size) -> list[str]:
    """Resources both the HPA scales on and the VPA would change (empty when the VPA is off)."""
    if not vpa_acts(size):
        return []
    return sorted(set(size.vertical_autoscaling.controlled_resources) & hpa_resources(size))


def check_autoscalers(size: Size) -> None:
    """Raise unless the size's HPA and VPA can run side by side."""
    replicas = size.replicas
    if replicas.min > replicas.max:
        raise ValueError(f"replicas.min ({replicas.min}) exceeds replicas.max ({replicas.max})")
    if not hpa_resources(size) and size.autoscaling.pods_metric is None:
        raise ValueError("the HPA needs a metric: cpuUtilization, memoryUtilization or podsMetric")
    shared = conflicting_resources(size)
    if shared:
        raise AutoscalerConflictError(
            f"{vpa_conflict(shared)}: drop it from verticalAutoscaling.controlledResources "
            "or set verticalAutoscaling.updateMode Off"
        )


def _rules(rules: ScalingRules) -> k8s.autoscaling.v2.HPAScalingRulesArgs:
    return k8s.autoscaling.v2.HPAScalingRulesArgs(
        stabilization_window_seconds=rules.stabilization_window_seconds,
        select_policy=rules.select_policy,
        policies=[
            k8s.autoscaling.v2.HPAScalingPolicyArgs(
                type=policy.type, value=policy.value, period_seconds=policy.period_seconds
            )
            for policy in rules.policies
        ],
    )


def hpa_metrics(size: Size) -> list[k8s.autoscaling.v2.MetricSpecArgs]:
    """CPU utilization, optional memory utilization, optional per-pod custom metric."""
    scaling = size.autoscaling
    metrics = []
    for resource, utilization in (
        ("cpu", scaling.cpu_utilization),
        ("memory", scaling.memory_utilization),
    ):
        if utilization is not None:
            metrics.append(
                k8s.autoscaling.v2.MetricSpecArgs(
                    type="Resource",
                    resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                        name=resource,
                        target=k8s.autoscaling.v2.MetricTargetArgs(
                            type="Utilization", average_utilization=utilization
                        ),
                    ),
                )
            )
    if scaling.pods_metric is not None:
        # Served by a custom-metrics adapter (e.g. prometheus-adapter) from the pods' /metrics.
        metrics.append(
            k8s.autoscaling.v2.MetricSpecArgs(
                type="Pods",
                pods=k8s.autoscaling.v2.PodsMetricSourceArgs(
                    metric=k8s.autoscaling.v2.MetricIdentifierArgs(name=scaling.pods_metric.name),
                    target=k8s.autoscaling.v2.MetricTargetArgs(
                        type="AverageValue", average_value=scaling.pods_metric.average_value
                    ),
                ),
            )
        )
    return metrics


def hpa_spec(
    size: Size, deployment_name: pulumi.Input[str]
) -> k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs:
    check_autoscalers(size)
    return k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
        scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
            api_version="apps/v1", kind="Deployment", name=deployment_name
        ),
        min_replicas=size.replicas.min,
        max_replicas=size.replicas.max,
        metrics=hpa_metrics(size),
        behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
            scale_up=_rules(size.autoscaling.scale_up),
            scale_down=_rules(size.autoscaling.scale_down),
        ),
    )


def vpa_spec(size: Size, deployment_name: pulumi.Input[str]) -> dict[str, Any] | None:
    """The VPA spec (camelCase, as the CRD takes it), or None when the size disables the VPA.

    Bounds are given only for the resources the VPA controls; the model server's container is
    named, so a sidecar added later is not resized by accident.
    """
    vpa = size.vertical_autoscaling
    if not vpa.enabled:
        return None
    check_autoscalers(size)
    controlled = list(dict.fromkeys(vpa.controlled_resources))
    bounds = {
        "cpu": (vpa.min_allowed.cpu, vpa.max_allowed.cpu),
        "memory": (vpa.min_allowed.memory, vpa.max_allowed.memory),
    }
    return {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name},
        "updatePolicy": {"updateMode": vpa.update_mode.value},
        "resourcePolicy": {
            "containerPolicies": [
                {
                    "containerName": CONTAINER_NAME,
                    "mode": "Auto",
                    "controlledResources": controlled,
                    "controlledValues": vpa.controlled_values,
                    "minAllowed": {name: bounds[name][0] for name in controlled},
                    "maxAllowed": {name: bounds[name][1] for name in controlled},
                }
            ]
        },
    }
