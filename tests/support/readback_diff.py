"""Compare what a stack sends to pulumi-docker with what the provider records on reading it back
(tests/support/provider_read.py), as the next `pulumi up` would.

Inputs are recorded under pulumi-docker's names (camelCase, lists of blocks pluralised, one-item
blocks as objects); the provider's state uses Terraform's (snake_case, one-item blocks as
one-element lists). `differences` walks both, and reports:
- a field the program sets whose read-back value differs (a diff on every `up`), and
- a field read back that the program leaves out, unless the schema computes it (Computed: the
  provider keeps what it read) or it holds its schema default or zero value.
Fields the provider never reads back (it keeps the program's value) are skipped and listed here.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.provider_read import TfSet

# pulumi-docker names whose Terraform name is not their snake_case (bridge-metadata.json renames).
_TF_NAMES = {
    "networksAdvanceds": "networks_advanced",
    "capAdds": "cap_add",
    "capDrops": "cap_drop",
    "commands": "command",
    "tests": "test",
    "searches": "search",
    "ipamConfigs": "ipam_config",
    "discreteResourcesSpecs": "discrete_resources_spec",
    "namedResourcesSpecs": "named_resources_spec",
}

# Kept from the program's own inputs, never read from the engine (the Read functions do not
# set them): resourceDockerServiceReadRefreshFunc skips auth and converge_config;
# resourceDockerSecretRead sets only the name.
NOT_READ_BACK = {
    "service": {"auth", "converge_config"},
    "secret": {"data", "labels"},
    "network": set(),
}

# Fields the program may leave out although the Read records a value: Computed in the schema
# (the provider keeps what it read) or defaulted to exactly what the engine reports.
# resource_docker_service.go / resource_docker_network.go, v4.5.0. Paths without list indices.
STATE_ONLY = {
    "service": {
        "labels": "Computed",
        "task_spec.container_spec.stop_grace_period": "Computed",
        "task_spec.container_spec.init": "Computed",
        "task_spec.container_spec.healthcheck": "Computed",
        "task_spec.container_spec.dns_config": "Computed",
        "task_spec.resources": "Computed",
        "task_spec.container_spec.isolation": 'Default "default"',
        "task_spec.restart_policy": "Computed",
        "task_spec.placement": "Computed",
        "task_spec.force_update": "Computed",
        "task_spec.runtime": "Computed",
        "mode": "Computed",
        "mode.replicated": "Computed",
        "endpoint_spec": "Computed",
        "endpoint_spec.mode": "Computed",
        "endpoint_spec.ports.published_port": "Computed",
    },
    "network": {
        "driver": "Computed",
        "options": "Computed",
        "internal": "Computed",
        "ipam_config": "Computed",
        "scope": "Computed (read only)",
    },
    "secret": {},
}
# Map attributes (TypeMap): their keys are the program's own, not schema names.
MAPS = {
    "service": {
        "task_spec.container_spec.env",
        "task_spec.container_spec.sysctl",
        "task_spec.log_driver.options",
        "task_spec.container_spec.mounts.volume_options.driver_options",
    },
    "network": {"options", "ipam_options", "ipam_config.aux_address"},
    "secret": set(),
}
_DEFAULTS = {
    "service": {"task_spec.container_spec.isolation": "default"},
    "network": {"ipam_driver": "default"},
    "secret": {},
}


def tf_name(name: str) -> str:
    return _TF_NAMES.get(name) or re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _zero(value: Any) -> bool:
    return value in ("", 0, False, None) or (isinstance(value, list | dict) and not value)


def _scalar_equal(sent: Any, read: Any) -> bool:
    if isinstance(sent, bool) or isinstance(read, bool):
        return sent is read
    if isinstance(sent, int | float) and isinstance(read, int | float):
        return float(sent) == float(read)
    return bool(sent == read)


class _Walk:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.problems: list[str] = []

    def state_only_ok(self, tf_path: str, value: Any) -> bool:
        if _zero(value):
            return True
        if tf_path in STATE_ONLY[self.kind]:
            return True
        return bool(_DEFAULTS[self.kind].get(tf_path) == value)

    def matches(self, sent: Any, read: Any, where: str, tf_path: str) -> bool:
        before = len(self.problems)
        self.compare(sent, read, where, tf_path)
        if len(self.problems) == before:
            return True
        del self.problems[before:]
        return False

    def compare(self, sent: Any, read: Any, where: str, tf_path: str) -> None:
        if isinstance(sent, dict):
            if isinstance(read, list) and not isinstance(read, TfSet) and len(read) == 1:
                read = read[0]  # a block of at most one item (MaxItems: 1)
            if not isinstance(read, dict):
                self.problems.append(f"{where}: sent {sent!r}, read back {read!r}")
                return
            self.compare_object(sent, read, where, tf_path)
        elif isinstance(sent, list):
            self.compare_list(sent, read, where, tf_path)
        elif not _scalar_equal(sent, read):
            self.problems.append(f"{where}: sent {sent!r}, read back {read!r}")

    def compare_object(self, sent: dict[str, Any], read: dict[str, Any], where: str,
                       tf_path: str) -> None:  # fmt: skip
        is_map = tf_path in MAPS[self.kind]
        covered = set()
        for key, value in sent.items():
            name = key if is_map else tf_name(key)
            path = f"{tf_path}.{name}" if tf_path else name
            covered.add(name)
            if not tf_path and name in NOT_READ_BACK[self.kind]:
                continue
            if name not in read:
                if _zero(value):
                    continue
                self.problems.append(f"{where}.{key}: sent {value!r}, the provider reads nothing")
                continue
            self.compare(value, read[name], f"{where}.{key}", path)
        for name, value in read.items():
            path = f"{tf_path}.{name}" if tf_path else name
            if name in covered or self.state_only_ok(path, value):
                continue
            self.problems.append(
                f"{where}.{name}: read back {value!r}, which the program does not send"
            )

    def compare_list(self, sent: list[Any], read: Any, where: str, tf_path: str) -> None:
        if not isinstance(read, list):
            self.problems.append(f"{where}: sent {sent!r}, read back {read!r}")
            return
        if len(sent) != len(read):
            self.problems.append(f"{where}: sent {sent!r}, read back {read!r}")
            return
        if not isinstance(read, TfSet):
            for index, (one, other) in enumerate(zip(sent, read, strict=True)):
                self.compare(one, other, f"{where}[{index}]", tf_path)
            return
        rest = list(read)
        for index, one in enumerate(sent):
            found = next(
                (i for i, other in enumerate(rest)
                 if self.matches(one, other, f"{where}[{index}]", tf_path)),
                None,
            )  # fmt: skip
            if found is None:
                self.problems.append(f"{where}[{index}]: sent {one!r}, not among {rest!r}")
            else:
                del rest[found]


def differences(kind: str, sent: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """Every way `state` (the provider's record after Read) differs from `sent` (the inputs a
    stack declares, references resolved to engine IDs, secrets revealed). Empty: the next
    `pulumi up` finds nothing to change."""
    walk = _Walk(kind)
    walk.compare_object(sent, state, kind, "")
    return walk.problems
