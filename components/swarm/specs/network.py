"""The overlay network every service of a stack joins."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pulumi_docker as docker

from ...settings import SwarmSettings
from ...settings.swarm import VXLAN_ID_MAX

# The overlay driver's options: the engine records the VXLAN ID it allocates among them.
VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
ENCRYPTED_OPTION = "encrypted"
# Derived IDs sit far above the ones the engine hands out itself (4097 upwards, one per network).
DERIVED_VXLAN_ID_MIN = 2**20


def overlay_network_name(settings: SwarmSettings, environment: str) -> str:
    return f"{settings.network.name}-{environment}"


def overlay_vxlan_id(settings: SwarmSettings, environment: str) -> int:
    """The configured VXLAN ID, or one derived from the network's name (stable across runs and
    clones, different per stack)."""
    if settings.network.vxlan_id is not None:
        return settings.network.vxlan_id
    name = overlay_network_name(settings, environment)
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return DERIVED_VXLAN_ID_MIN + digest % (VXLAN_ID_MAX - DERIVED_VXLAN_ID_MIN + 1)


def overlay_options(settings: SwarmSettings, environment: str) -> dict[str, str]:
    """The driver options exactly as the engine records them, so the provider reads back what it
    was sent: pulumi-docker keeps the engine's whole option map, and `options` replaces the
    network on any difference (terraform-provider-docker v4.5.0 resource_docker_network.go:
    Optional, Computed, ForceNew). Left to the engine, the VXLAN ID it adds would replace the
    network on every `pulumi up` once encryption is on; and without options at all, turning
    encryption off would go unnoticed (an omitted Computed map keeps the old one)."""
    options = {VXLAN_OPTION: str(overlay_vxlan_id(settings, environment))}
    if settings.network.encrypted:
        options[ENCRYPTED_OPTION] = "true"
    return options


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
        options=overlay_options(settings, environment),
        labels=[docker.NetworkLabelArgs(label=key, value=value) for key, value in labels.items()],
    )
