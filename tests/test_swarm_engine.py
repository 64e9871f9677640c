"""The dev stack on a real Docker engine in Swarm mode, exactly as the stack declares it.

The dev stack is recorded offline (with the offline-made base image, this machine's CA bundle and an
api-token secret set as `pulumi config set --secret` would), its images (model and proxy) are built
from the recorded inputs, and its network, secret and services are created from the recorded
pulumi-docker inputs translated by tests.support.swarm_spec. Each service runs a copy of its image
whose own user, healthcheck and stop signal differ from the declared ones, so what the containers
show can only come from the spec. Then: replicas converge healthy, the model answers real
predictions on the published host port through the proxy, the running containers carry the declared
limits, hardening, user, healthcheck, init and stop settings, a task that exits cleanly is not
restarted under on-failure while a failing one is, a rolling update to a new image drops no request
under steady load, an update to a broken image rolls back by itself, again without a failed request,
and a task killed outright costs no request either. Counts are printed (pytest -s) and in every
assertion message.

Measured controls (one-off runs, not in the suite) show these tests can fail: with the proxy's
retries switched off a killed task cost 15 of 4369 requests (502s); with nginx caching DNS for
30 s instead of 1 s a rolling update cost 88 of 13958 without retries and 12 of 14012 with them.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker
import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris

from mlstack.offline import RecordedResource, Recording
from tests.support.harness import PROJECT_DIR, run_stack
from tests.support.images import IMAGE_TYPE, build_image, recorded_context, recorded_tag
from tests.support.swarm_engine import (
    SwarmDeployment,
    converged,
    finished_update,
    traffic,
    update_started_at,
    wait_for,
)
from tests.support.swarm_spec import SwarmPlan, plan

pytestmark = pytest.mark.engine

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
RUN_ID = uuid.uuid4().hex[:8]
TOKEN = f"token-{uuid.uuid4().hex}"  # a fresh secret per run: its content-hashed name is too
MODEL_SERVICE = "dev-iris"
PROXY_SERVICE = "dev-proxy"
HOST_PORT = 8080
CONVERGE_SECONDS = 240
UPDATE_SECONDS = 360
ROWS = load_iris().data[::15].tolist()  # 10 rows across the three classes
EXPECTED = joblib.load(PROJECT_DIR / "examples/iris/iris.joblib").predict(np.array(ROWS)).tolist()
BODY = json.dumps({"instances": ROWS}).encode()


def correct(answer: dict[str, Any]) -> bool:
    return bool(answer.get("predictions") == EXPECTED and answer.get("model") == "iris")


@dataclass
class Stack:
    recording: Recording
    plan: SwarmPlan
    deployment: SwarmDeployment
    model_image: RecordedResource
    converge_seconds: float


def _image_resource(recording: Recording, parent_type: str) -> RecordedResource:
    (found,) = [
        r
        for r in recording.of_type(IMAGE_TYPE)
        if recording.by_urn(r.parent or "").type == parent_type
    ]
    return found


def _remove_images(client: docker.DockerClient, tags: list[str]) -> None:
    for tag in tags:
        with suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            client.images.remove(tag)


# Image tags this module built; removed last, once no service runs them any more.
BUILT: list[str] = []


@pytest.fixture(scope="module")
def images_built(docker_engine: docker.DockerClient, python_base_image: str) -> Iterator[Recording]:
    recording = run_stack(
        "dev",
        config={"mlstack:image": {"baseImage": python_base_image, "caBundle": SYSTEM_CA_BUNDLE}},
        secret_config={"mlstack:secrets": {"iris": {"api-token": TOKEN}}},
    )
    try:
        for resource in recording.of_type(IMAGE_TYPE):
            tag = resource.inputs["imageName"]
            existed = bool(docker_engine.images.list(name=tag))
            build_image(resource, docker_engine)
            if not existed:  # another run's identical image stays
                BUILT.append(tag)
        yield recording
    finally:
        _remove_images(docker_engine, BUILT)


# What the images built from the stack say themselves, overridden in test copies of them (below)
# so that a container can only show the declared user, healthcheck and stop signal if the
# service spec reached it.
IMAGE_DEFAULTS_USER = "4242:4242"
IMAGE_DEFAULTS_HEALTHCHECK = ["CMD", "false"]  # a container judged by it would never be healthy
IMAGE_DEFAULTS_DOCKERFILE = """FROM {image}
USER 4242:4242
HEALTHCHECK --interval=61s --timeout=29s --start-period=7s --retries=9 CMD ["false"]
STOPSIGNAL SIGUSR1
"""


def with_other_defaults(client: docker.DockerClient, image: str) -> str:
    """`image` with its own user, healthcheck and stop signal changed (USER, HEALTHCHECK,
    STOPSIGNAL), tagged next to it. Built offline: FROM a local image needs no registry."""
    repository, _, tag = image.rpartition(":")
    derived = f"{repository}:{tag}-other-defaults"
    dockerfile = IMAGE_DEFAULTS_DOCKERFILE.format(image=image).encode()
    client.images.build(fileobj=io.BytesIO(dockerfile), tag=derived, rm=True, pull=False)
    return derived


@pytest.fixture(scope="module")
def stack(docker_engine: docker.DockerClient, images_built: Recording) -> Iterator[Stack]:
    recorded_plan = plan(images_built)
    # Every service runs its recorded spec on a copy of its image whose own defaults differ.
    services = []
    for service in recorded_plan.services:
        existed = bool(docker_engine.images.list(name=f"{service.image}-other-defaults"))
        derived = with_other_defaults(docker_engine, service.image)
        if not existed:  # another run's identical image stays
            BUILT.insert(0, derived)  # removed before the image it is built on
        services.append(service.with_image(derived))
    swarm_plan = replace(recorded_plan, services=tuple(services))
    deployment = SwarmDeployment(docker_engine, swarm_plan, host_ports=(HOST_PORT,))
    deployment.acquire()
    try:
        started = time.monotonic()
        deployment.create()
        for service in swarm_plan.services:
            replicas = service.mode.get("Replicated", {}).get("Replicas", 1)  # global: 1 node
            wait_for(
                f"{service.name} to run {replicas} healthy tasks",
                lambda service=service, replicas=replicas: converged(
                    deployment, service.name, replicas, service.image
                ),
                CONVERGE_SECONDS,
            )
        seconds = time.monotonic() - started
        print(f"\n[swarm engine] created and converged in {seconds:.1f} s")
        yield Stack(
            images_built,
            swarm_plan,
            deployment,
            _image_resource(images_built, "mlstack:image:ModelImage"),
            seconds,
        )
    finally:
        problems = deployment.teardown()
        assert not problems, problems


def variant_image(
    client: docker.DockerClient, resource: RecordedResource, edit: str, tmp: Path
) -> str:
    """The recorded model image built from an edited copy of its context, tagged as ModelImage
    would tag that context (version-hash): 'app' changes server code only, 'broken' replaces the
    model artifact with bytes that do not load (the server exits 3 at start)."""
    source = recorded_context(resource)
    context = tmp / f"{edit}-context"
    shutil.copytree(source, context)
    if edit == "app":
        path = context / "model_server" / "__init__.py"
        path.write_text(path.read_text() + f"# app-only change {RUN_ID}\n")
    else:
        for artifact in (context / "model").iterdir():
            artifact.write_bytes(b"not a model\n")
    files = {str(p.relative_to(context)): p.read_bytes() for p in context.rglob("*") if p.is_file()}
    repository = resource.inputs["imageName"].rsplit(":", 1)[0]
    tag = f"{repository}:{recorded_tag(resource, files, '1.0.0')}"
    build_image(resource, client, tag=tag, context=context)
    return tag


@pytest.fixture(scope="module")
def variants(
    docker_engine: docker.DockerClient, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("swarm-variants")
    tags = {}
    for edit in ("app", "broken"):
        tags[edit] = variant_image(docker_engine, stack.model_image, edit, tmp)
        BUILT.append(tags[edit])  # removed by images_built, after the services are gone
    return tags


# --- the tests, in the order a rollout happens ---------------------------------------------------


def _set(value: Any) -> Any:
    """The engine leaves zero values out of what it reports (Go's omitempty): compare the rest."""
    if isinstance(value, dict):
        return {k: _set(v) for k, v in value.items() if v not in (0, False, "", [], {}, None)}
    if isinstance(value, list):
        return [_set(v) for v in value]
    return value


def test_the_engine_runs_exactly_what_the_stack_declares(stack: Stack) -> None:
    api = stack.deployment.api
    for service in stack.plan.services:
        spec = _set(api.inspect_service(stack.deployment.created_services[service.name])["Spec"])
        declared = _set(stack.deployment.resolved(service).engine_spec())
        assert spec["Name"] == declared["Name"]
        assert spec["Labels"] == declared["Labels"]
        assert spec["Mode"] == declared["Mode"]
        assert spec["UpdateConfig"] == declared["UpdateConfig"]
        assert spec["RollbackConfig"] == declared["RollbackConfig"]
        assert spec["EndpointSpec"] == declared["EndpointSpec"]
        template = spec["TaskTemplate"]
        for key in ("Resources", "RestartPolicy", "Placement", "Networks"):
            assert template[key] == declared["TaskTemplate"][key], key
        container = template["ContainerSpec"]
        for key, value in declared["TaskTemplate"]["ContainerSpec"].items():
            assert container[key] == value, key
    (network,) = stack.plan.networks
    engine_network = api.inspect_network(stack.deployment.created_networks[network.resource])
    assert (engine_network["Name"], engine_network["Driver"]) == (network.name, "overlay")
    assert network.name.startswith("mlstack-dev-")
    assert engine_network["Attachable"] is True
    assert engine_network["Scope"] == "swarm"
    assert [s.name for s in stack.plan.secrets] == [
        api.inspect_secret(i)["Spec"]["Name"] for i in stack.deployment.created_secrets.values()
    ]


def test_replicas_converge_healthy(stack: Stack) -> None:
    model = stack.plan.service(MODEL_SERVICE)
    replicas = model.mode["Replicated"]["Replicas"]
    tasks = stack.deployment.running_tasks(MODEL_SERVICE)
    assert len(tasks) == replicas == 2
    for container in stack.deployment.containers(MODEL_SERVICE):
        assert container.attrs["State"]["Health"]["Status"] == "healthy"
    (proxy,) = stack.deployment.containers(PROXY_SERVICE)
    assert proxy.attrs["State"]["Health"]["Status"] == "healthy"
    assert stack.converge_seconds < CONVERGE_SECONDS


def test_the_model_answers_real_predictions_on_the_published_host_port(stack: Stack) -> None:
    with traffic(HOST_PORT, BODY, correct, threads=1, pause=0.0) as finish:
        time.sleep(2)
    result = finish()
    print(result.summary("predictions through the proxy"))
    assert result.sent > 0
    assert result.failed == 0, result.summary("predictions through the proxy")
    # The proxy's access log (stderr, as a non-root user) names the task that answered.
    (proxy,) = stack.deployment.containers(PROXY_SERVICE)
    logged = proxy.logs(tail=50).decode()
    assert '"POST /predict HTTP/1.1" 200' in logged, logged[-2000:]
    assert "upstream_status=200" in logged, logged[-2000:]


def _secret_probe() -> list[str]:
    script = (
        "import os; p='/run/secrets/api-token'; s=os.stat(p); "
        "print(s.st_uid, s.st_gid, oct(s.st_mode & 0o777)); print(open(p).read())"
    )
    return ["python", "-c", script]


def test_running_containers_carry_the_declared_limits_and_hardening(stack: Stack) -> None:
    for name in (MODEL_SERVICE, PROXY_SERVICE):
        declared = stack.plan.service(name).task_template
        limits = declared["Resources"]["Limits"]
        # Reservations only steer the scheduler; they are on the task, not the container.
        assert declared["Resources"]["Reservations"]["MemoryBytes"] < limits["MemoryBytes"]
        containers = stack.deployment.containers(name)
        assert containers, name
        for container in containers:
            host = container.attrs["HostConfig"]
            assert host["NanoCpus"] == limits["NanoCPUs"], name
            assert host["Memory"] == limits["MemoryBytes"], name
            assert host["ReadonlyRootfs"] is True, name
            assert host["CapDrop"] == ["ALL"], name
            assert container.attrs["Config"]["User"] == "10001:10001", name
            (tmp,) = [m for m in host["Mounts"] if m["Target"] == "/tmp"]
            assert tmp["Type"] == "tmpfs", name
            declared_tmp = declared["ContainerSpec"]["Mounts"][0]["TmpfsOptions"]["SizeBytes"]
            assert tmp["TmpfsOptions"]["SizeBytes"] == declared_tmp, name
            probe = container.exec_run(["id", "-u"])
            assert probe.output.decode().strip() == "10001", name
            writable = container.exec_run(["touch", "/opt/probe"])
            assert writable.exit_code != 0, f"{name}: the root filesystem is writable"
            assert container.exec_run(["touch", "/tmp/probe"]).exit_code == 0, name
    for container in stack.deployment.containers(MODEL_SERVICE):
        probe = container.exec_run(_secret_probe())
        assert probe.exit_code == 0, probe.output
        owner, content = probe.output.decode().split("\n", 1)
        assert owner == "10001 10001 0o400"
        assert content.strip() == TOKEN
        env = container.attrs["Config"]["Env"]
        assert not any(TOKEN in variable for variable in env), "the secret leaked into env"


def test_the_spec_not_the_image_decides_user_healthcheck_init_and_stopping(
    docker_engine: docker.DockerClient, stack: Stack
) -> None:
    """Each container runs an image whose own user, healthcheck and stop signal differ from the
    service's: what the container shows can only have come from the spec."""
    for service in stack.plan.services:
        image = docker_engine.images.get(service.image).attrs["Config"]
        assert image["User"] == IMAGE_DEFAULTS_USER, service.image
        assert image["Healthcheck"]["Test"] == IMAGE_DEFAULTS_HEALTHCHECK, service.image
        declared = service.task_template["ContainerSpec"]
        health = declared["Healthcheck"]
        containers = stack.deployment.containers(service.name)
        assert containers, service.name
        for container in containers:
            config, host = container.attrs["Config"], container.attrs["HostConfig"]
            assert config["User"] == declared["User"] == "10001:10001", service.name
            assert config["Healthcheck"] == {
                "Test": health["Test"],
                "Interval": health["Interval"],
                "Timeout": health["Timeout"],
                "StartPeriod": health["StartPeriod"],
                "Retries": health["Retries"],
            }, service.name
            assert health["Test"] != IMAGE_DEFAULTS_HEALTHCHECK
            assert container.attrs["State"]["Health"]["Status"] == "healthy", service.name
            assert host["Init"] is declared["Init"], service.name
            assert config["StopSignal"] == declared["StopSignal"] != "SIGUSR1", service.name
        # The restart policy and the stop grace period live on the task: the engine applies
        # them when the container exits or is stopped (shown at work in the tests below).
        for task in stack.deployment.running_tasks(service.name):
            assert task["Spec"]["RestartPolicy"] == service.task_template["RestartPolicy"]
            assert task["Spec"]["RestartPolicy"]["Condition"] == "on-failure"
            grace = task["Spec"]["ContainerSpec"]["StopGracePeriod"]
            assert grace == declared["StopGracePeriod"] > 0, service.name
    for container in stack.deployment.containers(MODEL_SERVICE):
        assert container.attrs["HostConfig"]["Init"] is True  # tini forwards SIGTERM
        assert container.attrs["Config"]["StopSignal"] == "SIGTERM"
    (proxy,) = stack.deployment.containers(PROXY_SERVICE)
    assert proxy.attrs["Config"]["StopSignal"] == "SIGQUIT"


def _one_off(stack: Stack, name: str, script: str) -> dict[str, Any]:
    """The model service's recorded task (restart policy, init, stop signal and grace period
    included) running `python -c script`: no network, secret, port or healthcheck, under a name
    of this run."""
    model = stack.plan.service(MODEL_SERVICE)
    template = {key: value for key, value in model.task_template.items() if key != "Networks"}
    container = {k: v for k, v in template["ContainerSpec"].items() if k != "Secrets"}
    container["Command"] = ["python", "-c", script]
    container["Healthcheck"] = {"Test": ["NONE"]}
    template["ContainerSpec"] = container
    created: dict[str, Any] = stack.deployment.api.create_service(
        template, name=name, mode={"Replicated": {"Replicas": 1}}, labels={"mlstack.test": RUN_ID}
    )
    return created


def test_a_clean_exit_is_not_restarted_under_on_failure(stack: Stack) -> None:
    """restart_policy on-failure: a task that exits 0 stays complete; one that exits 3 is
    restarted after the declared delay (the control: the policy is in force)."""
    api = stack.deployment.api
    policy = stack.plan.service(MODEL_SERVICE).task_template["RestartPolicy"]
    assert policy["Condition"] == "on-failure"
    delay = policy["Delay"] / 10**9
    clean, failing = f"exit0-{RUN_ID}", f"exit3-{RUN_ID}"
    ids = {
        clean: _one_off(stack, clean, "raise SystemExit(0)")["ID"],
        failing: _one_off(stack, failing, "raise SystemExit(3)")["ID"],
    }
    try:

        def tasks(name: str) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = api.tasks(filters={"service": ids[name]})
            return found

        wait_for(
            "the clean task to complete",
            lambda: any(t["Status"]["State"] == "complete" for t in tasks(clean)),
            CONVERGE_SECONDS,
        )
        wait_for(
            "the failing task to be restarted", lambda: len(tasks(failing)) >= 2, CONVERGE_SECONDS
        )
        time.sleep(delay * 3)  # three restart delays: time enough for a restart that is wrong
        done = tasks(clean)
        print(f"[swarm engine] exit 0: {len(done)} task(s); exit 3: {len(tasks(failing))} tasks")
        assert len(done) == 1, [t["Status"] for t in done]
        assert done[0]["Status"]["State"] == "complete"
        assert done[0]["Status"]["ContainerStatus"]["ExitCode"] == 0
        failed = [t for t in tasks(failing) if t["Status"]["State"] == "failed"]
        assert failed
        assert failed[0]["Status"]["ContainerStatus"]["ExitCode"] == 3
    finally:
        for service_id in ids.values():
            with suppress(docker.errors.NotFound):
                api.remove_service(service_id)


def test_a_task_ignoring_sigterm_is_killed_after_the_declared_grace_period(stack: Stack) -> None:
    """The declared stop grace period (28 s for the model, not the engine's default 10 s) is
    what the engine waits between SIGTERM and SIGKILL."""
    api = stack.deployment.api
    grace = stack.plan.service(MODEL_SERVICE).task_template["ContainerSpec"]["StopGracePeriod"]
    assert grace / 10**9 == 28
    name = f"ignore-term-{RUN_ID}"
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(3600)"
    )
    service_id = _one_off(stack, name, script)["ID"]
    try:
        container_id = wait_for(
            f"{name} to run",
            lambda: next(
                (t["Status"]["ContainerStatus"]["ContainerID"]
                 for t in api.tasks(filters={"service": service_id})
                 if t["Status"]["State"] == "running"),
                None,
            ),
            CONVERGE_SECONDS,
        )  # fmt: skip
        container = stack.deployment.client.containers.get(container_id)
        wait_for("its process to ignore SIGTERM", lambda: b"ready" in container.logs(), 60)
        started = time.monotonic()
        api.update_service(  # scaled to 0: the task is stopped, its container kept
            service_id,
            api.inspect_service(service_id)["Version"]["Index"],
            mode={"Replicated": {"Replicas": 0}},
            fetch_current_spec=True,
        )
        wait_for(
            "the container to stop",
            lambda: (container.reload(), not container.attrs["State"]["Running"])[1],
            grace / 10**9 + 30,
            interval=0.2,
        )
        took = time.monotonic() - started
        print(f"[swarm engine] SIGTERM ignored: killed after {took:.1f} s (grace 28 s)")
        assert container.attrs["State"]["ExitCode"] == 137  # SIGKILL, not a clean stop
        assert 28 - 1 <= took <= 28 + 10, took
    finally:
        with suppress(docker.errors.NotFound):
            api.remove_service(service_id)


def test_a_rolling_update_to_a_new_image_drops_no_request(
    stack: Stack, variants: dict[str, str]
) -> None:
    new = stack.plan.service(MODEL_SERVICE).with_image(variants["app"])
    with traffic(HOST_PORT, BODY, correct) as finish:
        time.sleep(3)
        previous = update_started_at(stack.deployment, MODEL_SERVICE)
        started = time.monotonic()
        stack.deployment.update(new)
        state = finished_update(stack.deployment, MODEL_SERVICE, previous, UPDATE_SECONDS)
        took = time.monotonic() - started
        time.sleep(3)
    result = finish()
    summary = result.summary(f"rolling update to {variants['app']} ({took:.1f} s, {state})")
    print(summary)
    assert state == "completed", summary
    assert converged(stack.deployment, MODEL_SERVICE, 2, variants["app"]), summary
    assert result.sent >= 100, summary
    assert result.failed == 0, summary


def test_an_update_to_a_broken_image_rolls_back_without_failed_requests(
    stack: Stack, variants: dict[str, str]
) -> None:
    current = stack.deployment.inspect(MODEL_SERVICE)["Spec"]["TaskTemplate"]["ContainerSpec"]
    before = current["Image"]
    broken = stack.plan.service(MODEL_SERVICE).with_image(variants["broken"])
    with traffic(HOST_PORT, BODY, correct) as finish:
        time.sleep(3)
        previous = update_started_at(stack.deployment, MODEL_SERVICE)
        started = time.monotonic()
        stack.deployment.update(broken)
        state = finished_update(stack.deployment, MODEL_SERVICE, previous, UPDATE_SECONDS)
        took = time.monotonic() - started
        time.sleep(3)
    result = finish()
    summary = result.summary(f"update to broken {variants['broken']} ({took:.1f} s, {state})")
    print(summary)
    assert state == "rollback_completed", summary
    assert converged(stack.deployment, MODEL_SERVICE, 2, before), summary
    assert result.sent >= 100, summary
    assert result.failed == 0, summary


def test_a_task_killed_under_load_costs_no_request(stack: Stack) -> None:
    """SIGKILL: no drain, in-flight requests cut. The proxy retries them on the other task, and
    the restart policy brings a healthy replacement."""
    image = stack.deployment.inspect(MODEL_SERVICE)["Spec"]["TaskTemplate"]["ContainerSpec"]
    with traffic(HOST_PORT, BODY, correct) as finish:
        time.sleep(2)
        victim = stack.deployment.containers(MODEL_SERVICE)[0]
        started = time.monotonic()
        victim.kill()
        wait_for(
            "a replacement task to run healthy",
            lambda: (
                victim.id not in {c.id for c in stack.deployment.containers(MODEL_SERVICE)}
                and converged(stack.deployment, MODEL_SERVICE, 2, image["Image"])
            ),
            CONVERGE_SECONDS,
        )
        took = time.monotonic() - started
        time.sleep(2)
    result = finish()
    summary = result.summary(f"one task killed, replaced in {took:.1f} s")
    print(summary)
    assert result.sent >= 100, summary
    assert result.failed == 0, summary
