"""The plan checked against reality: two replicas behind the Swarm proxy on the local engine.

The dev stack is created on the engine exactly as recorded (tests.swarm_engine, which serializes
on the dev-stack lock). With its model service scaled to one replica, that replica's capacity is
measured through the proxy's published port as `mlstack plan --measure` measures a container
(mlstack.plan.measure.sweep_curve: open-loop steps of rising offered load). The planner then
simulates the dev stack as declared (its recorded Swarm service: two replicas) at two constant
offered rates, half the planned two-replica capacity at the p99 target and 1.5 times the planned
two-replica saturation, and the same rates are offered to the two replicas with the same client.

Stated margins (a shared 2-core machine): below capacity the measured throughput is within 10%
of the planned one (all of the offered load) and the measured p99 is within the target, as
planned; above capacity the measured throughput is within 35% of the planned two-replica
saturation (twice the one-replica figure) and load goes unserved or the p99 exceeds the target,
as planned. Measuring the one replica through the same proxy, minutes before, keeps the proxy's
cost and the machine's load on both sides of the comparison: what is tested is the planner's
model (replicas add capacity, load spreads evenly, latency follows the measured curve).
The model and proxy images are built from the recorded inputs; their tags are content-addressed,
so they are left for the next run (and the Swarm engine tests) to reuse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import docker
import pytest

from mlstack.loadtest.openloop import LoadResult, offer
from mlstack.offline import Recording
from mlstack.plan import inputs, simulate
from mlstack.plan.capacity import Capacity
from mlstack.plan.command import stack_settings
from mlstack.plan.measure import Sweep, sample_request, sweep_curve
from mlstack.plan.profiles import parse
from mlstack.swarm_spec import plan as swarm_plan
from tests.harness import PROJECT_DIR, run_stack
from tests.images import IMAGE_TYPE, build_image
from tests.swarm_engine import SwarmDeployment, converged, wait_for

pytestmark = pytest.mark.engine

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
MODEL_SERVICE = "dev-iris"
HOST_PORT = 8080
P99_TARGET_MS = 250.0
SECONDS = 8.0
BELOW_MARGIN = 0.10
ABOVE_MARGIN = 0.35


@dataclasses.dataclass
class Measured:
    recording: Recording
    one_replica: Capacity


def _body() -> bytes:
    settings = stack_settings(PROJECT_DIR, "dev")
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
        config={"mlstack:image": {"baseImage": python_base_image, "caBundle": SYSTEM_CA_BUNDLE}},
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
            Sweep(start_rps=50, growth=1.6, step_seconds=3),
            None,
            lambda line: print(f"[plan engine] one replica:{line}"),
        )
        settings = stack_settings(PROJECT_DIR, "dev")
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
        yield Measured(recording, capacity)
    finally:
        problems = deployment.teardown()
        assert not problems, problems


def _planned(measured: Measured, rate: float) -> simulate.ModelSeries:
    stack = inputs.read(measured.recording, stack_settings(PROJECT_DIR, "dev"))
    assert stack.models[0].swarm_replicas == 2
    profile = parse(
        f"step:from={rate:.1f},to={rate:.1f},at=0s,duration={SECONDS:.0f}s", PROJECT_DIR
    )
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
    assert result.p99_ms <= P99_TARGET_MS, summary


def test_above_planned_capacity_throughput_is_the_planned_saturation(stack: Measured) -> None:
    saturation = stack.one_replica.saturation_rps
    rate = 1.5 * 2 * saturation
    planned = _planned(stack, rate)
    planned_served = sum(planned.served) / len(planned.served)
    assert planned_served == pytest.approx(2 * saturation)  # the plan: two replicas' worth
    assert min(planned.short) > 0  # ... and the rest unserved or over the target
    result = offer(HOST_PORT, _body(), rate=rate, seconds=SECONDS)
    summary = _summary("above capacity", planned, result)
    print(summary)
    assert abs(result.served_rps - planned_served) <= ABOVE_MARGIN * planned_served, summary
    assert result.p99_ms > P99_TARGET_MS or result.unserved_share > 0.05, summary
