"""The plan checked against reality: two replicas behind the Swarm proxy on the local engine.

The dev stack, with its CPU limit lowered to 100m (OVERRIDES, below), is created on the engine
exactly as recorded (tests.support.swarm_engine, which serializes on the dev-stack lock). With its
model service scaled to one replica, that replica's capacity is measured through the proxy's
published port as `mlstack plan --measure` measures a container (mlstack.plan.measure.sweep_curve:
open-loop steps of rising offered load). The planner then simulates the dev stack as declared (its
recorded Swarm service: two replicas) at two constant offered rates, half the planned two-replica
capacity at the p99 target and 1.5 times the planned two-replica saturation, and the same rates are
offered to the two replicas with the same client.

Stated margins (a shared 2-core machine): below capacity the measured throughput is within 10%
of the planned one (all of the offered load) and the measured p99 within twice the target (the
plan says within the target; the margin is the machine's latency noise); above capacity load goes
unserved or the p99 exceeds the target, as planned, and the throughput per CPU the two replicas
got is within 35% of the saturated single replica's (the plan's premise is each replica given its
CPU limit; where the machine gives Docker's containers less, they serve in proportion), and when
they got at least 80% of their limits the throughput itself is within 35% of the planned
two-replica saturation. Measuring the one replica through the same proxy, minutes before, keeps
the proxy's cost and the machine's load on both sides of the comparison: what is tested is the
planner's model (replicas add capacity, load spreads evenly, latency follows the measured curve).
The model and proxy images are built from the recorded inputs; their tags are content-addressed,
so they are left for the next run (and the Swarm engine tests) to reuse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import docker
import pytest

from mlstack.loadtest.container import Usage, usage_of
from mlstack.loadtest.openloop import LoadResult, offer
from mlstack.offline import Recording
from mlstack.plan import inputs, simulate
from mlstack.plan.capacity import Capacity
from mlstack.plan.command import stack_settings
from mlstack.plan.measure import Sweep, sample_request, sweep_curve
from mlstack.plan.profiles import parse
from tests.support.harness import PROJECT_DIR, run_stack
from tests.support.images import IMAGE_TYPE, build_image
from tests.support.swarm_engine import SwarmDeployment, converged, wait_for
from tests.support.swarm_spec import plan as swarm_plan

pytestmark = pytest.mark.engine

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
MODEL_SERVICE = "dev-iris"
HOST_PORT = 8080
P99_TARGET_MS = 250.0
# The dev stack with a CPU limit of 100m per replica: two replicas and the proxy then need less
# than the share of a 2-core machine that Docker's cgroup keeps when other work runs beside it,
# so each replica is bound by its own CFS quota, as on a node that guarantees its request.
CPU = {"request": "100m", "limit": "100m"}
CPU_CORES = 0.1
OVERRIDES = {"resources": {"cpu": CPU}}
SECONDS = 8.0
BELOW_MARGIN = 0.10
BELOW_P99_MARGIN = 2.0
ABOVE_MARGIN = 0.35


@dataclasses.dataclass
class Measured:
    recording: Recording
    one_replica: Capacity
    deployment: SwarmDeployment


def _usage(deployment: SwarmDeployment) -> Usage:
    """The model's tasks together: CPU time and throttling so far."""
    found = [usage_of(container) for container in deployment.containers(MODEL_SERVICE)]
    return Usage(
        at=max(u.at for u in found),
        cpu_seconds=sum(u.cpu_seconds for u in found),
        periods=sum(u.periods for u in found),
        throttled=sum(u.throttled for u in found),
        memory_bytes=sum(u.memory_bytes for u in found),
    )


def _body() -> bytes:
    settings = stack_settings(PROJECT_DIR, "dev", OVERRIDES)
    return sample_request(PROJECT_DIR, PROJECT_DIR / settings.models[0].artifact)[0]


def _scale(deployment: SwarmDeployment, replicas: int) -> None:
    spec = deployment.plan.service(MODEL_SERVICE)
    scaled = dataclasses.replace(spec, mode={"Replicated": {"Replicas": replicas}})
    deployment.update(scaled)
    wait_for(
        f"{MODEL_SERVICE} to run {replicas} healthy tasks",
        lambda: converged(deployment, MODEL_SERVICE, replicas, spec.image),
        240,
    )


@pytest.fixture(scope="module")
def stack(docker_engine: docker.DockerClient, python_base_image: str) -> Iterator[Measured]:
    recording = run_stack(
        "dev",
        config={
            "mlstack:image": {"baseImage": python_base_image, "caBundle": SYSTEM_CA_BUNDLE},
            "mlstack:overrides": OVERRIDES,
        },
    )
    for resource in recording.of_type(IMAGE_TYPE):
        if not docker_engine.images.list(name=resource.inputs["imageName"]):
            build_image(resource, docker_engine)
    deployment = SwarmDeployment(docker_engine, swarm_plan(recording), host_ports=(HOST_PORT,))
    deployment.acquire()
    try:
        deployment.create()
        for service in deployment.plan.services:
            replicas = service.mode.get("Replicated", {}).get("Replicas", 1)
            wait_for(
                f"{service.name} to run {replicas} healthy tasks",
                lambda service=service, replicas=replicas: converged(
                    deployment, service.name, replicas, service.image
                ),
                240,
            )
        _scale(deployment, 1)
        offer(HOST_PORT, _body(), rate=50, seconds=2)  # warm-up: DNS, connections
        points, _ = sweep_curve(
            HOST_PORT,
            _body(),
            Sweep(start_rps=20, growth=1.5, step_seconds=3),
            lambda: _usage(deployment),
            lambda line: print(f"[plan engine] one replica:{line}"),
        )
        settings = stack_settings(PROJECT_DIR, "dev", OVERRIDES)
        model = settings.models[0]
        capacity = Capacity(
            model=model.name, framework=model.framework.value, size=model.size_name,
            cpu_limit=model.size.resources.cpu.limit,
            memory_limit=model.size.resources.memory.limit, inputs="", measured="2026-01-01",
            how="tests/test_plan_engine.py, through the proxy", request="1 row",
            startup_seconds=0.0, memory_bytes=0, idle_cores=0.0, curve=tuple(points),
        )  # fmt: skip
        print(
            f"[plan engine] one replica: {capacity.throughput_at(P99_TARGET_MS):.0f} req/s at "
            f"p99 <= {P99_TARGET_MS:g} ms, {capacity.saturation_rps:.0f} req/s saturated"
        )
        _scale(deployment, 2)
        offer(HOST_PORT, _body(), rate=50, seconds=2)
        yield Measured(recording, capacity, deployment)
    finally:
        problems = deployment.teardown()
        assert not problems, problems


def _planned(measured: Measured, rate: float) -> simulate.ModelSeries:
    stack = inputs.read(measured.recording, stack_settings(PROJECT_DIR, "dev", OVERRIDES))
    assert stack.models[0].swarm_replicas == 2
    assert stack.models[0].limits.cpu_m == 100
    profile = parse(f"step:from={rate!r},to={rate!r},at=0s,duration={SECONDS:.0f}s", PROJECT_DIR)
    options = simulate.Options(P99_TARGET_MS, None, 0.0)
    return simulate.run(stack, {"iris": measured.one_replica}, profile, options).models[0]


def _summary(label: str, planned: simulate.ModelSeries, result: LoadResult) -> str:
    served = sum(planned.served) / len(planned.served)
    return (
        f"[plan engine] {label}: planned {served:.0f} req/s served, p99 {planned.p99[-1]:.0f} ms; "
        f"measured {result.line()}"
    )


def test_below_planned_capacity_all_load_is_served_within_the_target(stack: Measured) -> None:
    rate = 0.5 * 2 * stack.one_replica.throughput_at(P99_TARGET_MS)
    assert rate > 0, "one replica never met the p99 target"
    planned = _planned(stack, rate)
    planned_served = sum(planned.served) / len(planned.served)
    assert planned_served == pytest.approx(rate)  # the plan: all of it is served
    assert max(planned.short) == 0  # ... by replicas within their p99-target throughput
    result = offer(HOST_PORT, _body(), rate=rate, seconds=SECONDS)
    summary = _summary("below capacity", planned, result)
    print(summary)
    assert abs(result.served_rps - planned_served) <= BELOW_MARGIN * planned_served, summary
    assert result.p99_ms <= BELOW_P99_MARGIN * P99_TARGET_MS, summary


def test_above_planned_capacity_throughput_is_the_planned_saturation(stack: Measured) -> None:
    one = stack.one_replica
    saturation = one.saturation_rps
    rate = 1.5 * 2 * saturation
    planned = _planned(stack, rate)
    planned_served = sum(planned.served) / len(planned.served)
    assert planned_served == pytest.approx(2 * saturation)  # the plan: two replicas' worth
    assert min(planned.short) > 0  # ... and the rest unserved or over the target
    before = _usage(stack.deployment)
    # As many requests in flight per replica as the measurement kept on its one replica.
    connections = 2 * Sweep().connections
    result = offer(HOST_PORT, _body(), rate=rate, seconds=SECONDS, connections=connections)
    cores = _usage(stack.deployment).cores_since(before)
    # The plan's premise is a replica given its CPU limit. Where the machine gives less to all
    # of Docker's containers, the replicas serve in proportion to the CPU they get: compare the
    # throughput per CPU with the saturated replica's, and the throughput itself only when the
    # two replicas got at least 80% of their limits.
    saturated = max(one.curve, key=lambda point: point.served)
    per_core_planned = saturated.served / saturated.cores
    per_core = result.served_rps / cores if cores else 0.0
    limit = 2 * CPU_CORES
    summary = _summary("above capacity", planned, result) + (
        f"; the two replicas used {cores:.2f} of {limit:g} CPU: {per_core:.0f} req/s per CPU, "
        f"one saturated replica {per_core_planned:.0f}"
    )
    print(summary)
    assert abs(per_core - per_core_planned) <= ABOVE_MARGIN * per_core_planned, summary
    if cores >= 0.8 * limit:
        assert abs(result.served_rps - planned_served) <= ABOVE_MARGIN * planned_served, summary
    assert result.p99_ms > P99_TARGET_MS or result.unserved_share > 0.05, summary
