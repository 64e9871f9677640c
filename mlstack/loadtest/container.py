"""Build a stack's model image and run it locally under its size's CPU and memory limits.

The image is built from the inputs the stack declares (the offline recording's
`docker:index/image:Image`), so what is measured is what would be deployed; the container gets the
size's `resources.cpu.limit` (NanoCPUs) and `resources.memory.limit`, a read-only root with a
tmpfs /tmp and every capability dropped, as the orchestrators run it, on a loopback port.
"""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from mlstack.components.settings.quantities import byte_count, nano_cpus
from mlstack.offline import RecordedResource, Recording, reveal

IMAGE_TYPE = "docker:index/image:Image"
MODEL_IMAGE_TYPE = "mlstack:image:ModelImage"


@dataclass(frozen=True)
class Limits:
    size: str
    cpu: str  # the CPU limit quantity, e.g. "500m"
    memory: str  # the memory limit quantity, e.g. "512Mi"

    @property
    def nano_cpus(self) -> int:
        return nano_cpus(self.cpu)

    @property
    def memory_bytes(self) -> int:
        return byte_count(self.memory)


def model_image(recording: Recording, model: str) -> RecordedResource:
    """The recorded image build of `model` (the child of its ModelImage component)."""
    for resource in recording.of_type(IMAGE_TYPE):
        parent = recording.by_urn(resource.parent or "")
        if parent.type == MODEL_IMAGE_TYPE and parent.name.endswith(f"-{model}-image"):
            return resource
    raise KeyError(f"the stack declares no image for model {model!r}")


def build_paths(resource: RecordedResource, project_dir: Path) -> tuple[Path, Path]:
    """The recorded build's context and Dockerfile, each recorded relative to the project
    directory, where the provider resolves them (components/image/context.py provider_path),
    or absolute."""
    build: dict[str, Any] = reveal(resource.inputs["build"])
    context = project_dir / str(build["context"])
    return context, project_dir / str(build.get("dockerfile") or f"{build['context']}/Dockerfile")


def build_recorded(
    resource: RecordedResource, client: docker.DockerClient, project_dir: Path
) -> str:
    """Build the recorded image unless its content-addressed tag exists; return the tag."""
    tag: str = resource.inputs["imageName"]
    if client.images.list(name=tag):
        return tag
    build: dict[str, Any] = reveal(resource.inputs["build"])
    context, dockerfile = build_paths(resource, project_dir)
    log: list[str] = []
    for chunk in client.api.build(
        path=str(context),
        dockerfile=str(dockerfile.relative_to(context)),
        buildargs=build.get("args") or {},
        platform=build.get("platform"),
        target=build.get("target"),
        tag=tag,
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "error" in chunk:
            raise RuntimeError(f"building {tag} failed: {chunk['error']}\n{''.join(log[-30:])}")
        log.append(chunk.get("stream", ""))
    return tag


def _get(url: str, timeout: float) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return int(response.status)


def wait_ready(base: str, container: Any, seconds: float = 120, interval: float = 0.05) -> float:
    """Poll GET /readyz until 200; return the monotonic time it first answered 200."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if _get(f"{base}/readyz", 2) == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(interval)
    logs = container.logs().decode(errors="replace")[-2000:]
    raise TimeoutError(f"the model server was not ready within {seconds:.0f} s:\n{logs}")


@dataclass
class RunningModel:
    container: Any
    port: int
    startup_seconds: float  # container start requested -> /readyz answered 200

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def usage(self) -> Usage:
        return usage_of(self.container)


def usage_of(container: Any) -> Usage:
    """A container's CPU time, CFS periods and memory so far (one-shot stats: no 1 s wait)."""
    stats = container.client.api.stats(container.id, stream=False, one_shot=True)
    cpu = stats.get("cpu_stats", {})
    throttling = cpu.get("throttling_data", {})
    memory = stats.get("memory_stats", {})
    detail = memory.get("stats", {})
    cache = detail.get("inactive_file", detail.get("cache", 0))
    return Usage(
        at=time.monotonic(),
        cpu_seconds=cpu.get("cpu_usage", {}).get("total_usage", 0) / 1e9,
        periods=int(throttling.get("periods", 0)),
        throttled=int(throttling.get("throttled_periods", 0)),
        memory_bytes=max(0, int(memory.get("usage", 0)) - int(cache)),
    )


@dataclass(frozen=True)
class Usage:
    at: float
    cpu_seconds: float
    periods: int
    throttled: int
    memory_bytes: int

    def cores_since(self, earlier: Usage) -> float:
        seconds = self.at - earlier.at
        return (self.cpu_seconds - earlier.cpu_seconds) / seconds if seconds > 0 else 0.0

    def throttled_share_since(self, earlier: Usage) -> float:
        periods = self.periods - earlier.periods
        return (self.throttled - earlier.throttled) / periods if periods else 0.0


@contextmanager
def run_model(
    client: docker.DockerClient,
    tag: str,
    limits: Limits,
    *,
    environment: Mapping[str, str] | None = None,
    port: int = 8080,
    label: str = "mlstack-loadtest",
) -> Iterator[RunningModel]:
    """Run the image hardened as deployed, under `limits`; removed on exit."""
    container = client.containers.create(
        tag,
        name=f"{label}-{uuid.uuid4().hex[:8]}",
        labels={"mlstack.dev/purpose": label},
        environment=dict(environment or {}),
        read_only=True,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=256m"},  # noqa: S108 - in the container
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        nano_cpus=limits.nano_cpus,
        mem_limit=limits.memory_bytes,
        ports={f"{port}/tcp": ("127.0.0.1", None)},
    )
    try:
        started = time.monotonic()
        container.start()
        container.reload()
        host_port = int(container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"])
        ready = wait_ready(f"http://127.0.0.1:{host_port}", container)
        yield RunningModel(container, host_port, ready - started)
    finally:
        container.remove(force=True)


def restart_seconds(running: RunningModel) -> float:
    """Stop and start the container again; seconds from start to ready (a warm image cache)."""
    running.container.stop(timeout=30)
    started = time.monotonic()
    running.container.start()
    running.container.reload()  # the host port is allocated again
    ports = running.container.attrs["NetworkSettings"]["Ports"]
    running.port = int(next(iter(ports.values()))[0]["HostPort"])
    return wait_ready(running.base, running.container) - started
