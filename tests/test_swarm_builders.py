"""The Swarm builders (components/swarm/specs): settings in, pulumi-docker Args out, no Pulumi
engine and no Docker engine needed."""

from __future__ import annotations

import base64
import dataclasses
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import jinja2
import pulumi
import pytest

from mlstack.components.server_contract import DRAIN_SECONDS, GRACEFUL_TIMEOUT_SECONDS
from mlstack.components.settings import ImageSettings, ServedModel, StackSettings, load_settings
from mlstack.components.settings.quantities import byte_count, nano_cpus
from mlstack.components.swarm.specs import proxy, secrets, service, task, timing
from mlstack.components.swarm.specs.network import (
    VXLAN_OPTION,
    overlay_network_args,
    overlay_network_name,
    overlay_vxlan_id,
)
from tests.support.harness import PROJECT_DIR

IRIS = {
    "name": "iris",
    "framework": "sklearn",
    "artifact": "examples/iris/iris.joblib",
    "version": "1.0.0",
}
DEV_SWARM = {"endpointMode": "dnsrr", "publishMode": "host", "proxy": {"enabled": True}}
HADOLINT = str(Path(sys.executable).parent / "hadolint")


def stack(
    size: str = "small", swarm: dict[str, Any] | None = None, models: list[Any] | None = None
) -> StackSettings:
    raw = {
        "orchestrator": "swarm",
        "size": size,
        "models": models or [IRIS],
        "swarm": DEV_SWARM if swarm is None else swarm,
    }
    return load_settings(raw, environment="dev", project_dir=PROJECT_DIR)


def replace_size(**swarm: Any) -> ServedModel:
    """The small dev model with its size's `swarm` section changed."""
    model = stack().models[0]
    size = model.size.model_copy(update={"swarm": model.size.swarm.model_copy(update=swarm)})
    return dataclasses.replace(model, size=size)


def model_spec(
    settings: StackSettings, model: ServedModel | None = None, mounts: list[Any] | None = None
) -> service.ServiceSpec:
    served = model or settings.models[0]
    return service.model_service_spec(
        served,
        "mlstack/iris:1.0.0-abc",
        "net-id",
        "dev",
        settings.swarm,
        {"a": "b"},
        mounts or [],
        platform="linux/amd64",
    )


# --- timing -------------------------------------------------------------------------------------


def test_the_healthcheck_probes_readiness_every_5_s_and_waits_out_the_startup_timeout() -> None:
    health = timing.model_healthcheck(300)
    assert (health.interval_seconds, health.timeout_seconds, health.retries) == (5, 3, 3)
    assert health.start_period_seconds == 300
    assert health.verdict_seconds == 24
    with pytest.raises(ValueError, match="positive"):
        timing.model_healthcheck(0)


def test_updates_start_first_roll_back_on_failure_and_monitor_past_the_healthcheck() -> None:
    health = timing.model_healthcheck(300)
    policy = timing.update_policy(2, health, "start-first")
    assert (policy.order, policy.failure_action, policy.max_failure_ratio) == (
        "start-first",
        "rollback",
        0.0,
    )
    # The checklist's bar (interval x retries) and the stricter one (each check may time out).
    assert policy.monitor_seconds > health.interval_seconds * health.retries
    assert policy.monitor_seconds > health.verdict_seconds
    assert policy.delay_seconds == 5


@pytest.mark.parametrize(("replicas", "parallelism"), [(1, 1), (2, 1), (4, 1), (5, 2), (8, 2)])
def test_a_quarter_of_the_tasks_update_at_a_time(replicas: int, parallelism: int) -> None:
    assert timing.update_parallelism(replicas) == parallelism


def test_a_failed_rollback_pauses_instead_of_cycling() -> None:
    policy = timing.rollback_policy(2, timing.model_healthcheck(60), "start-first")
    assert (policy.failure_action, policy.delay_seconds, policy.order) == (
        "pause",
        0,
        "start-first",
    )
    with pytest.raises(ValueError, match="cannot roll back"):
        task.rollback_config_args(
            timing.update_policy(2, timing.model_healthcheck(60), "stop-first")
        )


def test_restarts_are_bounded_within_a_window_longer_than_a_start() -> None:
    health = timing.model_healthcheck(300)
    policy = timing.restart_policy(health)
    assert (policy.condition, policy.max_attempts) == ("on-failure", 3)
    assert policy.window_seconds > health.start_period_seconds + health.verdict_seconds


def test_the_stop_grace_period_covers_the_servers_timeout_and_drain() -> None:
    assert timing.model_stop_grace_seconds() >= GRACEFUL_TIMEOUT_SECONDS + DRAIN_SECONDS
    assert timing.model_stop_grace_seconds() == 28
    assert timing.proxy_stop_grace_seconds(60) == 65
    with pytest.raises(ValueError, match="negative"):
        timing.seconds(-1)


# --- the model service --------------------------------------------------------------------------


def test_replicas_limits_and_reservations_come_from_the_size() -> None:
    settings = stack("medium")
    spec = model_spec(settings)
    size = settings.models[0].size
    assert spec.mode.replicated.replicas == size.swarm.replicas == 2
    resources = spec.task_spec.resources
    assert resources.limits.nano_cpus == nano_cpus(size.resources.cpu.limit) == 1_000_000_000
    assert resources.limits.memory_bytes == byte_count(size.resources.memory.limit)
    assert resources.reservation.nano_cpus == nano_cpus(size.resources.cpu.request)
    assert resources.reservation.memory_bytes == byte_count(size.resources.memory.request)
    assert resources.reservation.generic_resources is None


def test_the_gpu_size_reserves_gpus_as_generic_resources() -> None:
    onnx = {**IRIS, "framework": "onnx", "artifact": "examples/iris/iris.onnx"}
    spec = model_spec(stack("gpu", {**DEV_SWARM, "gpuResource": "AMD-GPU"}, [onnx]))
    generic = spec.task_spec.resources.reservation.generic_resources
    assert generic.discrete_resources_specs == ["AMD-GPU=1"]


def test_the_container_is_hardened_and_runs_the_contract() -> None:
    container = model_spec(stack()).task_spec.container_spec
    assert container.user == "10001:10001"
    assert container.read_only is True
    assert container.cap_drops == ["ALL"]
    assert container.cap_adds is None
    (scratch,) = container.mounts
    assert (scratch.target, scratch.type) == ("/tmp", "tmpfs")
    assert scratch.tmpfs_options.size_bytes == 256 * 2**20
    assert container.env == {
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "1.0.0",
        "PORT": "8080",
        "GRACEFUL_TIMEOUT": "20",
    }
    assert container.stop_signal == "SIGTERM"
    assert container.stop_grace_period == "28s"
    assert container.init is True
    check = container.healthcheck
    assert check.tests == ["CMD", "python", "-m", "model_server.healthcheck"]
    assert (check.interval, check.timeout, check.retries, check.start_period) == (
        "5s",
        "3s",
        3,
        "5m",
    )


def test_a_models_env_may_not_set_what_the_contract_sets() -> None:
    settings = stack()
    clashing = ServedModel(**{**settings.models[0].__dict__, "env": {"PORT": "1"}})
    with pytest.raises(ValueError, match="PORT, which mlstack sets itself"):
        model_spec(settings, clashing)


def test_update_rollback_and_restart_policies_are_on_the_service() -> None:
    spec = model_spec(stack())
    update = spec.update_config
    assert (update.order, update.failure_action, update.monitor, update.parallelism) == (
        "start-first",
        "rollback",
        "30s",
        1,
    )
    assert update.max_failure_ratio == "0.0"
    rollback = spec.rollback_config
    assert (rollback.order, rollback.failure_action, rollback.monitor) == (
        "start-first",
        "pause",
        "30s",
    )
    restart = spec.task_spec.restart_policy
    assert (restart.condition, restart.max_attempts, restart.window) == ("on-failure", 3, "6m24s")
    assert spec.converge_config.timeout == "11m40s"
    assert spec.custom_timeouts.update == "11m50s"


def test_placement_spreads_by_the_size_and_settings() -> None:
    placement = model_spec(
        stack(
            "medium",
            {
                **DEV_SWARM,
                "placementConstraints": ["node.role==worker"],
                "spreadOver": "node.labels.zone",
            },
        )
    ).task_spec.placement
    assert placement.constraints == ["node.platform.os==linux", "node.role==worker"]
    assert placement.max_replicas == 1  # medium: maxReplicasPerNode 1
    assert placement.prefs == ["node.labels.zone"]  # pulumi-docker takes the bare descriptor
    small = model_spec(stack()).task_spec.placement
    assert (small.max_replicas, small.prefs) == (3, None)  # 2 replicas + a start-first surge
    unlimited = model_spec(stack(), replace_size(max_replicas_per_node=0)).task_spec.placement
    assert unlimited.max_replicas is None  # 0: no cap, and none sent


def test_behind_the_proxy_a_model_publishes_nothing() -> None:
    endpoint = model_spec(stack()).endpoint_spec
    assert endpoint.mode == "dnsrr"
    assert endpoint.ports is None


def test_without_the_proxy_a_model_publishes_its_port_on_the_routing_mesh() -> None:
    endpoint = model_spec(stack(swarm={})).endpoint_spec
    assert endpoint.mode == "vip"
    (port,) = endpoint.ports
    assert (port.target_port, port.published_port, port.publish_mode, port.protocol) == (
        8080,
        8080,
        "ingress",
        "tcp",
    )


def test_networks_are_attached_by_id_without_the_deprecated_name() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attachment = task.network_args("net-id")
    assert attachment.id == "net-id"
    assert pulumi.get(attachment, "name") is None  # the getter itself warns


def test_the_overlay_network_is_attachable_and_optionally_encrypted() -> None:
    labels = {"x": "y"}
    plain = overlay_network_args(stack().swarm, "dev", labels)
    vxlan = overlay_vxlan_id(stack().swarm, "dev", labels)
    assert re.fullmatch(r"mlstack-dev-[0-9a-f]{8}", str(plain.name)), plain.name
    assert (plain.driver, plain.attachable, plain.options) == (
        "overlay",
        True,
        {VXLAN_OPTION: str(vxlan)},
    )
    encrypted_swarm = stack(swarm={**DEV_SWARM, "network": {"encrypted": True}}).swarm
    encrypted = overlay_network_args(encrypted_swarm, "dev", labels)
    assert encrypted.options == {
        VXLAN_OPTION: str(overlay_vxlan_id(encrypted_swarm, "dev", labels)),
        "encrypted": "true",
    }


def test_a_changed_network_gets_a_new_name_and_vxlan_id_so_it_can_live_beside_the_old_one() -> None:
    """Every network argument forces a replacement, created before the old network is deleted
    (services still use the old one until they move): the two exist together for a moment, so
    they must differ in name and, unless one is set, in VXLAN ID."""
    labels = {"x": "y"}
    swarm = stack().swarm
    variants = {
        "as is": (swarm, labels),
        "encrypted": (stack(swarm={**DEV_SWARM, "network": {"encrypted": True}}).swarm, labels),
        "vxlanId": (stack(swarm={**DEV_SWARM, "network": {"vxlanId": 5000}}).swarm, labels),
        "labels": (swarm, {"x": "z"}),
    }
    names = {overlay_network_name(sw, "dev", lab) for sw, lab in variants.values()}
    assert len(names) == len(variants)
    derived = {
        overlay_vxlan_id(sw, "dev", lab) for k, (sw, lab) in variants.items() if k != "vxlanId"
    }
    assert len(derived) == len(variants) - 1
    # ... and the same settings always give the same name: no replacement on the next `up`.
    assert overlay_network_name(swarm, "dev", dict(labels)) == overlay_network_name(
        stack().swarm, "dev", labels
    )


def test_the_vxlan_id_is_derived_from_the_network_name_unless_set() -> None:
    """The engine records the overlay's VXLAN ID among its options; mlstack sends it, so the
    provider reads back exactly what it sent (tests/test_swarm_readback.py)."""
    swarm = stack().swarm
    dev, prod = overlay_vxlan_id(swarm, "dev", {}), overlay_vxlan_id(swarm, "prod", {})
    assert dev == overlay_vxlan_id(swarm, "dev", {})  # stable across runs and clones
    assert dev != prod
    assert min(dev, prod) >= 2**20
    assert max(dev, prod) <= 2**24 - 1
    pinned = stack(swarm={**DEV_SWARM, "network": {"vxlanId": 5000}}).swarm
    assert overlay_vxlan_id(pinned, "dev", {}) == 5000


@pytest.mark.parametrize(
    ("docker_host", "url"),
    [
        ("unix:///var/run/docker.sock", "http://localhost:8081"),
        ("ssh://admin@manager-1", "http://manager-1:8081"),
        ("tcp://10.0.0.5:2376", "http://10.0.0.5:8081"),
    ],
)
def test_the_endpoint_is_the_managers_host_port(docker_host: str, url: str) -> None:
    assert service.published_url(docker_host, 8081) == url


# --- secrets ------------------------------------------------------------------------------------


def test_secret_names_follow_their_content_and_fit_dockers_limits() -> None:
    first = secrets.secret_name("dev", "iris", "api-token", "one", {"a": "b"})
    assert first == secrets.secret_name("dev", "iris", "api-token", "one", {"a": "b"})
    assert first != secrets.secret_name("dev", "iris", "api-token", "two", {"a": "b"})
    assert first != secrets.secret_name("dev", "iris", "api-token", "one", {"a": "c"})
    assert first.startswith("dev-iris-api-token-")
    long = secrets.secret_name("environment", "m" * 40, "f" * 60, "value", {})
    assert len(long) <= 64
    for name in (first, long):
        assert re.fullmatch(r"[a-zA-Z0-9]+([a-zA-Z0-9-_.]*[a-zA-Z0-9])?", name), name
    assert "value" not in long


def test_secret_files_are_owned_by_the_server_user_with_mode_0400() -> None:
    mount = secrets.secret_file("id", "name", "api-token")
    assert (mount.file_name, mount.file_uid, mount.file_gid, mount.file_mode) == (
        "api-token",
        "10001",
        "10001",
        0o400,
    )
    assert base64.b64decode(secrets.secret_data("s3cret")) == b"s3cret"
    container = model_spec(stack(), mounts=[mount]).task_spec.container_spec
    assert container.secrets == [mount]


# --- the proxy ----------------------------------------------------------------------------------


def two_models() -> StackSettings:
    second = {**IRIS, "name": "iris-b", "env": {"MAX_BODY_BYTES": "4096"}}
    return stack(models=[IRIS, second])


def test_each_model_gets_its_own_listener_and_published_port() -> None:
    settings = two_models()
    routes = proxy.proxy_routes(settings.models, "dev")
    assert [(r.service, r.listen_port, r.published_port, r.target_port) for r in routes] == [
        ("dev-iris", 8080, 8080, 8080),
        ("dev-iris-b", 8081, 8081, 8080),
    ]
    assert [r.max_body_bytes for r in routes] == [1 << 20, 4096]


def test_nginx_re_resolves_the_tasks_and_retries_a_failed_or_draining_one() -> None:
    settings = two_models()
    conf = proxy.render_nginx_conf(
        proxy.proxy_routes(settings.models, "dev"), settings.swarm, "dev"
    )
    assert "resolver 127.0.0.11 valid=1s ipv6=off;" in conf
    assert "proxy_next_upstream error timeout http_502 http_503 non_idempotent;" in conf
    assert "proxy_next_upstream_tries 3;" in conf
    assert "proxy_connect_timeout 1s;" in conf
    assert "proxy_read_timeout 60s;" in conf
    assert "worker_processes 1;" in conf
    assert "pid /tmp/nginx.pid;" in conf
    assert conf.count("set $tasks tasks.") == 2
    assert "set $tasks tasks.dev-iris-b;" in conf
    assert "proxy_pass http://$tasks:8080;" in conf
    assert "listen 8081;" in conf
    assert "client_max_body_size 4096;" in conf
    assert "listen 127.0.0.1:9901;" in conf
    assert conf.endswith("}\n")


def test_proxy_settings_reach_nginx() -> None:
    settings = stack(
        swarm={
            **DEV_SWARM,
            "proxy": {
                "enabled": True,
                "nextUpstreamTries": 5,
                "readTimeoutSeconds": 7,
                "resources": {"cpu": {"limit": "2500m"}},
            },
        }
    )
    conf = proxy.render_nginx_conf(
        proxy.proxy_routes(settings.models, "dev"), settings.swarm, "dev"
    )
    assert "proxy_next_upstream_tries 5;" in conf
    assert "proxy_read_timeout 7s;" in conf
    assert "worker_processes 3;" in conf


def test_the_templates_fail_on_a_missing_variable() -> None:
    template = proxy._environment().get_template("nginx.conf.j2")
    with pytest.raises(jinja2.UndefinedError):
        template.render()


def test_the_proxy_image_is_nginx_on_the_base_image_as_a_non_root_user() -> None:
    dockerfile = proxy.render_proxy_dockerfile("mlstack/python-base:3.11-bookworm", [8080, 8081])
    assert "ARG BASE_IMAGE=mlstack/python-base:3.11-bookworm\nFROM ${BASE_IMAGE}\n" in dockerfile
    assert "apt-get install --yes --no-install-recommends nginx" in dockerfile
    assert "RUN nginx -t -q -c /etc/mlstack-proxy/nginx.conf -e stderr" in dockerfile
    assert "USER 10001:10001" in dockerfile
    assert "EXPOSE 8080 8081" in dockerfile
    assert "STOPSIGNAL SIGQUIT" in dockerfile
    result = subprocess.run(
        [HADOLINT, "--no-color", "-"], input=dockerfile, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_proxy_image_tag_follows_its_build_context_and_platform() -> None:
    settings = stack()
    routes = proxy.proxy_routes(settings.models, "dev")
    image = ImageSettings(base_image="base:1")
    build = proxy.proxy_image_build(routes, settings.swarm, "dev", image)
    assert set(build.files) == {"Dockerfile", "nginx.conf", "healthcheck.py"}
    assert re.fullmatch(r"nginx-[0-9a-f]{12}", build.tag)
    assert build.tag == proxy.proxy_image_build(routes, settings.swarm, "dev", image).tag
    other_base = ImageSettings(base_image="base:2")
    other_platform = ImageSettings(base_image="base:1", platform="linux/arm64")
    assert proxy.proxy_image_build(routes, settings.swarm, "dev", other_base).tag != build.tag
    assert proxy.proxy_image_build(routes, settings.swarm, "dev", other_platform).tag != build.tag


def test_with_host_ports_the_proxy_runs_on_every_node_and_updates_stop_first() -> None:
    settings = two_models()
    spec = proxy.proxy_service_spec(
        proxy.proxy_routes(settings.models, "dev"),
        "img",
        "net",
        "dev",
        settings.swarm,
        {},
        platform="linux/amd64",
    )
    assert spec.name == "dev-proxy"
    assert spec.mode.global_ is True
    # pulumi-docker's convergence wait fails on global services ("no replica count").
    assert spec.converge_config is None
    assert spec.mode.replicated is None
    assert (spec.update_config.order, spec.update_config.failure_action) == (
        "stop-first",
        "rollback",
    )
    assert spec.rollback_config.order == "stop-first"
    assert spec.endpoint_spec.mode == "dnsrr"
    ports = [(p.target_port, p.published_port, p.publish_mode) for p in spec.endpoint_spec.ports]
    assert ports == [(8080, 8080, "host"), (8081, 8081, "host")]
    container = spec.task_spec.container_spec
    assert (container.user, container.read_only, container.cap_drops) == (
        "10001:10001",
        True,
        ["ALL"],
    )
    assert container.healthcheck.tests == [
        "CMD",
        "python3",
        "/etc/mlstack-proxy/healthcheck.py",
        "9901",
    ]
    # 65 s, written as pulumi-docker reads it back (tests/test_go_durations.py).
    assert (container.stop_signal, container.stop_grace_period) == ("SIGQUIT", "1m5s")
    limits = spec.task_spec.resources.limits
    assert (limits.nano_cpus, limits.memory_bytes) == (500_000_000, 128 * 2**20)


def test_with_ingress_ports_the_proxy_is_replicated_and_updates_start_first() -> None:
    settings = stack(swarm={"proxy": {"enabled": True, "replicas": 3}})
    spec = proxy.proxy_service_spec(
        proxy.proxy_routes(settings.models, "dev"),
        "img",
        "net",
        "dev",
        settings.swarm,
        {},
        platform="linux/amd64",
    )
    assert spec.mode.replicated.replicas == 3
    assert spec.converge_config is not None
    assert spec.update_config.order == "start-first"
    assert spec.endpoint_spec.mode == "vip"
    assert spec.endpoint_spec.ports[0].publish_mode == "ingress"


def test_the_proxy_healthcheck_script_checks_nginx_on_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(proxy.HEALTHCHECK_SOURCE), "9"],  # port 9: nothing listens
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "http://127.0.0.1:9/healthz" in result.stderr
