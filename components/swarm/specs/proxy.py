"""The reverse proxy in front of the model services: its nginx config, image and service.

Why a proxy: without IPVS (no VIP, no routing mesh) a published port can only be bound by one
task per node (publish mode host). Rolling a model's tasks while clients hit that port would
drop requests. So one proxy holds each model's host port and reaches the model's tasks over the
overlay network by Swarm DNS (`tasks.<service>`, every healthy task), re-resolving every second.
Swarm adds a task to DNS only once its healthcheck passes and removes it before SIGTERM; the
server keeps serving while it drains; and nginx retries a refused, timed-out, 502 or 503 request
on another task (POST /predict is a pure function of its body, so retrying it is safe). Together
a start-first rolling update or a rollback drops no request, and model updates never touch the
proxy: its config names services, not images.

The image is nginx from the Debian archive, installed on the configured base image: it builds
wherever the model images build, with no registry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pulumi
import pulumi_docker as docker

from mlstack.model_server.config import DEFAULT_MAX_BODY_BYTES

from ...image.build import ImageBuild
from ...image.context import BuildOptions
from ...security import RUNTIME_GID, RUNTIME_UID
from ...settings import ImageSettings, ServedModel, SwarmSettings
from ...settings.invariants import PROXY_NAME
from ...settings.quantities import cpu_millis
from ...templating import template_environment
from .service import ServiceSpec, model_service_name
from .task import (
    hardened_container,
    healthcheck_args,
    label_args,
    network_args,
    placement_args,
    resources_args,
    restart_policy_args,
    rollback_config_args,
    update_config_args,
)
from .timing import (
    PROXY_HEALTHCHECK,
    Order,
    converge_timeout_seconds,
    proxy_stop_grace_seconds,
    restart_policy,
    rollback_policy,
    update_policy,
)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
HEALTHCHECK_SOURCE = Path(__file__).resolve().parent.parent / "proxy_healthcheck.py"
CONFIG_DIR = "/etc/mlstack-proxy"
DOCKERFILE = "Dockerfile"
NGINX_CONF = "nginx.conf"
HEALTHCHECK_FILE = "healthcheck.py"
# Ports inside the proxy container: a loopback-only health listener, and one listener per model
# from 8080 up (unprivileged: nginx runs as 10001 without capabilities).
HEALTH_PORT = 9901
FIRST_LISTEN_PORT = 8080
WORKER_CONNECTIONS = 1024
TAG_PREFIX = "nginx"
PROXY_SCRATCH_SIZE = "64Mi"  # request bodies nginx buffers to disk, and its pid file
DOCKER_DNS = "127.0.0.11"  # Swarm's embedded DNS server, in every container on an overlay
DNS_VALID_SECONDS = 1
CONNECT_TIMEOUT_SECONDS = 1  # a removed task's address fails fast and is retried elsewhere


@dataclass(frozen=True)
class ProxyRoute:
    """One model behind the proxy: host port -> proxy listener -> the model's tasks."""

    model: str
    service: str
    target_port: int
    listen_port: int
    published_port: int
    max_body_bytes: int


def proxy_service_name(environment: str) -> str:
    return f"{environment}-{PROXY_NAME}"


def _max_body_bytes(model: ServedModel) -> int:
    """The server's own request limit (MAX_BODY_BYTES), so the proxy neither cuts requests the
    server accepts nor buffers bodies the server would refuse."""
    raw = model.env.get("MAX_BODY_BYTES", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_BODY_BYTES


def proxy_routes(models: Sequence[ServedModel], environment: str) -> list[ProxyRoute]:
    routes = [
        ProxyRoute(
            model=model.name,
            service=model_service_name(environment, model.name),
            target_port=model.port,
            listen_port=FIRST_LISTEN_PORT + index,
            published_port=model.published_port,
            max_body_bytes=_max_body_bytes(model),
        )
        for index, model in enumerate(models)
    ]
    if any(route.listen_port >= HEALTH_PORT for route in routes):
        raise ValueError(f"at most {HEALTH_PORT - FIRST_LISTEN_PORT} models behind one proxy")
    return routes


def _environment() -> jinja2.Environment:
    environment = template_environment(TEMPLATES_DIR)
    environment.filters["json"] = json.dumps
    return environment


def nginx_workers(cpu_limit: str) -> int:
    """One worker per whole CPU of the limit (nginx's `auto` would count the host's CPUs)."""
    return max(1, math.ceil(cpu_millis(cpu_limit) / 1000))


def render_nginx_conf(
    routes: Sequence[ProxyRoute], settings: SwarmSettings, environment: str
) -> str:
    if not routes:
        raise ValueError("the proxy needs at least one model to route to")
    proxy = settings.proxy
    return (
        _environment()
        .get_template("nginx.conf.j2")
        .render(
            environment=environment,
            routes=routes,
            workers=nginx_workers(proxy.resources.cpu.limit),
            worker_connections=WORKER_CONNECTIONS,
            dns=DOCKER_DNS,
            dns_valid_seconds=DNS_VALID_SECONDS,
            connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
            read_timeout_seconds=proxy.read_timeout_seconds,
            tries=proxy.next_upstream_tries,
            health_port=HEALTH_PORT,
        )
    )


def render_proxy_dockerfile(base_image: str, listen_ports: Sequence[int]) -> str:
    health = PROXY_HEALTHCHECK
    return (
        _environment()
        .get_template("proxy.Dockerfile.j2")
        .render(
            base_image=base_image,
            uid=RUNTIME_UID,
            gid=RUNTIME_GID,
            config_dir=CONFIG_DIR,
            nginx_conf=NGINX_CONF,
            healthcheck_file=HEALTHCHECK_FILE,
            health_port=HEALTH_PORT,
            listen_ports=list(listen_ports),
            interval=health.interval_seconds,
            timeout=health.timeout_seconds,
            retries=health.retries,
            start_period=health.start_period_seconds,
        )
    )


def healthcheck_command() -> list[str]:
    return ["python3", f"{CONFIG_DIR}/{HEALTHCHECK_FILE}", str(HEALTH_PORT)]


def proxy_build_files(
    routes: Sequence[ProxyRoute], settings: SwarmSettings, environment: str, base_image: str
) -> dict[str, bytes]:
    """The proxy's whole build context: Dockerfile, nginx.conf and the healthcheck script."""
    return {
        DOCKERFILE: render_proxy_dockerfile(
            base_image, [route.listen_port for route in routes]
        ).encode(),
        NGINX_CONF: render_nginx_conf(routes, settings, environment).encode(),
        HEALTHCHECK_FILE: HEALTHCHECK_SOURCE.read_bytes(),
    }


def proxy_image_build(
    routes: Sequence[ProxyRoute],
    settings: SwarmSettings,
    environment: str,
    image: ImageSettings,
) -> ImageBuild:
    """The proxy image: built like the model images (same base image, platform and registry),
    tagged `nginx-<hash>` so a config change is a new tag, never `latest`."""
    return ImageBuild(
        name=PROXY_NAME,
        tag_prefix=TAG_PREFIX,
        files=proxy_build_files(routes, settings, environment, image.base_image),
        options=BuildOptions(platform=image.platform, args={"BASE_IMAGE": image.base_image}),
    )


def proxy_rollout_order(settings: SwarmSettings) -> Order:
    """Host-mode ports are held by the running task: its replacement cannot start beside it, so
    the proxy updates stop-first (a gap of a few seconds, only when the proxy itself changes:
    new models, ports or proxy settings). Ingress ports allow start-first."""
    return "stop-first" if settings.publish_mode == "host" else "start-first"


def proxy_service_spec(
    routes: Sequence[ProxyRoute],
    image: pulumi.Input[str],
    network_id: pulumi.Input[str],
    environment: str,
    settings: SwarmSettings,
    labels: Mapping[str, str],
    *,
    platform: str,
) -> ServiceSpec:
    """With host publishing the proxy runs on every eligible node (global mode: each node
    answers on the model ports, the usual edge pattern); with ingress, `proxy.replicas` tasks
    behind the routing mesh."""
    proxy = settings.proxy
    host = settings.publish_mode == "host"
    order = proxy_rollout_order(settings)
    replicas = 1 if host else proxy.replicas  # a global service replaces one node's task a step
    # `global` is always sent, so switching publish mode is a change of mode.global (which
    # replaces the service: components/swarm/service.py), never a block that silently vanishes.
    mode = (
        docker.ServiceModeArgs(global_=True)
        if host
        else docker.ServiceModeArgs(
            global_=False, replicated=docker.ServiceModeReplicatedArgs(replicas=proxy.replicas)
        )
    )
    container = hardened_container(
        image=image,
        env=None,
        labels=labels,
        healthcheck=healthcheck_args(healthcheck_command(), PROXY_HEALTHCHECK),
        stop_signal="SIGQUIT",  # nginx's graceful stop: finish in-flight requests, then exit
        stop_grace_seconds=proxy_stop_grace_seconds(proxy.read_timeout_seconds),
        scratch_size=PROXY_SCRATCH_SIZE,
    )
    update = update_policy(replicas, PROXY_HEALTHCHECK, order)
    return ServiceSpec(
        name=proxy_service_name(environment),
        labels=label_args(labels),
        mode=mode,
        task_spec=docker.ServiceTaskSpecArgs(
            container_spec=container,
            networks_advanceds=[network_args(network_id)],
            resources=resources_args(
                proxy.resources.cpu.request,
                proxy.resources.cpu.limit,
                proxy.resources.memory.request,
                proxy.resources.memory.limit,
            ),
            restart_policy=restart_policy_args(restart_policy(PROXY_HEALTHCHECK)),
            placement=placement_args(
                proxy.placement_constraints, platform=platform, spread_over=settings.spread_over
            ),
        ),
        update_config=update_config_args(update),
        rollback_config=rollback_config_args(rollback_policy(replicas, PROXY_HEALTHCHECK, order)),
        # Nothing resolves the proxy by name; with host ports it needs no virtual IP either.
        endpoint_spec=docker.ServiceEndpointSpecArgs(
            mode="dnsrr" if host else "vip",
            ports=[
                docker.ServiceEndpointSpecPortArgs(
                    name=route.model,
                    protocol="tcp",
                    target_port=route.listen_port,
                    published_port=route.published_port,
                    publish_mode=settings.publish_mode,
                )
                for route in routes
            ],
        ),
        converge_timeout_seconds=converge_timeout_seconds(replicas, PROXY_HEALTHCHECK, update),
        replicated=not host,
    )
