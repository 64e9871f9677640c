"""Where and how the Docker Swarm serving stack is deployed (`mlstack:swarm`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from components.settings.base import DnsLabel, StrictModel


class NetworkSettings(StrictModel):
    name: Annotated[DnsLabel, Field(description="Overlay network name prefix.")] = "mlstack"
    encrypted: bool = Field(False, description="IPsec-encrypt overlay traffic between nodes.")


class ProxySettings(StrictModel):
    """A reverse proxy in front of dnsrr model tasks, for engines without IPVS (no VIP mesh)."""

    enabled: bool = Field(False, description="Put a reverse proxy in front of the models.")


class SwarmSettings(StrictModel):
    docker_host: Annotated[
        str, Field(description="Docker endpoint of a Swarm manager, e.g. ssh://admin@manager-1.")
    ] = "unix:///var/run/docker.sock"
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    endpoint_mode: Annotated[
        Literal["vip", "dnsrr"], Field(description="vip needs IPVS; dnsrr resolves to each task.")
    ] = "vip"
    publish_mode: Annotated[
        Literal["ingress", "host"],
        Field(description="ingress uses the routing mesh; host binds the port on the node."),
    ] = "ingress"
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    placement_constraints: list[str] = Field(
        default_factory=list, description="Swarm constraints, e.g. node.role==worker."
    )
    spread_over: Annotated[
        str | None,
        Field(description="Node label to spread replicas over, e.g. node.labels.zone."),
    ] = None
