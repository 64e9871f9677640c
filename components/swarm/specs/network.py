"""The overlay network every service of a stack joins."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import pulumi_docker as docker

from ...settings import SwarmSettings
from ...settings.swarm import VXLAN_ID_MAX

# The overlay driver's options: the engine records the VXLAN ID it allocates among them.
VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
ENCRYPTED_OPTION = "encrypted"
DRIVER = "overlay"
# Derived IDs sit far above the ones the engine hands out itself (4097 upwards, one per network).
DERIVED_VXLAN_ID_MIN = 2**20


def overlay_network_name(
    settings: SwarmSettings, environment: str, labels: Mapping[str, str]
) -> str:
    """`<network.name>-<environment>-<hash>`: the hash covers everything else the network is
    created with. Every argument of a Docker network forces its replacement, and services stay
    attached to the old network until they are moved: under a fixed name the replacement could
    neither be created first (the name is taken) nor the old one deleted first (Docker refuses
    to remove a network in use). A changed network gets a new name, so it is created beside the
    old one, the services move to it, and the old one is deleted last."""
    content = json.dumps(
        {
            "driver": DRIVER,
            "attachable": True,
            "encrypted": settings.network.encrypted,
            "vxlanId": settings.network.vxlan_id,
            "labels": dict(sorted(labels.items())),
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(content.encode()).hexdigest()[:8]
    return f"{settings.network.name}-{environment}-{digest}"


def overlay_vxlan_id(settings: SwarmSettings, environment: str, labels: Mapping[str, str]) -> int:
    """The configured VXLAN ID, or one derived from the network's name (stable across runs and
    clones, different per stack, and different for a replacement that lives beside the old
    network for a moment: the engine gives a VXLAN ID to one network at a time)."""
    if settings.network.vxlan_id is not None:
        return settings.network.vxlan_id
    name = overlay_network_name(settings, environment, labels)
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return DERIVED_VXLAN_ID_MIN + digest % (VXLAN_ID_MAX - DERIVED_VXLAN_ID_MIN + 1)


def overlay_options(
    settings: SwarmSettings, environment: str, labels: Mapping[str, str]
) -> dict[str, str]:
    """The driver options exactly as the engine records them, so the provider reads back what it
    was sent: pulumi-docker keeps the engine's whole option map, and `options` replaces the
    network on any difference (terraform-provider-docker v4.5.0 resource_docker_network.go:
    Optional, Computed, ForceNew). Left to the engine, the VXLAN ID it adds would replace the
    network on every `pulumi up` once encryption is on; and without options at all, turning
    encryption off would go unnoticed (an omitted Computed map keeps the old one)."""
    options = {VXLAN_OPTION: str(overlay_vxlan_id(settings, environment, labels))}
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
        name=overlay_network_name(settings, environment, labels),
        driver=DRIVER,
        attachable=True,
        options=overlay_options(settings, environment, labels),
        labels=[docker.NetworkLabelArgs(label=key, value=value) for key, value in labels.items()],
    )
