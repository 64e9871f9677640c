"""Which input changes replace a resource instead of updating it, per type mlstack declares.

Read from the providers' own sources at the versions pyproject.toml pins, and from the API
servers' update validation where a provider would attempt an in-place update the server refuses
(the program then declares `replace_on_changes` for those paths, so the table stays true).

Paths are recorded input paths (pulumi wire names: camelCase, dotted; "[*]" stands for any list
item). A change at or under a path forces replacement; so does adding or removing a whole object
or list item that contains one (a changed path above a replace path). `delete_before_replace` says
whether a replacement deletes the old object first (a brief outage): declared by the program for
the fixed-name Swarm objects, decided by pulumi-kubernetes itself for named Kubernetes objects
whose name and namespace stay the same (see `deletes_first`).

Sources (snapshots read; the commit named where there is no release tag):
- pulumi-docker 5.2.0: pulumi/pulumi-docker@237b7899, its provider/resources.go and the native
  Image provider provider/provider.go; bridged kreuzwerker/terraform-provider-docker v4.5.0 (the
  `upstream` submodule, 5074970c), internal/provider/resource_docker_*.go (ForceNew);
  pulumi-terraform-bridge v3.136 pkg/tfbridge/provider.go Diff (a ForceNew change is a replace;
  DeleteBeforeReplace for a user-set `name` of an auto-named resource, schema.go
  nameRequiresDeleteBeforeReplace, which pulumi-docker's SetAutonaming turns on).
- pulumi-kubernetes 4.32.0 (tag v4.32.0): provider/pkg/provider/diff.go (forceNew),
  provider/pkg/provider/provider.go Diff (metadata.name/namespace always replace; delete before
  replace when the object is named and keeps its name and namespace) and DiffConfig.
- kubernetes/kubernetes: pkg/apis/scheduling/validation/validation.go@00447344
  ValidatePriorityClassUpdate (value, preemptionPolicy immutable),
  pkg/registry/apps/deployment/strategy.go ValidateUpdate (apps/v1 spec.selector immutable),
  pkg/apis/core/validation/validation.go ValidateSecretUpdate (type immutable) and
  ValidateServiceUpdate (clusterIP, clusterIPs), pkg/apis/rbac/validation/validation.go
  ValidateRoleBindingUpdate ("cannot change roleRef"). policy/v1 PodDisruptionBudget specs are
  mutable (Kubernetes >= 1.15); VerticalPodAutoscaler's CRD (kubernetes/autoscaler
  vertical-pod-autoscaler/deploy/vpa-v1-crd-gen.yaml@55c37cd5) has no transition rules.
- pulumi/pulumi pkg/resource/deploy/step_generator.go: component resources are never sent to
  a provider's Diff, so they are never replaced; a replaced provider replaces its resources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ReplaceRule:
    type_token: str  # e.g. "docker:index/service:Service"
    replace_paths: tuple[str, ...]  # recorded input paths; a change at or under one replaces
    delete_before_replace: bool  # a replacement deletes the old object first: a brief outage
    source: str  # provider file + version it was read from


_DOCKER = "pulumi-docker 5.2.0 / terraform-provider-docker v4.5.0"
_BRIDGE_DBR = (
    "; deleted first: the program declares delete_before_replace (the bridge also asks for it "
    "for a user-set name: pulumi-terraform-bridge v3.136 pkg/tfbridge/schema.go "
    "nameRequiresDeleteBeforeReplace, on through pulumi-docker's SetAutonaming)"
)
_K8S = "pulumi-kubernetes 4.32.0 provider/pkg/provider/diff.go forceNew + provider.go Diff"
_K8S_DBR = (
    "; deleted first by the provider itself when the object keeps its fixed name and namespace "
    "(provider.go Diff, deleteBeforeReplace), so the program declares no delete_before_replace: "
    "a moved object is created in its new place before the old one goes"
)
_NAMESPACED = ("metadata.name", "metadata.namespace")
_CLUSTER_SCOPED = ("metadata.name",)
_COMPONENT = (
    "an mlstack ComponentResource: pulumi/pulumi pkg/resource/deploy/step_generator.go diffs "
    "components without a provider (DiffSome/DiffNone, never a replace)"
)


def _k8s(type_token: str, paths: tuple[str, ...], why: str = "") -> ReplaceRule:
    return ReplaceRule(type_token, paths, True, _K8S + (f"; {why}" if why else "") + _K8S_DBR)


_RULES = (
    # --- Docker (Swarm and image builds) ------------------------------------------------------
    ReplaceRule(
        "docker:index/service:Service",
        (
            "name",
            "auth",
            "mode.global",
            "taskSpec.containerSpec.hosts",
            "taskSpec.containerSpec.sysctl",
            "taskSpec.networksAdvanceds[*].id",
            "taskSpec.networksAdvanceds[*].name",
            "taskSpec.networksAdvanceds[*].aliases",
            "taskSpec.networksAdvanceds[*].driverOpts",
        ),
        True,
        f"{_DOCKER} internal/provider/resource_docker_service.go ForceNew (auth.*, name, "
        "container_spec.hosts, sysctl, networks_advanced.*); mode.global: moby/swarmkit "
        "manager/controlapi/service.go UpdateService refuses a mode change "
        "(errModeChangeNotAllowed) and the schema's ForceNew on `mode` covers only adding or "
        "removing the block, so the program declares replace_on_changes" + _BRIDGE_DBR,
    ),
    ReplaceRule(
        "docker:index/network:Network",
        (
            "name",
            "labels",
            "driver",
            "options",
            "internal",
            "attachable",
            "ingress",
            "ipv6",
            "ipamDriver",
            "ipamOptions",
            "ipamConfigs",
        ),
        False,
        f"{_DOCKER} internal/provider/resource_docker_network.go: every argument ForceNew, no "
        "Update; created before the old one is deleted (the program declares "
        "delete_before_replace=False over the bridge's name rule): the name is a hash of "
        "everything else, so a replacement never collides, and Docker refuses to remove a network "
        "services are still attached to (they move to the new one first)",
    ),
    ReplaceRule(
        "docker:index/secret:Secret",
        ("name", "data", "labels"),
        False,
        f"{_DOCKER} internal/provider/resource_docker_secret.go: every argument ForceNew, no "
        "Update; created before the old one is deleted (the program declares "
        "delete_before_replace=False over the bridge's name rule): the name is a hash of "
        "everything else, so a replacement never collides, and Docker refuses to remove a secret "
        "a service still uses",
    ),
    ReplaceRule(
        "docker:index/image:Image",
        (),
        False,
        "pulumi-docker 5.2.0 provider/provider.go (native Image) Diff: every change is an update "
        "(a rebuild and push), never a replacement",
    ),
    ReplaceRule(
        "pulumi:providers:docker",
        (),
        False,
        "pulumi-docker 5.2.0 provider/resources.go Config (host, registryAuth) sets no "
        "ForcesProviderReplace; pulumi-terraform-bridge v3.136 provider.go DiffConfig replaces "
        "only for those",
    ),
    # --- Kubernetes ---------------------------------------------------------------------------
    ReplaceRule(
        "pulumi:providers:kubernetes",
        ("kubeconfig", "context", "cluster", "clusterIdentifier", "renderYamlToDirectory"),
        False,
        "pulumi-kubernetes 4.32.0 provider/pkg/provider/provider.go DiffConfig: kubeconfig, "
        "context or cluster when the active cluster changes, clusterIdentifier, "
        "renderYamlToDirectory; a replaced provider replaces every resource it manages",
    ),
    _k8s("kubernetes:core/v1:Namespace", _CLUSTER_SCOPED),
    _k8s("kubernetes:core/v1:ServiceAccount", _NAMESPACED),
    _k8s(
        "kubernetes:core/v1:Secret",
        (*_NAMESPACED, "type", "data", "stringData"),
        "Secret .type/.data/.stringData (the provider's enableSecretMutable is off); "
        "kubernetes ValidateSecretUpdate: type immutable",
    ),
    _k8s(
        "kubernetes:core/v1:Service",
        (*_NAMESPACED, "spec.clusterIP", "spec.clusterIPs"),
        "Service .spec.clusterIP; kubernetes ValidateServiceUpdate: clusterIP, clusterIPs",
    ),
    _k8s(
        "kubernetes:apps/v1:Deployment",
        (*_NAMESPACED, "spec.selector"),
        "apps/v1 Deployment .spec.selector; kubernetes pkg/registry/apps/deployment/strategy.go "
        "ValidateUpdate: selector immutable",
    ),
    _k8s("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", _NAMESPACED),
    _k8s(
        "kubernetes:policy/v1:PodDisruptionBudget",
        _NAMESPACED,
        "only policy/v1beta1 replaces on .spec; policy/v1 specs update in place",
    ),
    _k8s("kubernetes:networking.k8s.io/v1:NetworkPolicy", _NAMESPACED),
    _k8s(
        "kubernetes:scheduling.k8s.io/v1:PriorityClass",
        (*_CLUSTER_SCOPED, "value", "preemptionPolicy"),
        "no forceNew for PriorityClass: kubernetes ValidatePriorityClassUpdate refuses a new value "
        "or preemptionPolicy, so the program declares replace_on_changes",
    ),
    _k8s("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", _CLUSTER_SCOPED),
    _k8s(
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        (*_CLUSTER_SCOPED, "roleRef"),
        "roleBinding .roleRef; kubernetes ValidateRoleBindingUpdate: cannot change roleRef",
    ),
    _k8s("kubernetes:rbac.authorization.k8s.io/v1:Role", _NAMESPACED),
    _k8s(
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        (*_NAMESPACED, "roleRef"),
        "roleBinding .roleRef; kubernetes ValidateRoleBindingUpdate: cannot change roleRef",
    ),
    _k8s(
        "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler",
        _NAMESPACED,
        "a custom resource: no forceNew beyond its identity; the VPA CRD has no transition rules",
    ),
    # --- mlstack's own components -------------------------------------------------------------
    *(
        ReplaceRule(token, (), False, _COMPONENT)
        for token in (
            "mlstack:index:MLServingStack",
            "mlstack:image:ModelImage",
            "mlstack:kubernetes:Platform",
            "mlstack:kubernetes:ModelService",
            "mlstack:kubernetes:Headroom",
            "mlstack:kubernetes:ClusterAutoscaler",
            "mlstack:swarm:Platform",
            "mlstack:swarm:ModelService",
            "mlstack:swarm:Proxy",
        )
    ),
)

REPLACE_RULES: Mapping[str, ReplaceRule] = MappingProxyType({r.type_token: r for r in _RULES})


def replace_rule(type_token: str) -> ReplaceRule:
    """The rule for a resource type; KeyError naming the type when the table has none."""
    try:
        return REPLACE_RULES[type_token]
    except KeyError:
        raise KeyError(
            f"no replacement rule for resource type {type_token!r}: add it to "
            "components/replacements.py from the provider's source"
        ) from None


_SEGMENT = re.compile(r'\[(?:"((?:[^"\\]|\\.)*)"|([^\]]*))\]|([^.\[]+)')


def path_segments(path: str) -> tuple[str, ...]:
    """`a.b[0].c`, `a["x.y"].b` -> segments; list indices become "[0]" / "[*]" segments."""
    segments: list[str] = []
    for quoted, index, name in _SEGMENT.findall(path):
        if name:
            segments.append(name)
        elif quoted:
            segments.append(quoted.replace('\\"', '"'))
        else:
            segments.append(f"[{index}]")
    return tuple(segments)


def _matches(pattern: str, segment: str) -> bool:
    return pattern == segment or (pattern == "[*]" and segment.startswith("["))


def _forces(replace_path: tuple[str, ...], changed: tuple[str, ...]) -> bool:
    """Changed at or under the replace path, or above it (a whole object or item that holds
    it was added, removed or replaced)."""
    return all(_matches(p, c) for p, c in zip(replace_path, changed, strict=False))


def forcing_paths(type_token: str, changed: Iterable[str]) -> list[str]:
    """The changed input paths that force a replacement of a resource of this type, in the
    order given. `changed` should be the deepest paths that differ."""
    rule = replace_rule(type_token)
    patterns = [path_segments(p) for p in rule.replace_paths]
    return [
        path
        for path in changed
        if any(_forces(pattern, path_segments(path)) for pattern in patterns)
    ]


def deletes_first(type_token: str, changed: Iterable[str]) -> bool:
    """Whether a replacement caused by `changed` deletes the old object before creating the new
    one. For Kubernetes objects the provider decides per change: a new name or namespace means
    the replacement cannot collide, so it is created first."""
    rule = replace_rule(type_token)
    forcing = forcing_paths(type_token, changed)
    if not forcing or not rule.delete_before_replace:
        return False
    if type_token.startswith("kubernetes:"):
        identity = {("metadata",), ("metadata", "name"), ("metadata", "namespace")}
        return not any(path_segments(path) in identity for path in changed)
    return True
