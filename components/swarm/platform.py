"""SwarmPlatform: what every model of a stack shares on a Swarm."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from ..labels import stack_labels
from ..settings import SwarmSettings
from .specs.network import overlay_network_args

TYPE = "mlstack:swarm:Platform"


@dataclass(frozen=True)
class SwarmPlatformArgs:
    settings: SwarmSettings
    """Engine endpoint and network settings (`mlstack:swarm`)."""
    environment: str
    """Stack name; suffixes the network name and labels it."""
    provider: docker.Provider | None = None
    """An existing Docker provider (a Swarm manager) to declare everything with; None: one of
    this platform's own, for `settings.docker_host`."""


class SwarmPlatform(pulumi.ComponentResource):
    """The explicit Docker provider (a Swarm manager; the caller's, or its own) and the overlay
    network every service of the stack joins.

    Outputs: `network_id` (what services attach by) and `network_name`.
    """

    provider: docker.Provider
    network_id: pulumi.Output[str]
    network_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: SwarmPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        settings = args.settings
        self.provider = args.provider or docker.Provider(
            f"{name}-provider", host=settings.docker_host, opts=pulumi.ResourceOptions(parent=self)
        )
        network = docker.Network(
            f"{name}-network",
            overlay_network_args(
                settings, args.environment, stack_labels(args.environment, "network")
            ),
            # Every argument replaces it, and its name is a hash of them: the replacement is
            # created first, the services move to it (the network ID they attach by is
            # replace-only), and the old network, no longer in use, is deleted last. False, not
            # unset: the bridge would otherwise delete first for a user-set name.
            opts=pulumi.ResourceOptions(
                parent=self, provider=self.provider, delete_before_replace=False
            ),
        )
        self.network_id = network.id
        self.network_name = network.name
        self.register_outputs({"networkId": self.network_id, "networkName": self.network_name})
