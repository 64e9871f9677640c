"""Property paths and URN/alias matching, as the Pulumi engine parses and pairs them."""

from __future__ import annotations

import pytest

from mlstack.matching import create_urn, match
from mlstack.offline import RecordedAlias, RecordedOptions
from mlstack.propertypath import contains, join, parse
from mlstack.snapshot import Snapshot, SnapshotResource

STACK, PROJECT = "qa", "mlstack"


def test_paths_parse_keys_indexes_quoted_keys_and_wildcards() -> None:
    path = 'metadata.labels["app.kubernetes.io/name"].x[3][*]'
    assert parse(path) == ("metadata", "labels", "app.kubernetes.io/name", "x", 3, "*")
    assert join(join("metadata", "labels"), "app.kubernetes.io/name") == path.split(".x")[0]
    assert join("ports", 0) == "ports[0]"
    with pytest.raises(ValueError, match="missing closing bracket"):
        parse("a[0")


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("spec.selector", "spec.selector.matchLabels.app", True),
        ("spec.selector", "spec.selector", True),
        ("spec.selector", "spec", False),  # a prefix of the pattern is not contained
        ("taskSpec.networksAdvanceds[*].id", "taskSpec.networksAdvanceds[2].id", True),
        ("taskSpec.networksAdvanceds[0].id", "taskSpec.networksAdvanceds[1].id", False),
        ("*", "anything.at[0].all", True),
        ("mode.*", "mode.global", True),
        ('metadata.labels["a.b"]', 'metadata.labels["a.b"]', True),
        ('metadata.labels["a.b"]', "metadata.labels.a.b", False),
    ],
)
def test_contains_is_the_engines_prefix_rule(pattern: str, path: str, expected: bool) -> None:
    assert contains(pattern, path) is expected


def component(
    type_: str, name: str, parent: str | None = None, **options: object
) -> SnapshotResource:
    return SnapshotResource(
        urn=create_urn(name, type_, parent, PROJECT, STACK),
        type=type_,
        name=name,
        parent=parent,
        custom=False,
        inputs=None,
        options=RecordedOptions(**options),  # type: ignore[arg-type]
    )


def custom(
    type_: str, name: str, parent: SnapshotResource | None, **options: object
) -> SnapshotResource:
    urn = create_urn(name, type_, parent.urn if parent else None, PROJECT, STACK)
    return SnapshotResource(
        urn=urn,
        type=type_,
        name=name,
        parent=parent.urn if parent else None,
        custom=True,
        inputs={},
        options=RecordedOptions(**options),  # type: ignore[arg-type]
    )


def test_urns_name_the_parent_type_chain() -> None:
    stack = component("mlstack:index:MLServingStack", "mlstack")
    platform = component("mlstack:swarm:Platform", "mlstack-swarm", stack.urn)
    network = custom("docker:index/network:Network", "mlstack-swarm-network", platform)
    assert network.urn == (
        "urn:pulumi:qa::mlstack::mlstack:index:MLServingStack$mlstack:swarm:Platform"
        "$docker:index/network:Network::mlstack-swarm-network"
    )


def test_same_urn_matches_and_a_new_parent_type_does_not() -> None:
    old_parent = component("mlstack:swarm:Platform", "p")
    new_parent = component("mlstack:swarm:SwarmPlatform", "p")
    old = Snapshot(
        PROJECT, STACK, (old_parent, custom("docker:index/network:Network", "n", old_parent))
    )
    new = Snapshot(
        PROJECT, STACK, (new_parent, custom("docker:index/network:Network", "n", new_parent))
    )
    assert match(old, new) == {}  # a renamed component type replaces its children: add + remove
    assert match(old, old) == {r.urn: r.urn for r in old.resources}


def test_an_alias_on_a_component_carries_over_to_its_children() -> None:
    old_parent = component("mlstack:swarm:Platform", "mlstack-swarm")
    old_child = custom("docker:index/network:Network", "mlstack-swarm-network", old_parent)
    new_parent = component(
        "mlstack:components:SwarmPlatform",
        "swarm",
        aliases=(RecordedAlias(type="mlstack:swarm:Platform", name="mlstack-swarm"),),
    )
    # Named after its parent: the inherited alias follows the parent's old name too.
    new_child = custom("docker:index/network:Network", "swarm-network", new_parent)
    matched = match(
        Snapshot(PROJECT, STACK, (old_parent, old_child)),
        Snapshot(PROJECT, STACK, (new_child, new_parent)),  # any order: parents go first
    )
    assert matched == {new_parent.urn: old_parent.urn, new_child.urn: old_child.urn}


def test_an_alias_by_whole_urn_and_by_name() -> None:
    old = custom("docker:index/network:Network", "old-name", None)
    by_urn = custom(
        "docker:index/network:Network", "a", None, aliases=(RecordedAlias(urn=old.urn),)
    )
    by_name = custom(
        "docker:index/network:Network", "b", None, aliases=(RecordedAlias(name="old-name"),)
    )
    assert match(Snapshot(PROJECT, STACK, (old,)), Snapshot(PROJECT, STACK, (by_urn,))) == {
        by_urn.urn: old.urn
    }
    assert match(Snapshot(PROJECT, STACK, (old,)), Snapshot(PROJECT, STACK, (by_name,))) == {
        by_name.urn: old.urn
    }
    # One old resource continues one new resource only.
    both = Snapshot(PROJECT, STACK, (by_urn, by_name))
    assert len(match(Snapshot(PROJECT, STACK, (old,)), both)) == 1
