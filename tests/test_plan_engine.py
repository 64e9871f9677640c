"""The plan checked against reality: two replicas behind the Swarm proxy on the local engine.

One replica of the dev stack's model image is measured as `mlstack plan --measure` measures it
(mlstack.plan.measure: under the small size's 0.5 CPU / 512 MiB, open-loop steps of offered load),
and the planner simulates the dev stack (its recorded Swarm service: two fixed replicas) at two
constant offered rates: half the planned capacity at the p99 target, and 1.5 times the planned
saturation. Then the dev stack is created on the engine exactly as recorded (tests.swarm_engine,
which serializes on the dev-stack lock) and the same rates are offered through the proxy's
published port with the same open-loop client. Stated margins, for a shared 2-core machine:
below capacity, the measured throughput is within 10% of the planned one (all of it) and the
p99 is within the target, as planned; above it, the measured throughput is within 35% of the
planned two-replica saturation, and the p99 exceeds the target or load goes unserved, as planned.
The model and proxy images are built from the recorded inputs; their tags are content-addressed,
so they are left for the next run (and the Swarm engine tests) to reuse.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import pytest

from mlstack.loadtest.container import Limits
from mlstack.loadtest.openloop import LoadResult, offer
from mlstack.offline import Recording
from mlstack.plan import inputs, simulate
from mlstack.plan.capacity import Capacity
from mlstack.plan.command import stack_settings
from mlstack.plan.measure import Sweep, measure, sample_request
from mlstack.plan.profiles import parse
from mlstack.swarm_spec import plan as swarm_plan
from tests.harness import PROJECT_DIR, run_stack
from tests.images import IMAGE_TYPE, build_image
from tests.swarm_engine import SwarmDeployment, converged, wait_for

pytestmark = pytest.mark.engine

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HOST_PORT = 8080
P99_TARGET_MS = 100.0
SECONDS = 8.0
BELOW_MARGIN = 0.10
ABOVE_MARGIN = 0.35


@pytest.fixture(scope="module")
def recording(docker_engine: docker.DockerClient, python_base_image: str) -> Recording:
    recorded = run_stack(
        "dev",
        config={"mlstack:image": {"baseImage": python_base_image, "caBundle": SYSTEM_CA_BUNDLE}},
    )
    for resource in recorded.of_type(IMAGE_TYPE):
        if not docker_engine.images.list(name=resource.inputs["imageName"]):
            build_image(resource, docker_engine)
    return recorded


@pytest.fixture(scope="module")
def one_replica(docker_engine: docker.DockerClient, recording: Recording) -> Capacity:
    settings = stack_settings(PROJECT_DIR, "dev")
    model = settings.models[0]
    body, described = sample_request(PROJECT_DIR, PROJECT_DIR / model.artifact)
    capacity = measure(
        recording,
        model=model.name,
        framework=model.framework.value,
        limits=Limits(
            model.size_name, model.size.resources.cpu.limit, model.size.resources.memory.limit
        ),
        body=body,
        request=described,
        command="tests/test_plan_engine.py",
        sweep=Sweep(start_rps=50, growth=1.6, step_seconds=3),
        client=docker_engine,
        echo=lambda line: print(f"[plan engine] {line}"),
    )
    print(
        f"[plan engine] one replica: {capacity.throughput_at(P99_TARGET_MS):.0f} req/s at p99 <= "
        f"{P99_TARGET_MS:g} ms, {capacity.saturation_rps:.0f} req/s saturated"
    )
    return capacity


@pytest.fixture(scope="module")
def two_replicas(docker_engine: docker.DockerClient, recording: Recording) -> Iterator[None]:
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
        offer(HOST_PORT, _body(), rate=50, seconds=2)  # warm-up: DNS, connections
        yield
    finally:
        problems = deployment.teardown()
        assert not problems, problems


def _body() -> bytes:
    settings = stack_settings(PROJECT_DIR, "dev")
    return sample_request(PROJECT_DIR, PROJECT_DIR / settings.models[0].artifact)[0]


def _planned(recording: Recording, capacity: Capacity, rate: float) -> simulate.ModelSeries:
    stack = inputs.read(recording, stack_settings(PROJECT_DIR, "dev"))
    assert stack.models[0].swarm_replicas == 2
    profile = parse(
        f"step:from={rate:.1f},to={rate:.1f},at=0s,duration={SECONDS:.0f}s", PROJECT_DIR
    )
    options = simulate.Options(P99_TARGET_MS, None, 0.0)
    return simulate.run(stack, {"iris": capacity}, profile, options).models[0]


def _summary(label: str, planned: simulate.ModelSeries, measured: LoadResult) -> str:
    served = sum(planned.served) / len(planned.served)
    return (
        f"[plan engine] {label}: planned {served:.0f} req/s served, p99 {planned.p99[-1]:.0f} ms; "
        f"measured {measured.line()}"
    )


def test_below_planned_capacity_all_load_is_served_within_the_target(
    recording: Recording, one_replica: Capacity, two_replicas: None
) -> None:
    rate = 0.5 * 2 * one_replica.throughput_at(P99_TARGET_MS)
    planned = _planned(recording, one_replica, rate)
    assert max(planned.p99) <= P99_TARGET_MS  # the plan's claim
    assert min(planned.short) == 0
    measured = offer(HOST_PORT, _body(), rate=rate, seconds=SECONDS)
    summary = _summary("below capacity", planned, measured)
    print(summary)
    planned_served = sum(planned.served) / len(planned.served)
    assert abs(measured.served_rps - planned_served) <= BELOW_MARGIN * planned_served, summary
    assert measured.p99_ms <= P99_TARGET_MS, summary


def test_above_planned_capacity_throughput_is_the_planned_saturation(
    recording: Recording, one_replica: Capacity, two_replicas: None
) -> None:
    rate = 1.5 * 2 * one_replica.saturation_rps
    planned = _planned(recording, one_replica, rate)
    planned_served = sum(planned.served) / len(planned.served)
    assert planned_served == pytest.approx(2 * one_replica.saturation_rps)
    assert min(planned.p99) > P99_TARGET_MS  # the plan says: over the target
    time.sleep(1)
    measured = offer(HOST_PORT, _body(), rate=rate, seconds=SECONDS)
    summary = _summary("above capacity", planned, measured)
    print(summary)
    assert abs(measured.served_rps - planned_served) <= ABOVE_MARGIN * planned_served, summary
    assert measured.p99_ms > P99_TARGET_MS or measured.unserved_share > 0.05, summary
