"""Measure one model's per-replica capacity from its real image under its size's limits.

The stack is recorded offline (so the image is built from exactly the inputs it declares, with
the measuring machine's base image and CA bundle), the image is built if its tag is missing, and
one container runs with the size's CPU and memory limits (mlstack.loadtest.container). Then:
startup time (start to /readyz 200, median of three starts), idle CPU, and a sweep of fixed
offered rates (mlstack.loadtest.openloop), each step `step_seconds` long, rising by `growth`
until the replica serves less than 90% of what it is offered twice in a row. Each step records
served rate, p50/p99 latency (from each request's scheduled time) and the CPU cores used.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from mlstack.loadtest.container import (
    Limits,
    Usage,
    build_recorded,
    model_image,
    restart_seconds,
    run_model,
)
from mlstack.loadtest.openloop import offer
from mlstack.offline import Recording, reveal
from mlstack.plan.capacity import Capacity, CurvePoint, inputs_fingerprint, now_utc


class MeasureError(RuntimeError):
    pass


@dataclass(frozen=True)
class Sweep:
    start_rps: float = 25.0
    growth: float = 1.5
    step_seconds: float = 5.0
    max_steps: int = 16
    connections: int = 32


def sample_request(project: Path, artifact: Path) -> tuple[bytes, str]:
    """The default POST /predict body: the first row of the `sample` in the JSON file beside the
    artifact (examples/iris/iris.json for iris.joblib), as the benchmark sends."""
    described = artifact.with_suffix(".json")
    try:
        sample = json.loads(described.read_text())["sample"][0]
    except (OSError, KeyError, IndexError, TypeError, ValueError):
        raise MeasureError(
            f"no sample request for {artifact.relative_to(project)}: expected a `sample` list "
            f"of rows in {described.relative_to(project)}; pass --request FILE with a "
            'POST /predict body such as {"instances": [[...]]}'
        ) from None
    body = json.dumps({"instances": [sample]}).encode()
    return (
        body,
        f"POST /predict, 1 row (the first `sample` row of {described.relative_to(project)})",
    )


def sweep_curve(
    port: int,
    body: bytes,
    sweep: Sweep,
    usage: Callable[[], Usage] | None,
    echo: Callable[[str], None],
) -> tuple[list[CurvePoint], int]:
    """Offer rising fixed rates to 127.0.0.1:port until two steps in a row serve less than 90%
    of what they are offered; the curve, and the most memory seen (0 without `usage`)."""
    points: list[CurvePoint] = []
    memory, rate, short = 0, sweep.start_rps, 0
    for _ in range(sweep.max_steps):
        before = usage() if usage else None
        result = offer(port, body, rate=rate, seconds=sweep.step_seconds,
                       connections=sweep.connections)  # fmt: skip
        after = usage() if usage else None
        cores = after.cores_since(before) if after and before else 0.0
        points.append(CurvePoint(rate, result.served_rps, result.p50_ms, result.p99_ms, cores))
        line = f"  {result.line()}"
        if after and before:
            memory = max(memory, after.memory_bytes)
            line += f"; {cores:.2f} cores, throttled {after.throttled_share_since(before):.0%}"
        echo(line)
        short = short + 1 if result.served_rps < 0.9 * rate else 0
        if short >= 2:
            return points, memory
        rate *= sweep.growth
    raise MeasureError(
        f"the replica still kept up at {rate:.0f} req/s after {sweep.max_steps} steps; "
        "raise --start-rps"
    )


def recorded_context(recording: Recording, model: str, project_dir: Path) -> Path:
    """The model's build context: recorded relative to the project directory (or absolute)."""
    build: dict[str, Any] = reveal(model_image(recording, model).inputs["build"])
    return project_dir / str(build["context"])


def measure(
    recording: Recording,
    project_dir: Path,
    *,
    model: str,
    framework: str,
    limits: Limits,
    body: bytes,
    request: str,
    command: str,
    sweep: Sweep = Sweep(),
    client: docker.DockerClient | None = None,
    echo: Callable[[str], None] = print,
) -> Capacity:
    client = client or docker.from_env(timeout=900)
    resource = model_image(recording, model)
    echo(f"building (or reusing) {resource.inputs['imageName']} ...")
    tag = build_recorded(resource, client, project_dir)
    with run_model(client, tag, limits) as running:
        starts = [running.startup_seconds]
        starts += [restart_seconds(running) for _ in range(2)]
        startup = statistics.median(starts)
        echo(f"startup (start to ready): {', '.join(f'{s:.1f}' for s in starts)} s")
        offer(running.port, body, rate=sweep.start_rps, seconds=2)  # warm-up
        before = running.usage()
        idle_seconds = 2.0
        offer(running.port, body, rate=0.5, seconds=idle_seconds)  # a trickle: still "idle"
        idle = running.usage().cores_since(before)
        memory = running.usage().memory_bytes
        points, peak_memory = sweep_curve(running.port, body, sweep, running.usage, echo)
        memory = max(memory, peak_memory)
    return Capacity(
        model=model,
        framework=framework,
        size=limits.size,
        cpu_limit=limits.cpu,
        memory_limit=limits.memory,
        inputs=inputs_fingerprint(recorded_context(recording, model, project_dir)),
        measured=now_utc().replace(microsecond=0).isoformat(),
        how=(
            f"{command}; one container, {limits.cpu} CPU / {limits.memory} limits, read-only "
            f"root; open-loop load over {sweep.connections} keep-alive loopback connections, "
            f"{sweep.step_seconds:g} s per step; host with {os.cpu_count()} cores (shared)"
        ),
        request=request,
        startup_seconds=round(startup, 2),
        memory_bytes=memory,
        idle_cores=round(idle, 4),
        curve=tuple(points),
    )
