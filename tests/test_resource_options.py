"""Every replacement the table in components/replacements.py allows must succeed on the real
engine. From the recordings of every stack variant: fixed-name Swarm objects are deleted before
their replacement is created (or, for the content-named secrets, can never collide), the changes
a provider would try in place and the server refuses are declared replace_on_changes, Kubernetes
objects leave delete-before-replace to pulumi-kubernetes (which decides it per change), and no
change is ignored without a reason written here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlstack.components.replacements import REPLACE_RULES, replace_rule
from mlstack.components.swarm.specs.secrets import secret_name
from mlstack.offline import RecordedResource
from tests.support.harness import run_stack
from tests.support.stack_variants import SECRETS, all_recordings

SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"

# Changes a provider would attempt in place although the server refuses them (see the table's
# sources): the program must turn them into replacements.
MUST_REPLACE_ON = {
    SERVICE: {"mode.global"},  # swarmkit: "service mode change is not allowed"
    PRIORITY_CLASS: {"value", "preemptionPolicy"},  # ValidatePriorityClassUpdate
}
# ignore_changes the program may declare, each with the reason it is safe. None today.
ALLOWED_IGNORE_CHANGES: dict[str, set[str]] = {}


def custom_resources() -> Iterator[tuple[str, RecordedResource]]:
    for variant, recording in all_recordings().items():
        for resource in recording.resources:
            if resource.custom and not resource.is_provider:
                yield variant, resource


def fixed_name(resource: RecordedResource) -> str | None:
    if resource.type.startswith("kubernetes:"):
        name = (resource.inputs.get("metadata") or {}).get("name")
    else:
        name = resource.inputs.get("name")
    return name if isinstance(name, str) and name else None


def test_every_replaceable_swarm_object_with_a_fixed_name_is_deleted_first() -> None:
    checked = 0
    for variant, resource in custom_resources():
        rule = replace_rule(resource.type)
        if not resource.type.startswith("docker:") or not rule.replace_paths:
            continue
        assert fixed_name(resource), f"{variant}: {resource.name} has no fixed name"
        declared = resource.options.delete_before_replace
        assert declared is rule.delete_before_replace, (
            f"{variant}: {resource.type} {resource.name} declares delete_before_replace="
            f"{declared}, the table says {rule.delete_before_replace}"
        )
        checked += 1
    assert checked >= 10


def test_kubernetes_objects_leave_delete_before_replace_to_the_provider() -> None:
    """pulumi-kubernetes deletes first exactly when a named object keeps its name and namespace
    (provider.go Diff); a program-level True would also delete first when the object moves to a
    new namespace, taking it down although the new one could have been created first."""
    for variant, resource in custom_resources():
        if not resource.type.startswith("kubernetes:"):
            continue
        assert fixed_name(resource), f"{variant}: {resource.name} is auto-named"
        assert resource.options.delete_before_replace is None, (variant, resource.name)
        assert replace_rule(resource.type).delete_before_replace, resource.type


@pytest.mark.parametrize(("token", "paths"), sorted(MUST_REPLACE_ON.items()))
def test_impossible_in_place_updates_are_declared_replacements(token: str, paths: set[str]) -> None:
    found = [(v, r) for v, r in custom_resources() if r.type == token]
    assert found, token
    for variant, resource in found:
        missing = paths - set(resource.options.replace_on_changes)
        assert not missing, f"{variant}: {resource.name} does not replace on {sorted(missing)}"


def test_declared_replacements_are_in_the_table() -> None:
    """replace_on_changes adds replace paths the provider does not know; the table must list
    them, or `mlstack diff` would call the change an update."""
    for variant, resource in custom_resources():
        listed = set(REPLACE_RULES[resource.type].replace_paths)
        extra = set(resource.options.replace_on_changes) - listed
        assert not extra, f"{variant}: {resource.name} replaces on {sorted(extra)}, not in table"


def test_the_service_mode_is_recorded_in_full() -> None:
    """mode.global is sent as true or false, so a switch either way is a change at that path
    (replace_on_changes matches it) rather than a block disappearing."""
    for variant, resource in custom_resources():
        if resource.type == SERVICE:
            assert isinstance(resource.inputs["mode"].get("global"), bool), (variant, resource.name)


def test_no_change_is_ignored_without_a_reason() -> None:
    for variant, resource in custom_resources():
        ignored = set(resource.options.ignore_changes)
        allowed = ALLOWED_IGNORE_CHANGES.get(resource.type, set())
        assert ignored <= allowed, f"{variant}: {resource.name} ignores {sorted(ignored)}"


def _secret_names(**secret_config: object) -> set[str]:
    recording = run_stack("dev", secret_config={**SECRETS, **secret_config})
    return {r.inputs["name"] for r in recording.of_type(SECRET)}


def test_a_swarm_secret_replacement_never_collides_with_its_own_name() -> None:
    """Created before the old one is deleted (Docker refuses to delete a secret a service still
    uses), so every change that replaces it must also change its name."""
    before = _secret_names()
    rotated = _secret_names(**{"mlstack:secrets": {"iris": {"token": "rotated"}}})
    assert before.isdisjoint(rotated)
    recording = run_stack("dev", secret_config=SECRETS)
    (secret,) = recording.of_type(SECRET)
    assert secret.options.delete_before_replace is False
    labels = {pair["label"]: pair["value"] for pair in secret.inputs["labels"]}

    # The name covers the labels too: a label that changed under the same name would collide.
    same_value = "variant-token"
    assert secret.inputs["name"] == secret_name("dev", "iris", "token", same_value, labels)
    assert (
        secret_name("dev", "iris", "token", same_value, {**labels, "x": "y"})
        != (secret.inputs["name"])
    )
