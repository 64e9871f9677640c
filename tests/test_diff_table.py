"""Every entry of the replacement table, on recorded resources: a change at a replace path is
shown as `replace` naming that field, a change to a mutable field only as `update`.

tests/test_cli_diff.py reaches the entries a stack setting can touch through real stack files;
this covers the rest (a cluster IP, a role binding's roleRef, network IPAM, ...) by changing the
recorded inputs of a real resource of each type the program declares.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest

from mlstack.components.replacements import REPLACE_RULES
from mlstack.diff import compare
from mlstack.propertypath import contains, join, parse
from mlstack.render import Rendering, render
from mlstack.snapshot import Snapshot, SnapshotResource
from tests.support.harness import recorded_in
from tests.support.stack_variants import VARIANTS, recorded


@cache
def declared() -> dict[str, tuple[Snapshot, SnapshotResource]]:
    """Type token -> a snapshot declaring it and one resource of that type."""
    found: dict[str, tuple[Snapshot, SnapshotResource]] = {}
    for variant in VARIANTS:
        recording = recorded(variant.name)
        snapshot = render(recording, recorded_in(recording)).snapshot
        for resource in snapshot.resources:
            found.setdefault(resource.type, (snapshot, resource))
    return found


ENTRIES = [
    (token, path) for token, rule in sorted(REPLACE_RULES.items()) for path in rule.replace_paths
]


def changed_at(inputs: Any, path: str) -> Any:
    """A copy of `inputs` whose value at `path` differs (created when absent; `*` is item 0)."""
    result = copy.deepcopy(inputs)
    elements = [0 if element == "*" else element for element in parse(path)]
    node = result
    for element, following in zip(elements, [*elements[1:], None], strict=True):
        last = following is None
        if isinstance(element, int):
            while len(node) <= element:
                node.append({})
        else:
            node.setdefault(element, [] if isinstance(following, int) else {})
        if last:
            node[element] = _different(node[element])
        else:
            node = node[element]
    return result


def _different(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, dict) and value:
        key = sorted(value)[0]
        return {**value, key: _different(value[key])}
    if isinstance(value, list) and value:
        return [_different(value[0]), *value[1:]]
    return "changed"


def plan_with(snapshot: Snapshot, resource: SnapshotResource, inputs: Any) -> Any:
    changed = SnapshotResource(**{**resource.__dict__, "inputs": inputs})
    after = Snapshot(
        snapshot.project,
        snapshot.stack,
        tuple(changed if r.urn == resource.urn else r for r in snapshot.resources),
        snapshot.outputs,
    )
    result = compare(snapshot.stack, "base", Rendering({}, snapshot), Rendering({}, after))
    (change,) = [c for c in result.changes if c.urn == resource.urn]
    return change


@pytest.mark.parametrize(("token", "path"), ENTRIES, ids=[f"{t} {p}" for t, p in ENTRIES])
def test_a_change_at_a_replace_path_is_a_replacement(token: str, path: str) -> None:
    assert token in declared(), f"no stack variant declares {token}"
    snapshot, resource = declared()[token]
    change = plan_with(snapshot, resource, changed_at(resource.inputs, path))
    assert change.action == "replace", (path, change.fields)
    assert change.forcing, change
    assert all(contains(path.replace("[*]", "[0]"), forced) for forced in change.forcing)


def mutable_leaf(token: str, inputs: Any, path: str = "") -> str | None:
    """A leaf of the recorded inputs no replace path covers (None when every input is one)."""
    rule = REPLACE_RULES[token]
    if isinstance(inputs, dict):
        for key in sorted(inputs):
            found = mutable_leaf(token, inputs[key], join(path, key))
            if found:
                return found
        return None
    if isinstance(inputs, list):
        for index, item in enumerate(inputs):
            found = mutable_leaf(token, item, join(path, index))
            if found:
                return found
        return None
    if any(contains(pattern, path) for pattern in rule.replace_paths) or inputs == "[secret]":
        return None
    return path


CUSTOM = sorted(token for token in REPLACE_RULES if not token.startswith("mlstack:"))


@pytest.mark.parametrize("token", CUSTOM)
def test_a_change_to_a_mutable_field_only_is_an_update(token: str) -> None:
    snapshot, resource = declared()[token]
    path = mutable_leaf(token, resource.inputs)
    if path is None:
        # Every input replaces it (a Swarm network or secret): there is nothing to update.
        assert token in {"docker:index/network:Network", "docker:index/secret:Secret"}, token
        return
    change = plan_with(snapshot, resource, changed_at(resource.inputs, path))
    assert change.action == "update", (path, change)
    assert [field.path for field in change.fields] == [path]


def test_component_resources_are_never_replaced() -> None:
    """The engine diffs components without a provider: they only ever come and go."""
    components = [t for t in REPLACE_RULES if t.startswith("mlstack:")]
    assert components
    for token in components:
        assert REPLACE_RULES[token].replace_paths == ()
        assert declared()[token][1].inputs is None


def test_the_variants_cover_the_table() -> None:
    assert set(REPLACE_RULES) <= set(declared())
