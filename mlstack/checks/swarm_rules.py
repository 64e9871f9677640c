"""Checklist rules over the Docker Swarm services a stack declares (../shared/guide/CHECKLIST.md,
"Docker Swarm services"). The inputs are pulumi-docker's `docker.Service` arguments in wire
format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlstack.checks.base import Finding, rule
from mlstack.checks.inventory import Inventory, SwarmObject, get
from mlstack.checks.kubernetes_rules import MIN_ID, pinned, replicas_fix
from mlstack.components.go_duration import NANOS_PER_SECOND, DurationError, parse_go_duration
from mlstack.offline import mock_id
from mlstack.render import MASK

SECRET_FILE_MODE = 0o400
# Docker's healthcheck defaults, used when the service leaves a timing unset.
DEFAULT_INTERVAL, DEFAULT_RETRIES = 30.0, 3


def duration_seconds(text: Any) -> float | None:
    """A Go duration ("1m30s", "500ms") in seconds; None when it is not one."""
    try:
        return parse_go_duration(text) / NANOS_PER_SECOND
    except DurationError:
        return None


def _container(service: SwarmObject) -> dict[str, Any]:
    spec = get(service.inputs, "taskSpec", "containerSpec", default={})
    return spec if isinstance(spec, dict) else {}


def _finding(rule_id: str, service: SwarmObject, message: str, fix: str = "") -> Finding:
    return Finding(rule_id, service.label, message, fix)


def _health_verdict_seconds(service: SwarmObject) -> float:
    """How long the healthcheck takes to change its verdict: `retries` checks `interval` apart.
    The start period is not counted: Swarm reports a task running only once it is healthy, and
    the update monitor starts from there."""
    check = _container(service).get("healthcheck") or {}
    interval = duration_seconds(check.get("interval")) or DEFAULT_INTERVAL
    retries = check.get("retries") or DEFAULT_RETRIES
    return float(interval * retries)


def _publishes_host_ports(service: SwarmObject) -> bool:
    """Host-mode ports: a new task cannot bind the port while the old one holds it, so such a
    service can only update stop-first."""
    ports = get(service.inputs, "endpointSpec", "ports", default=[]) or []
    return any(get(port, "publishMode") == "host" for port in ports)


@rule(
    "SWARM-HEALTHCHECK",
    "Services declare a healthcheck",
    fix="a healthcheck test on the service (mlstack's services check /healthz)",
)
def healthcheck(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        tests = get(_container(service), "healthcheck", "tests", default=[]) or []
        if not tests or tests[0] == "NONE":
            yield _finding("SWARM-HEALTHCHECK", service, "no healthcheck test")


@rule(
    "SWARM-RESTART",
    "Restart policy on-failure with max attempts and a window",
    fix="restartPolicy condition: on-failure with maxAttempts and a window",
)
def restart_policy(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        policy = get(service.inputs, "taskSpec", "restartPolicy", default={}) or {}
        if policy.get("condition") != "on-failure":
            message = f"restart condition is {policy.get('condition')!r}, not 'on-failure'"
            yield _finding("SWARM-RESTART", service, message)
        if not policy.get("maxAttempts"):
            yield _finding("SWARM-RESTART", service, "restart policy sets no maxAttempts")
        if not duration_seconds(policy.get("window")):
            yield _finding("SWARM-RESTART", service, "restart policy sets no window")


@rule(
    "SWARM-UPDATE",
    "update_config: rollback on failure, start-first, monitor > healthcheck",
    fix=(
        "updateConfig failureAction: rollback, order: start-first (stop-first only for host-mode "
        "ports) and a monitor longer than healthcheck interval x retries"
    ),
)
def update_config(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        update = service.inputs.get("updateConfig") or {}
        if update.get("failureAction") != "rollback":
            message = f"updateConfig.failureAction is {update.get('failureAction')!r}, not rollback"
            yield _finding("SWARM-UPDATE", service, message)
        if update.get("order") != "start-first" and not _publishes_host_ports(service):
            message = f"updateConfig.order is {update.get('order')!r}, not start-first"
            yield _finding("SWARM-UPDATE", service, message)
        monitor = duration_seconds(update.get("monitor"))
        needed = _health_verdict_seconds(service)
        if monitor is None or monitor <= needed:
            message = (
                f"updateConfig.monitor {update.get('monitor')!r} is not longer than the "
                f"{needed:g} s the healthcheck needs for a verdict (interval x retries)"
            )
            yield _finding("SWARM-UPDATE", service, message)


@rule(
    "SWARM-ROLLBACK",
    "A rollback_config",
    fix="a rollbackConfig on the service",
)
def rollback_config(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        if not service.inputs.get("rollbackConfig"):
            yield _finding("SWARM-ROLLBACK", service, "no rollbackConfig")


@rule(
    "SWARM-READONLY",
    "Read-only root filesystem with a tmpfs at /tmp",
    fix="readOnly: true with a tmpfs mounted at /tmp",
)
def read_only(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        container = _container(service)
        if container.get("readOnly") is not True:
            yield _finding("SWARM-READONLY", service, "root filesystem is not read-only")
        if not any(
            get(mount, "type") == "tmpfs" and get(mount, "target") == "/tmp"  # noqa: S108
            for mount in container.get("mounts") or []
        ):
            yield _finding("SWARM-READONLY", service, "no tmpfs mounted at /tmp")


def _uid(user: Any) -> int | None:
    if not isinstance(user, str):
        return None
    head = user.split(":", 1)[0]
    return int(head) if head.isdigit() else None


@rule(
    "SWARM-USER",
    "Non-root user with UID >= 10000, capabilities dropped",
    fix="user: a numeric UID >= 10000 (mlstack's services run as 10001:10001) and capDrops: [ALL]",
)
def user(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        container = _container(service)
        uid = _uid(container.get("user"))
        if uid is None or uid < MIN_ID:
            message = f"user is {container.get('user')!r}; needs a numeric UID >= {MIN_ID}"
            yield _finding("SWARM-USER", service, message)
        if "ALL" not in (container.get("capDrops") or []):
            yield _finding("SWARM-USER", service, "capDrops does not hold ALL")
        if container.get("capAdds"):
            yield _finding("SWARM-USER", service, f"adds capabilities {container['capAdds']}")


@rule(
    "SWARM-LIMITS",
    "CPU and memory limits",
    fix="resources.cpu.limit and resources.memory.limit in the size (mlstack:overrides.resources)",
)
def limits(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        given = get(service.inputs, "taskSpec", "resources", "limits", default={}) or {}
        for key in ("nanoCpus", "memoryBytes"):
            if not given.get(key):
                yield _finding("SWARM-LIMITS", service, f"no {key} limit")


@rule(
    "SWARM-SECRETS",
    "Secrets as files owned by the runtime user, mode 0400; none in env",
    fix=(
        "secrets as files with fileMode 0400 owned by the service's user; in a stack, "
        "mlstack:secrets, never env"
    ),
)
def secrets(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        container = _container(service)
        for secret in container.get("secrets") or []:
            name = get(secret, "fileName")
            if get(secret, "fileMode") != SECRET_FILE_MODE:
                message = f"secret file {name}: mode {get(secret, 'fileMode')!r}, not 0400"
                yield _finding("SWARM-SECRETS", service, message)
            if _uid(get(secret, "fileUid")) != _uid(container.get("user")):
                message = f"secret file {name}: owner {get(secret, 'fileUid')!r} is not the user"
                yield _finding("SWARM-SECRETS", service, message)
        for key, value in (container.get("env") or {}).items():
            if value == MASK:
                message = f"env {key} holds a secret; mount it as a file"
                yield _finding("SWARM-SECRETS", service, message)


@rule(
    "SWARM-NETWORK",
    "Services join an overlay network this stack declares",
    fix="attach the service to the stack's overlay network (mlstack:swarm.network)",
)
def network(inventory: Inventory) -> Iterator[Finding]:
    overlays = set()
    for declared in inventory.networks:
        if declared.inputs.get("driver") == "overlay":
            overlays |= {declared.name, mock_id(declared.resource.name)}
    for service in inventory.services:
        attached = get(service.inputs, "taskSpec", "networksAdvanceds", default=[]) or []
        # pulumi-docker names the network by `id` (or the deprecated `name`)
        names = [get(entry, "id") or get(entry, "name") for entry in attached]
        if not any(name in overlays for name in names):
            message = f"networks {names} include no overlay network of this stack"
            yield _finding("SWARM-NETWORK", service, message)


@rule(
    "SWARM-SPREAD",
    "Replicas spread: max replicas per node or a placement preference",
    fix=(
        "placement maxReplicas per node or a spread preference (mlstack:swarm.spreadOver: "
        "node.labels.zone)"
    ),
)
def spread(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        if "global" in (service.inputs.get("mode") or {}):
            continue  # one task per node by definition
        placement = get(service.inputs, "taskSpec", "placement", default={}) or {}
        # The provider turns each `prefs` entry into a spread descriptor (node.labels.zone).
        if not placement.get("maxReplicas") and not placement.get("prefs"):
            message = "neither placement.maxReplicas nor a spread preference (placement.prefs)"
            yield _finding("SWARM-SPREAD", service, message)


@rule(
    "SWARM-REPLICAS",
    "Serving services run at least 2 replicas outside development stacks",
    fix=(
        "swarm.replicas: 2 or more in the size (mlstack:overrides.swarm.replicas); only "
        "development stacks (dev, local, dev-*, local-*) may run one"
    ),
)
def replicas(inventory: Inventory) -> Iterator[Finding]:
    if inventory.development:
        return
    for service in inventory.services:
        if "global" in (service.inputs.get("mode") or {}):
            continue  # a task on every node: as many as the swarm has nodes
        count = get(service.inputs, "mode", "replicated", "replicas", default=1)
        if service.serving and (not isinstance(count, int) or count < 2):
            message = f"replicas is {count}; at least 2 outside development"
            yield _finding(
                "SWARM-REPLICAS", service, message, replicas_fix(count, "swarm.replicas")
            )


@rule(
    "SWARM-IMAGE-PINNED",
    "Images pinned: a tag other than latest, or a digest",
    fix="an image with a tag other than latest, or a @sha256 digest",
)
def image_pinned(inventory: Inventory) -> Iterator[Finding]:
    for service in inventory.services:
        image = _container(service).get("image")
        if not pinned(image):
            yield _finding("SWARM-IMAGE-PINNED", service, f"image {image!r} is not pinned")
