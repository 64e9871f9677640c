"""What the planner simulates, read from what the stack declares.

The stack is recorded offline (the real program under Pulumi's mocks, as `mlstack render` does),
and every setting the simulation uses comes from the recorded resources: each model's Deployment
requests and limits and PriorityClass, its HorizontalPodAutoscaler (metrics, bounds, behavior),
VerticalPodAutoscaler and PodDisruptionBudget, the headroom Deployment, and the cluster-autoscaler's
command line; on Swarm, each service's replica count and limits. So the plan simulates exactly
what would be deployed. Where the stack does not deploy the cluster-autoscaler, its command line
comes from the same builder (components/kubernetes/specs/cluster_autoscaler.py) applied to the
stack's clusterAutoscaling settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlstack.components.kubernetes.specs.cluster_autoscaler import autoscaler_command
from mlstack.components.kubernetes.specs.priority import EXPENDABLE_PODS_PRIORITY_CUTOFF
from mlstack.components.settings import StackSettings
from mlstack.components.settings.kubernetes import ClusterAutoscalerSettings
from mlstack.components.settings.quantities import byte_count, cpu_millis, duration_seconds
from mlstack.offline import RecordedResource, Recording
from mlstack.plan.hpa import Behavior, ScalingPolicy, ScalingRules

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
VPA = "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
SWARM_SERVICE = "docker:index/service:Service"
# cluster-autoscaler's defaults for flags mlstack does not set (FAQ.md's parameter table,
# kubernetes/autoscaler at 55c37cd5eb550756c5ccc5a89e9068d77797e575).
CA_DEFAULTS = {"scan-interval": "10s", "max-empty-bulk-delete": "10"}


class InputError(ValueError):
    pass


@dataclass(frozen=True)
class Resources:
    cpu_m: int
    memory: int
    gpu: int = 0


@dataclass(frozen=True)
class MetricTarget:
    kind: str  # "cpu" | "memory" (Utilization) | "pods" (AverageValue)
    target: int  # percent for utilization; milli-value for pods
    name: str = ""


@dataclass(frozen=True)
class HpaInput:
    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricTarget, ...]
    behavior: Behavior


@dataclass(frozen=True)
class VpaInput:
    mode: str
    controlled: tuple[str, ...]
    min_allowed: Resources
    max_allowed: Resources


@dataclass(frozen=True)
class ModelInput:
    name: str
    framework: str
    size: str
    requests: Resources
    limits: Resources
    cpu_limit: str  # the quantities the capacity file is keyed by
    memory_limit: str
    priority: int
    hpa: HpaInput | None
    vpa: VpaInput | None
    pdb_max_unavailable: int
    swarm_replicas: int | None


@dataclass(frozen=True)
class ClusterInput:
    deployed: bool  # the stack deploys cluster-autoscaler itself
    node_group: str
    group_min: int
    group_max: int
    scan_interval: float
    unneeded_time: float
    delay_after_add: float
    utilization_threshold: float
    expendable_cutoff: int
    max_empty_bulk_delete: int
    headroom_replicas: int
    headroom: Resources
    headroom_priority: int
    command: tuple[str, ...]


@dataclass(frozen=True)
class StackInput:
    environment: str
    orchestrator: str
    models: tuple[ModelInput, ...]
    cluster: ClusterInput | None


def _quantity_cpu(value: Any) -> int:
    return cpu_millis(str(value))


def _resources(values: Mapping[str, Any], gpu_name: str) -> Resources:
    return Resources(
        cpu_m=_quantity_cpu(values["cpu"]),
        memory=byte_count(str(values["memory"])),
        gpu=int(values.get(gpu_name, 0)),
    )


def _bound(values: Mapping[str, Any], gpu_name: str) -> Resources:
    """A VPA bound, which names only the resources the VPA controls."""
    filled = {"cpu": values.get("cpu", "1m"), "memory": values.get("memory", "1")}
    return _resources(filled, gpu_name)


def _rules(data: Mapping[str, Any] | None) -> ScalingRules | None:
    if data is None:
        return None
    policies = data.get("policies")
    window = data.get("stabilizationWindowSeconds")
    return ScalingRules(
        stabilization_window_seconds=None if window is None else int(window),
        select_policy=data.get("selectPolicy"),
        policies=None
        if policies is None
        else tuple(
            ScalingPolicy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in policies
        ),
    )


def _milli(quantity: str) -> int:
    """A metric quantity ("10", "500m", "1.5k") in milli-units, as Quantity.MilliValue()."""
    units = {"m": 0.001, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2,
             "Gi": 1024**3}  # fmt: skip
    text = str(quantity)
    for suffix in sorted(units, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            return round(float(text[: -len(suffix)]) * units[suffix] * 1000)
    return round(float(text) * 1000)


def hpa_input(spec: Mapping[str, Any]) -> HpaInput:
    metrics = []
    for metric in spec.get("metrics") or []:
        if metric["type"] == "Resource":
            metrics.append(
                MetricTarget(
                    metric["resource"]["name"],
                    int(metric["resource"]["target"]["averageUtilization"]),
                )
            )
        elif metric["type"] == "Pods":
            metrics.append(
                MetricTarget(
                    "pods",
                    _milli(metric["pods"]["target"]["averageValue"]),
                    metric["pods"]["metric"]["name"],
                )
            )
        else:
            raise InputError(f"the planner cannot simulate HPA metric type {metric['type']}")
    behavior = spec.get("behavior") or {}
    return HpaInput(
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]),
        metrics=tuple(metrics),
        behavior=Behavior(_rules(behavior.get("scaleUp")), _rules(behavior.get("scaleDown"))),
    )


def _flags(command: list[str]) -> dict[str, str]:
    flags = dict(CA_DEFAULTS)
    for part in command[1:]:
        if part.startswith("--") and "=" in part:
            key, value = part[2:].split("=", 1)
            flags[key] = value
    return flags


def _name(resource: RecordedResource) -> str:
    return str(resource.inputs["metadata"]["name"])


def read(recording: Recording, settings: StackSettings) -> StackInput:
    if settings.orchestrator.value == "swarm":
        return _swarm(recording, settings)
    gpu_name = settings.kubernetes.gpu.resource_name
    priorities = {_name(r): int(r.inputs["value"]) for r in recording.of_type(PRIORITY_CLASS)}
    deployments = {_name(r): r for r in recording.of_type(DEPLOYMENT)}
    hpas = {r.inputs["spec"]["scaleTargetRef"]["name"]: r for r in recording.of_type(HPA)}
    vpas = {r.inputs["spec"]["targetRef"]["name"]: r for r in recording.of_type(VPA)}
    pdbs = {_name(r): r for r in recording.of_type(PDB)}
    models = []
    for model in settings.models:
        deployment = deployments.get(model.name)
        if deployment is None:
            raise InputError(f"the stack declares no Deployment for model {model.name}")
        pod = deployment.inputs["spec"]["template"]["spec"]
        container = pod["containers"][0]["resources"]
        vpa = None
        if model.name in vpas:
            spec = vpas[model.name].inputs["spec"]
            policy = spec["resourcePolicy"]["containerPolicies"][0]
            vpa = VpaInput(
                mode=spec["updatePolicy"]["updateMode"],
                controlled=tuple(policy["controlledResources"]),
                min_allowed=_bound(policy.get("minAllowed", {}), gpu_name),
                max_allowed=_bound(policy.get("maxAllowed", {}), gpu_name),
            )
        pdb = pdbs.get(model.name)
        models.append(
            ModelInput(
                name=model.name,
                framework=model.framework.value,
                size=model.size_name,
                requests=_resources(container["requests"], gpu_name),
                limits=_resources(container["limits"], gpu_name),
                cpu_limit=model.size.resources.cpu.limit,
                memory_limit=model.size.resources.memory.limit,
                priority=priorities.get(pod.get("priorityClassName", ""), 0),
                hpa=hpa_input(hpas[model.name].inputs["spec"]) if model.name in hpas else None,
                vpa=vpa,
                pdb_max_unavailable=int(pdb.inputs["spec"].get("maxUnavailable", 1)) if pdb else 1,
                swarm_replicas=None,
            )
        )
    return StackInput(
        settings.environment,
        "kubernetes",
        tuple(models),
        _cluster(recording, settings, deployments, priorities, gpu_name),
    )


def _cluster(
    recording: Recording,
    settings: StackSettings,
    deployments: Mapping[str, RecordedResource],
    priorities: Mapping[str, int],
    gpu_name: str,
) -> ClusterInput:
    recorded = [
        d for d in deployments.values()
        if d.inputs["spec"]["template"]["spec"]["containers"][0]["name"] == "cluster-autoscaler"
    ]  # fmt: skip
    if recorded:
        command = list(recorded[0].inputs["spec"]["template"]["spec"]["containers"][0]["command"])
    else:
        assumed = ClusterAutoscalerSettings(enabled=True, node_group="serving-nodes")
        command = autoscaler_command(assumed, settings.size.cluster_autoscaling)
    flags = _flags(command)
    low, high, group = flags["nodes"].split(":", 2)
    headroom = [
        d for name, d in deployments.items()
        if d.inputs["spec"]["template"]["spec"].get("priorityClassName", "").endswith("-headroom")
    ]  # fmt: skip
    if headroom:
        spec = headroom[0].inputs["spec"]
        pod = spec["template"]["spec"]
        headroom_replicas = int(spec.get("replicas", 0))
        headroom_resources = _resources(pod["containers"][0]["resources"]["requests"], gpu_name)
        headroom_priority = priorities.get(
            pod["priorityClassName"], EXPENDABLE_PODS_PRIORITY_CUTOFF
        )
    else:
        headroom_replicas, headroom_resources = 0, Resources(0, 0)
        headroom_priority = EXPENDABLE_PODS_PRIORITY_CUTOFF
    return ClusterInput(
        deployed=bool(recorded),
        node_group=group,
        group_min=int(low),
        group_max=int(high),
        scan_interval=float(duration_seconds(flags["scan-interval"])),
        unneeded_time=float(duration_seconds(flags["scale-down-unneeded-time"])),
        delay_after_add=float(duration_seconds(flags["scale-down-delay-after-add"])),
        utilization_threshold=float(flags["scale-down-utilization-threshold"]),
        expendable_cutoff=int(flags.get("expendable-pods-priority-cutoff", "-10")),
        max_empty_bulk_delete=int(flags["max-empty-bulk-delete"]),
        headroom_replicas=headroom_replicas,
        headroom=headroom_resources,
        headroom_priority=headroom_priority,
        command=tuple(command),
    )


def _swarm(recording: Recording, settings: StackSettings) -> StackInput:
    services = {r.inputs["name"]: r for r in recording.of_type(SWARM_SERVICE)}
    models = []
    for model in settings.models:
        name = f"{settings.environment}-{model.name}"
        service = services.get(name)
        if service is None:
            raise InputError(f"the stack declares no Swarm service {name}")
        replicas = int(service.inputs["mode"]["replicated"]["replicas"])
        resources = model.size.resources
        models.append(
            ModelInput(
                name=model.name,
                framework=model.framework.value,
                size=model.size_name,
                requests=Resources(
                    cpu_millis(resources.cpu.request), byte_count(resources.memory.request)
                ),
                limits=Resources(
                    cpu_millis(resources.cpu.limit), byte_count(resources.memory.limit)
                ),
                cpu_limit=resources.cpu.limit,
                memory_limit=resources.memory.limit,
                priority=0,
                hpa=None,
                vpa=None,
                pdb_max_unavailable=1,
                swarm_replicas=replicas,
            )
        )
    return StackInput(settings.environment, "swarm", tuple(models), None)
