"""The plan behind `mlstack diff`: which resources are added, removed, updated or replaced, what
forces a replacement and whether it deletes first, what rolls out, and both report formats.

Resources here are hand-made snapshot entries; the replacement table is the project's own
(components/replacements.py). tests/test_cli_diff.py drives the same through real stack files.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlstack.diff import ABSENT, FieldChange, StackDiff, Unknown, compare, field_changes
from mlstack.diffreport import byte_size, cpus, format_markdown, format_text, readable
from mlstack.matching import create_urn
from mlstack.offline import RecordedOptions
from mlstack.render import Rendering
from mlstack.snapshot import Snapshot, SnapshotResource

STACK, PROJECT = "qa", "mlstack"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "docker:index/service:Service"
NETWORK = "docker:index/network:Network"
K8S_PROVIDER = "pulumi:providers:kubernetes"


def resource(
    type_: str,
    name: str,
    inputs: dict[str, Any],
    *,
    file: str | None = None,
    provider: SnapshotResource | None = None,
    dependencies: dict[str, tuple[str, ...]] | None = None,
    **options: Any,
) -> SnapshotResource:
    return SnapshotResource(
        urn=create_urn(name, type_, None, PROJECT, STACK),
        type=type_,
        name=name,
        parent=None,
        custom=True,
        inputs=inputs,
        file=file or f"{name}.yaml",
        provider=provider.urn if provider else None,
        id=f"{name}-id",
        options=RecordedOptions(**options),
        dependencies=dependencies or {},
    )


def deployment(**changes: Any) -> SnapshotResource:
    inputs: dict[str, Any] = {
        "metadata": {
            "name": "iris",
            "namespace": "ml",
            "labels": {"app.kubernetes.io/name": "iris", "app.kubernetes.io/version": "1.0.0"},
        },
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "iris"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "iris"}},
                "spec": {
                    "containers": [
                        {
                            "name": "model-server",
                            "image": "ml/iris:1.0.0-aaa",
                            "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
                        }
                    ]
                },
            },
        },
    }
    options = changes.pop("options", {})
    edit = changes.pop("edit", None)
    if edit:
        edit(inputs)
    return resource(DEPLOYMENT, "iris-deployment", inputs, **options)


def plan(before: list[SnapshotResource], after: list[SnapshotResource]) -> StackDiff:
    def rendering(resources: list[SnapshotResource]) -> Rendering:
        files = {r.file: f"# urn: {r.urn}\n{r.inputs}\n" for r in resources if r.file}
        return Rendering(files, Snapshot(PROJECT, STACK, tuple(resources), {}))

    return compare(STACK, "main (abc)", rendering(before), rendering(after))


def set_path(inputs: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        inputs = inputs[key]
    inputs[last] = value


def test_field_paths_quote_keys_with_dots_index_lists_and_expand_new_subtrees() -> None:
    before = {"metadata": {"labels": {"app.kubernetes.io/version": "1.0.0"}}, "args": ["a", "b"]}
    after = {
        "metadata": {"labels": {"app.kubernetes.io/version": "1.1.0"}},
        "args": ["a"],
        "auth": {"username": "ci", "password": "[secret]"},
    }
    assert list(field_changes(before, after)) == [
        FieldChange("args[1]", "b", ABSENT),
        FieldChange("auth.password", ABSENT, "[secret]"),
        FieldChange("auth.username", ABSENT, "ci"),
        FieldChange('metadata.labels["app.kubernetes.io/version"]', "1.0.0", "1.1.0"),
    ]
    assert list(field_changes({"replicas": 1}, {"replicas": True})) == [
        FieldChange("replicas", 1, True)
    ]


def test_a_mutable_field_is_an_update_an_immutable_one_a_replacement() -> None:
    resized = plan([deployment()], [deployment(edit=lambda i: set_path(
        i, "spec.template.spec.containers", [{"name": "model-server", "image": "ml/iris:1.0.0-aaa",
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]))])  # fmt: skip
    (change,) = resized.changes
    assert change.action == "update"
    assert change.rollout == "pod template changed"
    assert not change.forcing

    reselected = plan([deployment()], [deployment(edit=lambda i: set_path(
        i, "spec.selector", {"matchLabels": {"app.kubernetes.io/name": "iris-v2"}}))])  # fmt: skip
    (change,) = reselected.changes
    assert change.action == "replace"
    assert change.forcing == ['spec.selector.matchLabels["app.kubernetes.io/name"]']
    # pulumi-kubernetes deletes a named object first when its replacement keeps name and
    # namespace: a brief outage
    assert change.delete_before_replace
    assert "Replaced, deleted first: brief outage (1)" in format_text(reselected)


def test_a_new_namespace_replaces_create_before_delete() -> None:
    moved = plan(
        [deployment()], [deployment(edit=lambda i: set_path(i, "metadata.namespace", "ml2"))]
    )
    (change,) = moved.changes
    assert (change.action, change.forcing) == ("replace", ["metadata.namespace"])
    assert not change.delete_before_replace  # the new object cannot collide with the old one


def test_the_programs_options_decide_as_the_engine_does() -> None:
    def new_image(inputs: dict[str, Any]) -> None:
        inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "ml/iris:2"

    declared = {"replace_on_changes": ("spec.template.spec.containers[*].image",)}
    replaced = plan([deployment(options=declared)], [deployment(options=declared, edit=new_image)])
    (change,) = replaced.changes
    assert change.action == "replace"
    assert change.fields[0].forces == "replaceOnChanges spec.template.spec.containers[*].image"

    # deleteBeforeReplace declared false overrides the provider's own choice.
    keep = {"delete_before_replace": False}
    reselect = lambda i: set_path(i, "spec.selector", {"matchLabels": {"a": "b"}})  # noqa: E731
    (change,) = plan([deployment(options=keep)], [deployment(options=keep, edit=reselect)]).changes
    assert change.action == "replace"
    assert not change.delete_before_replace

    # ignoreChanges: the engine never sees the change; nothing to apply, but it is reported.
    ignore = {"ignore_changes": ("spec.template.spec.containers",)}
    ignored = plan([deployment(options=ignore)], [deployment(options=ignore, edit=new_image)])
    assert not ignored.changes
    assert not ignored.has_changes
    (note,) = ignored.notes
    assert [c.path for c in note.ignored] == ["spec.template.spec.containers[0].image"]
    assert "ignored (ignoreChanges): spec.template.spec.containers[0].image" in format_text(ignored)


def test_an_options_only_change_is_reported_and_counts_as_a_difference() -> None:
    result = plan([deployment()], [deployment(options={"delete_before_replace": True})])
    assert not result.changes
    assert result.has_changes
    assert result.notes[0].notes == ("option deleteBeforeReplace: (provider decides) -> true",)


def network(**options: Any) -> SnapshotResource:
    return resource(
        NETWORK,
        "net",
        {"name": "mlstack-qa", "driver": "overlay", "options": options.pop("net_options", {})},
        **options,
    )


def swarm_service(net: SnapshotResource, **changes: Any) -> SnapshotResource:
    inputs = {
        "name": "qa-iris",
        "mode": {"replicated": {"replicas": 2}},
        "taskSpec": {
            "containerSpec": {"image": "ml/iris:1"},
            "networksAdvanceds": [{"id": net.id}],
            "placement": {"constraints": ["node.platform.os==linux"]},
            "resources": {"limits": {"memoryBytes": 536870912, "nanoCpus": 500000000}},
        },
    }
    edit = changes.pop("edit", None)
    if edit:
        edit(inputs)
    return resource(
        SERVICE, "svc", inputs, dependencies={"taskSpec": (net.urn,)}, delete_before_replace=True
    )


def test_a_replaced_network_replaces_the_services_holding_its_id() -> None:
    before = network(delete_before_replace=True)
    after = network(delete_before_replace=True, net_options={"encrypted": "true"})
    result = plan([before, swarm_service(before)], [after, swarm_service(after)])
    net, svc = sorted(result.changes, key=lambda c: c.type)
    assert (net.action, net.forcing, net.delete_before_replace) == (
        "replace",
        ["options.encrypted"],
        True,
    )
    assert svc.action == "replace"
    assert svc.delete_before_replace
    assert svc.forcing == ["taskSpec.networksAdvanceds[0].id"]
    assert isinstance(svc.fields[0].after, Unknown)
    assert not svc.causes  # an unknown taskSpec as a whole forces nothing (no rule above it)
    assert net.notes == (
        "deleted before its replacement exists, while these still refer to it: "
        "Swarm service qa-iris",
    )
    assert svc.rollout == "replaced"
    text = format_text(result)
    assert "taskSpec.networksAdvanceds[0].id: (the ID of Swarm network mlstack-qa) -> " in text
    assert "(known after apply: the ID of the new Swarm network mlstack-qa)" in text


def test_a_network_created_first_moves_its_services_before_the_old_one_goes() -> None:
    """mlstack's own network: a settings hash in its name, created before the old one is deleted
    (components/swarm/specs/network.py), so nothing still uses the old network when it goes."""

    def named(name: str, net_options: dict[str, str]) -> SnapshotResource:
        return resource(
            NETWORK,
            "net",
            {"name": name, "driver": "overlay", "options": net_options},
            delete_before_replace=False,
        )

    before = named("mlstack-qa-1111aaaa", {})
    after = named("mlstack-qa-2222bbbb", {"encrypted": "true"})
    result = plan([before, swarm_service(before)], [after, swarm_service(after)])
    net, svc = sorted(result.changes, key=lambda c: c.type)
    assert (net.action, net.forcing, net.delete_before_replace) == (
        "replace",
        ["name", "options.encrypted"],
        False,
    )
    assert net.notes == ()  # no "still refer to it": the services move before it is deleted
    assert (svc.action, svc.forcing) == ("replace", ["taskSpec.networksAdvanceds[0].id"])
    text = format_text(result)
    assert "(the ID of Swarm network mlstack-qa-1111aaaa) -> " in text
    assert "(known after apply: the ID of the new Swarm network mlstack-qa-2222bbbb)" in text


@pytest.mark.parametrize(
    ("path", "value", "rollout"),
    [
        ("taskSpec.resources.limits.memoryBytes", 1073741824, "task template changed"),
        ("taskSpec.placement.constraints", ["node.role==worker"], ""),  # swarmkit: no restart
        ("mode.replicated.replicas", 3, ""),  # scaling, not a rollout
    ],
)
def test_swarm_rollouts_follow_swarmkit(path: str, value: Any, rollout: str) -> None:
    net = network()
    changed = swarm_service(net, edit=lambda i: set_path(i, path, value))
    (change,) = plan([net, swarm_service(net)], [net, changed]).changes
    assert (change.action, change.rollout) == ("update", rollout)


def test_a_replaced_provider_replaces_its_resources_create_before_delete() -> None:
    old_provider = resource(K8S_PROVIDER, "k8s", {"context": "staging"}, file="providers.yaml")
    new_provider = resource(K8S_PROVIDER, "k8s", {"context": "other"}, file="providers.yaml")
    old = deployment()
    new = deployment()
    old = SnapshotResource(**{**old.__dict__, "provider": old_provider.urn})
    new = SnapshotResource(**{**new.__dict__, "provider": new_provider.urn})
    result = plan([old_provider, old], [new_provider, new])
    by_type = {change.type: change for change in result.changes}
    assert by_type[K8S_PROVIDER].forcing == ["context"]
    assert "active cluster changes" in by_type[K8S_PROVIDER].notes[0]
    workload = by_type[DEPLOYMENT]
    assert workload.action == "replace"
    assert not workload.fields
    assert workload.causes == ("its provider k8s (kubernetes) is replaced",)
    assert not workload.delete_before_replace  # the engine asks no provider: the option decides


def test_adds_removes_and_protected_resources() -> None:
    kept = network()
    gone = resource(NETWORK, "old", {"name": "old"}, protect=True, retain_on_delete=True)
    new = resource(NETWORK, "new", {"name": "new"})
    result = plan([kept, gone], [kept, new])
    assert [(c.action, c.name) for c in result.changes] == [("add", "new"), ("remove", "old")]
    removed = result.changes[1]
    assert any(note.startswith("protected") for note in removed.notes)
    assert any(note.startswith("retainOnDelete") for note in removed.notes)
    assert result.unchanged == 1
    assert format_text(result).splitlines()[1] == (
        "0 to replace, 0 to update, 1 to add, 1 to remove; 1 unchanged"
    )


def test_label_only_changes_fold_into_one_line_per_model() -> None:
    def bump(inputs: dict[str, Any]) -> None:
        inputs["metadata"]["labels"]["app.kubernetes.io/version"] = "1.1.0"

    def pdb(edit: Any = None) -> SnapshotResource:
        inputs: dict[str, Any] = {
            "metadata": {
                "name": "iris",
                "namespace": "ml",
                "labels": {"app.kubernetes.io/name": "iris", "app.kubernetes.io/version": "1.0.0"},
            },
            "spec": {"minAvailable": 1},
        }
        if edit:
            edit(inputs)
        return resource("kubernetes:policy/v1:PodDisruptionBudget", "iris-pdb", inputs)

    def template_too(inputs: dict[str, Any]) -> None:
        bump(inputs)
        inputs["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] = "1.1.0"

    result = plan([pdb(), deployment()], [pdb(bump), deployment(edit=template_too)])
    assert result.count("update") == 2
    text = format_text(result)
    assert "Labels only, iris (1 resource): app.kubernetes.io/version: 1.0.0 -> 1.1.0" in text
    assert "iris-pdb" not in text.split("\n--- ")[0].split("Labels only")[1]  # folded, not listed
    assert "~ kubernetes:apps/v1:Deployment iris-deployment: update, rolls out" in text


def test_bytes_and_cpus_show_in_readable_units() -> None:
    assert byte_size(536870912) == "512Mi"
    assert byte_size(1_000_000_000) == "1G"
    assert byte_size(1000) == "1k"
    assert byte_size(1234567) == "1234567 B"
    assert cpus(500_000_000) == "0.5 CPU"
    assert cpus(2_000_000_000) == "2 CPU"
    assert readable(268435456, "taskSpec.containerSpec.mounts[0].tmpfsOptions.sizeBytes") == "256Mi"
    assert readable(250000000, "taskSpec.resources.reservation.nanoCpus") == "0.25 CPU"
    assert readable("500m", "spec.containers[0].resources.limits.cpu") == "500m"
    assert readable(3, "replicas") == "3"
    net = network()
    limits = {"memoryBytes": 1073741824, "nanoCpus": 1000000000}
    bigger = swarm_service(net, edit=lambda i: set_path(i, "taskSpec.resources.limits", limits))
    text = format_text(plan([net, swarm_service(net)], [net, bigger]))
    assert "    taskSpec.resources.limits.memoryBytes: 512Mi -> 1Gi\n" in text
    assert "    taskSpec.resources.limits.nanoCpus: 0.5 CPU -> 1 CPU\n" in text


def test_markdown_summary_table_and_cut_unified_diff() -> None:
    before = deployment()
    after = deployment(edit=lambda i: set_path(i, "spec.selector", {"matchLabels": {"x": "```|"}}))
    result = plan([before], [after])
    result = StackDiff(
        **{**result.__dict__, "unified": "".join(f"+line {n} ```\n" for n in range(400))}
    )
    markdown = format_markdown(result, limit=2_000)
    assert markdown.startswith(
        "<!-- mlstack-diff:qa -->\n### `qa`: 1 to replace (1 delete before replace), "
        "0 to update, 0 to add, 0 to remove; 0 unchanged\n"
    )
    assert "- **Replaced, deleted first: brief outage (1):** by <code>spec.selector" in markdown
    assert "| +- | <code>Deployment ml/iris</code>" in markdown
    assert "→ <code>&#x27;```&#124;&#x27;</code> **forces replacement**" in markdown
    assert "more lines not shown; run `mlstack diff qa --base <ref>`" in markdown
    assert "````diff" in markdown  # a longer fence than any backtick run inside
    assert markdown.rstrip().endswith("</details>")


def test_no_change_is_an_empty_diff() -> None:
    same = [network(), deployment()]
    result = plan(same, copy.deepcopy(same))
    assert not result.has_changes
    assert result.unified == ""
    assert format_text(result) == "mlstack diff qa: base main (abc) -> working tree\nno changes\n"


def test_a_delete_first_replacement_deletes_dependents_it_would_replace_first() -> None:
    """The engine's dependent replacements: with the network deleted first, the service's
    taskSpec is unknown; a replaceOnChanges at it makes the service go first too."""
    before = network(delete_before_replace=True)
    after = network(delete_before_replace=True, net_options={"encrypted": "true"})

    def guarded(net: SnapshotResource) -> SnapshotResource:
        service = swarm_service(net)
        options = RecordedOptions(delete_before_replace=False, replace_on_changes=("taskSpec",))
        return SnapshotResource(**{**service.__dict__, "options": options})

    result = plan([before, guarded(before)], [after, guarded(after)])
    svc = next(c for c in result.changes if c.type == SERVICE)
    assert svc.causes == (
        "Swarm network mlstack-qa is deleted first and taskSpec, which takes a value from it, "
        "is unknown until then (replaceOnChanges taskSpec)",
    )
    assert svc.delete_before_replace  # deleted before the network, whatever its own option
    net = next(c for c in result.changes if c.type == NETWORK)
    assert not net.notes  # nothing uses it any more when it goes


def image(tag: str, **registry: str) -> SnapshotResource:
    inputs = {
        "imageName": f"registry.example.com/ml/iris:{tag}",
        "skipPush": False,
        "registry": {"server": "registry.example.com", **registry},
        "build": {"context": ".mlstack/build/qa/iris"},
    }
    return resource("docker:index/image:Image", "iris-image", inputs, file="image/iris/build.yaml")


def test_a_rebuilt_pushed_image_rolls_out_what_runs_it() -> None:
    """Pushed images run by digest: a rebuild leaves it unknown until the build, so the
    Deployment's pod template changes even when the tag stays."""

    def running(built: SnapshotResource) -> SnapshotResource:
        def pin(inputs: dict[str, Any]) -> None:
            container = inputs["spec"]["template"]["spec"]["containers"][0]
            container["image"] = built.inputs["imageName"]

        workload = deployment(edit=pin)
        return SnapshotResource(**{**workload.__dict__, "dependencies": {"spec": (built.urn,)}})

    old = image("1.0.0-aaa")
    rebuilt = SnapshotResource(
        **{**old.__dict__, "inputs": {**old.inputs, "build": {"context": "other"}}}
    )
    result = plan([old, running(old)], [rebuilt, running(rebuilt)])
    workload = next(c for c in result.changes if c.type == DEPLOYMENT)
    assert workload.rollout == "pod template changed"
    (field,) = workload.fields
    assert field.path == "spec.template.spec.containers[0].image"
    assert isinstance(field.after, Unknown)

    # Registry credentials are no change to pulumi-docker's Image: no rebuild, no rollout.
    rotated = image("1.0.0-aaa", password="[secret]")
    quiet = plan([image("1.0.0-aaa"), running(image("1.0.0-aaa"))], [rotated, running(rotated)])
    assert not quiet.changes
    assert "does not diff it" in quiet.notes[0].notes[0]
