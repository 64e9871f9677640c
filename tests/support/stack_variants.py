"""Stack configurations that, together, make the program declare every resource it can.

The checked-in stacks (dev, staging, prod) plus variants that turn on what they leave off: model
secrets, a registry with credentials (Swarm service auth, the Kubernetes pull secret), Swarm
without the proxy and with an encrypted network. Tests that must hold for every declared resource
(the replacement table, the resource options) record all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from mlstack.offline import Recording
from tests.support.harness import run_stack

SECRETS = {"mlstack:secrets": {"iris": {"token": "variant-token"}}}
REGISTRY = {
    "mlstack:image": {"registry": "registry.example.com/ml", "push": True, "registryUsername": "ci"}
}
PASSWORD = {"mlstack:registryPassword": "variant-password"}


@dataclass(frozen=True)
class Variant:
    name: str
    stack: str
    config: dict[str, Any] = field(default_factory=dict)
    secret_config: dict[str, Any] = field(default_factory=dict)


VARIANTS = (
    Variant("dev", "dev", secret_config=SECRETS),
    Variant("dev-registry", "dev", REGISTRY, {**SECRETS, **PASSWORD}),
    Variant(
        "dev-no-proxy-encrypted",
        "dev",
        {
            "mlstack:swarm": {
                "endpointMode": "vip",
                "publishMode": "ingress",
                "network": {"encrypted": True},
            }
        },
    ),
    Variant("staging", "staging", secret_config=SECRETS),
    Variant("staging-registry-user", "staging", REGISTRY, {**SECRETS, **PASSWORD}),
    Variant("prod", "prod", secret_config=SECRETS),
)


@cache
def recorded(name: str) -> Recording:
    (variant,) = [v for v in VARIANTS if v.name == name]
    return run_stack(variant.stack, config=variant.config, secret_config=variant.secret_config)


def all_recordings() -> dict[str, Recording]:
    return {variant.name: recorded(variant.name) for variant in VARIANTS}
