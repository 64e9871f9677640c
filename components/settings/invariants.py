"""Rules that span several fields of a size. Each finding names the path of the field to change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import shown
from .quantities import byte_count, cpu_millis
from .size import Size, VpaUpdateMode
from .swarm import SwarmSettings

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    path: Path
    value: Any
    reason: str
    allowed: str
    # A rule between two keys, told from the other key's side: reported instead when the user
    # set only that key (an override of replicas.max is named, not the preset's replicas.min).
    counterpart: Finding | None = None


def _not_above(
    low_path: Path, low: str, high_path: Path, high: str, parse: Any, what: str
) -> list[Finding]:
    if parse(low) <= parse(high):
        return []
    hint = near_miss_units(low, high)
    return [
        Finding(
            low_path,
            low,
            f"{what} exceeds {_dotted(high_path)}{hint}",
            f"at most {_dotted(high_path)} = {shown(high)}",
            Finding(
                high_path,
                high,
                f"{_dotted(high_path)} is below {_dotted(low_path)} = {shown(low)}{hint}",
                f"at least {shown(low)}, or lower {_dotted(low_path)} too",
            ),
        )
    ]


_DECIMAL_TO_BINARY = {"k": "Ki", "K": "Ki", "M": "Mi", "G": "Gi", "T": "Ti", "P": "Pi", "E": "Ei"}


def near_miss_units(low: str, high: str) -> str:
    """A hint when the two quantities differ only by a decimal against a binary unit: 1G is
    10^9 bytes, 1Gi is 2^30, so `limit: 1G` is below `request: 1Gi`."""
    for decimal, binary in _DECIMAL_TO_BINARY.items():
        for one, other in ((low, high), (high, low)):
            if one.endswith(binary) and other.endswith(decimal) and not other.endswith(binary):
                number = other[: -len(decimal)]
                return (
                    f" ({other} counts in powers of 1000, so it is less than {number}{binary}; "
                    f"did you mean {number}{binary}?)"
                )
    return ""


# The one wording of the HPA/VPA rule (why it holds: components/kubernetes/specs/autoscaling.py),
# shared by the settings errors, the builders' refusal and the checklist rule K8S-HPA-VPA.
HPA_VPA_RULE = "HPA and VPA must never act on the same resource"


def vpa_conflict(resources: list[str]) -> str:
    """The VPA would change what the HPA scales on (told from the VPA's side)."""
    return f"the VPA would control {', '.join(resources)}, which the HPA scales on ({HPA_VPA_RULE})"


def hpa_resources(size: Size) -> set[str]:
    """The container resources the HorizontalPodAutoscaler scales on."""
    scaling = size.autoscaling
    used = set()
    if scaling.cpu_utilization is not None:
        used.add("cpu")
    if scaling.memory_utilization is not None:
        used.add("memory")
    return used


def vpa_acts(size: Size) -> bool:
    """Whether the VPA changes pods (any mode but Off); in Off mode it only recommends."""
    vpa = size.vertical_autoscaling
    return vpa.enabled and vpa.update_mode is not VpaUpdateMode.OFF


def check_size(size: Size) -> list[Finding]:
    findings: list[Finding] = []
    replicas = size.replicas
    if replicas.min > replicas.max:
        findings.append(
            Finding(
                ("replicas", "min"),
                replicas.min,
                "replicas.min exceeds replicas.max",
                f"an integer from 1 to replicas.max = {replicas.max}",
                Finding(
                    ("replicas", "max"),
                    replicas.max,
                    f"replicas.max is below replicas.min = {replicas.min}",
                    f"an integer from {replicas.min} up, or lower replicas.min too",
                ),
            )
        )
    resources = size.resources
    findings += _not_above(
        ("resources", "cpu", "request"), resources.cpu.request,
        ("resources", "cpu", "limit"), resources.cpu.limit, cpu_millis, "the CPU request",
    )  # fmt: skip
    findings += _not_above(
        ("resources", "memory", "request"), resources.memory.request,
        ("resources", "memory", "limit"), resources.memory.limit, byte_count, "the memory request",
    )  # fmt: skip
    findings += _not_above(
        ("resources", "ephemeralStorage", "request"), resources.ephemeral_storage.request,
        ("resources", "ephemeralStorage", "limit"), resources.ephemeral_storage.limit, byte_count,
        "the ephemeral-storage request",
    )  # fmt: skip

    scaling = size.autoscaling
    if not hpa_resources(size) and scaling.pods_metric is None:
        findings.append(
            Finding(
                ("autoscaling", "cpuUtilization"),
                None,
                "the HPA has no metric to scale on",
                "a cpuUtilization or memoryUtilization percentage, or a podsMetric",
            )
        )

    vpa = size.vertical_autoscaling
    findings += _not_above(
        ("verticalAutoscaling", "minAllowed", "cpu"), vpa.min_allowed.cpu,
        ("verticalAutoscaling", "maxAllowed", "cpu"), vpa.max_allowed.cpu, cpu_millis,
        "the VPA minimum CPU",
    )  # fmt: skip
    findings += _not_above(
        ("verticalAutoscaling", "minAllowed", "memory"), vpa.min_allowed.memory,
        ("verticalAutoscaling", "maxAllowed", "memory"), vpa.max_allowed.memory, byte_count,
        "the VPA minimum memory",
    )  # fmt: skip
    findings += _autoscaler_conflicts(size)

    nodes = size.cluster_autoscaling.node_group
    if nodes.min > nodes.max:
        findings.append(
            Finding(
                ("clusterAutoscaling", "nodeGroup", "min"),
                nodes.min,
                "clusterAutoscaling.nodeGroup.min exceeds clusterAutoscaling.nodeGroup.max",
                f"an integer from 0 to {nodes.max}",
                Finding(
                    ("clusterAutoscaling", "nodeGroup", "max"),
                    nodes.max,
                    f"clusterAutoscaling.nodeGroup.max is below nodeGroup.min = {nodes.min}",
                    f"an integer from {nodes.min} up, or lower nodeGroup.min too",
                ),
            )
        )
    return findings


def _autoscaler_conflicts(size: Size) -> list[Finding]:
    """HPA and VPA acting on the same resource, reported where the opt-in happened.

    CPU is the HPA's default metric, so a CPU conflict is reported at the VPA's
    controlledResources; a memory target is the HPA's opt-in, so a memory conflict is reported
    at autoscaling.memoryUtilization (the key a stack override most likely just set).
    """
    if not vpa_acts(size):
        return []
    vpa = size.vertical_autoscaling
    hpa = hpa_resources(size)
    free = sorted({"cpu", "memory"} - hpa)
    off = "verticalAutoscaling.updateMode 'Off' (recommendations only)"
    findings = []
    if "cpu" in vpa.controlled_resources and "cpu" in hpa:
        findings.append(
            Finding(
                ("verticalAutoscaling", "controlledResources"),
                list(vpa.controlled_resources),
                vpa_conflict(["cpu"]),
                (
                    f"controlledResources {shown(free)}"
                    if free
                    else "verticalAutoscaling.enabled false (the HPA scales on both resources)"
                )
                + f", or {off}",
            )
        )
    if "memory" in vpa.controlled_resources and "memory" in hpa:
        findings.append(
            Finding(
                ("autoscaling", "memoryUtilization"),
                size.autoscaling.memory_utilization,
                f"the HPA would scale on memory, which the VPA controls ({HPA_VPA_RULE})",
                "null (no memory target)"
                + (f", or verticalAutoscaling.controlledResources {shown(free)}" if free else "")
                + f", or {off}",
            )
        )
    return findings


def _dotted(path: Path) -> str:
    return ".".join(str(step) for step in path)


# The proxy's service and image are named "<environment>-proxy" and "<registry>/proxy".
PROXY_NAME = "proxy"


def check_swarm(swarm: SwarmSettings, model_names: list[str]) -> list[Finding]:
    """Swarm endpoint/publish modes that Docker refuses or that cannot update without downtime.
    Paths start below the `mlstack:` namespace."""
    findings: list[Finding] = []
    proxy = swarm.proxy.enabled
    if not proxy and swarm.publish_mode == "host":
        findings.append(
            Finding(
                ("swarm", "publishMode"),
                swarm.publish_mode,
                "without the proxy each model task binds the host port itself; two tasks on one "
                "node cannot, so a start-first rolling update could never start a replacement "
                "beside the running task",
                "ingress (needs IPVS on every node), or swarm.proxy.enabled true (the proxy "
                "holds the host ports and the models update behind it)",
            )
        )
    if not proxy and swarm.publish_mode == "ingress" and swarm.endpoint_mode == "dnsrr":
        findings.append(
            Finding(
                ("swarm", "endpointMode"),
                swarm.endpoint_mode,
                "Docker refuses ports published in ingress mode on a dnsrr service (the routing "
                "mesh needs a virtual IP)",
                "vip, or swarm.proxy.enabled true (only the proxy publishes ports)",
            )
        )
    if proxy:
        for index, name in enumerate(model_names):
            if name == PROXY_NAME:
                findings.append(
                    Finding(
                        ("models", index, "name"),
                        name,
                        f"'{PROXY_NAME}' names the reverse proxy's service and image",
                        f"any name but '{PROXY_NAME}', or swarm.proxy.enabled false",
                    )
                )
    return findings
