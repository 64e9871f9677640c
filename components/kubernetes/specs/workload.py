"""The model server's Deployment: probes, resources, shutdown, scheduling, secrets and hardening.

The Deployment declares no replica count: the HorizontalPodAutoscaler owns it (a replica count
here would be reset on every `pulumi up`, fighting the HPA).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ...security import SECRET_FILE_MODE, SECRETS_DIR
from ...server_contract import (
    GRACEFUL_TIMEOUT_SECONDS,
    METRICS_PATH,
    server_env,
)
from ...settings import KubernetesSettings, ServedModel
from ...settings.kubernetes import GpuScheduling
from ...settings.size import Resources
from .security import (
    container_security_context,
    pod_security_context,
    scratch_mount,
    scratch_volume,
)

CONTAINER_NAME = "model-server"
HTTP_PORT_NAME = "http"
SERVICE_PORT = 80
SECRETS_VOLUME = "secrets"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
# Nodes labelled with the OS by the kubelet; the image is linux/*.
LINUX_NODES: Mapping[str, str] = {"kubernetes.io/os": "linux"}


@dataclass(frozen=True)
class ProbeTiming:
    period_seconds: int
    failure_threshold: int
    timeout_seconds: int

    @property
    def tolerates_seconds(self) -> int:
        """How long the probe may keep failing before Kubernetes acts."""
        return self.period_seconds * self.failure_threshold


# Readiness reacts fast (a draining pod leaves the Service within ~15 s); liveness is patient
# (30 s of failures before a restart), since a restart reloads the model.
READINESS = ProbeTiming(period_seconds=5, failure_threshold=3, timeout_seconds=2)
LIVENESS = ProbeTiming(period_seconds=10, failure_threshold=3, timeout_seconds=5)


def startup_probe_timing(startup_timeout_seconds: int) -> ProbeTiming:
    """A startup probe that tolerates failures for at least `startup_timeout_seconds`.

    Liveness and readiness only start once it succeeds, so slow model loads are not killed.
    Long loads are probed less often (every 10 s past 10 minutes) to keep the kubelet quiet.
    """
    if startup_timeout_seconds < 1:
        raise ValueError(f"startup_timeout_seconds must be positive, got {startup_timeout_seconds}")
    period = 5 if startup_timeout_seconds <= 600 else 10
    return ProbeTiming(
        period_seconds=period,
        failure_threshold=math.ceil(startup_timeout_seconds / period),
        timeout_seconds=2,
    )


@dataclass(frozen=True)
class ShutdownTiming:
    """preStop delay, then SIGTERM and the server's own drain, inside the grace period."""

    pre_stop_seconds: int  # endpoints and load balancers drop the pod before SIGTERM arrives
    graceful_seconds: int  # $GRACEFUL_TIMEOUT: in-flight requests finish, then the server exits
    margin_seconds: int  # slack before SIGKILL

    @property
    def grace_period_seconds(self) -> int:
        return self.pre_stop_seconds + self.graceful_seconds + self.margin_seconds


# 20 s is the server contract's default GRACEFUL_TIMEOUT; set explicitly so the grace period and
# the server agree.
SHUTDOWN = ShutdownTiming(
    pre_stop_seconds=5, graceful_seconds=GRACEFUL_TIMEOUT_SECONDS, margin_seconds=5
)


def progress_deadline_seconds(startup_timeout_seconds: int) -> int:
    """How long a rollout may go without progress before it is marked failed.

    One new pod must get a node (the cluster-autoscaler may add one: minutes), pull the image and
    load the model, so the deadline exceeds the startup timeout by five minutes, never less than
    Kubernetes' default of ten minutes.
    """
    return max(600, startup_timeout_seconds + 300)


def rollout_timeout(startup_timeout_seconds: int) -> pulumi.CustomTimeouts:
    """Pulumi waits for the rollout; it must wait as long as Kubernetes allows it to progress."""
    limit = f"{progress_deadline_seconds(startup_timeout_seconds)}s"
    return pulumi.CustomTimeouts(create=limit, update=limit)


def container_resources(
    resources: Resources, gpu_resource_name: str
) -> k8s.core.v1.ResourceRequirementsArgs:
    """Requests and limits for CPU, memory and ephemeral storage, plus GPUs when the size has any
    (an extended resource: request and limit must be equal)."""
    requests = {
        "cpu": resources.cpu.request,
        "memory": resources.memory.request,
        "ephemeral-storage": resources.ephemeral_storage.request,
    }
    limits = {
        "cpu": resources.cpu.limit,
        "memory": resources.memory.limit,
        "ephemeral-storage": resources.ephemeral_storage.limit,
    }
    if resources.gpu > 0:
        requests[gpu_resource_name] = str(resources.gpu)
        limits[gpu_resource_name] = str(resources.gpu)
    return k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits)


def container_env(
    model: ServedModel, shutdown: ShutdownTiming = SHUTDOWN
) -> list[k8s.core.v1.EnvVarArgs]:
    """The model's plain env, then what the server contract reads. Secrets are never env vars."""
    return [
        k8s.core.v1.EnvVarArgs(name=key, value=value)
        for key, value in server_env(model, shutdown.graceful_seconds).items()
    ]


def pod_annotations(model: ServedModel) -> dict[str, str]:
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(model.port),
        "prometheus.io/path": METRICS_PATH,
        # The pods keep nothing in their emptyDir that matters: the autoscaler may move them.
        SAFE_TO_EVICT: "true",
    }


def topology_spread(
    selector: Mapping[str, str],
) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Spread replicas over nodes (strictly) and zones (best effort).

    Nodes: DoNotSchedule, so one node failure takes out as few replicas as possible; the
    cluster-autoscaler simulates this constraint and adds a node when needed. Tainted nodes the
    pod cannot use do not count (nodeTaintsPolicy Honor), or an untouchable tainted node pool
    would cap every other node at one replica. Zones: ScheduleAnyway, so a zone without capacity
    never blocks a scale-up. pod-template-hash keeps a rollout's new pods spread among
    themselves.
    """
    labels = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            topology_key="kubernetes.io/hostname",
            max_skew=1,
            when_unsatisfiable="DoNotSchedule",
            label_selector=labels,
            match_label_keys=["pod-template-hash"],
            node_taints_policy="Honor",
        ),
        k8s.core.v1.TopologySpreadConstraintArgs(
            topology_key="topology.kubernetes.io/zone",
            max_skew=1,
            when_unsatisfiable="ScheduleAnyway",
            label_selector=labels,
            match_label_keys=["pod-template-hash"],
        ),
    ]


def node_placement(
    gpus: int, gpu: GpuScheduling
) -> tuple[dict[str, str], list[k8s.core.v1.TolerationArgs] | None]:
    """Node selector and tolerations: Linux nodes; GPU nodes (and their taints) when gpus > 0."""
    if gpus <= 0:
        return dict(LINUX_NODES), None
    tolerations = [
        k8s.core.v1.TolerationArgs(
            key=toleration.key,
            operator=toleration.operator,
            value=toleration.value,
            effect=toleration.effect,
        )
        for toleration in gpu.tolerations
    ]
    return {**LINUX_NODES, **gpu.node_selector}, tolerations


def _http_probe(path: str, timing: ProbeTiming) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=HTTP_PORT_NAME),
        period_seconds=timing.period_seconds,
        failure_threshold=timing.failure_threshold,
        timeout_seconds=timing.timeout_seconds,
        success_threshold=1,
    )


def model_container(
    model: ServedModel,
    image: pulumi.Input[str],
    settings: KubernetesSettings,
    *,
    mounts_secrets: bool,
) -> k8s.core.v1.ContainerArgs:
    mounts = [scratch_mount()]
    if mounts_secrets:
        mounts.append(
            k8s.core.v1.VolumeMountArgs(name=SECRETS_VOLUME, mount_path=SECRETS_DIR, read_only=True)
        )
    return k8s.core.v1.ContainerArgs(
        name=CONTAINER_NAME,
        image=image,
        image_pull_policy="IfNotPresent",  # the reference is pinned (tag or digest)
        ports=[
            k8s.core.v1.ContainerPortArgs(
                name=HTTP_PORT_NAME, container_port=model.port, protocol="TCP"
            )
        ],
        env=container_env(model),
        resources=container_resources(model.size.resources, settings.gpu.resource_name),
        startup_probe=_http_probe(
            model.health_path, startup_probe_timing(model.startup_timeout_seconds)
        ),
        readiness_probe=_http_probe(model.ready_path, READINESS),
        liveness_probe=_http_probe(model.health_path, LIVENESS),
        # The native sleep action: the image needs no `sleep` binary.
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=SHUTDOWN.pre_stop_seconds)
            )
        ),
        security_context=container_security_context(),
        volume_mounts=mounts,
        termination_message_policy="FallbackToLogsOnError",
    )


def model_volumes(secret_name: pulumi.Input[str] | None) -> list[k8s.core.v1.VolumeArgs]:
    """Scratch space, and the model's Secret as read-only files under /run/secrets.

    Mode 0400 is what the files get; with the pod's fsGroup the kubelet adds group read, so the
    server (GID 10001) reads them while other users cannot. No service account token is
    mounted, so nothing else lands under /run/secrets.
    """
    volumes = [scratch_volume()]
    if secret_name is not None:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name=SECRETS_VOLUME,
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=secret_name, default_mode=SECRET_FILE_MODE, optional=False
                ),
            )
        )
    return volumes


@dataclass(frozen=True)
class PodReferences:
    """Names of objects the pod refers to, declared elsewhere (Outputs carry the dependency)."""

    service_account: pulumi.Input[str]
    priority_class: pulumi.Input[str] | None = None
    secret: pulumi.Input[str] | None = None


def model_deployment_spec(
    model: ServedModel,
    image: pulumi.Input[str],
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    settings: KubernetesSettings,
    references: PodReferences,
) -> k8s.apps.v1.DeploymentSpecArgs:
    missing = {key: value for key, value in selector.items() if labels.get(key) != value}
    if missing:
        raise ValueError(f"the pod labels must include the selector; missing {missing}")
    node_selector, tolerations = node_placement(model.size.resources.gpu, settings.gpu)
    pod = k8s.core.v1.PodSpecArgs(
        service_account_name=references.service_account,
        automount_service_account_token=False,
        enable_service_links=False,  # no env var per Service in the namespace
        priority_class_name=references.priority_class,
        security_context=pod_security_context(),
        termination_grace_period_seconds=SHUTDOWN.grace_period_seconds,
        topology_spread_constraints=topology_spread(selector),
        node_selector=node_selector,
        tolerations=tolerations,
        volumes=model_volumes(references.secret),
        containers=[
            model_container(model, image, settings, mounts_secrets=references.secret is not None)
        ],
    )
    return k8s.apps.v1.DeploymentSpecArgs(
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        strategy=k8s.apps.v1.DeploymentStrategyArgs(
            type="RollingUpdate",
            # Never below the serving capacity: new pods come up before old ones go.
            rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                max_surge="25%", max_unavailable=0
            ),
        ),
        progress_deadline_seconds=progress_deadline_seconds(model.startup_timeout_seconds),
        revision_history_limit=5,
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(
                labels=dict(labels), annotations=pod_annotations(model)
            ),
            spec=pod,
        ),
    )
