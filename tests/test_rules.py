"""Checklist rules: a recording that meets CHECKLIST.md passes; breaking one thing fails exactly
the rule about it, with a message naming the object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mlstack.checks.rules import check, rules
from tests.support.rule_fixtures import kubernetes_objects, recording, swarm_objects

Objects = dict[str, dict[str, Any]]
Mutation = Callable[[Objects, Objects], None]


def serving_container(k8s: Objects) -> dict[str, Any]:
    return k8s["deployment"]["spec"]["template"]["spec"]["containers"][0]


def serving_pod(k8s: Objects) -> dict[str, Any]:
    return k8s["deployment"]["spec"]["template"]["spec"]


def swarm_container(swarm: Objects) -> dict[str, Any]:
    return swarm["service"]["taskSpec"]["containerSpec"]


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj[part]
    obj[last] = value


def delete_path(obj: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj[part]
    del obj[last]


def second_vpa(k8s: Objects, _: Objects) -> None:
    k8s["vpa-2"] = {**k8s["vpa"], "metadata": {"name": "iris-vpa-2", "namespace": "ml-serving"}}


def pdb_min_available_all(k8s: Objects, _: Objects) -> None:
    # minAvailable equal to the HPA minimum: at the minimum scale no pod may be evicted
    del k8s["pdb"]["spec"]["maxUnavailable"]
    k8s["pdb"]["spec"]["minAvailable"] = 2


# (case, rules expected to fail, what the mutation does, the resource named in the finding)
CASES: list[tuple[str, set[str], Mutation, str]] = [
    ("beta-api", {"K8S-API-STABLE"},
     lambda k, s: set_path(k["hpa"], "apiVersion", "autoscaling/v2beta2"),
     "HorizontalPodAutoscaler ml-serving/iris"),
    ("no-namespace", {"K8S-METADATA"},
     lambda k, s: delete_path(k["account"], "metadata.namespace"), "ServiceAccount iris"),
    ("no-startup-probe", {"K8S-PROBES"},
     lambda k, s: delete_path(serving_container(k), "startupProbe"), "Deployment ml-serving/iris"),
    ("liveness-equals-readiness", {"K8S-PROBES"},
     lambda k, s: set_path(serving_container(k), "livenessProbe.httpGet.path", "/readyz"),
     "Deployment ml-serving/iris"),
    ("no-ephemeral-storage-limit", {"K8S-RESOURCES"},
     lambda k, s: delete_path(
         k["headroom"]["spec"]["template"]["spec"]["containers"][0],
         "resources.limits.ephemeral-storage",
     ), "Deployment ml-serving/mlstack-headroom"),
    ("latest-image", {"K8S-IMAGE-PINNED"},
     lambda k, s: set_path(serving_container(k), "image", "registry.example.com/ml/iris:latest"),
     "Deployment ml-serving/iris"),
    ("untagged-image", {"K8S-IMAGE-PINNED"},
     lambda k, s: set_path(serving_container(k), "image", "registry.example.com:5000/ml/iris"),
     "Deployment ml-serving/iris"),
    ("privilege-escalation", {"K8S-PSS"},
     lambda k, s: set_path(serving_container(k), "securityContext.allowPrivilegeEscalation", True),
     "Deployment ml-serving/iris"),
    ("no-seccomp", {"K8S-PSS"},
     lambda k, s: delete_path(serving_pod(k), "securityContext.seccompProfile"),
     "Deployment ml-serving/iris"),
    ("capabilities-kept", {"K8S-PSS"},
     lambda k, s: set_path(serving_container(k), "securityContext.capabilities", {"drop": []}),
     "Deployment ml-serving/iris"),
    ("host-network", {"K8S-PSS"},
     lambda k, s: set_path(serving_pod(k), "hostNetwork", True), "Deployment ml-serving/iris"),
    ("low-uid", {"K8S-UID-GID"},
     lambda k, s: set_path(serving_pod(k), "securityContext.runAsUser", 1000),
     "Deployment ml-serving/iris"),
    ("writable-root", {"K8S-READONLY-ROOT"},
     lambda k, s: set_path(serving_container(k), "securityContext.readOnlyRootFilesystem", False),
     "Deployment ml-serving/iris"),
    ("no-tmp-emptydir", {"K8S-READONLY-ROOT"},
     lambda k, s: serving_container(k)["volumeMounts"].pop(0), "Deployment ml-serving/iris"),
    ("secret-in-env", {"K8S-SECRETS-AS-FILES"},
     lambda k, s: serving_container(k)["env"].append(
         {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "iris", "key": "token"}}}
     ), "Deployment ml-serving/iris"),
    ("token-mounted", {"K8S-TOKEN-AUTOMOUNT"},
     lambda k, s: set_path(serving_pod(k), "automountServiceAccountToken", True),
     "Deployment ml-serving/iris"),
    ("one-replica-without-hpa", {"K8S-REPLICAS"},
     lambda k, s: k.pop("hpa"), "Deployment ml-serving/iris"),
    ("no-zone-spread", {"K8S-TOPOLOGY-SPREAD"},
     lambda k, s: serving_pod(k)["topologySpreadConstraints"].pop(1),
     "Deployment ml-serving/iris"),
    ("pdb-allows-no-disruption", {"K8S-PDB"}, pdb_min_available_all,
     "PodDisruptionBudget ml-serving/iris"),
    ("pdb-percentage-rounds-up", {"K8S-PDB"},
     lambda k, s: k["pdb"]["spec"].update({"maxUnavailable": "0%"}),
     "PodDisruptionBudget ml-serving/iris"),
    ("pdb-eviction-policy", {"K8S-PDB"},
     lambda k, s: delete_path(k["pdb"], "spec.unhealthyPodEvictionPolicy"),
     "PodDisruptionBudget ml-serving/iris"),
    ("no-pdb", {"K8S-PDB"}, lambda k, s: k.pop("pdb"), "Deployment ml-serving/iris"),
    ("recreate-strategy", {"K8S-ROLLING-UPDATE"},
     lambda k, s: set_path(k["deployment"], "spec.strategy", {"type": "Recreate"}),
     "Deployment ml-serving/iris"),
    ("selector-mismatch", {"K8S-SELECTOR"},
     lambda k, s: set_path(k["service"], "spec.selector", {"app.kubernetes.io/name": "iriss"}),
     "Service ml-serving/iris"),
    ("hpa-min-one", {"K8S-HPA"},
     lambda k, s: set_path(k["hpa"], "spec.minReplicas", 1),
     "HorizontalPodAutoscaler ml-serving/iris"),
    ("hpa-max-not-above-min", {"K8S-HPA"},
     lambda k, s: set_path(k["hpa"], "spec.maxReplicas", 2),
     "HorizontalPodAutoscaler ml-serving/iris"),
    ("hpa-no-behavior", {"K8S-HPA"},
     lambda k, s: delete_path(k["hpa"], "spec.behavior"),
     "HorizontalPodAutoscaler ml-serving/iris"),
    ("hpa-target-has-replicas", {"K8S-HPA"},
     lambda k, s: set_path(k["deployment"], "spec.replicas", 2),
     "HorizontalPodAutoscaler ml-serving/iris"),
    ("hpa-missing-target", {"K8S-HPA", "K8S-REPLICAS"},
     lambda k, s: set_path(k["hpa"], "spec.scaleTargetRef.name", "iris-old"),
     "HorizontalPodAutoscaler ml-serving/iris"),
    ("vpa-on-hpa-resource", {"K8S-HPA-VPA"},
     lambda k, s: set_path(
         k["vpa"]["spec"]["resourcePolicy"]["containerPolicies"][0],
         "controlledResources", ["cpu", "memory"],
     ), "VerticalPodAutoscaler ml-serving/iris-vpa"),
    ("two-vpas", {"K8S-HPA-VPA"}, second_vpa, "VerticalPodAutoscaler ml-serving/iris-vpa"),
    ("not-safe-to-evict", {"K8S-SAFE-TO-EVICT"},
     lambda k, s: k["deployment"]["spec"]["template"]["metadata"].pop("annotations"),
     "Deployment ml-serving/iris"),
    ("headroom-outranks-serving", {"K8S-PRIORITY-CLASS"},
     lambda k, s: set_path(k["headroom-class"], "value", 200000), "Deployment ml-serving/iris"),
    ("no-priority-class", {"K8S-PRIORITY-CLASS"},
     lambda k, s: serving_pod(k).pop("priorityClassName"), "Deployment ml-serving/iris"),
    ("node-group-min-above-max", {"K8S-NODE-GROUP"},
     lambda k, s: set_path(
         k["autoscaler"]["spec"]["template"]["spec"]["containers"][0],
         "command", ["./cluster-autoscaler", "--nodes=5:3:ml-serving-nodes"],
     ), "Deployment kube-system/cluster-autoscaler"),
    ("swarm-no-healthcheck", {"SWARM-HEALTHCHECK", "SWARM-UPDATE"},
     lambda k, s: swarm_container(s).pop("healthcheck"), "Swarm service staging-iris"),
    ("swarm-restart-any", {"SWARM-RESTART"},
     lambda k, s: set_path(s["service"], "taskSpec.restartPolicy.condition", "any"),
     "Swarm service staging-iris"),
    ("swarm-update-pauses", {"SWARM-UPDATE"},
     lambda k, s: set_path(s["service"], "updateConfig.failureAction", "pause"),
     "Swarm service staging-iris"),
    ("swarm-stop-first", {"SWARM-UPDATE"},
     lambda k, s: set_path(s["service"], "updateConfig.order", "stop-first"),
     "Swarm service staging-iris"),
    ("swarm-monitor-too-short", {"SWARM-UPDATE"},
     lambda k, s: set_path(s["service"], "updateConfig.monitor", "15s"),
     "Swarm service staging-iris"),
    ("swarm-no-rollback-config", {"SWARM-ROLLBACK"},
     lambda k, s: s["service"].pop("rollbackConfig"), "Swarm service staging-iris"),
    ("swarm-writable-root", {"SWARM-READONLY"},
     lambda k, s: set_path(swarm_container(s), "readOnly", False), "Swarm service staging-iris"),
    ("swarm-root-user", {"SWARM-USER", "SWARM-SECRETS"},
     lambda k, s: set_path(swarm_container(s), "user", "0"), "Swarm service staging-iris"),
    ("swarm-capabilities-kept", {"SWARM-USER"},
     lambda k, s: swarm_container(s).pop("capDrops"), "Swarm service staging-iris"),
    ("swarm-no-limits", {"SWARM-LIMITS"},
     lambda k, s: s["service"]["taskSpec"].pop("resources"), "Swarm service staging-iris"),
    ("swarm-secret-world-readable", {"SWARM-SECRETS"},
     lambda k, s: set_path(swarm_container(s)["secrets"][0], "fileMode", 0o444),
     "Swarm service staging-iris"),
    ("swarm-secret-in-env", {"SWARM-SECRETS"},
     lambda k, s: set_path(swarm_container(s), "env", {"TOKEN": "[secret]"}),
     "Swarm service staging-iris"),
    ("swarm-no-overlay", {"SWARM-NETWORK"},
     lambda k, s: set_path(s["network"], "driver", "bridge"), "Swarm service staging-iris"),
    ("swarm-no-spread", {"SWARM-SPREAD"},
     lambda k, s: s["service"]["taskSpec"].pop("placement"), "Swarm service staging-iris"),
    ("swarm-one-replica", {"SWARM-REPLICAS"},
     lambda k, s: set_path(s["service"], "mode.replicated.replicas", 1),
     "Swarm service staging-iris"),
    ("swarm-latest-image", {"SWARM-IMAGE-PINNED"},
     lambda k, s: set_path(swarm_container(s), "image", "iris:latest"),
     "Swarm service staging-iris"),
]  # fmt: skip


def test_the_compliant_recording_passes_every_rule() -> None:
    assert check(recording(), development=False) == []


@pytest.mark.parametrize(
    ("expected", "mutate", "subject"),
    [pytest.param(expected, mutate, subject, id=case) for case, expected, mutate, subject in CASES],
)
def test_breaking_one_thing_fails_its_rule(
    expected: set[str], mutate: Mutation, subject: str
) -> None:
    k8s, swarm = kubernetes_objects(), swarm_objects()
    mutate(k8s, swarm)
    findings = check(recording(k8s, swarm), development=False)
    assert {finding.rule for finding in findings} == expected, [str(f) for f in findings]
    assert any(finding.resource == subject for finding in findings), [str(f) for f in findings]
    for finding in findings:
        assert str(finding).startswith(f"{finding.rule}: {finding.resource}: ")
        assert finding.fix, finding  # every finding says how to fix it


def test_every_rule_is_shown_to_fail() -> None:
    covered = set().union(*(expected for _, expected, _, _ in CASES))
    assert covered == {registered.id for registered in rules()}


def test_development_stacks_may_run_one_replica() -> None:
    k8s, swarm = kubernetes_objects(), swarm_objects()
    k8s.pop("hpa")
    set_path(swarm["service"], "mode.replicated.replicas", 1)
    assert check(recording(k8s, swarm, stack="dev"), development=True) == []
    production = check(recording(k8s, swarm), development=False)
    assert {finding.rule for finding in production} == {"K8S-REPLICAS", "SWARM-REPLICAS"}
    fixes = {finding.rule: finding.fix for finding in production}
    assert fixes["K8S-REPLICAS"].startswith("set replicas.min to 2 or more (now 1): ")
    assert fixes["SWARM-REPLICAS"].startswith("set swarm.replicas to 2 or more (now 1): ")
    assert all("development stack (dev, local, dev-*, local-*)" in fix for fix in fixes.values())


def test_only_the_stacks_orchestrator_rules_run() -> None:
    k8s, swarm = kubernetes_objects(), swarm_objects()
    set_path(swarm["service"], "mode.replicated.replicas", 1)
    k8s.pop("hpa")
    both = {finding.rule for finding in check(recording(k8s, swarm), development=False)}
    assert both == {"K8S-REPLICAS", "SWARM-REPLICAS"}
    only_k8s = check(recording(k8s, swarm), development=False, orchestrator="kubernetes")
    assert {finding.rule for finding in only_k8s} == {"K8S-REPLICAS"}


def test_a_vpa_in_recommendation_mode_may_watch_the_hpa_resource() -> None:
    k8s = kubernetes_objects()
    policy = k8s["vpa"]["spec"]["resourcePolicy"]["containerPolicies"][0]
    policy["controlledResources"] = ["cpu", "memory"]
    k8s["vpa"]["spec"]["updatePolicy"]["updateMode"] = "Off"
    assert check(recording(k8s, swarm_objects()), development=False) == []


def test_a_leader_elected_singleton_may_recreate() -> None:
    k8s = kubernetes_objects()
    k8s["autoscaler"]["spec"]["strategy"] = {"type": "Recreate"}
    assert check(recording(k8s, swarm_objects()), development=False) == []


def test_a_service_publishing_host_ports_may_update_stop_first() -> None:
    swarm = swarm_objects()
    swarm["service"]["updateConfig"]["order"] = "stop-first"
    swarm["service"]["endpointSpec"] = {
        "ports": [{"targetPort": 8080, "publishedPort": 8080, "publishMode": "host"}]
    }
    assert check(recording(kubernetes_objects(), swarm), development=False) == []


def test_a_global_service_needs_no_spread_preference() -> None:
    swarm = swarm_objects()
    swarm["service"]["mode"] = {"global": {}}
    del swarm["service"]["taskSpec"]["placement"]
    assert check(recording(kubernetes_objects(), swarm), development=False) == []
