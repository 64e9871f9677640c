"""Before a Swarm stack is deployed: can the target engine route what the stack publishes?

Swarm's routing mesh (`publishMode: ingress`) and service VIPs (`endpointMode: vip`, also how
the reverse proxy would reach the models) are built on the kernel's IPVS. On an engine without it
the services deploy and converge, yet their published ports answer nothing and nothing warns.
`dnsrr` endpoints with `host`-mode ports need no IPVS, and the reverse proxy in front of them
keeps rolling updates free of dropped requests; that is what to set on such an engine.

IPVS is visible from this machine only for a local engine (a unix socket, or TCP on loopback):
/proc/net/ip_vs exists once the ip_vs module is loaded, and the kernel loads it on demand when
/lib/modules/<release> has it (or it is built in). A remote engine's kernel cannot be seen from
here: the check then says what to set if that engine lacks IPVS, and lets the deployment go on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mlstack.components.settings.swarm import SwarmSettings

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
FIX_KEYS = (
    "mlstack:swarm:",
    "  endpointMode: dnsrr",
    "  publishMode: host",
    "  proxy:",
    "    enabled: true",
)


@dataclass(frozen=True)
class Ipvs:
    """Whether a kernel has IPVS (None: it cannot be told from here), and what showed it."""

    available: bool | None
    evidence: str


def needs_ipvs(swarm: SwarmSettings) -> list[str]:
    """The stack's settings that only work with IPVS, as `key: value`."""
    needed = []
    if swarm.endpoint_mode == "vip":
        needed.append("endpointMode: vip (service addresses are IPVS virtual IPs)")
    if swarm.publish_mode == "ingress":
        needed.append("publishMode: ingress (the routing mesh is IPVS)")
    return needed


def is_local(docker_host: str) -> bool:
    parsed = urlparse(docker_host)
    if parsed.scheme == "unix":
        return True
    return parsed.scheme in ("tcp", "http", "https") and parsed.hostname in LOOPBACK_HOSTS


def local_ipvs(proc: Path = Path("/proc"), modules: Path = Path("/lib/modules")) -> Ipvs:
    """IPVS of the kernel this process runs on (a local engine's kernel)."""
    if (proc / "net" / "ip_vs").exists():
        return Ipvs(True, "/proc/net/ip_vs exists (the ip_vs module is loaded)")
    release = os.uname().release
    directory = modules / release
    for index in ("modules.builtin", "modules.dep"):
        listing = directory / index
        if listing.is_file() and _lists_ip_vs(
            listing.read_text(encoding="utf-8", errors="replace")
        ):
            return Ipvs(True, f"{listing} has ip_vs (the kernel loads it on demand)")
    return Ipvs(
        False,
        f"no /proc/net/ip_vs and no ip_vs module for kernel {release} in {directory}",
    )


def _lists_ip_vs(text: str) -> bool:
    for line in text.splitlines():
        module = line.split(":", 1)[0].rsplit("/", 1)[-1]
        if module.split(".ko", 1)[0] == "ip_vs" and ".ko" in module:
            return True
    return False


def check_swarm_engine(
    swarm: SwarmSettings, stack_file: str, *, probe: Ipvs | None = None
) -> tuple[list[str], list[str]]:
    """(errors, warnings) about deploying `swarm` to its engine; errors stop a deployment.
    `probe` is the local kernel's IPVS (looked up when not given)."""
    needed = needs_ipvs(swarm)
    if not needed:
        return [], []
    host = swarm.docker_host
    fix = [f"Set in {stack_file}:", *(f"  {line}" for line in FIX_KEYS)]
    if not is_local(host):
        return [], [
            f"{stack_file}: cannot tell from here whether the engine at {host} has IPVS, which "
            f"{' and '.join(needed)} need. On an engine without it the published ports answer "
            "nothing.",
            *fix,
        ]
    ipvs = probe if probe is not None else local_ipvs()
    if ipvs.available:
        return [], []
    return [
        f"{stack_file}: the engine at {host} has no IPVS ({ipvs.evidence}), so "
        f"{' and '.join(needed)} would deploy services whose published ports answer nothing.",
        *fix,
        "dnsrr resolves a service to each task, host mode binds the port on the node, and the "
        "proxy publishes each model's port and spreads requests over its tasks.",
    ], []
