"""Compare two renders of a stack the way `pulumi preview --diff` plans them: resources paired by
URN (then alias), each one added, removed, updated or replaced.

A replacement is decided as the engine decides it (pulumi/pulumi pkg/resource/deploy/
step_generator.go): a changed input the provider cannot update in place (the replacement table,
components/replacements.py), or one the program lists in `replaceOnChanges`; changes under
`ignoreChanges` are dropped first. Whether the old resource goes first (delete before replace, a
brief outage) is the program's `deleteBeforeReplace` when it declares one, else the provider's
choice. A replacement reaches further: inputs holding the replaced resource's ID are unknown
until it exists (a change that may force a replacement in turn); a delete-before-replace makes
every input taking a value from it unknown (the engine's dependent replacements); a replaced
provider replaces every resource it manages.

`StackDiff` is the result; mlstack/diffreport.py writes it for terminals and PR comments.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mlstack import matching
from mlstack.propertypath import contains, join
from mlstack.render import IMAGE_TYPE, Rendering
from mlstack.snapshot import Snapshot, SnapshotResource

Action = Literal["add", "remove", "update", "replace", "same"]  # "same": no step
SWARM_SERVICE = "docker:index/service:Service"
WORKLOADS = {
    "kubernetes:apps/v1:Deployment": "pod template",
    "kubernetes:apps/v1:StatefulSet": "pod template",
    "kubernetes:apps/v1:DaemonSet": "pod template",
}
KUBERNETES_PROVIDER = "pulumi:providers:kubernetes"
# Inputs a provider's Diff leaves out: a change there is no step (type -> paths, where read).
NOT_DIFFED = {
    IMAGE_TYPE: (
        ("registry.username", "registry.password"),
        "pulumi-docker 5.2.0 provider/provider.go diffUpdates: only registry.server rebuilds",
    ),
}
DOCKERFILE_FIELD = "(Dockerfile)"  # an image's rendered Dockerfile: part of its build context


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Unknown:
    """A value the engine only knows once another step ran (shown as such, as preview does)."""

    reason: str


class Masked(str):
    """A secret value; the report shows it masked (whether it changed is known by digest)."""

    __slots__ = ()


MASKED: Any = Masked("[secret]")
CHANGED_SECRET: Any = Masked("[secret, changed]")


@dataclass(frozen=True)
class Reference:
    """A value that is another resource's output (the recorder's stand-in for it)."""

    what: str


class ReplaceRule(Protocol):
    @property
    def replace_paths(self) -> tuple[str, ...]: ...

    @property
    def source(self) -> str: ...


class ReplaceRules(Protocol):
    """The replacement table's API (components/replacements.py)."""

    def replace_rule(self, type_token: str) -> ReplaceRule: ...

    def forcing_paths(self, type_token: str, changed: Iterable[str]) -> list[str]: ...


def replacement_table() -> ReplaceRules:
    """The project's table of provider fields that force a replacement."""
    from mlstack.components import replacements

    return replacements


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any
    forces: str = ""  # why this change forces a replacement; empty when it does not


@dataclass(frozen=True)
class ResourceChange:
    action: Action
    urn: str
    type: str
    name: str
    title: str  # what it is for people: 'Deployment ml-serving/iris'
    file: str | None  # its rendered file (the base's for a removal)
    base_file: str | None = None  # where the base rendered it, when elsewhere
    fields: tuple[FieldChange, ...] = ()
    causes: tuple[str, ...] = ()  # replacements forced by another resource
    delete_before_replace: bool = False
    rollout: str = ""  # what rolls out: 'pod template changed'; empty when nothing does
    labels: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    model: str = ""  # app.kubernetes.io/name: what label-only changes fold under
    notes: tuple[str, ...] = ()
    ignored: tuple[FieldChange, ...] = ()  # changes ignoreChanges keeps from the engine

    @property
    def forcing(self) -> list[str]:
        return [change.path for change in self.fields if change.forces]

    @property
    def labels_only(self) -> bool:
        """An update that changes nothing but the resource's own labels."""
        return (
            self.action == "update"
            and not self.rollout
            and bool(self.fields)
            and all(_is_label_path(self.type, change.path) for change in self.fields)
        )


@dataclass(frozen=True)
class StackDiff:
    environment: str
    base: str  # how the base is named in reports, e.g. "main (1a2b3c4d5e6f)"
    changes: tuple[ResourceChange, ...]  # resources with a step
    unchanged: int
    notes: tuple[ResourceChange, ...] = ()  # no step, but changed options or ignored changes
    outputs: tuple[FieldChange, ...] = ()
    unified: str = ""
    rules: dict[str, str] = field(default_factory=dict)  # type -> source of its forcing rule

    @property
    def has_changes(self) -> bool:
        """Something the engine would do, or options or outputs the program declares
        differently (changes ignoreChanges drops are neither)."""
        return bool(self.changes or self.outputs or any(note.notes for note in self.notes))

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def of(self, action: Action) -> list[ResourceChange]:
        return [change for change in self.changes if change.action == action]

    @property
    def rollouts(self) -> list[ResourceChange]:
        return [change for change in self.changes if change.rollout]


def compare(
    environment: str,
    base_label: str,
    base: Rendering | None,
    head: Rendering | None,
    rules: ReplaceRules | None = None,
) -> StackDiff:
    """What applying `head` over `base` does; either may be None (the change adds or removes
    the stack)."""
    rules = rules if rules is not None else replacement_table()
    old = base.snapshot if base else Snapshot("", environment)
    new = head.snapshot if head else Snapshot("", environment)
    planner = _Planner(old, new, rules)
    changes, notes, unchanged = planner.plan()
    unified = _unified(base.files if base else {}, head.files if head else {}, planner.file_pairs())
    outputs = tuple(field_changes(old.outputs or {}, new.outputs or {}))
    return StackDiff(
        environment, base_label, changes, unchanged, notes, outputs, unified, planner.sources
    )


def field_changes(before: Any, after: Any, path: str = "") -> Iterator[FieldChange]:
    """Every changed leaf (a key or item only one side has is expanded to its leaves, so a rule
    on a nested field sees it), in key order, as Pulumi property paths."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            yield from field_changes(
                before.get(key, ABSENT), after.get(key, ABSENT), join(path, str(key))
            )
    elif isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            yield from field_changes(
                before[index] if index < len(before) else ABSENT,
                after[index] if index < len(after) else ABSENT,
                join(path, index),
            )
    elif before is ABSENT and isinstance(after, dict | list) and after:
        yield from field_changes(_hollow(after), after, path)
    elif after is ABSENT and isinstance(before, dict | list) and before:
        yield from field_changes(before, _hollow(before), path)
    elif type(before) is not type(after) or before != after:
        yield FieldChange(path, before, after)


def _hollow(value: dict[Any, Any] | list[Any]) -> Any:
    """The same shape with every leaf absent (for a subtree only one side has)."""
    if isinstance(value, dict):
        return {key: _hollow(item) if _nonempty(item) else ABSENT for key, item in value.items()}
    return [_hollow(item) if _nonempty(item) else ABSENT for item in value]


def _nonempty(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def value_at(value: Any, path: str) -> Any:
    from mlstack.propertypath import parse

    for element in parse(path):
        in_list = isinstance(element, int) and isinstance(value, list) and element < len(value)
        in_dict = isinstance(element, str) and isinstance(value, dict) and element in value
        if not (in_list or in_dict):
            return ABSENT
        value = value[element]
    return value


def _leaves_equal_to(value: Any, wanted: str, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _leaves_equal_to(value[key], wanted, join(path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves_equal_to(item, wanted, join(path, index))
    elif value == wanted:
        yield path


def _is_label_path(type_token: str, path: str) -> bool:
    own = _label_path(type_token)
    return own is not None and contains(own, path)


def _label_path(type_token: str) -> str | None:
    if type_token.startswith("kubernetes:"):
        return "metadata.labels"
    if type_token.startswith("docker:"):
        return "labels"
    return None


def own_labels(resource: SnapshotResource | None) -> dict[str, str]:
    """The resource's own labels (not those of the pods or tasks it makes)."""
    if resource is None or not isinstance(resource.inputs, dict):
        return {}
    inputs = resource.inputs
    if resource.type.startswith("kubernetes:"):
        metadata = inputs.get("metadata")
        labels = metadata.get("labels") if isinstance(metadata, dict) else None
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    if resource.type.startswith("docker:") and isinstance(inputs.get("labels"), list):
        return {
            str(item["label"]): str(item.get("value"))
            for item in inputs["labels"]
            if isinstance(item, dict) and "label" in item
        }
    return {}


def describe(resource: SnapshotResource) -> str:
    """'Deployment ml-serving/iris', 'Swarm service dev-iris', 'image mlstack/iris:1.0.0-ab'."""
    inputs = resource.inputs if isinstance(resource.inputs, dict) else {}
    if resource.type.startswith("kubernetes:"):
        metadata = _metadata(resource)
        kind = resource.type.rsplit(":", 1)[-1]
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if name:
            return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
        return f"{kind} {resource.name}"
    if resource.type.startswith("docker:index/") and resource.type != IMAGE_TYPE:
        kind = resource.type.rsplit(":", 1)[-1].lower()
        name = inputs.get("name")
        return f"Swarm {kind} {name}" if isinstance(name, str) else f"Swarm {kind} {resource.name}"
    if resource.type == IMAGE_TYPE and isinstance(inputs.get("imageName"), str):
        return f"image {inputs['imageName']}"
    if resource.is_provider:
        return f"provider {resource.name} ({resource.type.rsplit(':', 1)[-1]})"
    return f"{resource.type} {resource.name}"


@dataclass
class _Pair:
    old: SnapshotResource
    new: SnapshotResource
    own: list[FieldChange]
    ignored: list[FieldChange]
    derived: dict[str, FieldChange] = field(default_factory=dict)
    # Replacements other resources force: text -> kind ("provider": the engine replaces it
    # without asking its provider, deleting first only if the program says so; "dependent":
    # deleted before a resource it takes a value from is deleted and replaced).
    causes: dict[str, str] = field(default_factory=dict)
    unknown_type: bool = False
    unseen: list[FieldChange] = field(default_factory=list)  # the provider does not diff them
    users: list[str] = field(default_factory=list)  # still take a value from it when it goes

    @property
    def fields(self) -> list[FieldChange]:
        own = {change.path for change in self.own}
        return [*self.own, *(c for p, c in self.derived.items() if p not in own)]


class _Planner:
    def __init__(self, old: Snapshot, new: Snapshot, rules: ReplaceRules) -> None:
        self.old, self.new, self.rules = old, new, rules
        self.olds = {resource.urn: resource for resource in old.resources}
        self.news = {resource.urn: resource for resource in new.resources}
        self.matched = matching.match(old, new)
        self.sources: dict[str, str] = {}  # type -> where its forcing rule was read
        self.cascaded: set[tuple[str, str]] = set()  # (dependent, resource) deleted before it
        self.pairs: dict[str, _Pair] = {}
        for resource in matching.parents_first(new.resources):
            if resource.urn in self.matched:
                previous = self.olds[self.matched[resource.urn]]
                self.pairs[resource.urn] = self._pair(previous, resource)

    def _pair(self, old: SnapshotResource, new: SnapshotResource) -> _Pair:
        changes = list(field_changes(old.inputs, new.inputs)) if new.custom else []
        seen = {change.path for change in changes}
        for path in sorted(old.secrets.keys() & new.secrets.keys()):
            if old.secrets[path] != new.secrets[path] and path not in seen:
                changes.append(FieldChange(path, MASKED, CHANGED_SECRET))
        changes.sort(key=lambda change: change.path)
        if _dockerfiles(old) != _dockerfiles(new):
            changes.append(
                FieldChange(
                    DOCKERFILE_FIELD, Reference("as before"), Reference("changed: the unified diff")
                )
            )
        ignore = new.options.ignore_changes
        kept = [c for c in changes if not any(contains(p, c.path) for p in ignore)]
        dropped = [c for c in changes if c not in kept]
        unseen = [c for c in kept if _provider_ignores(new.type, c.path)]
        kept = [c for c in kept if c not in unseen]
        return _Pair(old, new, kept, dropped, unseen=unseen)

    # -- replacements ---------------------------------------------------------------------

    def _forces(self, pair: _Pair, path: str) -> str:
        """Why a change at `path` forces a replacement: 'provider' (the replacement table) or
        'replaceOnChanges <pattern>' (the program); '' when it does not."""
        if path == DOCKERFILE_FIELD:
            return ""
        for pattern in pair.new.options.replace_on_changes:
            if contains(pattern, path):
                return f"replaceOnChanges {pattern}"
        try:
            if self.rules.forcing_paths(pair.new.type, [path]):
                self.sources[pair.new.type] = self.rules.replace_rule(pair.new.type).source
                return "provider"
        except KeyError:
            pair.unknown_type = True
        return ""

    def _forced_under(self, pair: _Pair, prop: str) -> str:
        """Why a wholly unknown `prop` forces a replacement ('' if it does not): a replace
        path or replaceOnChanges entry at or above it. The providers mark only such a path:
        pulumi-kubernetes 4.32.0 (provider.go convertPatchToDiff) matches its forceNew paths
        against the patch, where an unknown object is null with nothing under it; Terraform's
        SDKv2 (schema.go diffList, bridged by pulumi-docker) gives an unknown block the
        block's own ForceNew only. The engine's replaceOnChanges checks the same diff keys."""
        for pattern in pair.new.options.replace_on_changes:
            if contains(pattern, prop):
                return f"replaceOnChanges {pattern}"
        try:
            rule = self.rules.replace_rule(pair.new.type)
        except KeyError:
            pair.unknown_type = True
            return ""
        for path in rule.replace_paths:
            if contains(path, prop):
                self.sources[pair.new.type] = rule.source
                return path
        return ""

    def _replaced(self, pair: _Pair) -> bool:
        return bool(pair.causes) or any(change.forces for change in self._fields(pair))

    def _fields(self, pair: _Pair) -> list[FieldChange]:
        return [
            FieldChange(change.path, change.before, change.after, self._forces(pair, change.path))
            for change in pair.fields
        ]

    def _deletes_first(self, pair: _Pair) -> bool:
        """As the engine: a dependent of a delete-before-replace goes first; a replacement for
        a changed provider (decided before any diff) deletes first only when the program
        declares it; otherwise the program's option, else the provider's choice."""
        kinds = set(pair.causes.values())
        if "dependent" in kinds:
            return True
        declared = pair.new.options.delete_before_replace
        if declared is not None:
            return declared
        if "provider" in kinds:
            return False
        return _provider_deletes_first(pair.old, pair.new)

    def _derive(self, pair: _Pair, replaced: dict[str, bool], rebuilt: set[str]) -> None:
        """Changes that come from other resources' steps (see the module docstring)."""
        new = pair.new
        provider = new.provider
        if provider and provider in replaced:
            pair.causes[f"its {describe(self.news[provider])} is replaced"] = "provider"
        if provider and self.matched.get(provider, provider) != pair.old.provider:
            moved = self._provider_move_forces(pair.old.provider, provider)
            if moved:
                pair.causes[f"it moves to {describe(self.news[provider])} ({moved})"] = "provider"
        for prop, dependencies in new.dependencies.items():
            value = new.inputs.get(prop) if isinstance(new.inputs, dict) else None
            for urn in dependencies:
                source = self.news.get(urn)
                if source is None:
                    continue
                if urn in replaced:
                    for path in _leaves_equal_to(value, source.id, prop):
                        pair.derived.setdefault(
                            path,
                            FieldChange(
                                path,
                                Reference(f"the ID of {describe(self._old_of(urn, source))}"),
                                Unknown(f"the ID of the new {describe(source)}"),
                            ),
                        )
                    if replaced[urn]:
                        forced = self._forced_under(pair, prop)
                        if forced:
                            cause = (
                                f"{describe(source)} is deleted first and {prop}, which takes "
                                f"a value from it, is unknown until then ({forced})"
                            )
                            pair.causes[cause] = "dependent"
                            self.cascaded.add((new.urn, urn))
                if urn in rebuilt and isinstance(source.inputs, dict):
                    name = source.inputs.get("imageName")
                    if isinstance(name, str):
                        for path in _leaves_equal_to(value, name, prop):
                            pair.derived.setdefault(
                                path,
                                FieldChange(
                                    path,
                                    value_at(pair.old.inputs, path),
                                    Unknown(f"the digest of the rebuilt {describe(source)}"),
                                ),
                            )

    def _old_of(self, urn: str, new: SnapshotResource) -> SnapshotResource:
        """The base revision's counterpart of a new resource (it may have another name)."""
        return self.olds.get(self.matched.get(urn, urn), new)

    def _users_left(self, urn: str) -> list[str]:
        """Resources taking a value from `urn` that the engine does not delete before it: they
        still use it when a delete-before-replace deletes it (an engine may refuse that)."""
        return [
            describe(pair.new)
            for other, pair in self.pairs.items()
            if other != urn
            and (other, urn) not in self.cascaded
            and any(urn in deps for deps in pair.new.dependencies.values())
        ]

    def _provider_move_forces(self, old_provider: str | None, new_provider: str) -> str:
        """The engine's providerChanged: the new provider's DiffConfig decides."""
        before, after = self.olds.get(old_provider or ""), self.news.get(new_provider)
        if before is None or after is None:
            return "provider"
        probe = _Pair(before, after, list(field_changes(before.inputs, after.inputs)), [])
        forced = [c.path for c in self._fields(probe) if c.forces]
        return f"provider config {', '.join(forced)}" if forced else ""

    def plan(self) -> tuple[tuple[ResourceChange, ...], tuple[ResourceChange, ...], int]:
        replaced: dict[str, bool] = {}  # head URN -> deleted before it is replaced
        rebuilt: set[str] = set()  # pushed images that change: their digest is unknown
        while True:
            grew = False
            for urn, pair in self.pairs.items():
                self._derive(pair, replaced, rebuilt)
                if urn not in replaced and self._replaced(pair):
                    replaced[urn] = self._deletes_first(pair)
                    grew = True
                if (
                    urn not in rebuilt
                    and pair.new.type == IMAGE_TYPE
                    and pair.fields
                    and isinstance(pair.new.inputs, dict)
                    and pair.new.inputs.get("skipPush") is False
                ):
                    rebuilt.add(urn)
                    grew = True
            if not grew:
                break
        changes: list[ResourceChange] = []
        notes: list[ResourceChange] = []
        unchanged = 0
        for urn, pair in self.pairs.items():
            if replaced.get(urn):
                pair.users = self._users_left(urn)
            change = self._change(pair, urn in replaced, replaced.get(urn, False))
            if change.action != "same":
                changes.append(change)
                continue
            unchanged += 1
            if change.notes or change.ignored:
                notes.append(change)
        claimed = set(self.matched.values())
        for resource in self.new.resources:
            if resource.urn not in self.matched:
                changes.append(self._created(resource))
        for resource in self.old.resources:
            if resource.urn not in claimed:
                changes.append(self._deleted(resource))
        changes.sort(key=_order)
        notes.sort(key=_order)
        return tuple(changes), tuple(notes), unchanged

    # -- results ---------------------------------------------------------------------------

    def _change(self, pair: _Pair, replace: bool, first: bool) -> ResourceChange:
        fields = tuple(self._fields(pair))
        new, old = pair.new, pair.old
        action: Action = "replace" if replace else ("update" if fields else "same")
        notes = list(_option_notes(old, new))
        notes += [
            f"{change.path} changed, but {new.type} does not diff it ({NOT_DIFFED[new.type][1]})"
            for change in pair.unseen
        ]
        if pair.unknown_type and fields:
            notes.append(
                f"no replacement rule for {new.type} in components/replacements.py: "
                "whether these changes replace it is not known"
            )
        if new.urn != old.urn:
            notes.append(f"found under its alias {old.urn}")
        cluster_keys = {"kubeconfig", "context", "cluster"}
        if new.type == KUBERNETES_PROVIDER and cluster_keys & {c.path for c in fields if c.forces}:
            notes.append(
                "pulumi-kubernetes replaces its provider for a new kubeconfig, context or "
                "cluster only when the active cluster changes; the kubeconfig is not read "
                "offline, so this assumes it does"
            )
        if pair.users:
            notes.append(
                "deleted before its replacement exists, while these still refer to it: "
                + ", ".join(pair.users)
            )
        if action == "replace" and old.options.protect:
            notes.append("protected: the engine refuses to replace it until protect is removed")
        return ResourceChange(
            action=action,
            urn=new.urn,
            type=new.type,
            name=new.name,
            title=describe(new),
            file=new.file,
            base_file=old.file if old.file != new.file else None,
            fields=fields,
            causes=tuple(pair.causes),
            delete_before_replace=replace and first,
            rollout=_rollout(new.type, action, fields),
            labels=_label_changes(old, new),
            model=_model(old, new),
            notes=tuple(notes),
            ignored=tuple(pair.ignored),
        )

    def _created(self, resource: SnapshotResource) -> ResourceChange:
        return ResourceChange(
            "add", resource.urn, resource.type, resource.name, describe(resource), resource.file
        )

    def _deleted(self, resource: SnapshotResource) -> ResourceChange:
        notes = []
        if resource.options.protect:
            notes.append("protected: the engine refuses to delete it until protect is removed")
        if resource.options.retain_on_delete:
            notes.append("retainOnDelete: removed from the stack's state only, left running")
        return ResourceChange(
            "remove",
            resource.urn,
            resource.type,
            resource.name,
            describe(resource),
            resource.file,
            notes=tuple(notes),
        )

    def file_pairs(self) -> list[tuple[str, str]]:
        """Rendered files of the same resource under different paths (base, head)."""
        found = []
        for pair in self.pairs.values():
            if pair.old.file and pair.new.file and pair.old.file != pair.new.file:
                found.append((pair.old.file, pair.new.file))
            olds, news = _dockerfile_paths(pair.old), _dockerfile_paths(pair.new)
            found += [(olds[name], news[name]) for name in olds.keys() & news.keys()
                      if olds[name] != news[name]]  # fmt: skip
        return found


def _provider_ignores(type_token: str, path: str) -> bool:
    patterns, _ = NOT_DIFFED.get(type_token, ((), ""))
    return any(contains(pattern, path) for pattern in patterns)


def _dockerfiles(resource: SnapshotResource) -> dict[str, str]:
    return {path.rsplit("/", 1)[-1]: text for path, text in resource.files.items()}


def _dockerfile_paths(resource: SnapshotResource) -> dict[str, str]:
    return {path.rsplit("/", 1)[-1]: path for path in resource.files}


def _provider_deletes_first(old: SnapshotResource, new: SnapshotResource) -> bool:
    """The provider's own choice when the program declares no deleteBeforeReplace.

    pulumi-kubernetes 4.32.0 (provider/pkg/provider/provider.go, Diff): an object the program
    names, whose replacement keeps its name and namespace, goes first (two objects cannot share
    a name). Bridged pulumi-docker 5.2.0 resources: docker_container always (provider/
    resources.go); any other with a `name` the program set rather than left to autonaming
    (resources.go SetAutonaming; pulumi-terraform-bridge pkg/tfbridge/schema.go
    nameRequiresDeleteBeforeReplace). The native docker Image never is replaced.
    """
    if new.type.startswith("kubernetes:"):
        before, after = _metadata(old), _metadata(new)
        name = after.get("name")
        return (
            bool(name)
            and name == before.get("name")
            and (after.get("namespace") == before.get("namespace"))
        )
    if new.type == "docker:index/container:Container":
        return True
    if new.type.startswith("docker:index/") and new.type != IMAGE_TYPE:
        inputs = new.inputs if isinstance(new.inputs, dict) else {}
        return isinstance(inputs.get("name"), str)
    return False


def _metadata(resource: SnapshotResource) -> dict[str, Any]:
    inputs = resource.inputs if isinstance(resource.inputs, dict) else {}
    metadata = inputs.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _option_notes(old: SnapshotResource, new: SnapshotResource) -> Iterator[str]:
    """Changed resource options: no step of their own, but they change what later steps do."""
    before, after = old.options, new.options
    shown = {
        "deleteBeforeReplace": (before.delete_before_replace, after.delete_before_replace),
        "replaceOnChanges": (list(before.replace_on_changes), list(after.replace_on_changes)),
        "ignoreChanges": (list(before.ignore_changes), list(after.ignore_changes)),
        "protect": (before.protect, after.protect),
        "retainOnDelete": (before.retain_on_delete, after.retain_on_delete),
    }
    for name, (was, now) in shown.items():
        if was != now:
            yield f"option {name}: {_option_text(was)} -> {_option_text(now)}"


def _option_text(value: Any) -> str:
    if value is None:
        return "(provider decides)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "[" + ", ".join(value) + "]"


def _label_changes(
    old: SnapshotResource, new: SnapshotResource
) -> dict[str, tuple[str | None, str | None]]:
    before, after = own_labels(old), own_labels(new)
    return {
        key: (before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def _model(old: SnapshotResource, new: SnapshotResource) -> str:
    key = "app.kubernetes.io/name"
    return own_labels(new).get(key) or own_labels(old).get(key) or new.name


def _rollout(type_token: str, action: Action, fields: tuple[FieldChange, ...]) -> str:
    """What replaces running pods or tasks: a changed pod template (Kubernetes makes a new
    ReplicaSet), a changed task template or endpoint spec (swarmkit's IsTaskDirty, manager/
    orchestrator/task.go; a change of placement alone moves only tasks whose node no longer
    matches), or a replacement of the workload itself."""
    if type_token not in WORKLOADS and type_token != SWARM_SERVICE:
        return ""
    if action == "replace":
        return "replaced"
    if action != "update":
        return ""
    paths = [change.path for change in fields]
    if type_token in WORKLOADS:
        return "pod template changed" if any(contains("spec.template", p) for p in paths) else ""
    if any(contains("endpointSpec", p) for p in paths):
        return "endpoint spec changed"
    task = [p for p in paths if contains("taskSpec", p)]
    if any(not contains("taskSpec.placement", p) for p in task):
        return "task template changed"
    return ""


def _order(change: ResourceChange) -> tuple[bool, str, str]:
    return (change.file is None, change.file or "", change.urn)


def _unified(base: dict[str, str], head: dict[str, str], renamed: list[tuple[str, str]]) -> str:
    """The rendered files' unified diff; a resource's file is diffed against its own earlier
    file even when its path changed (a new namespace is part of the path)."""
    pairs: list[tuple[str | None, str | None]] = list(renamed)
    taken_base = {a for a, _ in renamed}
    taken_head = {b for _, b in renamed}
    for path in sorted(set(base) | set(head)):
        in_base = path in base and path not in taken_base
        in_head = path in head and path not in taken_head
        if in_base or in_head:
            pairs.append((path if in_base else None, path if in_head else None))
    pairs.sort(key=lambda pair: pair[1] or pair[0] or "")
    return "".join(
        _unified_file(a, base.get(a) if a else None, b, head.get(b) if b else None)
        for a, b in pairs
    )


def _unified_file(
    path_a: str | None, before: str | None, path_b: str | None, after: str | None
) -> str:
    if before == after:
        return ""
    lines = difflib.unified_diff(
        (before or "").splitlines(),
        (after or "").splitlines(),
        fromfile=f"a/{path_a}" if path_a else "/dev/null",
        tofile=f"b/{path_b}" if path_b else "/dev/null",
        lineterm="",
    )
    return "".join(line + "\n" for line in lines)
