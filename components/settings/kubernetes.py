"""Where and how the Kubernetes serving stack is deployed (`mlstack:kubernetes`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import DnsLabel, PinnedImage, StrictModel

# Same minor version as the cluster is what the cluster-autoscaler project asks for. Pinned by the
# multi-arch index digest registry.k8s.io serves for the tag, as recorded by the Kubernetes image
# promoter (kubernetes/k8s.io, registry.k8s.io/images/k8s-staging-autoscaling/images.yaml,
# `cluster-autoscaler` v1.31.1, at commit fe84f3f631bc), so the image cannot change under the tag.
DEFAULT_CLUSTER_AUTOSCALER_IMAGE = (
    "registry.k8s.io/autoscaling/cluster-autoscaler:v1.31.1"
    "@sha256:b1d8dff49af7a66389daa7ac0dcd19d484067403c215801c30bb5871e47fce77"
)
# The pause image of Kubernetes 1.31+ (does nothing, holds the headroom's requests), pinned by
# its multi-arch index digest so the placeholder can never change under the same tag.
DEFAULT_HEADROOM_IMAGE = (
    "registry.k8s.io/pause:3.10"
    "@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a"
)


class PriorityClassSettings(StrictModel):
    """Serving pods outrank the headroom placeholders, so they preempt them for capacity."""

    name: Annotated[DnsLabel, Field(description="PriorityClass of serving pods.")] = (
        "mlstack-serving"
    )
    value: Annotated[
        int, Field(ge=1, le=1_000_000_000, description="Above the headroom placeholders (< 0).")
    ] = 100_000


class ClusterAutoscalerSettings(StrictModel):
    """Deploy cluster-autoscaler itself; node-group bounds come from the size preset."""

    enabled: bool = Field(False, description="Deploy cluster-autoscaler into the cluster.")
    cloud_provider: Annotated[
        Literal["aws", "gce", "azure", "clusterapi", "oci", "hetzner"],
        Field(description="--cloud-provider of the cluster-autoscaler."),
    ] = "aws"
    node_group: Annotated[
        str | None,
        Field(
            description="Name of the cloud node group serving pods run on (required if enabled)."
        ),
    ] = None
    image: PinnedImage = Field(
        DEFAULT_CLUSTER_AUTOSCALER_IMAGE, description="Match the cluster's minor version."
    )
    namespace: Annotated[
        DnsLabel, Field(description="Where the autoscaler runs (an existing namespace).")
    ] = "kube-system"
    service_account_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="On its ServiceAccount, e.g. eks.amazonaws.com/role-arn for cloud access.",
    )


class Toleration(StrictModel):
    key: str = Field(description="Taint key GPU nodes carry.")
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = Field(None, description="Taint value (operator Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class GpuScheduling(StrictModel):
    """How GPU pods find GPU nodes (used only when the size asks for GPUs)."""

    resource_name: str = Field("nvidia.com/gpu", description="Extended resource to limit.")
    node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nvidia.com/gpu.present": "true"},
        description="Labels of GPU nodes.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=lambda: [Toleration(key="nvidia.com/gpu")],
        description="Taints of GPU nodes that GPU pods tolerate.",
    )


class KubernetesSettings(StrictModel):
    context: Annotated[str | None, Field(description="kubeconfig context; default: current.")] = (
        None
    )
    kubeconfig: Annotated[
        str | None, Field(description="kubeconfig path; default: $KUBECONFIG.")
    ] = None
    namespace: Annotated[DnsLabel, Field(description="Namespace models are served in.")] = (
        "ml-serving"
    )
    create_namespace: bool = Field(True, description="Declare the namespace (false: it exists).")
    priority_class: PriorityClassSettings = Field(default_factory=PriorityClassSettings)
    cluster_autoscaler: ClusterAutoscalerSettings = Field(default_factory=ClusterAutoscalerSettings)
    gpu: GpuScheduling = Field(default_factory=GpuScheduling)
    headroom_image: PinnedImage = Field(
        DEFAULT_HEADROOM_IMAGE,
        description="Image of the headroom placeholder pods (mirror it for air-gapped clusters).",
    )
