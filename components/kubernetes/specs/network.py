"""The Service in front of a model's pods, and NetworkPolicies: pods accept traffic only where
they serve it.

The Service is a ClusterIP on SERVICE_PORT that forwards to the pods' named `http` port (a name,
so the container port can change without touching the Service).

Model pods accept TCP on their named `http` port (predictions, probes and the /metrics scrape all
use it) from anywhere, since the callers (ingress controllers, other services, Prometheus) live
in namespaces mlstack does not know; every other port is closed. The cluster-autoscaler accepts
only its metrics and health port. Headroom placeholders serve nothing and accept nothing. Egress
stays open: a model may call what it needs. A cluster whose network plugin does not enforce
NetworkPolicy ignores these objects.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_kubernetes as k8s

from .workload import HTTP_PORT_NAME, SERVICE_PORT


def serving_service_spec(selector: Mapping[str, str]) -> k8s.core.v1.ServiceSpecArgs:
    """In-cluster HTTP to the selected pods' named `http` port."""
    return k8s.core.v1.ServiceSpecArgs(
        type="ClusterIP",
        selector=dict(selector),
        ports=[
            k8s.core.v1.ServicePortArgs(
                name=HTTP_PORT_NAME,
                port=SERVICE_PORT,
                target_port=HTTP_PORT_NAME,
                protocol="TCP",
                app_protocol="http",
            )
        ],
    )


def serving_ingress_policy(
    selector: Mapping[str, str], port: str = HTTP_PORT_NAME
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Ingress to the selected pods on one named TCP port, from anywhere; nothing else."""
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        policy_types=["Ingress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")]
            )
        ],
    )


def no_ingress_policy(selector: Mapping[str, str]) -> k8s.networking.v1.NetworkPolicySpecArgs:
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        policy_types=["Ingress"],
        ingress=[],
    )
