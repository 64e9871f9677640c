"""Apply a recorded stack's Swarm resources to the real engine, watch them, and load them.

`SwarmDeployment` creates exactly the networks, secrets and services a recording declares (via
tests.support.swarm_spec) with the docker SDK's low-level APIClient, and removes them again. The dev
stack's names are fixed ("dev-iris", "dev-proxy", host port 8080), so it first waits for
another run using the same names to finish instead of touching that run's objects. What a run
creates is written to an owner file beside the lock; objects left by a run whose process is gone
(or by an earlier test of this process whose teardown failed) are removed, never a live run's.
`Traffic` sends steady POST /predict load from a few threads and counts what failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from tests.support.swarm_spec import ServiceSpec, SwarmPlan, engine_ids, registry_host

LOCK_FILE = Path("/tmp/mlstack-swarm-dev-stack.lock")
OWNER_FILE = Path("/tmp/mlstack-swarm-dev-stack.owner.json")  # what the last run created
# Another test session may hold the dev stack's names for minutes; in CI (MLSTACK_REQUIRE_ENGINE)
# there is no other session, so names still taken after a short wait are a leak to report.
NAMES_WAIT_SECONDS = 120 if os.environ.get("MLSTACK_REQUIRE_ENGINE") else 900


class EngineTimeoutError(AssertionError):
    pass


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise EngineTimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@dataclass
class SwarmDeployment:
    client: docker.DockerClient
    plan: SwarmPlan
    host_ports: tuple[int, ...]
    created_networks: dict[str, str] = field(default_factory=dict)  # resource name -> engine ID
    created_secrets: dict[str, str] = field(default_factory=dict)
    created_services: dict[str, str] = field(default_factory=dict)  # service name -> engine ID
    _lock: Any = None

    @property
    def api(self) -> docker.APIClient:
        return self.client.api

    def _names_in_use(self) -> list[str]:
        used = [f"service {s['Spec']['Name']}" for s in self.api.services()
                if s["Spec"]["Name"] in {spec.name for spec in self.plan.services}]  # fmt: skip
        networks = {spec.name for spec in self.plan.networks}
        used += [f"network {n['Name']}" for n in self.api.networks() if n["Name"] in networks]
        secrets = {spec.name for spec in self.plan.secrets}
        used += [f"secret {s['Spec']['Name']}" for s in self.api.secrets()
                 if s["Spec"]["Name"] in secrets]  # fmt: skip
        used += [f"host port {port}" for port in self.host_ports if not port_is_free(port)]
        return used

    def acquire(self, timeout: float = NAMES_WAIT_SECONDS) -> None:
        """Wait (never interfere) until no other run holds the stack's names and ports."""
        self._lock = LOCK_FILE.open("w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        start = time.monotonic()
        self._reclaim_leftovers()
        while used := self._names_in_use():
            if time.monotonic() - start > timeout:
                # Let go of the lock: the failed run's traceback keeps this object alive, and a
                # later test of the same process would otherwise wait on its own lock forever.
                self._lock.close()
                self._lock = None
                raise EngineTimeoutError(
                    f"the engine still has {', '.join(used)} after {timeout:.0f} s; another "
                    "run of the dev stack is using its names (this test never removes "
                    "objects it did not create)"
                )
            time.sleep(2)

    def _record_owner(self) -> None:
        OWNER_FILE.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "services": sorted(self.created_services.values()),
                    "secrets": sorted(self.created_secrets.values()),
                    "networks": sorted(self.created_networks.values()),
                }
            )
        )

    def _reclaim_leftovers(self) -> None:
        """Remove what a finished run left: the owner file names its process and objects. A run
        whose process still lives (another test session) is left alone, unless it is this
        process, whose earlier deployment did not tear down (then its objects are orphans)."""
        try:
            owner = json.loads(OWNER_FILE.read_text())
        except (OSError, ValueError):
            return
        pid = int(owner.get("pid", 0))
        if pid != os.getpid() and _alive(pid):
            return
        orphan = SwarmDeployment(self.client, self.plan, host_ports=())
        orphan.created_services = {f"leftover {i}": i for i in owner.get("services", [])}
        orphan.created_secrets = {f"leftover {i}": i for i in owner.get("secrets", [])}
        orphan.created_networks = {f"leftover {i}": i for i in owner.get("networks", [])}
        problems = orphan.teardown()
        print(f"[swarm engine] removed what run {pid} left: {owner} (problems: {problems})")
        if not problems:
            OWNER_FILE.unlink(missing_ok=True)

    def create(self) -> None:
        try:
            self._create()
        finally:
            if self._lock is not None:  # a run on the dev stack's names (acquire())
                self._record_owner()

    def _create(self) -> None:
        for network in self.plan.networks:
            created = self.api.create_network(**network.create_kwargs())
            self.created_networks[network.resource] = created["Id"]
        for secret in self.plan.secrets:
            created = self.api.create_secret(**secret.create_kwargs())
            self.created_secrets[secret.resource] = created["ID"]
        for service in self.plan.services:
            spec = self.registry_query(self.resolved(service))
            created = self.api.create_service(**spec.create_kwargs())
            self.created_services[service.name] = created["ID"]

    def registry_query(self, service: ServiceSpec) -> ServiceSpec:
        """What the provider's create does before it sends the spec (QueryRegistry): ask the
        image's registry for its digest and platforms and pin both; a failed lookup leaves the
        spec as it is (the client only warns). A Docker Hub short name is not asked about: this
        machine has no route there, so the lookup could only fail."""
        if registry_host(service.image) is None:
            return service
        auth = service.registry_auth
        credentials = None if auth is None else {k: auth[k] for k in ("username", "password")}
        try:
            found = self.api.inspect_distribution(service.image, auth_config=credentials)
        except docker.errors.APIError:
            return service
        return service.registry_pinned(found["Descriptor"]["digest"], found.get("Platforms") or [])

    def engine_ids(self) -> dict[str, str]:
        """Recorded ID (the mocks' "<resource>-id") -> the engine's ID, for networks and
        secrets this run created."""
        return engine_ids(self.plan, {**self.created_networks, **self.created_secrets})

    def resolved(self, service: ServiceSpec) -> ServiceSpec:
        return service.resolve(
            engine_ids(self.plan, {**self.created_networks, **self.created_secrets})
        )

    def update(self, service: ServiceSpec) -> None:
        """Update a created service to `service` (a recorded spec, e.g. with another image)."""
        current = self.api.inspect_service(self.created_services[service.name])
        self.api.update_service(
            current["ID"], current["Version"]["Index"], **self.resolved(service).create_kwargs()
        )

    def inspect(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api.inspect_service(self.created_services[name])
        return result

    def tasks(self, name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api.tasks(
            filters={"service": self.created_services[name]}
        )
        return found

    def running_tasks(self, name: str) -> list[dict[str, Any]]:
        return [
            task
            for task in self.tasks(name)
            if task["DesiredState"] == "running" and task["Status"]["State"] == "running"
        ]

    def containers(self, name: str) -> list[Any]:
        return [
            self.client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
            for task in self.running_tasks(name)
        ]

    def teardown(self) -> list[str]:
        """Remove what this run created, services first; returns what could not be removed."""
        problems: list[str] = []
        try:
            self._remove_all(problems)
        finally:
            if self._lock is not None:
                if not problems:
                    OWNER_FILE.unlink(missing_ok=True)
                self._lock.close()
                self._lock = None
        return problems

    def _remove_all(self, problems: list[str]) -> None:
        """Remove everything, recording what fails instead of stopping: a timeout on one object
        must not leave the others (the next run would find the stack's names taken)."""
        for name, service_id in self.created_services.items():
            try:
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_service(service_id)
            except Exception as error:  # noqa: BLE001 - a failed call is one problem among many
                problems.append(f"service {name}: {type(error).__name__}: {error}")
            try:
                wait_for(
                    f"the containers of {name} to go",
                    lambda service_id=service_id: not self._leftovers(service_id),  # type: ignore[misc]
                    90,
                )
            except EngineTimeoutError as error:
                problems.append(str(error))
        for kind, created, remove in (
            ("secret", self.created_secrets, self.api.remove_secret),
            ("network", self.created_networks, self.api.remove_network),
        ):
            for resource, engine_id in created.items():
                for attempt in range(20):
                    try:
                        remove(engine_id)
                        break
                    except docker.errors.NotFound:
                        break
                    except Exception as error:  # noqa: BLE001 - still in use for a moment
                        if attempt == 19:
                            problems.append(f"{kind} {resource}: {error}")
                        time.sleep(1)

    def _leftovers(self, service_id: str) -> list[Any]:
        # The low-level listing: the high-level one inspects each container it lists, and one
        # removed in between raised NotFound here (seen in a teardown).
        found: list[Any] = self.api.containers(
            all=True, filters={"label": f"com.docker.swarm.service.id={service_id}"}
        )
        return found


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def converged(deployment: SwarmDeployment, name: str, replicas: int, image: str) -> bool:
    """Exactly `replicas` tasks running `image` (running means healthy: a task with a
    healthcheck stays `starting` until it passes), and no update in progress."""
    service = deployment.inspect(name)
    state = (service.get("UpdateStatus") or {}).get("State")
    if state in ("updating", "rollback_started"):
        return False
    running = deployment.running_tasks(name)
    images = {task["Spec"]["ContainerSpec"]["Image"] for task in running}
    return len(running) == replicas and images == {image}


@dataclass(frozen=True)
class TrafficResult:
    sent: int
    failed: int
    seconds: float
    failures: tuple[str, ...]

    def summary(self, phase: str) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (
            f"[swarm engine] {phase}: sent {self.sent} requests, failed {self.failed} "
            f"over {self.seconds:.1f} s ({rate:.0f} req/s)"
            + (f"; first failures: {list(self.failures[:5])}" if self.failures else "")
        )


class Traffic:
    """Steady POST /predict load through the published port: `threads` keep-alive clients,
    each sending one request, checking it, pausing `pause` seconds, and so on. `host`: where the
    port is published (loopback, or a node's address in a multi-node test cluster)."""

    def __init__(
        self,
        port: int,
        body: bytes,
        check: Callable[[dict[str, Any]], bool],
        *,
        threads: int = 4,
        pause: float = 0.01,
        timeout: float = 10.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.port, self.body, self.check, self.host = port, body, check, host
        self.threads, self.pause, self.timeout = threads, pause, timeout
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sent = 0
        self._failures: list[str] = []
        self._workers: list[threading.Thread] = []
        self._started = 0.0

    def _one(self, connection: http.client.HTTPConnection) -> str | None:
        connection.request(
            "POST", "/predict", body=self.body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            return f"HTTP {response.status}: {payload[:120]!r}"
        if not self.check(json.loads(payload)):
            return f"unexpected answer: {payload[:120]!r}"
        return None

    def _run(self) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        while not self._stop.is_set():
            try:
                failure = self._one(connection)
            except (OSError, http.client.HTTPException, ValueError) as error:
                failure = f"{type(error).__name__}: {error}"
                connection.close()
                connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            with self._lock:
                self._sent += 1
                if failure is not None:
                    self._failures.append(failure)
            time.sleep(self.pause)
        connection.close()

    def start(self) -> Traffic:
        self._started = time.monotonic()
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, name=f"traffic-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> TrafficResult:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout + 5)
        with self._lock:
            return TrafficResult(
                sent=self._sent,
                failed=len(self._failures),
                seconds=time.monotonic() - self._started,
                failures=tuple(self._failures),
            )


@contextlib.contextmanager
def traffic(
    port: int, body: bytes, check: Callable[[dict[str, Any]], bool], **options: Any
) -> Iterator[Callable[[], TrafficResult]]:
    """Load running for the block; call the yielded function to stop it and get the counts."""
    load = Traffic(port, body, check, **options).start()
    result: list[TrafficResult] = []

    def finish() -> TrafficResult:
        if not result:
            result.append(load.stop())
        return result[0]

    try:
        yield finish
    finally:
        finish()


FINISHED = ("completed", "paused", "rollback_completed", "rollback_paused")


def update_started_at(deployment: SwarmDeployment, name: str) -> str | None:
    started = (deployment.inspect(name).get("UpdateStatus") or {}).get("StartedAt")
    return None if started is None else str(started)


def finished_update(
    deployment: SwarmDeployment, name: str, previous_start: str | None, timeout: float
) -> str:
    """Wait for the update begun after `previous_start` to end; return its final state."""

    def check() -> str | None:
        status = deployment.inspect(name).get("UpdateStatus") or {}
        state = status.get("State")
        if status.get("StartedAt") == previous_start or state not in FINISHED:
            return None
        return str(state)

    result: str = wait_for(f"the update of {name} to finish", check, timeout, interval=1)
    return result
