"""Which resource of the base is which resource of the change: by URN, then by alias, as the
engine pairs a program's registrations with the resources in its state.

Mirrors pulumi/pulumi pkg/resource/deploy/step_generator.go (`getOldResource`,
`generateAliases`, `collapseAliasToUrn`, `inheritedChildAlias`) and
sdk/go/common/resource/alias.go (`CreateURN`): a resource's URN is looked up first, then each
alias; an alias on a component carries over to its children (their URNs name the parent's type).
"""

from __future__ import annotations

from collections.abc import Iterable

from mlstack.offline import RecordedAlias
from mlstack.snapshot import Snapshot, SnapshotResource

STACK_TYPE = "pulumi:pulumi:Stack"


def qualified_type(urn: str) -> str:
    """The parent-type chain and type: 'a:b:C$d:e:F' of 'urn:pulumi:s::p::a:b:C$d:e:F::name'."""
    return urn.split("::", 3)[2]


def urn_name(urn: str) -> str:
    return urn.split("::", 3)[3]


def create_urn(name: str, type_: str, parent: str | None, project: str, stack: str) -> str:
    if not parent:
        return f"urn:pulumi:{stack}::{project}::{type_}::{name}"
    return f"{parent[: parent.rindex('::')]}${type_}::{name}"


def match(base: Snapshot, head: Snapshot) -> dict[str, str]:
    """Head URN -> base URN for every head resource that continues a base resource."""
    olds = {resource.urn for resource in base.resources}
    matched: dict[str, str] = {}
    claimed: set[str] = set()
    by_alias: dict[str, str] = {}  # head URN -> the old URN it was found under (the engine's
    # sg.aliases: children of an aliased parent inherit it)
    for resource in parents_first(head.resources):
        candidates = [resource.urn, *_aliases(resource, head, by_alias)]
        for candidate in candidates:
            if candidate in olds and candidate not in claimed:
                matched[resource.urn] = candidate
                claimed.add(candidate)
                if candidate != resource.urn:
                    by_alias[resource.urn] = candidate
                break
    return matched


def parents_first(resources: Iterable[SnapshotResource]) -> list[SnapshotResource]:
    """The registration order the engine relies on: every parent before its children."""
    listed = list(resources)
    known = {resource.urn: resource for resource in listed}

    def depth(resource: SnapshotResource) -> int:
        count, parent = 0, resource.parent
        while parent in known:
            count, parent = count + 1, known[parent].parent
        return count

    return sorted(listed, key=lambda resource: (depth(resource), resource.urn))


def _aliases(resource: SnapshotResource, head: Snapshot, by_alias: dict[str, str]) -> list[str]:
    found: list[str] = []

    def add(urn: str) -> None:
        if urn not in found:
            found.append(urn)

    collapsed = [_collapse(resource, alias, head, by_alias) for alias in resource.options.aliases]
    for urn in collapsed:
        add(urn)
    parent = resource.parent
    if parent and parent in by_alias:
        parent_alias = by_alias[parent]
        add(_inherited(resource.type, resource.name, urn_name(parent), parent_alias, head))
        for urn in collapsed:
            add(_inherited(qualified_type(urn).rsplit("$", 1)[-1], urn_name(urn),
                           urn_name(parent), parent_alias, head))  # fmt: skip
    return found


def _collapse(
    resource: SnapshotResource, alias: RecordedAlias, head: Snapshot, by_alias: dict[str, str]
) -> str:
    if alias.urn:
        return alias.urn
    parent = alias.parent or resource.parent
    if alias.parent and alias.parent in by_alias:
        parent = by_alias[alias.parent]
    if alias.no_parent or (parent and qualified_type(parent) == STACK_TYPE):
        parent = None
    return create_urn(
        alias.name or resource.name,
        alias.type or resource.type,
        parent,
        alias.project or head.project,
        alias.stack or head.stack,
    )


def _inherited(
    child_type: str, child_name: str, parent_name: str, parent_alias: str, head: Snapshot
) -> str:
    # A child named after its parent ('{parent}-thing') follows the parent's old name.
    name = child_name
    if child_name.startswith(parent_name):
        name = urn_name(parent_alias) + child_name[len(parent_name) :]
    return (
        f"urn:pulumi:{head.stack}::{head.project}::"
        f"{qualified_type(parent_alias)}${child_type}::{name}"
    )
