"""Each stack file evaluates offline and declares the serving stack for its orchestrator."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from mlstack.offline import Recording, Secret, mask
from tests.support.harness import STACKS, run_stack

KUBERNETES_TYPES = {"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"}
SWARM_TYPES = {"docker:index/service:Service", "docker:index/network:Network"}
IMAGE_TYPE = "docker:index/image:Image"


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> tuple[str, Recording]:
    return request.param, run_stack(request.param)


def types(recording: Recording) -> set[str]:
    return {resource.type for resource in recording.resources}


def test_every_stack_declares_one_image_and_one_service_per_model(
    stack: tuple[str, Recording],
) -> None:
    environment, recording = stack
    models = set(recording.outputs["imageRefs"])
    assert models, f"{environment} declares no model"
    images = recording.of_type("mlstack:image:ModelImage")
    assert {image.name for image in images} == {f"mlstack-{m}-image" for m in models}
    service_type = (
        "mlstack:kubernetes:ModelService"
        if recording.outputs["orchestrator"] == "kubernetes"
        else "mlstack:swarm:ModelService"
    )
    services = recording.of_type(service_type)
    assert {service.name for service in services} == {f"mlstack-{m}" for m in models}
    assert set(recording.outputs["endpoints"]) == models


def test_dev_runs_on_swarm_only() -> None:
    recording = run_stack("dev")
    assert recording.outputs["orchestrator"] == "swarm"
    assert SWARM_TYPES | {IMAGE_TYPE} <= types(recording)
    assert not any(t.startswith("kubernetes:") for t in types(recording))


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_staging_and_prod_run_on_kubernetes_only(environment: str) -> None:
    recording = run_stack(environment)
    assert recording.outputs["orchestrator"] == "kubernetes"
    assert KUBERNETES_TYPES | {IMAGE_TYPE} <= types(recording)
    assert not any(t.startswith("docker:index/service") for t in types(recording))


def test_everything_hangs_under_the_serving_stack(stack: tuple[str, Recording]) -> None:
    _, recording = stack
    (root,) = recording.of_type("mlstack:index:MLServingStack")
    for resource in recording.resources:
        if resource is root:
            continue
        assert root in list(recording.ancestors(resource)), f"{resource.name} is not parented"


def test_child_names_are_prefixed_by_their_component(stack: tuple[str, Recording]) -> None:
    _, recording = stack
    for resource in recording.resources:
        if resource.parent is None or resource.type == "mlstack:index:MLServingStack":
            continue
        parent = recording.by_urn(resource.parent)
        assert resource.name.startswith(parent.name + "-"), (resource.name, parent.name)


def test_kubernetes_resources_use_the_explicit_provider() -> None:
    recording = run_stack("staging")
    (provider,) = recording.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "staging"
    for resource in recording.resources:
        if resource.custom and resource.type.startswith("kubernetes:"):
            assert resource.provider is not None, resource.name
            assert resource.provider.startswith(provider.urn), resource.name


def leaves(value: Any, inside_secret: bool = False) -> Iterator[tuple[Any, bool]]:
    """Every scalar of a recorded value, and whether a Secret wraps it."""
    if isinstance(value, Secret):
        yield from leaves(value.value, True)
    elif isinstance(value, dict):
        for item in value.values():
            yield from leaves(item, inside_secret)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, inside_secret)
    else:
        yield value, inside_secret


def test_secrets_stay_secret_in_the_recording() -> None:
    recording = run_stack(
        "staging",
        secret_config={"mlstack:secrets": {"iris": {"api-token": "s3cr3t-value"}}},
    )
    shown = repr(mask([r.inputs for r in recording.resources]))
    assert "s3cr3t-value" not in shown
    assert "s3cr3t-value" not in repr(recording.resources)
    # Declared (not dropped), and only ever as a Secret value: never in plain text.
    found = [
        inside
        for resource in recording.resources
        for value, inside in leaves(resource.inputs)
        if isinstance(value, str) and "s3cr3t-value" in value
    ]
    assert found, "the secret was not declared at all"
    assert all(found), "the secret appears in plain text in some resource's inputs"


def test_a_recording_leaves_no_event_loop_open() -> None:
    # Pulumi's mocks make an event loop in each executor thread; one left open is closed by the
    # garbage collector at exit, which sometimes prints a traceback after a successful command.
    run_stack("prod")
    gc.collect()
    open_loops = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, asyncio.AbstractEventLoop) and not obj.is_closed()
    ]
    assert open_loops == []
