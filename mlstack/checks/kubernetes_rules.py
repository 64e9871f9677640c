"""Checklist rules over the Kubernetes objects a stack declares (../shared/guide/CHECKLIST.md,
"Pods and containers", "Workload and availability"). Each finding names the object it is about."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from mlstack.checks.base import Finding, rule
from mlstack.checks.inventory import Inventory, KubeObject, PodTemplate, get
from mlstack.components.settings.invariants import HPA_VPA_RULE
from mlstack.project import DEVELOPMENT_STACKS

SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
MIN_ID = 10000
RESOURCES = ("cpu", "memory", "ephemeral-storage")
ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
CLUSTER_SCOPED = {
    "Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "PersistentVolume", "IngressClass", "RuntimeClass", "APIService",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "Node", "CSIDriver",
}  # fmt: skip
_STABLE_VERSION = re.compile(r"^v[0-9]+$")
_NODES_ARG = re.compile(r"^--nodes=(?P<min>-?[0-9]+):(?P<max>-?[0-9]+):(?P<group>.+)$")


def _finding(rule_id: str, subject: KubeObject, message: str, fix: str = "") -> Finding:
    return Finding(rule_id, subject.label, message, fix)


# Which stack names count as development, as fixes name them: dev, local, dev-*, local-*.
DEVELOPMENT_NAMES = ", ".join([*DEVELOPMENT_STACKS, *(f"{name}-*" for name in DEVELOPMENT_STACKS)])


def replicas_fix(current: Any, key: str = "replicas.min") -> str:
    return (
        f"set {key} to 2 or more (now {current}): mlstack:overrides.{key} for every model, or "
        f"models[].overrides.{key} for one; or deploy it as a development stack "
        f"({DEVELOPMENT_NAMES}), where one replica is allowed"
    )


def _container_label(container: dict[str, Any]) -> str:
    return f"container {container.get('name', '?')!r}"


# ---- API and metadata ---------------------------------------------------------------------


@rule(
    "K8S-API-STABLE",
    "Only stable API versions (autoscaling/v2, policy/v1, ...)",
    fix=(
        "apiVersion: a stable version (autoscaling/v2, policy/v1, apps/v1); mlstack's components "
        "declare only those"
    ),
)
def api_stable(inventory: Inventory) -> Iterator[Finding]:
    for obj in inventory.objects:
        version = str(obj.manifest.get("apiVersion", "")).rsplit("/", 1)[-1]
        if not _STABLE_VERSION.match(version):
            message = f"apiVersion {obj.manifest.get('apiVersion')} is not a stable version"
            yield _finding("K8S-API-STABLE", obj, message)


@rule(
    "K8S-METADATA",
    "metadata.name set, and metadata.namespace on namespaced objects",
    fix=(
        "metadata.name and metadata.namespace set on the object (mlstack:kubernetes.namespace "
        "names the namespace)"
    ),
)
def metadata(inventory: Inventory) -> Iterator[Finding]:
    for obj in inventory.objects:
        if not obj.name:
            yield _finding("K8S-METADATA", obj, "metadata.name is not set")
        if obj.kind not in CLUSTER_SCOPED and obj.namespace is None:
            yield _finding("K8S-METADATA", obj, "metadata.namespace is not set explicitly")


# ---- pods and containers ------------------------------------------------------------------


def _handler(probe: Any) -> Any:
    """What a probe calls, without its timings: two probes calling the same thing are one probe."""
    if not isinstance(probe, dict):
        return None
    return {key: probe[key] for key in ("httpGet", "tcpSocket", "exec", "grpc") if key in probe}


@rule(
    "K8S-PROBES",
    "Serving containers: startup, readiness and liveness probes; liveness differs",
    fix=(
        "startupProbe, readinessProbe (/readyz) and a livenessProbe on another endpoint "
        "(/healthz) on the serving container"
    ),
)
def probes(inventory: Inventory) -> Iterator[Finding]:
    for template in inventory.templates:
        if not template.serving:
            continue
        for container in template.spec.get("containers") or []:
            where = _container_label(container)
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if not isinstance(container.get(probe), dict):
                    yield _finding("K8S-PROBES", template.owner, f"{where} has no {probe}")
            liveness, readiness = container.get("livenessProbe"), container.get("readinessProbe")
            if liveness and readiness and _handler(liveness) == _handler(readiness):
                yield _finding(
                    "K8S-PROBES",
                    template.owner,
                    f"{where}: livenessProbe calls the same endpoint as readinessProbe "
                    "(liveness must not depend on what readiness checks)",
                )


@rule(
    "K8S-RESOURCES",
    "Requests and limits for CPU, memory and ephemeral storage",
    fix=(
        "requests and limits for cpu, memory and ephemeral-storage: resources.cpu, "
        "resources.memory and resources.ephemeralStorage (request and limit) in the size, or "
        "mlstack:overrides.resources"
    ),
)
def resources(inventory: Inventory) -> Iterator[Finding]:
    for template in inventory.templates:
        for container in template.containers():
            where = _container_label(container)
            for kind in ("requests", "limits"):
                given = get(container, "resources", kind, default={}) or {}
                missing = [name for name in RESOURCES if name not in given]
                if missing:
                    yield _finding(
                        "K8S-RESOURCES",
                        template.owner,
                        f"{where}: no {kind} for {', '.join(missing)}",
                    )


def pinned(image: Any) -> bool:
    """A digest, or a tag other than `latest`."""
    if not isinstance(image, str) or not image:
        return False
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.split(":", 1)[1] not in ("", "latest")


@rule(
    "K8S-IMAGE-PINNED",
    "Images pinned: a tag other than latest, or a digest",
    fix=(
        "an image with a tag other than latest, or a @sha256 digest "
        "(mlstack:kubernetes.headroomImage, mlstack:kubernetes.clusterAutoscaler.image; model "
        "images get a content-hash tag, and a digest when mlstack:image.push is true)"
    ),
)
def image_pinned(inventory: Inventory) -> Iterator[Finding]:
    for template in inventory.templates:
        for container in template.containers():
            if not pinned(container.get("image")):
                where = _container_label(container)
                message = f"{where}: image {container.get('image')!r} is not pinned"
                yield _finding("K8S-IMAGE-PINNED", template.owner, message)


def _security(template: PodTemplate, container: dict[str, Any], key: str) -> Any:
    """A security setting as it applies to the container: its own, else the pod's."""
    own = get(container, "securityContext", key)
    return own if own is not None else get(template.spec, "securityContext", key)


@rule(
    "K8S-PSS",
    "Pod Security Standard restricted: non-root, no escalation, caps, seccomp, host",
    fix=(
        "securityContext runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities.drop: "
        "[ALL], seccompProfile.type: RuntimeDefault, no host namespaces, hostPath or hostPort "
        "(mlstack's components set these)"
    ),
)
def pod_security(inventory: Inventory) -> Iterator[Finding]:
    for template in inventory.templates:
        owner = template.owner
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if template.spec.get(key) is True:
                yield _finding("K8S-PSS", owner, f"pod sets {key}: true")
        for volume in template.spec.get("volumes") or []:
            if isinstance(volume, dict) and "hostPath" in volume:
                yield _finding("K8S-PSS", owner, f"volume {volume.get('name')!r} is a hostPath")
        for container in template.containers():
            where = _container_label(container)
            if _security(template, container, "runAsNonRoot") is not True:
                yield _finding("K8S-PSS", owner, f"{where}: runAsNonRoot is not true")
            if get(container, "securityContext", "allowPrivilegeEscalation") is not False:
                yield _finding("K8S-PSS", owner, f"{where}: allowPrivilegeEscalation is not false")
            if get(container, "securityContext", "privileged") is True:
                yield _finding("K8S-PSS", owner, f"{where}: privileged")
            drop = get(container, "securityContext", "capabilities", "drop", default=[]) or []
            if "ALL" not in drop:
                yield _finding("K8S-PSS", owner, f"{where}: capabilities.drop does not hold ALL")
            added = get(container, "securityContext", "capabilities", "add", default=[]) or []
            if set(added) - {"NET_BIND_SERVICE"}:
                yield _finding("K8S-PSS", owner, f"{where}: adds capabilities {sorted(added)}")
            seccomp = _security(template, container, "seccompProfile") or {}
            if get(seccomp, "type") not in ("RuntimeDefault", "Localhost"):
                yield _finding("K8S-PSS", owner, f"{where}: seccompProfile is not RuntimeDefault")
            for port in container.get("ports") or []:
                if isinstance(port, dict) and port.get("hostPort"):
                    yield _finding("K8S-PSS", owner, f"{where}: hostPort {port['hostPort']}")


@rule(
    "K8S-UID-GID",
    "runAsUser and runAsGroup set, both >= 10000",
    fix="securityContext runAsUser and runAsGroup: 10000 or more (mlstack's pods run as 10001)",
)
def uid_gid(inventory: Inventory) -> Iterator[Finding]:
    for template in inventory.templates:
        for container in template.containers():
            for key in ("runAsUser", "runAsGroup"):
                value = _security(template, container, key)
                if not isinstance(value, int) or value < MIN_ID:
                    where = _container_label(container)
                    message = f"{where}: {key} is {value!r}, needs an ID >= {MIN_ID}"
                    yield _finding("K8S-UID-GID", template.owner, message)


@rule(
    "K8S-READONLY-ROOT",
    "readOnlyRootFilesystem, with an emptyDir at /tmp for serving pods",
    fix="securityContext readOnlyRootFilesystem: true, with an emptyDir volume mounted at /tmp",
)
def read_only_root(inventory: Inventory) -> Iterator[Finding]:
    for template in inventory.templates:
        volumes = {
            volume.get("name"): volume
            for volume in template.spec.get("volumes") or []
            if isinstance(volume, dict)
        }
        for container in template.containers():
            where = _container_label(container)
            if get(container, "securityContext", "readOnlyRootFilesystem") is not True:
                message = f"{where}: readOnlyRootFilesystem is not true"
                yield _finding("K8S-READONLY-ROOT", template.owner, message)
            if not template.serving:
                continue
            scratch = [
                mount
                for mount in container.get("volumeMounts") or []
                if isinstance(mount, dict)
                and mount.get("mountPath") == "/tmp"  # noqa: S108 - the pod's own emptyDir
                and "emptyDir" in (volumes.get(mount.get("name")) or {})
            ]
            if not scratch:
                message = f"{where}: no emptyDir mounted at /tmp for scratch files"
                yield _finding("K8S-READONLY-ROOT", template.owner, message)


@rule(
    "K8S-SECRETS-AS-FILES",
    "Secrets mounted as files, never in environment variables",
    fix=(
        "mount the Secret as a volume instead of env valueFrom; in a stack, put it in "
        "mlstack:secrets (mounted under /run/secrets)"
    ),
)
def secrets_as_files(inventory: Inventory) -> Iterator[Finding]:
    for template in inventory.templates:
        for container in template.containers():
            where = _container_label(container)
            for variable in container.get("env") or []:
                if get(variable, "valueFrom", "secretKeyRef") is not None:
                    message = f"{where}: env {variable.get('name')} reads a Secret"
                    yield _finding("K8S-SECRETS-AS-FILES", template.owner, message)
                elif get(variable, "value") == "[secret]":
                    message = f"{where}: env {variable.get('name')} holds a secret value"
                    yield _finding("K8S-SECRETS-AS-FILES", template.owner, message)
            for source in container.get("envFrom") or []:
                if get(source, "secretRef") is not None:
                    message = f"{where}: envFrom loads Secret {get(source, 'secretRef', 'name')}"
                    yield _finding("K8S-SECRETS-AS-FILES", template.owner, message)


def _bound_service_accounts(inventory: Inventory) -> set[tuple[str | None, str]]:
    bound = set()
    for binding in inventory.of_kind("RoleBinding", "ClusterRoleBinding"):
        for subject in binding.manifest.get("subjects") or []:
            if get(subject, "kind") == "ServiceAccount":
                namespace = get(subject, "namespace") or binding.namespace
                bound.add((namespace, str(get(subject, "name"))))
    return bound


@rule(
    "K8S-TOKEN-AUTOMOUNT",
    "No service account token unless the account is bound to a role",
    fix=(
        "automountServiceAccountToken: false on the pod (and its ServiceAccount) unless it calls "
        "the API server"
    ),
)
def token_automount(inventory: Inventory) -> Iterator[Finding]:
    bound = _bound_service_accounts(inventory)
    for template in inventory.templates:
        namespace = template.owner.namespace
        account = template.spec.get("serviceAccountName") or "default"
        if (namespace, account) in bound:
            continue
        declared = inventory.find("ServiceAccount", namespace, account)
        automount = template.spec.get("automountServiceAccountToken")
        if automount is None and declared is not None:
            automount = declared.manifest.get("automountServiceAccountToken")
        if automount is not False:
            message = (
                f"mounts the token of service account {account!r}, which no role binding "
                "needs; set automountServiceAccountToken: false"
            )
            yield _finding("K8S-TOKEN-AUTOMOUNT", template.owner, message)


# ---- workload and availability -------------------------------------------------------------


def hpa_for(inventory: Inventory, workload: KubeObject) -> list[KubeObject]:
    return [
        hpa
        for hpa in inventory.of_kind("HorizontalPodAutoscaler")
        if hpa.namespace == workload.namespace
        and get(hpa.spec, "scaleTargetRef", "kind") == workload.kind
        and get(hpa.spec, "scaleTargetRef", "name") == workload.name
    ]


def _minimum_replicas(inventory: Inventory, workload: KubeObject) -> int:
    """Fewest pods the workload runs: the HPA minimum when an HPA scales it."""
    hpas = hpa_for(inventory, workload)
    if hpas:
        return min(int(get(hpa.spec, "minReplicas", default=1)) for hpa in hpas)
    return int(workload.spec.get("replicas", 1))


def _serving_workloads(inventory: Inventory) -> Iterator[tuple[KubeObject, PodTemplate]]:
    for template in inventory.templates:
        if template.serving:
            yield template.owner, template


@rule(
    "K8S-REPLICAS",
    "Serving workloads run at least 2 replicas outside development stacks",
    fix=(
        "replicas.min: 2 or more in the size (mlstack:overrides.replicas.min, or "
        "models[].overrides.replicas.min for one model); only development stacks (dev, local, "
        "dev-*, local-*) may run one"
    ),
)
def replicas(inventory: Inventory) -> Iterator[Finding]:
    if inventory.development:
        return
    for workload, _ in _serving_workloads(inventory):
        if hpa_for(inventory, workload):
            continue  # the HPA minimum is checked by K8S-HPA
        count = workload.spec.get("replicas", 1)
        if not isinstance(count, int) or count < 2:
            message = f"replicas is {count}; at least 2 outside development"
            yield _finding("K8S-REPLICAS", workload, message, replicas_fix(count))


def _spread_keys(spec: dict[str, Any]) -> set[str]:
    keys = {
        str(get(constraint, "topologyKey"))
        for constraint in spec.get("topologySpreadConstraints") or []
    }
    anti = get(spec, "affinity", "podAntiAffinity", default={}) or {}
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        keys.add(str(get(term, "topologyKey")))
    for term in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
        keys.add(str(get(term, "podAffinityTerm", "topologyKey")))
    return keys


@rule(
    "K8S-TOPOLOGY-SPREAD",
    "Serving pods spread over hostname and zone",
    fix=(
        "topologySpreadConstraints over kubernetes.io/hostname and topology.kubernetes.io/zone "
        "(mlstack's Deployments declare both)"
    ),
)
def topology_spread(inventory: Inventory) -> Iterator[Finding]:
    for workload, template in _serving_workloads(inventory):
        missing = {HOSTNAME, ZONE} - _spread_keys(template.spec)
        if missing:
            message = f"pods are not spread over {', '.join(sorted(missing))}"
            yield _finding("K8S-TOPOLOGY-SPREAD", workload, message)


def _selects(selector: Any, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) picks pods with `labels`."""
    if not isinstance(selector, dict) or not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = get(expression, "key"), get(expression, "operator")
        values = get(expression, "values", default=[]) or []
        present = key in labels
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and present and labels.get(key) in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def _allowed_disruptions(pdb: KubeObject, pods: int) -> int:
    """Disruptions the PDB allows with `pods` healthy pods (percentages round up, as the
    disruption controller does)."""

    def scaled(value: Any) -> int:
        if isinstance(value, str) and value.endswith("%"):
            return math.ceil(int(value[:-1]) * pods / 100)
        return int(value)

    if "maxUnavailable" in pdb.spec:
        return scaled(pdb.spec["maxUnavailable"])
    if "minAvailable" in pdb.spec:
        return pods - scaled(pdb.spec["minAvailable"])
    return 0


@rule(
    "K8S-PDB",
    "A PDB per serving workload: matches its pods, allows a disruption, AlwaysAllow",
    fix=(
        "one PodDisruptionBudget per serving Deployment, selecting its pods, with maxUnavailable "
        ">= 1 and unhealthyPodEvictionPolicy: AlwaysAllow; mlstack derives it from replicas.min "
        "(a quarter, at least 1)"
    ),
)
def disruption_budget(inventory: Inventory) -> Iterator[Finding]:
    pdbs = inventory.of_kind("PodDisruptionBudget")
    for pdb in pdbs:
        if not any(
            template.owner.namespace == pdb.namespace
            and _selects(pdb.spec.get("selector"), template.labels)
            for template in inventory.templates
        ):
            yield _finding("K8S-PDB", pdb, "its selector matches no pods of this stack")
    for workload, template in _serving_workloads(inventory):
        matching = [
            pdb
            for pdb in pdbs
            if pdb.namespace == workload.namespace
            and _selects(pdb.spec.get("selector"), template.labels)
        ]
        if not matching:
            yield _finding("K8S-PDB", workload, "no PodDisruptionBudget matches its pods")
            continue
        if len(matching) > 1:
            names = ", ".join(pdb.name for pdb in matching)
            yield _finding("K8S-PDB", workload, f"several PodDisruptionBudgets match: {names}")
        pods = _minimum_replicas(inventory, workload)
        for pdb in matching:
            allowed = _allowed_disruptions(pdb, pods)
            if allowed < 1:
                message = (
                    f"allows {allowed} disruptions at {pods} replicas; node drains and "
                    "cluster-autoscaler scale-down would block"
                )
                yield _finding("K8S-PDB", pdb, message)
            if pdb.spec.get("unhealthyPodEvictionPolicy") != "AlwaysAllow":
                message = "unhealthyPodEvictionPolicy is not AlwaysAllow"
                yield _finding("K8S-PDB", pdb, message)


@rule(
    "K8S-ROLLING-UPDATE",
    "Serving Deployments update with the RollingUpdate strategy",
    fix="strategy.type: RollingUpdate on serving Deployments",
)
def rolling_update(inventory: Inventory) -> Iterator[Finding]:
    # Serving workloads only: a leader-elected singleton (the cluster-autoscaler) may Recreate.
    for deployment, _ in _serving_workloads(inventory):
        if deployment.kind != "Deployment":
            continue
        strategy = get(deployment.spec, "strategy", "type", default="RollingUpdate")
        if strategy != "RollingUpdate":
            yield _finding("K8S-ROLLING-UPDATE", deployment, f"strategy is {strategy}")


@rule(
    "K8S-SELECTOR",
    "Workload selectors pick their own template's pods; Services pick pods",
    fix="a selector whose labels match the pod template's labels",
)
def selectors(inventory: Inventory) -> Iterator[Finding]:
    for template in inventory.templates:
        owner = template.owner
        if owner.kind == "Pod" or owner.kind == "CronJob":
            continue
        selector = owner.spec.get("selector")
        if not _selects(selector, template.labels):
            message = f"selector {selector} does not match its pod template labels"
            yield _finding("K8S-SELECTOR", owner, message)
    for service in inventory.of_kind("Service"):
        chosen = service.spec.get("selector")
        if not chosen:
            continue  # a selector-less Service is managed by hand (EndpointSlices)
        if not any(
            template.owner.namespace == service.namespace
            and _selects({"matchLabels": chosen}, template.labels)
            for template in inventory.templates
        ):
            yield _finding("K8S-SELECTOR", service, f"selector {chosen} matches no pods")


def _resource_metrics(hpa: KubeObject) -> set[str]:
    names = set()
    for metric in hpa.spec.get("metrics") or []:
        if get(metric, "type") == "Resource":
            names.add(str(get(metric, "resource", "name")))
        if get(metric, "type") == "ContainerResource":
            names.add(str(get(metric, "containerResource", "name")))
    return names


@rule(
    "K8S-HPA",
    "HPA: target exists without replicas, min >= 2 outside dev, max > min, behavior",
    fix=(
        "replicas.min: 2 or more and replicas.max above it, with autoscaling.scaleUp and "
        "autoscaling.scaleDown (longer stabilizationWindowSeconds) in the size "
        "(mlstack:overrides); development stacks (dev, local, dev-*, local-*) may have "
        "minReplicas 1"
    ),
)
def hpa(inventory: Inventory) -> Iterator[Finding]:
    for autoscaler in inventory.of_kind("HorizontalPodAutoscaler"):
        spec = autoscaler.spec
        minimum = spec.get("minReplicas", 1)
        maximum = spec.get("maxReplicas", 0)
        if not inventory.development and minimum < 2:
            message = f"minReplicas is {minimum}; at least 2 outside development"
            yield _finding("K8S-HPA", autoscaler, message, replicas_fix(minimum))
        if maximum <= minimum:
            message = f"maxReplicas {maximum} is not above minReplicas {minimum}"
            fix = (
                f"set replicas.max to {minimum + 1} or more (mlstack:overrides.replicas.max), or "
                "lower replicas.min"
            )
            yield _finding("K8S-HPA", autoscaler, message, fix)
        for direction in ("scaleUp", "scaleDown"):
            if not isinstance(get(spec, "behavior", direction), dict):
                yield _finding("K8S-HPA", autoscaler, f"behavior.{direction} is not set")
        up = get(spec, "behavior", "scaleUp", "stabilizationWindowSeconds", default=0)
        down = get(spec, "behavior", "scaleDown", "stabilizationWindowSeconds", default=300)
        if down <= up:
            message = f"scale-down stabilization ({down} s) is not longer than scale-up's ({up} s)"
            fix = (
                f"set autoscaling.scaleDown.stabilizationWindowSeconds to {up + 1} or more "
                "(mlstack:overrides.autoscaling.scaleDown.stabilizationWindowSeconds)"
            )
            yield _finding("K8S-HPA", autoscaler, message, fix)
        kind = get(spec, "scaleTargetRef", "kind")
        name = get(spec, "scaleTargetRef", "name")
        target = inventory.find(str(kind), autoscaler.namespace, str(name))
        if target is None:
            message = f"scaleTargetRef {kind} {name} is not declared in this stack"
            yield _finding("K8S-HPA", autoscaler, message)
            continue
        if "replicas" in target.spec:
            message = f"its target {target.label} sets spec.replicas, which fights the HPA"
            yield _finding("K8S-HPA", autoscaler, message)
        template = inventory.template_of(target)
        for resource in sorted(_resource_metrics(autoscaler)):
            for container in template.containers() if template else []:
                if resource not in (get(container, "resources", "requests", default={}) or {}):
                    message = (
                        f"scales on {resource} but {_container_label(container)} "
                        f"of {target.label} requests none"
                    )
                    yield _finding("K8S-HPA", autoscaler, message)


def _vpa_resources(vpa: KubeObject) -> set[str]:
    """Resources the VPA changes: none in Off mode; per container policy (default cpu+memory)."""
    if get(vpa.spec, "updatePolicy", "updateMode") == "Off":
        return set()
    policies = get(vpa.spec, "resourcePolicy", "containerPolicies", default=[]) or []
    if not policies:
        return {"cpu", "memory"}
    controlled: set[str] = set()
    for policy in policies:
        if get(policy, "mode") == "Off":
            continue
        controlled |= set(get(policy, "controlledResources", default=["cpu", "memory"]) or [])
    return controlled


@rule(
    "K8S-HPA-VPA",
    f"{HPA_VPA_RULE}; one VPA per workload",
    fix=(
        "verticalAutoscaling.controlledResources without the resources the HPA scales on "
        "(autoscaling.cpuUtilization, memoryUtilization), or verticalAutoscaling.updateMode: Off"
    ),
)
def hpa_vpa(inventory: Inventory) -> Iterator[Finding]:
    vpas = inventory.of_kind("VerticalPodAutoscaler")
    targets: dict[tuple[str | None, str, str], list[KubeObject]] = {}
    for vpa in vpas:
        key = (
            vpa.namespace,
            str(get(vpa.spec, "targetRef", "kind")),
            str(get(vpa.spec, "targetRef", "name")),
        )
        targets.setdefault(key, []).append(vpa)
    for (namespace, kind, name), found in targets.items():
        if len(found) > 1:
            names = ", ".join(vpa.name for vpa in found)
            yield _finding("K8S-HPA-VPA", found[0], f"several VPAs target {kind} {name}: {names}")
        workload = inventory.find(kind, namespace, name)
        if workload is None:
            yield _finding("K8S-HPA-VPA", found[0], f"targetRef {kind} {name} is not declared")
            continue
        hpa_resources = set().union(*(_resource_metrics(h) for h in hpa_for(inventory, workload)))
        for vpa in found:
            shared = _vpa_resources(vpa) & hpa_resources
            if shared:
                message = (
                    f"controls {', '.join(sorted(shared))}, which an HPA of {workload.label} "
                    "scales on"
                )
                yield _finding("K8S-HPA-VPA", vpa, message)


@rule(
    "K8S-SAFE-TO-EVICT",
    "Serving pods carry cluster-autoscaler safe-to-evict: true",
    fix='pod annotation cluster-autoscaler.kubernetes.io/safe-to-evict: "true" on serving pods',
)
def safe_to_evict(inventory: Inventory) -> Iterator[Finding]:
    for workload, template in _serving_workloads(inventory):
        value = template.annotations.get(SAFE_TO_EVICT)
        if value != "true":
            message = f"pod annotation {SAFE_TO_EVICT} is {value!r}, not 'true'"
            yield _finding("K8S-SAFE-TO-EVICT", workload, message)


def _priority(inventory: Inventory, name: Any) -> int | None:
    declared = inventory.find("PriorityClass", None, str(name))
    value = declared.manifest.get("value") if declared else None
    return value if isinstance(value, int) else None


@rule(
    "K8S-PRIORITY-CLASS",
    "Serving pods get a declared PriorityClass above placeholder pods'",
    fix=(
        "a declared PriorityClass (mlstack:kubernetes.priorityClass.name, value above the "
        "headroom's) on serving pods"
    ),
)
def priority_class(inventory: Inventory) -> Iterator[Finding]:
    others = {
        str(template.spec.get("priorityClassName"))
        for template in inventory.templates
        if not template.serving
        and template.spec.get("priorityClassName")
        and not str(template.spec.get("priorityClassName")).startswith("system-")
    }
    for workload, template in _serving_workloads(inventory):
        name = template.spec.get("priorityClassName")
        if not name:
            yield _finding("K8S-PRIORITY-CLASS", workload, "pods set no priorityClassName")
            continue
        value = _priority(inventory, name)
        if value is None:
            message = f"PriorityClass {name} is not declared in this stack"
            yield _finding("K8S-PRIORITY-CLASS", workload, message)
            continue
        for other in sorted(others - {name}):
            other_value = _priority(inventory, other)
            if other_value is not None and other_value >= value:
                message = (
                    f"PriorityClass {name} ({value}) is not above {other} ({other_value}) "
                    "of placeholder pods"
                )
                yield _finding("K8S-PRIORITY-CLASS", workload, message)


@rule(
    "K8S-NODE-GROUP",
    "cluster-autoscaler node groups: 0 <= min <= max",
    fix=(
        "clusterAutoscaling.nodeGroup.min from 0 to nodeGroup.max in the size "
        "(mlstack:overrides.clusterAutoscaling.nodeGroup)"
    ),
)
def node_group(inventory: Inventory) -> Iterator[Finding]:
    for template in inventory.templates:
        for container in template.containers():
            for argument in [*(container.get("command") or []), *(container.get("args") or [])]:
                match = _NODES_ARG.match(str(argument))
                if not match:
                    continue
                low, high = int(match["min"]), int(match["max"])
                if low < 0 or low > high:
                    message = (
                        f"node group {match['group']}: min {low}, max {high}; need 0 <= min <= max"
                    )
                    fix = (
                        f"set clusterAutoscaling.nodeGroup.min to a value from 0 to {high}, or "
                        f"nodeGroup.max to {max(low, 0)} or more "
                        "(mlstack:overrides.clusterAutoscaling.nodeGroup)"
                    )
                    yield _finding("K8S-NODE-GROUP", template.owner, message, fix)
