"""The overlay network every service of a stack joins."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_docker as docker

from components.settings import SwarmSettings


def overlay_network_name(settings: SwarmSettings, environment: str) -> str:
    return f"{settings.network.name}-{environment}"


def overlay_network_args(
    settings: SwarmSettings, environment: str, labels: Mapping[str, str]
) -> docker.NetworkArgs:
    """Swarm-scoped overlay. Attachable, so a one-off container (a debugging shell, a load
    test) can join it with `docker run --network`; IPsec encryption of the VXLAN traffic
    between nodes when `network.encrypted` (the data path, not only the control plane)."""
    return docker.NetworkArgs(
        name=overlay_network_name(settings, environment),
        driver="overlay",
        attachable=True,
        options={"encrypted": "true"} if settings.network.encrypted else None,
        labels=[docker.NetworkLabelArgs(label=key, value=value) for key, value in labels.items()],
    )
