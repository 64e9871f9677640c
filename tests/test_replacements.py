"""components/replacements.py: a replacement rule for every resource type the program declares,
naming real input paths, and the path matching `mlstack diff` relies on."""

from __future__ import annotations

import typing
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
import pytest

from mlstack.components.replacements import (
    REPLACE_RULES,
    deletes_first,
    forcing_paths,
    path_segments,
    replace_rule,
)
from tests.support.stack_variants import all_recordings

SERVICE = "docker:index/service:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def declared_types() -> dict[str, set[str]]:
    """Type token -> the variants declaring it."""
    found: dict[str, set[str]] = {}
    for variant, recording in all_recordings().items():
        for resource in recording.resources:
            found.setdefault(resource.type, set()).add(variant)
    return found


def test_every_declared_resource_type_has_a_rule() -> None:
    missing = sorted(set(declared_types()) - set(REPLACE_RULES))
    assert not missing, f"no replacement rule for {missing}"


def test_every_rule_is_for_a_declared_type() -> None:
    """No stale entries: a type the program stopped declaring leaves the table too."""
    stale = sorted(set(REPLACE_RULES) - set(declared_types()))
    assert not stale, f"rules for types no stack declares: {stale}"


def test_every_rule_names_its_source_and_custom_types_a_version() -> None:
    for token, rule in REPLACE_RULES.items():
        assert rule.type_token == token
        assert rule.source.strip(), token
        if not token.startswith("mlstack:"):
            assert any(v in rule.source for v in ("5.2.0", "4.32.0")), (token, rule.source)


def test_a_missing_type_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match=r"docker:index/volume:Volume.*components/replacements"):
        replace_rule("docker:index/volume:Volume")


# --- every replace path is a real input of the type (walked through the SDK's own classes) ----

_RESOURCE_CLASSES: dict[str, type] = {
    "docker:index/service:Service": docker.Service,
    "docker:index/network:Network": docker.Network,
    "docker:index/secret:Secret": docker.Secret,
    "docker:index/image:Image": docker.Image,
    "kubernetes:core/v1:Namespace": k8s.core.v1.Namespace,
    "kubernetes:core/v1:ServiceAccount": k8s.core.v1.ServiceAccount,
    "kubernetes:core/v1:Secret": k8s.core.v1.Secret,
    "kubernetes:core/v1:Service": k8s.core.v1.Service,
    "kubernetes:apps/v1:Deployment": k8s.apps.v1.Deployment,
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": k8s.autoscaling.v2.HorizontalPodAutoscaler,
    "kubernetes:policy/v1:PodDisruptionBudget": k8s.policy.v1.PodDisruptionBudget,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "kubernetes:scheduling.k8s.io/v1:PriorityClass": k8s.scheduling.v1.PriorityClass,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": k8s.rbac.v1.ClusterRole,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": k8s.rbac.v1.ClusterRoleBinding,
    "kubernetes:rbac.authorization.k8s.io/v1:Role": k8s.rbac.v1.Role,
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": k8s.rbac.v1.RoleBinding,
    # A CustomResource has no typed schema; its paths are only the metadata the SDK types.
    "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler": k8s.core.v1.ConfigMap,
}
_PROVIDER_ARGS: dict[str, type] = {
    "pulumi:providers:docker": docker.ProviderArgs,
    "pulumi:providers:kubernetes": k8s.ProviderArgs,
}


def _getters(cls: type) -> dict[str, Any]:
    """Pulumi wire name -> the property's getter, for an SDK resource or output type."""
    found = {}
    for attribute in dir(cls):
        member = getattr(cls, attribute, None)
        if isinstance(member, property) and getattr(member.fget, "_pulumi_name", None):
            found[member.fget._pulumi_name] = member.fget  # type: ignore[union-attr]
    return found


def _unwrap(hint: Any) -> Any:
    """Output[T] / Optional[T] -> T."""
    while True:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is typing.Union:
            hint = next(a for a in args if a is not type(None))
        elif origin is pulumi.Output:
            hint = args[0]
        else:
            return hint


def _walk(cls: Any, segments: tuple[str, ...], where: str) -> None:
    if not segments:
        return
    head, rest = segments[0], segments[1:]
    origin = typing.get_origin(cls)
    if head == "[*]":
        assert origin is not None, f"{where}: not a list"
        assert issubclass(origin, typing.Sequence), f"{where}: not a list"
        _walk(_unwrap(typing.get_args(cls)[0]), rest, where)
        return
    if origin is not None and issubclass(origin, typing.Mapping):
        return  # a map: any key is an input
    getters = _getters(cls)
    assert head in getters, f"{where}: {head!r} is not an input of {cls.__name__}"
    _walk(_unwrap(typing.get_type_hints(getters[head])["return"]), rest, where)


@pytest.mark.parametrize("token", sorted(REPLACE_RULES))
def test_replace_paths_are_inputs_of_the_type(token: str) -> None:
    rule = REPLACE_RULES[token]
    for path in rule.replace_paths:
        where = f"{token} {path}"
        if token in _PROVIDER_ARGS:
            assert path in _getters(_PROVIDER_ARGS[token]), where
        else:
            assert token in _RESOURCE_CLASSES, f"{token} has replace paths but no SDK class here"
            _walk(_RESOURCE_CLASSES[token], path_segments(path), where)


def test_a_misspelt_path_fails_the_walk() -> None:
    with pytest.raises(AssertionError, match="networksAdvanced"):
        _walk(docker.Service, path_segments("taskSpec.networksAdvanced[*].id"), "x")


# --- matching changed paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changed", "forcing"),
    [
        (["taskSpec.containerSpec.image"], []),
        (["taskSpec.containerSpec.env.PORT", "updateConfig.delay"], []),
        (["mode.replicated.replicas"], []),
        (["mode.global", "mode.replicated"], ["mode.global"]),
        (["taskSpec.networksAdvanceds[0].id"], ["taskSpec.networksAdvanceds[0].id"]),
        (["taskSpec.networksAdvanceds[1]"], ["taskSpec.networksAdvanceds[1]"]),  # item added
        (["auth.password", "labels[0].value"], ["auth.password"]),
        (["auth"], ["auth"]),
    ],
)
def test_forcing_paths_of_a_swarm_service(changed: list[str], forcing: list[str]) -> None:
    assert forcing_paths(SERVICE, changed) == forcing


def test_forcing_paths_of_a_deployment() -> None:
    assert forcing_paths(DEPLOYMENT, ["spec.template.spec.containers[0].image"]) == []
    assert forcing_paths(DEPLOYMENT, ['metadata.labels["app.kubernetes.io/version"]']) == []
    assert forcing_paths(DEPLOYMENT, ["spec.selector.matchLabels.app"]) == [
        "spec.selector.matchLabels.app"
    ]
    assert forcing_paths(DEPLOYMENT, ["metadata.namespace"]) == ["metadata.namespace"]


def test_path_segments_keep_quoted_keys_whole() -> None:
    assert path_segments('metadata.labels["app.kubernetes.io/name"]') == (
        "metadata",
        "labels",
        "app.kubernetes.io/name",
    )
    assert path_segments("a.b[3].c") == ("a", "b", "[3]", "c")


def test_who_deletes_first() -> None:
    assert deletes_first(SERVICE, ["auth.password"])
    assert not deletes_first(SERVICE, ["taskSpec.containerSpec.image"])  # an update
    assert not deletes_first("docker:index/secret:Secret", ["name", "data"])
    # Kubernetes: the provider deletes first only when name and namespace stay.
    assert deletes_first(DEPLOYMENT, ["spec.selector.matchLabels.app"])
    assert not deletes_first(DEPLOYMENT, ["metadata.namespace"])
    assert not deletes_first(DEPLOYMENT, ["metadata.name", "spec.selector.matchLabels.app"])
