"""SwarmPlatform: what every model of a stack shares on a Swarm."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.settings import SwarmSettings


@dataclass(frozen=True)
class SwarmPlatformArgs:
    settings: SwarmSettings
    environment: str


class SwarmPlatform(pulumi.ComponentResource):
    """The explicit Docker provider (a Swarm manager) and the overlay network models join."""

    provider: docker.Provider
    network_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: SwarmPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlstack:swarm:Platform", name, None, opts)
        settings = args.settings
        self.provider = docker.Provider(
            f"{name}-provider", host=settings.docker_host, opts=pulumi.ResourceOptions(parent=self)
        )
        network = docker.Network(
            f"{name}-network",
            name=f"{settings.network.name}-{args.environment}",
            driver="overlay",
            attachable=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
        self.network_id = network.id
        self.register_outputs({"networkId": self.network_id})
