"""Declare one docker.Service from its ServiceSpec: the model services and the proxy share it."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from .specs.service import ServiceSpec

# Swarm refuses to change a service between global and replicated in place (swarmkit
# controlapi: "service mode change is not allowed"), and pulumi-docker would try exactly that:
# the switch must replace the service (components/replacements.py).
MODE_SWITCH = "mode.global"


def declare_service(
    resource_name: str,
    spec: ServiceSpec,
    auth: pulumi.Input[docker.ServiceAuthArgs] | None,
    parent: pulumi.Resource,
) -> docker.Service:
    return docker.Service(
        resource_name,
        name=spec.name,
        labels=spec.labels,
        mode=spec.mode,
        task_spec=spec.task_spec,
        update_config=spec.update_config,
        rollback_config=spec.rollback_config,
        endpoint_spec=spec.endpoint_spec,
        converge_config=spec.converge_config,
        auth=auth,
        opts=pulumi.ResourceOptions(
            parent=parent,
            custom_timeouts=spec.custom_timeouts,
            # The name is fixed: a replacement created first would collide with it.
            delete_before_replace=True,
            replace_on_changes=[MODE_SWITCH],
        ),
    )
