"""Rules that span the objects a stack declares, checked on what the real program records.

Each rule runs over the stack files as they are and over variants that switch on GPUs, the
cluster-autoscaler, a memory HPA with a custom metric, a recommending-only VPA, registry
credentials and secrets (tests/support/kubernetes_objects.py).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from mlstack.components.security import SECRET_FILE_MODE, SECRETS_DIR
from mlstack.offline import Recording, Secret, mask
from tests.support.kubernetes_objects import (
    VARIANTS,
    allowed_disruptions,
    by_name,
    manifests,
    run_variant,
)

PROBED = "model-server"  # the serving container; headroom and the autoscaler have no HTTP API


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def recording(request: pytest.FixtureRequest) -> Recording:
    return run_variant(request.param)


def model_deployments(recording: Recording) -> list[dict[str, Any]]:
    return [
        d
        for d in manifests(recording, "Deployment")
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        == "model-server"
    ]


def same_namespace(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["metadata"].get("namespace") == b["metadata"].get("namespace")


def target_of(recording: Recording, autoscaler: dict[str, Any], ref: str) -> dict[str, Any]:
    target = autoscaler["spec"][ref]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    found = [
        d
        for d in manifests(recording, "Deployment")
        if d["metadata"]["name"] == target["name"] and same_namespace(d, autoscaler)
    ]
    assert len(found) == 1, f"{autoscaler['kind']} {autoscaler['metadata']['name']} has no target"
    return found[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_every_model_has_its_full_set_of_objects(recording: Recording) -> None:
    deployments = model_deployments(recording)
    assert deployments
    for kind in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceAccount"):
        names = {o["metadata"]["name"] for o in manifests(recording, kind)}
        assert {d["metadata"]["name"] for d in deployments} <= names, kind


def test_hpa_targets_name_a_deployment_that_declares_no_replicas(recording: Recording) -> None:
    hpas = manifests(recording, "HorizontalPodAutoscaler")
    assert hpas
    for hpa in hpas:
        target = target_of(recording, hpa, "scaleTargetRef")
        assert "replicas" not in target["spec"], "the HPA owns the replica count"
        spec = hpa["spec"]
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
        assert spec["behavior"]["scaleUp"]["policies"]
        assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0
        assert spec["metrics"]


def test_vpa_targets_name_the_deployment_the_hpa_scales(recording: Recording) -> None:
    hpa_targets = {
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in manifests(recording, "HorizontalPodAutoscaler")
    }
    vpas = manifests(recording, "VerticalPodAutoscaler")
    assert vpas
    for vpa in vpas:
        target = target_of(recording, vpa, "targetRef")
        assert target["metadata"]["name"] in hpa_targets
    targets = [vpa["spec"]["targetRef"]["name"] for vpa in vpas]
    assert len(targets) == len(set(targets)), "two VPAs on the same pods"


def test_hpa_and_vpa_never_act_on_the_same_resource(recording: Recording) -> None:
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in manifests(recording, "HorizontalPodAutoscaler")
    }
    for vpa in manifests(recording, "VerticalPodAutoscaler"):
        hpa = hpas[vpa["spec"]["targetRef"]["name"]]
        scaled_on = {
            m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"
        }
        if vpa["spec"]["updatePolicy"]["updateMode"] == "Off":
            continue  # recommendations only: the VPA changes nothing
        for policy in vpa["spec"]["resourcePolicy"]["containerPolicies"]:
            # No controlledResources means both cpu and memory (the CRD's default).
            controlled = set(policy.get("controlledResources", ["cpu", "memory"]))
            if policy.get("mode") == "Off":
                continue
            assert not controlled & scaled_on, (vpa["metadata"]["name"], controlled, scaled_on)


def test_service_and_pdb_select_exactly_the_deployments_pods(recording: Recording) -> None:
    for deployment in manifests(recording, "Deployment"):
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        match = deployment["spec"]["selector"]["matchLabels"]
        assert selects(match, template_labels), "the Deployment's selector is its template's"
    for deployment in model_deployments(recording):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        match = deployment["spec"]["selector"]["matchLabels"]
        service = by_name(manifests(recording, "Service"), name)
        pdb = by_name(manifests(recording, "PodDisruptionBudget"), name)
        assert service["spec"]["selector"] == match
        assert pdb["spec"]["selector"]["matchLabels"] == match
        assert selects(service["spec"]["selector"], labels)
        # No other Deployment's pods fall under this Service or budget.
        for other in manifests(recording, "Deployment"):
            if other["metadata"] != deployment["metadata"]:
                other_labels = other["spec"]["template"]["metadata"]["labels"]
                assert not selects(service["spec"]["selector"], other_labels)
        assert service["spec"]["type"] == "ClusterIP"
        [port] = service["spec"]["ports"]
        assert port["name"] == "http"
        assert port["targetPort"] == "http"


def test_network_policies_open_only_the_ports_each_pod_serves(recording: Recording) -> None:
    # Model pods, headroom placeholders and the cluster-autoscaler alike.
    policies = manifests(recording, "NetworkPolicy")
    for deployment in manifests(recording, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            p
            for p in policies
            if same_namespace(p, deployment)
            and selects(p["spec"]["podSelector"]["matchLabels"], labels)
        ]
        assert len(covering) == 1, deployment["metadata"]["name"]
        [policy] = covering
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        ports = [port for rule in policy["spec"]["ingress"] for port in rule.get("ports", [])]
        assert all("ports" in rule for rule in policy["spec"]["ingress"]), "no rule opens all ports"
        containers = deployment["spec"]["template"]["spec"]["containers"]
        named = {port["name"] for c in containers for port in c.get("ports", [])}
        assert {port["port"] for port in ports} == named


def test_the_pdb_never_blocks_a_drain_at_any_replica_count(recording: Recording) -> None:
    hpas = {h["metadata"]["name"]: h for h in manifests(recording, "HorizontalPodAutoscaler")}
    for pdb in manifests(recording, "PodDisruptionBudget"):
        spec = pdb["spec"]
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        hpa = hpas[pdb["metadata"]["name"]]["spec"]
        for pods in range(hpa["minReplicas"], hpa["maxReplicas"] + 1):
            if "maxUnavailable" in spec:
                budget = spec["maxUnavailable"]
                if isinstance(budget, str):  # a percentage rounds up
                    budget = math.ceil(int(budget.rstrip("%")) * pods / 100)
                allowed = allowed_disruptions(budget, pods)
            else:
                allowed = pods - spec["minAvailable"]
            assert allowed >= 1, (pdb["metadata"]["name"], pods)


def pod_specs(recording: Recording) -> list[tuple[str, dict[str, Any]]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in manifests(recording, "Deployment")
    ]


def test_every_pod_and_container_is_hardened(recording: Recording) -> None:
    for name, pod in pod_specs(recording):
        context = pod.get("securityContext", {})
        assert context.get("runAsNonRoot") is True, name
        assert context.get("runAsUser", 0) >= 10000, name
        assert context.get("runAsGroup", 0) >= 10000, name
        assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, name
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key), (name, key)
        assert all("hostPath" not in volume for volume in pod.get("volumes", [])), name
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security.get("privileged") is not True, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert not security["capabilities"].get("add"), name
            assert security.get("runAsUser", context["runAsUser"]) >= 10000, name
            resources = container["resources"]
            for key in ("cpu", "memory", "ephemeral-storage"):
                assert key in resources["requests"], (name, key)
                assert key in resources["limits"], (name, key)
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] or "@sha256:" in image, image
            assert not image.endswith(":latest"), image


def test_model_pods_follow_the_serving_checklist(recording: Recording) -> None:
    priority_classes = {p["metadata"]["name"]: p for p in manifests(recording, "PriorityClass")}
    accounts = {a["metadata"]["name"]: a for a in manifests(recording, "ServiceAccount")}
    for deployment in model_deployments(recording):
        spec = deployment["spec"]
        assert spec["strategy"]["type"] == "RollingUpdate"
        assert {"maxSurge", "maxUnavailable"} <= spec["strategy"]["rollingUpdate"].keys()
        template = spec["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "true"
        labels = template["metadata"]["labels"]
        for key in ("name", "instance", "version", "component", "part-of", "managed-by"):
            assert f"app.kubernetes.io/{key}" in labels
        pod = template["spec"]
        [container] = [c for c in pod["containers"] if c["name"] == PROBED]
        readiness = container["readinessProbe"]["httpGet"]["path"]
        liveness = container["livenessProbe"]["httpGet"]["path"]
        startup = container["startupProbe"]
        assert (readiness, liveness) == ("/readyz", "/healthz")
        assert startup["failureThreshold"] * startup["periodSeconds"] >= 300
        assert container["ports"][0]["name"] == "http"
        assert annotations["prometheus.io/port"] == str(container["ports"][0]["containerPort"])
        assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
        assert (
            pod["terminationGracePeriodSeconds"]
            > container["lifecycle"]["preStop"]["sleep"]["seconds"]
        )
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }
        assert pod["automountServiceAccountToken"] is False
        account = accounts[pod["serviceAccountName"]]
        assert account["automountServiceAccountToken"] is False
        serving = priority_classes[pod["priorityClassName"]]
        lower = [p["value"] for p in priority_classes.values() if p is not serving]
        assert all(serving["value"] > value for value in lower)
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts
        for variable in container["env"]:
            assert "valueFrom" not in variable, "secrets are files, never env vars"


def test_headroom_yields_to_serving_pods_and_still_gets_nodes(recording: Recording) -> None:
    classes = {p["metadata"]["name"]: p for p in manifests(recording, "PriorityClass")}
    for name, pod in pod_specs(recording):
        if not name.startswith("mlstack-headroom"):
            continue
        headroom = classes[pod["priorityClassName"]]
        assert -10 <= headroom["value"] < 0  # at the autoscaler's expendable cutoff, not below
        assert headroom["preemptionPolicy"] == "Never"
        assert pod["terminationGracePeriodSeconds"] == 0


def test_the_namespace_enforces_restricted_pod_security(recording: Recording) -> None:
    [namespace] = manifests(recording, "Namespace")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in manifests(recording):
        if (
            obj["kind"] in ("Deployment", "Service", "ServiceAccount", "Secret")
            and obj["metadata"].get("namespace") != "kube-system"
        ):
            assert obj["metadata"]["namespace"] == namespace["metadata"]["name"]


def test_kubernetes_objects_all_go_through_the_explicit_provider(recording: Recording) -> None:
    [provider] = recording.of_type("pulumi:providers:kubernetes")
    for resource in recording.resources:
        if resource.custom and resource.type.startswith("kubernetes:"):
            assert resource.provider is not None, resource.name
            assert resource.provider.startswith(provider.urn), resource.name
            assert resource.inputs["metadata"]["name"], resource.name


# --- variants -----------------------------------------------------------------------------------


def test_gpu_models_get_gpus_gpu_nodes_and_tolerations() -> None:
    recording = run_variant("staging-gpu")
    onnx = by_name(model_deployments(recording), "iris-onnx")["spec"]["template"]["spec"]
    [container] = onnx["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert onnx["nodeSelector"]["nvidia.com/gpu.present"] == "true"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in onnx[
        "tolerations"
    ]
    # iris (scikit-learn, which cannot use a GPU) keeps its own size (medium): no GPU.
    iris = by_name(model_deployments(recording), "iris")["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in iris["containers"][0]["resources"]["limits"]
    assert "tolerations" not in iris


def test_the_cluster_autoscaler_runs_with_the_stack_sizes_bounds() -> None:
    recording = run_variant("staging-gpu-headroom-autoscaler")
    deployment = by_name(manifests(recording, "Deployment"), "cluster-autoscaler")
    assert deployment["metadata"]["namespace"] == "kube-system"
    pod = deployment["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert "--nodes=0:8:gpu-nodes" in command  # the gpu preset's node group
    assert "--scale-down-delay-after-add=20m" in command
    assert "--skip-nodes-with-local-storage=false" in command
    account = by_name(manifests(recording, "ServiceAccount"), pod["serviceAccountName"])
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ca"
    }
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        [binding] = manifests(recording, kind)
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "cluster-autoscaler", "namespace": "kube-system"}
        ]
    headroom = by_name(manifests(recording, "Deployment"), "mlstack-headroom")
    assert headroom["spec"]["replicas"] == 2
    requests = headroom["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert requests["nvidia.com/gpu"] == "1"


def test_stacks_without_headroom_or_autoscaler_declare_neither() -> None:
    recording = run_variant("staging-gpu")  # gpu preset: headroom 0, autoscaler disabled
    names = {d["metadata"]["name"] for d in manifests(recording, "Deployment")}
    assert "mlstack-headroom" not in names
    assert "cluster-autoscaler" not in names
    assert not manifests(recording, "ClusterRole")


def test_a_recommending_vpa_may_cover_what_the_hpa_scales_on() -> None:
    [*vpas] = manifests(run_variant("staging-vpa-recommends-only"), "VerticalPodAutoscaler")
    for vpa in vpas:
        assert vpa["spec"]["updatePolicy"]["updateMode"] == "Off"
        policy = vpa["spec"]["resourcePolicy"]["containerPolicies"][0]
        assert policy["controlledResources"] == ["cpu", "memory"]


def test_a_memory_hpa_with_a_pods_metric_pairs_with_a_cpu_vpa() -> None:
    recording = run_variant("staging-memory-hpa-pods-metric")
    hpa = by_name(manifests(recording, "HorizontalPodAutoscaler"), "iris")
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource", "Pods"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "memory"
    assert hpa["spec"]["metrics"][1]["pods"]["metric"]["name"] == "mlstack_requests_in_flight"
    vpa = by_name(manifests(recording, "VerticalPodAutoscaler"), "iris")
    assert vpa["spec"]["resourcePolicy"]["containerPolicies"][0]["controlledResources"] == ["cpu"]


def test_registry_credentials_become_a_secret_pull_secret_for_the_service_account() -> None:
    recording = run_variant("prod-registry-and-secrets")
    [pull] = [r for r in recording.of_type("kubernetes:core/v1:Secret") if r.name.endswith(
        "registry-secret")]  # fmt: skip
    assert pull.inputs["type"] == "kubernetes.io/dockerconfigjson"
    data = pull.inputs["stringData"]
    assert isinstance(data, Secret), "the docker config must stay a secret"
    config = json.loads(_unwrap(data)[".dockerconfigjson"])
    assert config["auths"]["registry.example.com"]["password"] == "registry-pa55word"
    account = by_name(manifests(recording, "ServiceAccount"), "iris")
    assert account["imagePullSecrets"] == [{"name": pull.inputs["metadata"]["name"]}]
    shown = repr(mask([r.inputs for r in recording.resources])) + repr(recording.resources)
    assert "registry-pa55word" not in shown


def _unwrap(value: Any) -> Any:
    while isinstance(value, Secret):
        value = value.value
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value


def test_model_secrets_are_a_secret_mounted_read_only_as_files() -> None:
    recording = run_variant("prod-registry-and-secrets")
    [resource] = [r for r in recording.of_type("kubernetes:core/v1:Secret") if r.name.endswith(
        "iris-secrets")]  # fmt: skip
    assert resource.inputs["type"] == "Opaque"
    assert isinstance(resource.inputs["stringData"], Secret)
    assert _unwrap(resource.inputs["stringData"]) == {
        "api-token": "s3cr3t-value",
        "db.password": "hunter2",
    }
    pod = by_name(model_deployments(recording), "iris")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    [container] = pod["containers"]
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == SECRETS_DIR]
    assert mount["readOnly"] is True
    source = volumes[mount["name"]]["secret"]
    assert source["secretName"] == resource.inputs["metadata"]["name"]
    assert source["defaultMode"] == SECRET_FILE_MODE
    names = {variable["name"] for variable in container["env"]}
    assert not names & {"API_TOKEN", "DB_PASSWORD", "api-token", "db.password"}
    # Models without secrets mount none.
    staging = by_name(model_deployments(run_variant("staging")), "iris")["spec"]["template"]
    assert all("secret" not in volume for volume in staging["spec"]["volumes"])
