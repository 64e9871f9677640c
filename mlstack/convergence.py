"""Why a Swarm stack's services have not converged, in the engine's own words.

`pulumi up` waits (pulumi-docker's convergeConfig) until every task of a service runs healthy,
and when it gives up it says only that it timed out. The reason is on the engine: a task the
scheduler cannot place stays `pending` with an error such as "no suitable node (insufficient
resources on 3 nodes)", a task that crashes is `failed` with its exit code, an update that went
wrong says so in the service's UpdateStatus. `why_not_converged` reads exactly that from a
manager (tasks, nodes, the service's spec) and says it in one line per service, plus what the
tasks reserve against what the nodes offer when resources are short. `ConvergenceWatch` does it
in the background while `mlstack up` waits, printing what changed, and keeps the last report for
the error when the wait fails.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker

from mlstack.offline import Recording

SERVICE_TYPE = "docker:index/service:Service"
PROVIDER_TYPE = "pulumi:providers:docker"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"  # the provider's default
UPDATING = frozenset({"updating", "paused", "rollback_started", "rollback_paused"})
ROLLED_BACK = frozenset({"rollback_completed"})
FAILED_STATES = frozenset({"failed", "rejected"})
Json = dict[str, Any]


@dataclass(frozen=True)
class SwarmTarget:
    """A Swarm service a stack declares and the engine (a manager) it is declared on."""

    service: str
    docker_host: str


def swarm_targets(recording: Recording) -> list[SwarmTarget]:
    """Every docker.Service of a recording, with its provider's `host`."""
    hosts = {
        resource.urn: str(resource.inputs.get("host") or DEFAULT_DOCKER_HOST)
        for resource in recording.resources
        if resource.type == PROVIDER_TYPE
    }
    targets = []
    for service in recording.of_type(SERVICE_TYPE):
        provider_urn = (service.provider or "").rsplit("::", 1)[0]  # "<urn>::<id>"
        host = hosts.get(provider_urn, DEFAULT_DOCKER_HOST)
        targets.append(SwarmTarget(str(service.inputs["name"]), host))
    return targets


def engine_client(docker_host: str) -> docker.APIClient:
    """A low-level client for `docker_host` (unix://, tcp://, or ssh:// through the ssh CLI,
    the way the provider reaches it)."""
    return docker.APIClient(
        base_url=docker_host, use_ssh_client=docker_host.startswith("ssh://"), timeout=30
    )


# --- one service -------------------------------------------------------------------------------


def _cpus(nanos: int) -> str:
    return f"{nanos / 1e9:g} CPU"


def _bytes(amount: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if amount >= size:
            return f"{amount / size:.3g} {unit}"
    return f"{amount} B"


def _generic(resources: Json | None) -> Counter[str]:
    """Discrete generic resources (NVIDIA-GPU=1) by kind; a named one counts 1."""
    counts: Counter[str] = Counter()
    for entry in (resources or {}).get("GenericResources") or []:
        if "DiscreteResourceSpec" in entry:
            spec = entry["DiscreteResourceSpec"]
            counts[spec["Kind"]] += int(spec["Value"])
        elif "NamedResourceSpec" in entry:
            counts[entry["NamedResourceSpec"]["Kind"]] += 1
    return counts


def _timestamp(text: str | None) -> datetime | None:
    """The engine's RFC 3339 times carry nanoseconds, which fromisoformat does not take."""
    if not text:
        return None
    head, _, fraction = text.rstrip("Z").partition(".")
    micros = (fraction + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{micros}+00:00")


@dataclass(frozen=True)
class ServiceReport:
    name: str
    desired: int | None  # replicas; None for a global service (one task per eligible node)
    running: int
    waiting: tuple[tuple[str, int], ...]  # ("pending: no suitable node (...)", 2), ...
    failures: tuple[tuple[str, int], ...]  # task errors since the spec last changed
    update: str | None  # "rollback_started: update rolled back due to ..."
    hints: tuple[str, ...]

    @property
    def converged(self) -> bool:
        enough = self.running >= 1 if self.desired is None else self.running == self.desired
        return enough and not self.waiting and self.update is None

    def lines(self) -> list[str]:
        if self.desired is None:
            parts = [f"{self.running} tasks running (global: one per eligible node)"]
        else:
            parts = [f"{self.running} of {self.desired} tasks running"]
        parts += [f"{count} {what}" for what, count in self.waiting]
        missing = (self.desired or 0) - self.running - sum(count for _, count in self.waiting)
        if missing > 0:
            parts.append(
                f"{missing} with no task (not created yet, or not replaced: Swarm moves a lost "
                "or drained node's tasks through the restart policy, and a replica that used up "
                "its maxAttempts within the window waits for the next update of the service)"
            )
        parts += [f"{count} failed since the last change: {err}" for err, count in self.failures]
        if self.update is not None:
            parts.append(f"update {self.update}")
        return [f"{self.name}: " + "; ".join(parts), *(f"  {hint}" for hint in self.hints)]


def _node_names(nodes: Iterable[Json]) -> dict[str, str]:
    return {n["ID"]: n["Description"]["Hostname"] for n in nodes}


def _resource_hints(service: Json, nodes: list[Json], tasks: list[Json]) -> list[str]:
    """What one task reserves, against what each node has left (its resources minus what the
    tasks meant to run on it reserve), and which nodes advertise each generic resource."""
    reserved = (service["Spec"]["TaskTemplate"].get("Resources") or {}).get("Reservations") or {}
    needs = []
    if reserved.get("NanoCPUs"):
        needs.append(_cpus(reserved["NanoCPUs"]))
    if reserved.get("MemoryBytes"):
        needs.append(_bytes(reserved["MemoryBytes"]))
    wanted = _generic(reserved)
    needs += [f"{kind}={count}" for kind, count in sorted(wanted.items())]
    if not needs:
        return []
    used: dict[str, list[Json]] = {}
    for task in tasks:
        if task.get("DesiredState") == "running" and task.get("NodeID"):
            used.setdefault(task["NodeID"], []).append(
                (task["Spec"].get("Resources") or {}).get("Reservations") or {}
            )
    free = []
    offering: dict[str, list[str]] = {kind: [] for kind in wanted}
    for node in sorted(nodes, key=lambda n: str(n["Description"]["Hostname"])):
        name = node["Description"]["Hostname"]
        total = node["Description"].get("Resources") or {}
        state = f"{node['Status']['State']}, {node['Spec']['Availability']}"
        advertised = _generic(total)
        for kind in wanted:
            if advertised[kind]:
                offering[kind].append(f"{name} ({advertised[kind]}, {state})")
        if (node["Status"]["State"], node["Spec"]["Availability"]) != ("ready", "active"):
            continue
        claims = used.get(node["ID"], [])
        cpu = total.get("NanoCPUs", 0) - sum(c.get("NanoCPUs", 0) for c in claims)
        memory = total.get("MemoryBytes", 0) - sum(c.get("MemoryBytes", 0) for c in claims)
        left = advertised - sum((_generic(c) for c in claims), Counter())
        extra = "".join(f", {kind}={left[kind]}" for kind in sorted(wanted))
        free.append(f"{name} {_cpus(cpu)}, {_bytes(memory)}{extra}")
    hints = [
        f"each task reserves {', '.join(needs)}; left on ready active nodes: "
        + ("; ".join(free) or "none")
    ]
    for kind, where in sorted(offering.items()):
        hints.append(
            f"nodes advertising {kind}: {', '.join(where)}"
            if where
            else f"no node advertises {kind} (dockerd --node-generic-resource {kind}=...)"
        )
    return hints


def _slots(tasks: Iterable[Json]) -> dict[str, list[Json]]:
    """The tasks meant to run, by replica slot (a global service's by node). During a
    start-first update a slot has two: the old one running, the new one starting."""
    slots: dict[str, list[Json]] = {}
    for task in tasks:
        if task.get("DesiredState") == "running":
            key = f"slot {task['Slot']}" if task.get("Slot") else f"node {task.get('NodeID')}"
            slots.setdefault(key, []).append(task)
    return slots


def service_report(api: docker.APIClient, name: str) -> ServiceReport:
    """Where service `name` stands, from a manager's view of its tasks and the nodes."""
    service = api.inspect_service(name)
    spec = service["Spec"]
    replicated = spec.get("Mode", {}).get("Replicated")
    desired = None if replicated is None else int(replicated.get("Replicas", 1))
    nodes = api.nodes()
    names, states = _node_names(nodes), {n["ID"]: n["Status"]["State"] for n in nodes}
    tasks = api.tasks(filters={"service": service["ID"]})
    running = 0
    waiting: Counter[str] = Counter()
    for slot in _slots(tasks).values():
        live = [t for t in slot if (t.get("Status") or {}).get("State") == "running"]
        if any(states.get(str(t.get("NodeID"))) != "down" for t in live):
            running += 1
        elif live:
            node = str(live[0].get("NodeID"))
            waiting[f"running on {names.get(node, node)}, a node that is down"] += 1
        else:  # the newest attempt says where the slot stands
            status = max(slot, key=lambda t: str(t.get("CreatedAt"))).get("Status") or {}
            state = status.get("State", "unknown")
            waiting[f"{state}: {status['Err']}" if status.get("Err") else state] += 1
    changed = _timestamp(service.get("UpdatedAt"))
    failures: Counter[str] = Counter()
    for task in tasks:
        status = task.get("Status") or {}
        when = _timestamp(status.get("Timestamp"))
        if status.get("State") in FAILED_STATES and (changed is None or (when and when >= changed)):
            failures[status.get("Err") or status.get("Message") or status["State"]] += 1
    update_status = service.get("UpdateStatus") or {}
    update = None
    if update_status.get("State") in UPDATING | ROLLED_BACK:
        update = f"{update_status['State']}: {update_status.get('Message', '')}".rstrip(": ")
    short = any("insufficient resources" in what for what in waiting)
    hints = _resource_hints(service, nodes, api.tasks()) if short else []
    return ServiceReport(
        name=spec["Name"],
        desired=desired,
        running=running,
        waiting=tuple(sorted(waiting.items())),
        failures=tuple(sorted(failures.items())),
        update=update,
        hints=tuple(hints),
    )


MISSING = "not on the engine (not created yet, or removed)"


def explain_services(api: docker.APIClient, services: Sequence[str]) -> dict[str, list[str]]:
    """Service -> its report lines, for each service that has not converged."""
    found: dict[str, list[str]] = {}
    for name in services:
        try:
            report = service_report(api, name)
        except docker.errors.NotFound:
            found[name] = [f"{name}: {MISSING}"]
            continue
        if not report.converged:
            found[name] = report.lines()
    return found


def why_not_converged(api: docker.APIClient, services: Sequence[str]) -> list[str]:
    """One line (and hints) per service that has not converged; empty when all have."""
    return [line for lines in explain_services(api, services).values() for line in lines]


# --- while `mlstack up` waits --------------------------------------------------------------------


class ConvergenceWatch:
    """Polls the stack's services every `interval` seconds in a background thread and echoes
    the report whenever it changes. It never raises: an engine it cannot read is a line of the
    report. `final_report()` reads once more for the error of a failed wait; a service the
    provider has removed meanwhile (pulumi-docker deletes a service that did not converge on
    create) is reported as it was last seen."""

    def __init__(
        self,
        targets: Sequence[SwarmTarget],
        echo: Callable[[str], None],
        *,
        interval: float = 15.0,
        connect: Callable[[str], docker.APIClient] = engine_client,
    ) -> None:
        self.targets, self.echo, self.interval, self.connect = targets, echo, interval, connect
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clients: dict[str, docker.APIClient] = {}
        self._seen: dict[str, tuple[str, list[str]]] = {}  # service -> (when, its lines)
        self._lock = threading.Lock()  # the poller and final_report() share the clients

    def _read(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        by_host: dict[str, list[str]] = {}
        for target in self.targets:
            by_host.setdefault(target.docker_host, []).append(target.service)
        for host, services in by_host.items():
            try:
                if host not in self._clients:
                    self._clients[host] = self.connect(host)
                found.update(explain_services(self._clients[host], services))
            except Exception as error:  # noqa: BLE001 - a diagnosis must never break the deploy
                found[host] = [f"cannot read the Swarm's tasks from {host}: {error}"]
        return found

    def report(self) -> list[str]:
        """Why the services have not converged, read now."""
        with self._lock:
            found = self._read()
            now = time.strftime("%H:%M:%S")
            for service, lines in found.items():
                if lines != [f"{service}: {MISSING}"]:
                    self._seen[service] = (now, lines)
        return [line for lines in found.values() for line in lines]

    def final_report(self) -> list[str]:
        with self._lock:
            found = self._read()
        lines: list[str] = []
        for service, now in found.items():
            if now == [f"{service}: {MISSING}"] and service in self._seen:
                when, seen = self._seen[service]
                lines += [f"{seen[0]} (as last seen at {when}; the service is gone now)", *seen[1:]]
            else:
                lines += now
        return lines

    def _poll(self) -> None:
        last: list[str] = []
        while not self._stop.wait(self.interval):
            lines = self.report()
            if lines and lines != last:
                self.echo("\n".join(["mlstack: not converged yet:", *lines]))
            last = lines

    def __enter__(self) -> ConvergenceWatch:
        if self.targets:
            self._thread = threading.Thread(target=self._poll, name="convergence", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 35)
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
