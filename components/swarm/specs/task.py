"""Pieces every mlstack Swarm service's task is built from: hardening, resources, placement,
healthcheck, restart, update and rollback policies, as pulumi-docker Args.

What pulumi-docker 5.2's `docker.Service` cannot express (its ContainerSpec and Resources lack
the fields, though the Docker Engine API has some of them):
- a pids limit (Engine API `Resources.Limits.Pids`, API >= 1.41): not settable, so mlstack
  offers no pids setting (one that reached nothing would mislead). The memory limit is the bound:
  a fork bomb is OOM-killed at it, and the restart policy stops a crash loop after 3 attempts.
- no-new-privileges and a seccomp/AppArmor profile choice (`Privileges` here only has
  CredentialSpec and SELinuxContext): tasks run with Docker's default seccomp and AppArmor
  profiles. With every capability dropped the bounding set is empty, so even a setuid-root
  binary runs without any capability (it could still act as the owner of root-owned files).
- ulimits and an ephemeral-storage limit: the root filesystem is read-only, and the only
  writable path is the size-bounded tmpfs at /tmp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_docker as docker

from ...security import (
    DROPPED_CAPABILITIES,
    RUNTIME_GID,
    RUNTIME_UID,
    SCRATCH_PATH,
    SCRATCH_SIZE,
)
from ...settings.quantities import byte_count, nano_cpus
from .timing import (
    HealthcheckTiming,
    RestartPolicy,
    RolloutPolicy,
    seconds,
)

LINUX_NODES = "node.platform.os==linux"  # the images are linux/*


def runtime_user(uid: int = RUNTIME_UID, gid: int = RUNTIME_GID) -> str:
    return f"{uid}:{gid}"


def label_args(labels: Mapping[str, str]) -> list[docker.ServiceLabelArgs]:
    return [docker.ServiceLabelArgs(label=key, value=value) for key, value in labels.items()]


def container_label_args(
    labels: Mapping[str, str],
) -> list[docker.ServiceTaskSpecContainerSpecLabelArgs]:
    return [
        docker.ServiceTaskSpecContainerSpecLabelArgs(label=key, value=value)
        for key, value in labels.items()
    ]


def scratch_mount(size: str = SCRATCH_SIZE) -> docker.ServiceTaskSpecContainerSpecMountArgs:
    """The only writable path of the read-only root: a private tmpfs at /tmp, bounded in size.
    Its mode stays Docker's default (1777): the provider reads a mode back without the sticky
    bit, so setting 1777 would show a diff on every `pulumi up`."""
    return docker.ServiceTaskSpecContainerSpecMountArgs(
        target=SCRATCH_PATH,
        type="tmpfs",
        tmpfs_options=docker.ServiceTaskSpecContainerSpecMountTmpfsOptionsArgs(
            size_bytes=byte_count(size)
        ),
    )


def healthcheck_args(
    command: Sequence[str], timing: HealthcheckTiming
) -> docker.ServiceTaskSpecContainerSpecHealthcheckArgs:
    return docker.ServiceTaskSpecContainerSpecHealthcheckArgs(
        tests=["CMD", *command],
        interval=seconds(timing.interval_seconds),
        timeout=seconds(timing.timeout_seconds),
        retries=timing.retries,
        start_period=seconds(timing.start_period_seconds),
    )


def resources_args(
    cpu_request: str,
    cpu_limit: str,
    memory_request: str,
    memory_limit: str,
    *,
    gpus: int = 0,
    gpu_resource: str = "NVIDIA-GPU",
) -> docker.ServiceTaskSpecResourcesArgs:
    """Limits are enforced by the kernel (CFS quota, OOM kill); reservations only steer the
    scheduler. GPUs are generic resources the GPU nodes advertise
    (`dockerd --node-generic-resource NVIDIA-GPU=<uuid>`), reserved per task."""
    generic = None
    if gpus > 0:
        generic = docker.ServiceTaskSpecResourcesReservationGenericResourcesArgs(
            discrete_resources_specs=[f"{gpu_resource}={gpus}"]
        )
    return docker.ServiceTaskSpecResourcesArgs(
        limits=docker.ServiceTaskSpecResourcesLimitsArgs(
            nano_cpus=nano_cpus(cpu_limit), memory_bytes=byte_count(memory_limit)
        ),
        reservation=docker.ServiceTaskSpecResourcesReservationArgs(
            nano_cpus=nano_cpus(cpu_request),
            memory_bytes=byte_count(memory_request),
            generic_resources=generic,
        ),
    )


def platform_args(platform: str) -> list[docker.ServiceTaskSpecPlacementPlatformArgs]:
    """The image's platform ("linux/amd64") as the placement platform the scheduler matches
    nodes against. The provider's create asks the registry for a pushed image's platforms and
    sets exactly these (docker client resolveContainerSpecImage), so sending them keeps the
    read-back equal; "arm" is sent without an architecture, as the client clears it."""
    os_name, _, rest = platform.partition("/")
    architecture = rest.split("/", 1)[0]
    return [
        docker.ServiceTaskSpecPlacementPlatformArgs(
            os=os_name, architecture="" if architecture == "arm" else architecture
        )
    ]


def placement_args(
    constraints: Sequence[str],
    *,
    platform: str,
    max_replicas_per_node: int = 0,
    spread_over: str | None = None,
) -> docker.ServiceTaskSpecPlacementArgs:
    """Linux nodes of the image's platform plus the configured constraints. Spread: at most
    `max_replicas_per_node` tasks per node (0: no cap), and a spread preference over a node
    label (pulumi-docker takes the bare descriptor, e.g. node.labels.zone, and sends it as
    Spread.SpreadDescriptor)."""
    return docker.ServiceTaskSpecPlacementArgs(
        constraints=list(dict.fromkeys([LINUX_NODES, *constraints])),
        max_replicas=max_replicas_per_node or None,
        prefs=[spread_over] if spread_over else None,
        platforms=platform_args(platform),
    )


def restart_policy_args(policy: RestartPolicy) -> docker.ServiceTaskSpecRestartPolicyArgs:
    return docker.ServiceTaskSpecRestartPolicyArgs(
        condition=policy.condition,
        delay=seconds(policy.delay_seconds),
        max_attempts=policy.max_attempts,
        window=seconds(policy.window_seconds),
    )


def ratio(value: float) -> str:
    """A failure ratio as the provider reads it back: one decimal ("0.0"). It records
    strconv.FormatFloat(v, 'f', 1, 64), so a ratio with more decimals would differ from its
    read-back form on every `pulumi up`; refused rather than silently rounded."""
    text = format(value, ".1f")
    if float(text) != value:
        raise ValueError(
            f"a failure ratio must have one decimal at most (pulumi-docker reads {value} back as "
            f"{text}), got {value}"
        )
    return text


def update_config_args(policy: RolloutPolicy) -> docker.ServiceUpdateConfigArgs:
    return docker.ServiceUpdateConfigArgs(
        parallelism=policy.parallelism,
        delay=seconds(policy.delay_seconds),
        order=policy.order,
        failure_action=policy.failure_action,
        monitor=seconds(policy.monitor_seconds),
        max_failure_ratio=ratio(policy.max_failure_ratio),
    )


def rollback_config_args(policy: RolloutPolicy) -> docker.ServiceRollbackConfigArgs:
    if policy.failure_action == "rollback":
        raise ValueError("a rollback cannot roll back; use pause or continue")
    return docker.ServiceRollbackConfigArgs(
        parallelism=policy.parallelism,
        delay=seconds(policy.delay_seconds),
        order=policy.order,
        failure_action=policy.failure_action,
        monitor=seconds(policy.monitor_seconds),
        max_failure_ratio=ratio(policy.max_failure_ratio),
    )


def network_args(network_id: pulumi.Input[str]) -> docker.ServiceTaskSpecNetworksAdvancedArgs:
    """Attach by network ID (`name` is deprecated in pulumi-docker and, given a name, makes the
    provider see a diff on every refresh since Docker reports the ID)."""
    return docker.ServiceTaskSpecNetworksAdvancedArgs(id=network_id)


def hardened_container(
    *,
    image: pulumi.Input[str],
    env: Mapping[str, str] | None,
    labels: Mapping[str, str],
    healthcheck: docker.ServiceTaskSpecContainerSpecHealthcheckArgs,
    stop_signal: str,
    stop_grace_seconds: int,
    scratch_size: str = SCRATCH_SIZE,
    secrets: Sequence[docker.ServiceTaskSpecContainerSpecSecretArgs] = (),
    init: bool = False,
) -> docker.ServiceTaskSpecContainerSpecArgs:
    """Non-root (10001:10001), every capability dropped, read-only root with a tmpfs at /tmp
    (components/security.py); secrets only as files."""
    return docker.ServiceTaskSpecContainerSpecArgs(
        image=image,
        env=dict(env) if env else None,
        labels=container_label_args(labels),
        user=runtime_user(),
        read_only=True,
        cap_drops=list(DROPPED_CAPABILITIES),
        mounts=[scratch_mount(scratch_size)],
        healthcheck=healthcheck,
        stop_signal=stop_signal,
        stop_grace_period=seconds(stop_grace_seconds),
        secrets=list(secrets) or None,
        init=init or None,
    )
