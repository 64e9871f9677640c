"""The shape of a size preset (stacks/presets/*.yaml), which stack and model overrides patch.

One size answers every capacity question for both orchestrators: replica bounds, container
resources, horizontal (HPA) and vertical (VPA) autoscaling, node-level autoscaling and the Swarm
replica count. Values are checked for shape here; rules that span fields live in invariants.py so
their errors can name the exact key.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from .base import ByteQuantity, CpuQuantity, Duration, StrictModel


class ReplicaBounds(StrictModel):
    """Horizontal bounds: the HPA's minReplicas/maxReplicas on Kubernetes."""

    min: Annotated[int, Field(ge=1, description="Fewest serving pods (HPA minReplicas).")]
    max: Annotated[int, Field(ge=1, description="Most serving pods (HPA maxReplicas).")]


class CpuRange(StrictModel):
    request: Annotated[CpuQuantity, Field(description="Guaranteed CPU (Swarm: reservation).")]
    limit: Annotated[CpuQuantity, Field(description="CPU ceiling; also sets server workers.")]


class MemoryRange(StrictModel):
    request: Annotated[ByteQuantity, Field(description="Guaranteed memory (Swarm: reservation).")]
    limit: Annotated[
        ByteQuantity, Field(description="Hard ceiling; memory above it is OOM-killed.")
    ]


class EphemeralStorageRange(StrictModel):
    """Scratch disk (/tmp, logs). Kubernetes only: a Swarm service cannot bound it."""

    request: Annotated[
        ByteQuantity, Field(description="Scratch disk the scheduler reserves (Kubernetes).")
    ]
    limit: Annotated[
        ByteQuantity,
        Field(description="Scratch disk above which the kubelet evicts the pod (Kubernetes)."),
    ]


class Resources(StrictModel):
    """Per-container requests and limits; Swarm maps requests to reservations."""

    cpu: CpuRange
    memory: MemoryRange
    ephemeral_storage: EphemeralStorageRange
    gpu: Annotated[
        int,
        Field(
            ge=0,
            description="GPUs per replica (kubernetes.gpu.resourceName, swarm.gpuResource).",
        ),
    ] = 0


class ScalingPolicy(StrictModel):
    type: Annotated[Literal["Pods", "Percent"], Field(description="Count pods or percent.")]
    value: Annotated[int, Field(ge=1, description="Pods or percent allowed per period.")]
    period_seconds: Annotated[int, Field(ge=1, le=1800, description="Window the value applies to.")]


class ScalingRules(StrictModel):
    """One direction of HPA `behavior` (autoscaling/v2 HPAScalingRules)."""

    stabilization_window_seconds: Annotated[
        int, Field(ge=0, le=3600, description="Look-back before acting; long for scale-down.")
    ]
    select_policy: Annotated[
        Literal["Max", "Min", "Disabled"],
        Field(description="Which policy wins when several apply."),
    ] = "Max"
    policies: Annotated[list[ScalingPolicy], Field(min_length=1)]


class PodsMetric(StrictModel):
    """A custom per-pod metric (served by a metrics adapter), e.g. in-flight requests."""

    name: Annotated[
        str,
        Field(
            pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
            description="Metric name, e.g. mlstack_requests_in_flight.",
        ),
    ]
    average_value: Annotated[
        str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|M|G|Ki|Mi|Gi)?$", description="Per-pod target.")
    ]


class Autoscaling(StrictModel):
    """HorizontalPodAutoscaler targets and behavior."""

    cpu_utilization: Annotated[
        int | None, Field(ge=1, le=100, description="Target CPU use, % of the request.")
    ] = 70
    memory_utilization: Annotated[
        int | None, Field(ge=1, le=100, description="Target memory use, % of the request.")
    ] = None
    pods_metric: PodsMetric | None = None
    scale_up: ScalingRules
    scale_down: ScalingRules


class VpaUpdateMode(StrEnum):
    OFF = "Off"
    INITIAL = "Initial"
    RECREATE = "Recreate"
    IN_PLACE_OR_RECREATE = "InPlaceOrRecreate"


class ResourceBound(StrictModel):
    cpu: Annotated[CpuQuantity, Field(description="Bound on the CPU request the VPA may set.")]
    memory: Annotated[ByteQuantity, Field(description="Bound on the memory request the VPA sets.")]


class VerticalAutoscaling(StrictModel):
    """VerticalPodAutoscaler policy; it must never act on a resource the HPA scales on."""

    enabled: bool = Field(True, description="Declare a VerticalPodAutoscaler (Kubernetes).")
    update_mode: Annotated[
        VpaUpdateMode, Field(description="Off only recommends; the others apply requests.")
    ]
    controlled_resources: Annotated[
        list[Literal["cpu", "memory"]],
        Field(min_length=1, description="Never a resource the HPA scales on."),
    ]
    controlled_values: Annotated[
        Literal["RequestsOnly", "RequestsAndLimits"],
        Field(description="RequestsAndLimits keeps the limit/request ratio."),
    ] = "RequestsAndLimits"
    min_allowed: ResourceBound
    max_allowed: ResourceBound


class NodeGroupBounds(StrictModel):
    min: Annotated[int, Field(ge=0, description="Fewest nodes in the serving node group.")]
    max: Annotated[int, Field(ge=1, description="Most nodes in the serving node group.")]


class Headroom(StrictModel):
    """Low-priority placeholder pods that keep spare capacity warm for scale-ups."""

    replicas: Annotated[int, Field(ge=0, description="Placeholder pods; 0 disables headroom.")] = 0
    cpu: Annotated[CpuQuantity, Field(description="CPU each placeholder reserves.")]
    memory: Annotated[ByteQuantity, Field(description="Memory each placeholder reserves.")]


class NodeAllocatable(StrictModel):
    """What one node of the serving group offers pods (its allocatable: capacity minus system
    reservations and DaemonSets). Nothing is deployed from it: `mlstack plan` packs pods by it."""

    cpu: Annotated[CpuQuantity, Field(description="Allocatable CPU of one node.")]
    memory: Annotated[ByteQuantity, Field(description="Allocatable memory of one node.")]
    gpu: Annotated[int, Field(ge=0, description="GPUs of one node.")] = 0


class ClusterAutoscaling(StrictModel):
    """Node-level autoscaling (cluster-autoscaler) for the node group serving pods run on."""

    node_group: NodeGroupBounds
    node_allocatable: Annotated[
        NodeAllocatable | None,
        Field(description="One node's allocatable resources, for `mlstack plan` (optional)."),
    ] = None
    expander: Annotated[
        Literal["random", "most-pods", "least-waste", "price", "priority"],
        Field(description="How the autoscaler picks a node group to grow."),
    ] = "least-waste"
    scale_down_utilization_threshold: Annotated[
        float, Field(gt=0, le=1, description="Nodes below this use are scale-down candidates.")
    ] = 0.5
    scale_down_delay_after_add: Annotated[
        Duration, Field(description="Wait after a scale-up before any scale-down.")
    ] = "10m"
    scale_down_unneeded_time: Annotated[
        Duration, Field(description="How long a node must be unneeded before removal.")
    ] = "10m"
    headroom: Headroom


class SwarmCapacity(StrictModel):
    """Swarm has no autoscaler: a fixed replica count, spread across nodes."""

    replicas: Annotated[int, Field(ge=1, description="Tasks of the service.")]
    max_replicas_per_node: Annotated[int, Field(ge=0, description="0 means no limit.")] = 0


class Size(StrictModel):
    """A complete size preset after stack and model overrides are applied."""

    description: str = Field("", description="What the preset is for.")
    replicas: ReplicaBounds
    resources: Resources
    autoscaling: Autoscaling
    vertical_autoscaling: VerticalAutoscaling
    cluster_autoscaling: ClusterAutoscaling
    swarm: SwarmCapacity
