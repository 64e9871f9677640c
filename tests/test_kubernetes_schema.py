"""Every Kubernetes object the stacks declare validates against the real Kubernetes schemas
(kubernetes-validate, strict) for 1.30 and the newest bundled version; VPAs against the CRD's."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from mlstack.checks import (
    MINIMUM_KUBERNETES_VERSION,
    Manifest,
    check_manifest,
    check_recording,
    default_versions,
    kubernetes_manifests,
    newest_kubernetes_version,
)
from mlstack.offline import RecordedResource, Recording, Secret
from tests.support.kubernetes_objects import VARIANTS, manifests, run_variant

EXPECTED_KINDS = {
    "Namespace",
    "PriorityClass",
    "ServiceAccount",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "VerticalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> tuple[str, Recording]:
    return request.param, run_variant(request.param)


def test_the_versions_checked_are_1_30_and_the_newest_bundled() -> None:
    newest = str(kubernetes_validate.latest_version())
    assert default_versions() == (MINIMUM_KUBERNETES_VERSION, ".".join(newest.split(".")[:2]))
    assert MINIMUM_KUBERNETES_VERSION == "1.30"
    assert newest_kubernetes_version() > "1.30"


def test_every_kubernetes_object_passes_the_strict_schemas(variant: tuple[str, Recording]) -> None:
    name, recording = variant
    objects = kubernetes_manifests(recording)
    kinds = {manifest.kind for manifest in objects}
    assert kinds >= EXPECTED_KINDS, f"{name}: missing {EXPECTED_KINDS - kinds}"
    findings = check_recording(recording)
    assert findings == [], "\n".join(str(finding) for finding in findings)


def test_the_variants_declare_what_they_are_named_for() -> None:
    kinds = {m.kind for m in kubernetes_manifests(run_variant("staging-gpu-headroom-autoscaler"))}
    assert {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} <= kinds
    secrets = manifests(run_variant("prod-registry-and-secrets"), "Secret")
    assert {s["type"] for s in secrets} == {"Opaque", "kubernetes.io/dockerconfigjson"}


# --- the checker can fail -----------------------------------------------------------------------


def model_deployment() -> dict[str, Any]:
    recording = run_variant("staging")
    deployments = manifests(recording, "Deployment")
    return copy.deepcopy(next(d for d in deployments if d["metadata"]["name"] == "iris"))


def vpa() -> dict[str, Any]:
    return copy.deepcopy(manifests(run_variant("staging"), "VerticalPodAutoscaler")[0])


def test_an_unknown_field_fails_for_every_version() -> None:
    body = model_deployment()
    body["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["bogus"] = 1
    findings = check_manifest(Manifest("r", body), default_versions())
    assert [f.version for f in findings] == list(default_versions())
    for finding in findings:
        assert finding.kind == "Deployment"
        assert finding.name == "ml-serving/iris"
        assert finding.path == "spec.template.spec.containers.0.livenessProbe"
        assert "bogus" in finding.message


def test_a_wrong_type_fails() -> None:
    body = model_deployment()
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "thirty"
    [*findings] = check_manifest(Manifest("r", body), ["1.30"])
    assert len(findings) == 1
    assert "terminationGracePeriodSeconds" in findings[0].path


def test_a_field_newer_than_1_30_fails_for_1_30_only() -> None:
    # Pod-level resources appeared in Kubernetes 1.32 (alpha): 1.30 does not know them.
    body = model_deployment()
    body["spec"]["template"]["spec"]["resources"] = {"limits": {"cpu": "1"}}
    findings = check_manifest(Manifest("r", body), default_versions())
    assert [f.version for f in findings] == ["1.30"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b["spec"]["updatePolicy"].update(updateMode="Sometimes"), "is not one of"),
        (lambda b: b["spec"].update(replicas=3), "replicas"),
        (lambda b: b["spec"].pop("targetRef"), "targetRef"),
        (
            lambda b: b["spec"]["resourcePolicy"]["containerPolicies"][0].update(
                controlledValues="LimitsOnly"
            ),
            "LimitsOnly",
        ),
        (
            lambda b: b["spec"]["resourcePolicy"]["containerPolicies"][0]["maxAllowed"].update(
                memory="lots"
            ),
            "does not match",
        ),
        (
            lambda b: b["spec"].update(startupBoost={"cpu": {"type": "Factor"}}),
            "factor",
        ),
    ],
    ids=["mode", "unknown-field", "no-target", "controlled-values", "quantity", "cel-rule"],
)
def test_the_vpa_schema_rejects_what_the_crd_rejects(change: Any, message: str) -> None:
    body = vpa()
    assert check_manifest(Manifest("r", body), default_versions()) == []
    change(body)
    findings = check_manifest(Manifest("r", body), default_versions())
    assert findings, "the change should have been refused"
    assert any(message in f.message for f in findings), [f.message for f in findings]
    assert all("verticalpodautoscaler-v1.json" in f.version for f in findings)


def test_a_custom_resource_without_a_schema_is_a_finding_not_a_pass() -> None:
    body = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "iris", "namespace": "ml-serving"},
        "spec": {},
    }
    findings = check_manifest(Manifest("r", body), ["1.30"])
    assert len(findings) == 1
    assert "no schema" in findings[0].message


@pytest.mark.parametrize("version", ["9.99", "1.24", "1.4", "latest"])
def test_an_unsupported_version_is_an_error_of_the_caller(version: str) -> None:
    with pytest.raises(ValueError, match=f"no schemas for Kubernetes {version}"):
        check_manifest(Manifest("r", model_deployment()), ["1.30", version])


def test_secrets_are_concealed_and_numbers_restored_before_validation() -> None:
    secret = RecordedResource(
        type="kubernetes:core/v1:Secret",
        name="s",
        urn="urn:s",
        parent=None,
        custom=True,
        provider=None,
        inputs={
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "ml-serving"},
            # A secret where an object is expected: the message must not quote it.
            "stringData": Secret("plain-s3cr3t"),
            "immutable": False,
        },
    )
    service = RecordedResource(
        type="kubernetes:core/v1:Service",
        name="svc",
        urn="urn:svc",
        parent=None,
        custom=True,
        provider=None,
        inputs={
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc"},
            "spec": {"ports": [{"port": 80.0, "targetPort": "http"}]},  # protobuf doubles
        },
    )
    recording = Recording("mlstack", "test", (secret, service), {})
    [manifest, service_manifest] = kubernetes_manifests(recording)
    assert manifest.body["stringData"] == "[secret]"
    assert service_manifest.body["spec"]["ports"][0]["port"] == 80
    findings = check_recording(recording)
    assert findings, "stringData must be an object"
    assert all(f.kind == "Secret" for f in findings)
    assert "plain-s3cr3t" not in repr(findings) + "".join(str(f) for f in findings)


def test_every_vpa_error_is_reported_at_once() -> None:
    body = vpa()
    body["spec"]["updatePolicy"]["updateMode"] = "Sometimes"
    body["spec"]["resourcePolicy"]["containerPolicies"][0]["bogus"] = True
    body["spec"]["resourcePolicy"]["containerPolicies"].append({"mode": "Never"})
    findings = check_manifest(Manifest("r", body), ["1.30"])
    paths = sorted(f.path for f in findings)
    assert paths == [
        "spec.resourcePolicy.containerPolicies.0",
        "spec.resourcePolicy.containerPolicies.1.mode",
        "spec.updatePolicy.updateMode",
    ]
    with pytest.raises(ValueError, match="no schemas"):
        check_manifest(Manifest("r", body), ["1.24"])
