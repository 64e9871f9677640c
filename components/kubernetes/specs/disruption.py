"""PodDisruptionBudget: protects serving capacity without ever blocking node drains.

A budget that allows no disruption (minAvailable equal to the replica count, or maxUnavailable
0) stops `kubectl drain`, node upgrades and every cluster-autoscaler scale-down for good. The
budget here is a maxUnavailable that is always at least 1, whatever the HPA minimum: with one
replica a drain still proceeds (briefly unavailable: the price of min 1), with more replicas at
most a quarter of the HPA minimum goes at once. maxUnavailable (not minAvailable) keeps that
bound fixed when the HPA scales out, so a drain never takes many pods at once.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_kubernetes as k8s

from ...settings import Size


def max_unavailable(min_replicas: int) -> int:
    """Pods that may be voluntarily disrupted at once: a quarter of the minimum, at least 1."""
    if min_replicas < 1:
        raise ValueError(f"min_replicas must be at least 1, got {min_replicas}")
    return max(1, min_replicas // 4)


def pdb_spec(size: Size, selector: Mapping[str, str]) -> k8s.policy.v1.PodDisruptionBudgetSpecArgs:
    return k8s.policy.v1.PodDisruptionBudgetSpecArgs(
        max_unavailable=max_unavailable(size.replicas.min),
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        # A pod that is not Ready serves nothing: evicting it never costs availability, and a
        # crash-looping pod must not block a drain.
        unhealthy_pod_eviction_policy="AlwaysAllow",
    )
