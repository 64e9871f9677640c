"""Where and how the Docker Swarm serving stack is deployed (`mlstack:swarm`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import ByteQuantity, CpuQuantity, DnsLabel, StrictModel

EndpointMode = Literal["vip", "dnsrr"]
PublishMode = Literal["ingress", "host"]


# VXLAN network identifiers an overlay network may take (libnetwork's overlay allocator hands out
# 4097 upwards itself; 2^24 - 1 is the largest VNI).
VXLAN_ID_MIN = 4097
VXLAN_ID_MAX = 2**24 - 1


class NetworkSettings(StrictModel):
    name: Annotated[
        DnsLabel,
        Field(
            description=(
                "Overlay network name prefix: the network is <name>-<environment>-<hash of its "
                "settings>, so a changed network is created beside the old one."
            )
        ),
    ] = "mlstack"
    encrypted: bool = Field(False, description="IPsec-encrypt overlay traffic between nodes.")
    vxlan_id: Annotated[
        int | None,
        Field(
            ge=VXLAN_ID_MIN,
            le=VXLAN_ID_MAX,
            description=(
                "VXLAN ID of the overlay network; default: derived from its name (from 2^20 up). "
                "Set another if a network already uses it (the new one would stay unallocated); "
                "a set ID also needs a new value when `encrypted` changes, since the replacement "
                "network is created while the old one still holds the ID."
            ),
        ),
    ] = None


class ProxyCpu(StrictModel):
    request: Annotated[CpuQuantity, Field(description="Proxy CPU reservation.")] = "100m"
    limit: Annotated[CpuQuantity, Field(description="Proxy CPU limit; sets nginx workers.")] = (
        "500m"
    )


class ProxyMemory(StrictModel):
    request: Annotated[ByteQuantity, Field(description="Proxy memory reservation.")] = "32Mi"
    limit: Annotated[ByteQuantity, Field(description="Proxy memory limit (OOM-killed above).")] = (
        "128Mi"
    )


class ProxyResources(StrictModel):
    cpu: ProxyCpu = Field(default_factory=ProxyCpu)
    memory: ProxyMemory = Field(default_factory=ProxyMemory)


class ProxySettings(StrictModel):
    """An nginx reverse proxy in front of the models: it publishes each model's host port,
    re-resolves the model's tasks through Swarm DNS and retries a failed or draining task on
    another, so rolling updates drop no request even without IPVS (no VIP routing mesh)."""

    enabled: bool = Field(False, description="Put a reverse proxy in front of the models.")
    replicas: Annotated[
        int,
        Field(
            ge=1,
            description="Proxy tasks with publishMode ingress; with host, one runs on every node.",
        ),
    ] = 2
    resources: ProxyResources = Field(default_factory=ProxyResources)
    placement_constraints: list[str] = Field(
        default_factory=list,
        description="Nodes the proxy runs on (edge nodes), e.g. node.labels.edge==true.",
    )
    next_upstream_tries: Annotated[
        int,
        Field(ge=2, le=10, description="Tasks one request may try before the proxy gives up."),
    ] = 3
    read_timeout_seconds: Annotated[
        int, Field(ge=1, le=3600, description="Longest wait for a model's answer.")
    ] = 60


class SwarmSettings(StrictModel):
    docker_host: Annotated[
        str, Field(description="Docker endpoint of a Swarm manager, e.g. ssh://admin@manager-1.")
    ] = "unix:///var/run/docker.sock"
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    endpoint_mode: Annotated[
        EndpointMode, Field(description="vip needs IPVS; dnsrr resolves to each task.")
    ] = "vip"
    publish_mode: Annotated[
        PublishMode,
        Field(description="ingress uses the routing mesh; host binds the port on the node."),
    ] = "ingress"
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    placement_constraints: list[str] = Field(
        default_factory=list, description="Swarm constraints, e.g. node.role==worker."
    )
    spread_over: Annotated[
        str | None,
        Field(
            pattern=r"^(node|engine)\.labels\.[A-Za-z0-9_.-]+$",
            description="Node label to spread replicas over, e.g. node.labels.zone.",
        ),
    ] = None
    gpu_resource: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9_.-]+$",
            description="Generic resource GPU nodes advertise (dockerd --node-generic-resource).",
        ),
    ] = "NVIDIA-GPU"
