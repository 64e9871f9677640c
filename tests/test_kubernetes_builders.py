"""The pure builders of the Kubernetes component, without an engine: every decision in numbers."""

from __future__ import annotations

import itertools

import pytest

from mlstack.components.kubernetes.specs import (
    autoscaling,
    disruption,
    headroom,
    namespace,
    network,
    priority,
    workload,
)
from mlstack.components.kubernetes.specs import cluster_autoscaler as ca
from mlstack.components.security import (
    RUNTIME_GID,
    RUNTIME_UID,
    SCRATCH_PATH,
    SECRET_FILE_MODE,
    SECRETS_DIR,
)
from mlstack.components.settings import KubernetesSettings
from mlstack.components.settings.invariants import check_size
from mlstack.components.settings.kubernetes import ClusterAutoscalerSettings, PriorityClassSettings
from mlstack.components.settings.quantities import duration_seconds
from tests.support.kubernetes_objects import allowed_disruptions, served_model, size

SETTINGS = KubernetesSettings()
LABELS = {
    "app.kubernetes.io/name": "iris",
    "app.kubernetes.io/instance": "iris-staging",
    "app.kubernetes.io/version": "1.0.0",
}
SELECTOR = {key: LABELS[key] for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}


def deployment_spec(model=None, *, secret=None, settings=SETTINGS):
    return workload.model_deployment_spec(
        model or served_model(),
        "registry.example.com/ml/iris:1.0.0",
        LABELS,
        SELECTOR,
        settings,
        workload.PodReferences(
            service_account="iris", priority_class="mlstack-serving", secret=secret
        ),
    )


# --- probes and shutdown ------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [10, 11, 299, 300, 301, 600, 601, 1800, 3600])
def test_the_startup_probe_tolerates_exactly_the_startup_timeout(timeout: int) -> None:
    timing = workload.startup_probe_timing(timeout)
    assert timing.tolerates_seconds >= timeout
    assert timing.tolerates_seconds < timeout + timing.period_seconds  # not needlessly longer
    assert timing.period_seconds == (5 if timeout <= 600 else 10)


def test_a_startup_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        workload.startup_probe_timing(0)


def test_probes_use_distinct_endpoints_and_liveness_is_the_patient_one() -> None:
    container = deployment_spec().template.spec.containers[0]
    assert container.startup_probe.http_get.path == "/healthz"
    assert container.liveness_probe.http_get.path == "/healthz"
    assert container.readiness_probe.http_get.path == "/readyz"
    for probe in (container.startup_probe, container.readiness_probe, container.liveness_probe):
        assert probe.http_get.port == "http"
    assert workload.LIVENESS.tolerates_seconds > workload.READINESS.tolerates_seconds
    assert container.startup_probe.failure_threshold * container.startup_probe.period_seconds >= 300


def test_a_slow_model_gets_a_longer_startup_probe_and_rollout_deadline() -> None:
    slow = served_model(startup_timeout_seconds=1800)
    spec = deployment_spec(slow)
    probe = spec.template.spec.containers[0].startup_probe
    assert probe.failure_threshold * probe.period_seconds >= 1800
    assert spec.progress_deadline_seconds == 2100
    assert workload.rollout_timeout(1800).create == "2100s"
    assert deployment_spec().progress_deadline_seconds == 600  # never below the default


def test_shutdown_fits_the_pre_stop_delay_and_the_servers_drain_inside_the_grace_period() -> None:
    spec = deployment_spec()
    pod = spec.template.spec
    container = pod.containers[0]
    timing = workload.SHUTDOWN
    assert container.lifecycle.pre_stop.sleep.seconds == timing.pre_stop_seconds
    assert container.lifecycle.pre_stop.exec_ is None  # no sleep binary needed in the image
    env = {var.name: var.value for var in container.env}
    assert int(env["GRACEFUL_TIMEOUT"]) == timing.graceful_seconds
    assert pod.termination_grace_period_seconds > timing.pre_stop_seconds + timing.graceful_seconds


# --- resources, env, scheduling -----------------------------------------------------------------


def test_requests_and_limits_cover_cpu_memory_and_ephemeral_storage() -> None:
    resources = workload.container_resources(size("large").resources, "nvidia.com/gpu")
    assert resources.requests == {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "512Mi"}
    assert resources.limits == {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "2Gi"}


def test_gpus_are_requested_and_limited_under_the_configured_resource_name() -> None:
    resources = workload.container_resources(size("gpu").resources, "amd.com/gpu")
    assert resources.limits["amd.com/gpu"] == "1"
    assert resources.requests["amd.com/gpu"] == "1"
    none = workload.container_resources(size("medium").resources, "amd.com/gpu")
    assert "amd.com/gpu" not in none.limits


def test_gpu_models_go_to_gpu_nodes_and_tolerate_their_taints() -> None:
    gpu_pod = deployment_spec(served_model(size("gpu"))).template.spec
    assert gpu_pod.node_selector == {"kubernetes.io/os": "linux", "nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in gpu_pod.tolerations] == [
        ("nvidia.com/gpu", "Exists", "NoSchedule")
    ]
    cpu_pod = deployment_spec().template.spec
    assert cpu_pod.node_selector == {"kubernetes.io/os": "linux"}
    assert cpu_pod.tolerations is None


def test_env_is_the_models_plus_the_contract_and_never_overrides_it() -> None:
    model = served_model(env={"LOG_LEVEL": "info"})
    env = {var.name: var.value for var in workload.container_env(model)}
    assert env == {
        "LOG_LEVEL": "info",
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "1.0.0",
        "PORT": "8080",
        "GRACEFUL_TIMEOUT": "20",
    }
    with pytest.raises(ValueError, match="MODEL_NAME"):
        workload.container_env(served_model(env={"MODEL_NAME": "other"}))


def test_replicas_spread_over_nodes_strictly_and_zones_softly() -> None:
    spread = {c.topology_key: c for c in workload.topology_spread(SELECTOR)}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert spread["kubernetes.io/hostname"].when_unsatisfiable == "DoNotSchedule"
    assert spread["kubernetes.io/hostname"].node_taints_policy == "Honor"
    assert spread["topology.kubernetes.io/zone"].when_unsatisfiable == "ScheduleAnyway"
    for constraint in spread.values():
        assert constraint.label_selector.match_labels == SELECTOR
        assert constraint.max_skew == 1


# --- the Deployment -----------------------------------------------------------------------------


def test_the_deployment_leaves_the_replica_count_to_the_hpa() -> None:
    spec = deployment_spec()
    assert spec.replicas is None
    assert spec.strategy.type == "RollingUpdate"
    assert spec.strategy.rolling_update.max_unavailable == 0
    assert spec.strategy.rolling_update.max_surge == "25%"


def test_the_selector_is_part_of_the_template_labels() -> None:
    spec = deployment_spec()
    assert spec.selector.match_labels == SELECTOR
    assert SELECTOR.items() <= spec.template.metadata.labels.items()
    with pytest.raises(ValueError, match="selector"):
        workload.model_deployment_spec(
            served_model(), "img:1", {"app.kubernetes.io/name": "iris"}, SELECTOR, SETTINGS,
            workload.PodReferences(service_account="iris"),
        )  # fmt: skip


def test_pod_and_container_are_hardened_from_the_shared_defaults() -> None:
    pod = deployment_spec().template.spec
    context = pod.security_context
    assert (context.run_as_non_root, context.run_as_user, context.run_as_group) == (
        True,
        RUNTIME_UID,
        RUNTIME_GID,
    )
    assert context.fs_group == RUNTIME_GID
    assert context.seccomp_profile.type == "RuntimeDefault"
    container = pod.containers[0].security_context
    assert container.allow_privilege_escalation is False
    assert container.privileged is False
    assert container.read_only_root_filesystem is True
    assert container.capabilities.drop == ["ALL"]
    assert container.seccomp_profile.type == "RuntimeDefault"
    assert pod.automount_service_account_token is False
    assert pod.service_account_name == "iris"
    assert pod.priority_class_name == "mlstack-serving"
    mounts = {m.mount_path: m for m in pod.containers[0].volume_mounts}
    assert set(mounts) == {SCRATCH_PATH}
    scratch = {v.name: v for v in pod.volumes}[mounts[SCRATCH_PATH].name]
    assert scratch.empty_dir is not None


def test_secrets_are_read_only_files_and_never_env_vars() -> None:
    pod = deployment_spec(secret="iris-secrets").template.spec
    container = pod.containers[0]
    mount = {m.mount_path: m for m in container.volume_mounts}[SECRETS_DIR]
    assert mount.read_only is True
    volume = {v.name: v for v in pod.volumes}[mount.name]
    assert volume.secret.secret_name == "iris-secrets"
    assert volume.secret.default_mode == SECRET_FILE_MODE == 0o400
    assert all(var.value_from is None for var in container.env)


def test_the_pod_carries_scrape_and_eviction_annotations() -> None:
    annotations = deployment_spec().template.metadata.annotations
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
        "cluster-autoscaler.kubernetes.io/safe-to-evict": "true",
    }
    port = deployment_spec().template.spec.containers[0].ports[0]
    assert (port.name, port.container_port) == ("http", 8080)


# --- HPA and VPA --------------------------------------------------------------------------------


def test_the_hpa_scales_the_deployment_within_the_size_with_explicit_behavior() -> None:
    spec = autoscaling.hpa_spec(size("large"), "iris")
    assert spec.scale_target_ref.kind == "Deployment"
    assert spec.scale_target_ref.name == "iris"
    assert (spec.min_replicas, spec.max_replicas) == (3, 20)
    [metric] = spec.metrics
    assert (metric.resource.name, metric.resource.target.average_utilization) == ("cpu", 65)
    up, down = spec.behavior.scale_up, spec.behavior.scale_down
    assert up.stabilization_window_seconds == 0
    assert down.stabilization_window_seconds == 600
    assert [(p.type, p.value, p.period_seconds) for p in up.policies] == [
        ("Percent", 100, 15),
        ("Pods", 6, 15),
    ]
    assert down.select_policy == "Min"


def test_memory_and_a_custom_pods_metric_join_the_hpa_when_configured() -> None:
    configured = size(
        autoscaling={
            "memoryUtilization": 80,
            "podsMetric": {"name": "mlstack_requests_in_flight", "averageValue": "8"},
        },
        verticalAutoscaling={"updateMode": "Off"},
    )
    metrics = autoscaling.hpa_metrics(configured)
    assert [m.type for m in metrics] == ["Resource", "Resource", "Pods"]
    assert metrics[1].resource.name == "memory"
    assert metrics[2].pods.metric.name == "mlstack_requests_in_flight"
    assert metrics[2].pods.target.type == "AverageValue"
    assert metrics[2].pods.target.average_value == "8"


def test_the_hpa_refuses_bounds_the_settings_loader_would_have_refused() -> None:
    with pytest.raises(ValueError, match=r"replicas\.min"):
        autoscaling.hpa_spec(size(replicas={"min": 7, "max": 6}), "iris")


def test_the_vpa_controls_what_the_size_says_with_bounds_for_those_resources_only() -> None:
    spec = autoscaling.vpa_spec(size("medium"), "iris")
    assert spec is not None
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "iris"}
    assert spec["updatePolicy"] == {"updateMode": "Initial"}
    [policy] = spec["resourcePolicy"]["containerPolicies"]
    assert policy["containerName"] == workload.CONTAINER_NAME
    assert policy["controlledResources"] == ["memory"]
    assert policy["minAllowed"] == {"memory": "512Mi"}
    assert policy["maxAllowed"] == {"memory": "4Gi"}
    assert policy["controlledValues"] == "RequestsAndLimits"


def test_a_disabled_vpa_is_not_declared() -> None:
    assert autoscaling.vpa_spec(size(verticalAutoscaling={"enabled": False}), "iris") is None


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param({"verticalAutoscaling": {"controlledResources": ["cpu"]}}, id="cpu-both"),
        pytest.param({"autoscaling": {"memoryUtilization": 70}}, id="memory-both"),
        pytest.param(
            {
                "autoscaling": {"cpuUtilization": None, "memoryUtilization": 70},
                "verticalAutoscaling": {"controlledResources": ["cpu", "memory"]},
            },
            id="memory-hpa-cpu-and-memory-vpa",
        ),
    ],
)
def test_the_builders_refuse_an_hpa_and_vpa_on_the_same_resource(patch: dict) -> None:
    conflicting = size(**patch)
    with pytest.raises(autoscaling.AutoscalerConflictError, match="never act on the same"):
        autoscaling.vpa_spec(conflicting, "iris")
    with pytest.raises(autoscaling.AutoscalerConflictError):
        autoscaling.hpa_spec(conflicting, "iris")
    # Recommending only is allowed: the VPA then changes nothing.
    recommending = size(**{**patch, "verticalAutoscaling": {
        **patch.get("verticalAutoscaling", {}), "updateMode": "Off"}})  # fmt: skip
    assert autoscaling.vpa_spec(recommending, "iris") is not None


HPA_CHOICES = [(cpu, memory) for cpu in (None, 70) for memory in (None, 80)]
VPA_CHOICES = [["cpu"], ["memory"], ["cpu", "memory"]]
MODES = ["Off", "Initial", "Recreate", "InPlaceOrRecreate"]


@pytest.mark.parametrize(("cpu", "memory"), HPA_CHOICES)
def test_builders_and_settings_agree_on_every_hpa_vpa_combination(
    cpu: int | None, memory: int | None
) -> None:
    pods = None if cpu or memory else {"name": "mlstack_requests_in_flight", "averageValue": "8"}
    for resources, mode in itertools.product(VPA_CHOICES, MODES):
        candidate = size(
            autoscaling={"cpuUtilization": cpu, "memoryUtilization": memory, "podsMetric": pods},
            verticalAutoscaling={"controlledResources": resources, "updateMode": mode},
        )
        hpa = {name for name, on in (("cpu", cpu), ("memory", memory)) if on}
        acting = set(resources) if mode != "Off" else set()
        refused_by_settings = any(
            "never act on the same" in finding.reason for finding in check_size(candidate)
        )
        assert refused_by_settings == bool(hpa & acting), (hpa, resources, mode)
        if hpa & acting:
            with pytest.raises(autoscaling.AutoscalerConflictError):
                autoscaling.vpa_spec(candidate, "iris")
        else:
            vpa = autoscaling.vpa_spec(candidate, "iris")
            assert vpa is not None
            autoscaling.hpa_spec(candidate, "iris")


# --- the disruption budget ----------------------------------------------------------------------


@pytest.mark.parametrize("minimum", [1, 2, 3, 4, 7, 8, 20, 100])
def test_the_pdb_always_allows_a_disruption_whatever_the_replica_count(minimum: int) -> None:
    budget = disruption.max_unavailable(minimum)
    assert budget >= 1
    assert budget <= max(1, minimum // 4)  # never more than a quarter of the HPA minimum
    for healthy in range(1, minimum * 3 + 1):
        assert allowed_disruptions(budget, healthy) >= 1


def test_the_pdb_selects_the_pods_and_evicts_unhealthy_ones() -> None:
    spec = disruption.pdb_spec(size("large"), SELECTOR)
    assert spec.max_unavailable == 1
    assert spec.min_available is None
    assert spec.selector.match_labels == SELECTOR
    assert spec.unhealthy_pod_eviction_policy == "AlwaysAllow"
    with pytest.raises(ValueError, match="at least 1"):
        disruption.max_unavailable(0)


# --- network policies ---------------------------------------------------------------------------


def test_the_service_reaches_the_selected_pods_named_http_port_in_cluster() -> None:
    spec = network.serving_service_spec(SELECTOR)
    assert spec.type == "ClusterIP"
    assert spec.selector == SELECTOR
    [port] = spec.ports
    assert (port.name, port.port, port.target_port) == ("http", workload.SERVICE_PORT, "http")
    assert (port.protocol, port.app_protocol) == ("TCP", "http")
    pod = deployment_spec().template.spec
    [container] = pod.containers
    assert [p.name for p in container.ports] == [port.target_port]  # the name resolves


def test_model_pods_accept_traffic_on_the_serving_port_only() -> None:
    policy = network.serving_ingress_policy(SELECTOR)
    assert policy.pod_selector.match_labels == SELECTOR
    assert policy.policy_types == ["Ingress"]
    [rule] = policy.ingress
    assert rule.from_ is None  # callers live in namespaces mlstack does not know
    assert [(port.port, port.protocol) for port in rule.ports] == [("http", "TCP")]
    closed = network.no_ingress_policy(SELECTOR)
    assert closed.ingress == []
    assert closed.policy_types == ["Ingress"]


# --- cluster-wide objects -----------------------------------------------------------------------


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    labels = namespace.namespace_labels()
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"


def test_serving_pods_outrank_the_headroom_which_still_triggers_scale_ups() -> None:
    serving = priority.serving_priority_class(PriorityClassSettings())
    headroom = priority.headroom_priority_class()
    assert serving.value > 0 > headroom.value
    assert headroom.value >= priority.EXPENDABLE_PODS_PRIORITY_CUTOFF  # not expendable
    assert headroom.preemption_policy == "Never"
    assert serving.preemption_policy == "PreemptLowerPriority"
    too_low = PriorityClassSettings.model_construct(name="x", value=-10)
    with pytest.raises(ValueError, match="must exceed"):
        priority.serving_priority_class(too_low)
    assert priority.headroom_priority_class_name(PriorityClassSettings(name="ml")) == "ml-headroom"


def test_headroom_placeholders_reserve_the_stack_sizes_capacity() -> None:
    spec = headroom.headroom_deployment_spec(size("large"), SETTINGS, "prod", "ml-headroom")
    assert spec.replicas == 2
    pod = spec.template.spec
    assert pod.priority_class_name == "ml-headroom"
    assert pod.termination_grace_period_seconds == 0
    [container] = pod.containers
    assert container.image == SETTINGS.headroom_image
    assert container.resources.requests == container.resources.limits
    assert container.resources.requests["cpu"] == "1"
    assert container.resources.requests["memory"] == "2Gi"
    assert container.security_context.read_only_root_filesystem is True
    assert spec.selector.match_labels.items() <= spec.template.metadata.labels.items()


def test_gpu_headroom_reserves_gpus_on_gpu_nodes() -> None:
    gpu = size("gpu", clusterAutoscaling={"headroom": {"replicas": 1}})
    pod = headroom.headroom_deployment_spec(gpu, SETTINGS, "prod", "ml-headroom").template.spec
    assert pod.containers[0].resources.requests["nvidia.com/gpu"] == "1"
    assert pod.node_selector["nvidia.com/gpu.present"] == "true"
    assert pod.tolerations[0].key == "nvidia.com/gpu"
    with pytest.raises(ValueError, match="no headroom"):
        headroom.headroom_deployment_spec(size("small"), SETTINGS, "dev", "ml-headroom")


# --- the cluster-autoscaler ---------------------------------------------------------------------

AUTOSCALER = ClusterAutoscalerSettings(enabled=True, node_group="ml-serving-nodes")


def test_the_autoscaler_flags_come_from_the_stack_size() -> None:
    scaling = size("large").cluster_autoscaling
    command = ca.autoscaler_command(AUTOSCALER, scaling)
    flags = dict(arg.split("=", 1) for arg in command[1:])
    assert command[0] == "./cluster-autoscaler"
    assert flags["--cloud-provider"] == "aws"
    assert flags["--nodes"] == "3:30:ml-serving-nodes"
    assert flags["--expander"] == "least-waste"
    assert flags["--scale-down-utilization-threshold"] == "0.5"
    assert duration_seconds(flags["--scale-down-delay-after-add"]) == 600
    assert duration_seconds(flags["--scale-down-unneeded-time"]) == 900
    assert flags["--balance-similar-node-groups"] == "true"
    assert flags["--skip-nodes-with-local-storage"] == "false"
    assert int(flags["--expendable-pods-priority-cutoff"]) <= priority.HEADROOM_PRIORITY


def test_the_autoscaler_refuses_a_missing_node_group_or_inverted_bounds() -> None:
    scaling = size("large").cluster_autoscaling
    with pytest.raises(ValueError, match="nodeGroup"):
        ca.autoscaler_command(ClusterAutoscalerSettings(enabled=True), scaling)
    inverted = size("large", clusterAutoscaling={"nodeGroup": {"min": 9, "max": 3}})
    with pytest.raises(ValueError, match="exceeds"):
        ca.autoscaler_command(AUTOSCALER, inverted.cluster_autoscaling)


def test_the_autoscaler_rbac_grants_what_the_upstream_manifest_does() -> None:
    rules = {(tuple(r.api_groups), tuple(r.resources)): r for r in ca.cluster_rules()}
    assert rules[(("",), ("pods/eviction",))].verbs == ["create"]
    assert "update" in rules[(("",), ("nodes",))].verbs
    assert rules[(("policy",), ("poddisruptionbudgets",))].verbs == ["watch", "list"]
    leases = [r for r in ca.cluster_rules() if r.resources == ["leases"]]
    assert {tuple(r.verbs) for r in leases} == {("create",), ("get", "update")}
    configmaps = ca.namespace_rules()
    assert configmaps[1].resource_names == [
        "cluster-autoscaler-status",
        "cluster-autoscaler-priority-expander",
    ]
    # Nothing writes workloads or secrets.
    for rule in ca.cluster_rules():
        assert "secrets" not in rule.resources
        assert "*" not in rule.verbs


def test_the_autoscaler_pod_is_hardened_and_keeps_its_api_token() -> None:
    spec = ca.autoscaler_deployment_spec(
        AUTOSCALER, size("large").cluster_autoscaling, "cluster-autoscaler", ca.autoscaler_labels()
    )
    pod = spec.template.spec
    assert pod.automount_service_account_token is True
    assert pod.priority_class_name == "system-cluster-critical"
    assert pod.security_context.run_as_non_root is True
    assert pod.security_context.run_as_user >= 10000
    [container] = pod.containers
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.image == AUTOSCALER.image
    assert container.liveness_probe.http_get.path == "/health-check"
