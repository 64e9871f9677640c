"""A model's replicated Swarm service: settings in, the docker.Service arguments out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import pulumi
import pulumi_docker as docker

from ...server_contract import READINESS_COMMAND, server_env
from ...settings import ServedModel, SwarmSettings
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
    converge_timeout_seconds,
    model_healthcheck,
    model_stop_grace_seconds,
    restart_policy,
    rollback_policy,
    seconds,
    update_policy,
)

HTTP_PORT_NAME = "http"


@dataclass(frozen=True)
class ServiceSpec:
    """The arguments of one docker.Service."""

    name: str
    labels: list[docker.ServiceLabelArgs]
    mode: docker.ServiceModeArgs
    task_spec: docker.ServiceTaskSpecArgs
    update_config: docker.ServiceUpdateConfigArgs
    rollback_config: docker.ServiceRollbackConfigArgs
    endpoint_spec: docker.ServiceEndpointSpecArgs
    converge_timeout_seconds: int
    replicated: bool = True

    @property
    def converge_config(self) -> docker.ServiceConvergeConfigArgs | None:
        """`pulumi up` waits until the tasks run healthy and fails when the update rolled back
        or paused (the provider's own wait; the Engine API has no such field). Not for global
        services: the provider's wait counts replicas only and fails on a global service with
        "no replica count", deleting a service it has just created."""
        if not self.replicated:
            return None
        return docker.ServiceConvergeConfigArgs(
            delay=seconds(CONVERGE_POLL_SECONDS), timeout=seconds(self.converge_timeout_seconds)
        )

    @property
    def custom_timeouts(self) -> pulumi.CustomTimeouts:
        limit = seconds(self.converge_timeout_seconds + CONVERGE_POLL_SECONDS * 2)
        return pulumi.CustomTimeouts(create=limit, update=limit)


CONVERGE_POLL_SECONDS = 5


def model_service_name(environment: str, model: str) -> str:
    return f"{environment}-{model}"


def model_endpoint_spec(
    model: ServedModel, settings: SwarmSettings
) -> docker.ServiceEndpointSpecArgs:
    """Behind the proxy a model publishes nothing: the proxy reaches its tasks over the overlay
    network. Without it, the model publishes its host port in the configured mode (the settings
    refuse combinations Docker rejects or that cannot update without downtime)."""
    if settings.proxy.enabled:
        return docker.ServiceEndpointSpecArgs(mode=settings.endpoint_mode)
    return docker.ServiceEndpointSpecArgs(
        mode=settings.endpoint_mode,
        ports=[
            docker.ServiceEndpointSpecPortArgs(
                name=HTTP_PORT_NAME,
                protocol="tcp",
                target_port=model.port,
                published_port=model.published_port,
                publish_mode=settings.publish_mode,
            )
        ],
    )


def model_service_spec(
    model: ServedModel,
    image: pulumi.Input[str],
    network_id: pulumi.Input[str],
    environment: str,
    settings: SwarmSettings,
    labels: Mapping[str, str],
    secrets: Sequence[docker.ServiceTaskSpecContainerSpecSecretArgs] = (),
    *,
    platform: str,
) -> ServiceSpec:
    size = model.size
    health = model_healthcheck(model.startup_timeout_seconds)
    replicas = size.swarm.replicas
    resources = size.resources
    container = hardened_container(
        image=image,
        env=server_env(model),
        labels=labels,
        # A model's own image (models[].image) probes with the command its settings give.
        healthcheck=healthcheck_args(model.healthcheck or READINESS_COMMAND, health),
        stop_signal="SIGTERM",
        stop_grace_seconds=model_stop_grace_seconds(),
        secrets=secrets,
        # tini as PID 1: forwards SIGTERM to the server and reaps what its workers leave.
        init=True,
    )
    update = update_policy(replicas, health, "start-first")
    return ServiceSpec(
        name=model_service_name(environment, model.name),
        labels=label_args(labels),
        mode=docker.ServiceModeArgs(
            global_=False, replicated=docker.ServiceModeReplicatedArgs(replicas=replicas)
        ),
        task_spec=docker.ServiceTaskSpecArgs(
            container_spec=container,
            networks_advanceds=[network_args(network_id)],
            resources=resources_args(
                resources.cpu.request,
                resources.cpu.limit,
                resources.memory.request,
                resources.memory.limit,
                gpus=resources.gpu,
                gpu_resource=settings.gpu_resource,
            ),
            restart_policy=restart_policy_args(restart_policy(health)),
            placement=placement_args(
                settings.placement_constraints,
                platform=platform,
                max_replicas_per_node=size.swarm.max_replicas_per_node,
                spread_over=settings.spread_over,
            ),
        ),
        update_config=update_config_args(update),
        rollback_config=rollback_config_args(rollback_policy(replicas, health, "start-first")),
        endpoint_spec=model_endpoint_spec(model, settings),
        converge_timeout_seconds=converge_timeout_seconds(replicas, health, update),
    )


def published_url(docker_host: str, port: int) -> str:
    """Where a host-published port answers: the manager's host for tcp:// and ssh:// engines,
    localhost for a local socket. (Ingress and host-mode ports answer on every node running a
    task; the manager is the one address mlstack knows.)"""
    parsed = urlsplit(docker_host)
    host = parsed.hostname if parsed.scheme in ("tcp", "ssh", "http", "https") else None
    return f"http://{host or 'localhost'}:{port}"
