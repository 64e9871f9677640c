"""The recorder keeps the resource options the engine plans with, and the render's snapshot
names every URN as the engine would (parent chain), so `diff` can act on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstack import snapshot
from mlstack.offline import RecordedAlias, RecordedOptions, record
from mlstack.render import render
from tests.support.harness import recorded_in, run_stack

PROGRAM = """\
import pulumi
import pulumi_docker as docker


class Group(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("probe:index:Group", name, None, opts)
        network = docker.Network(
            f"{name}-network",
            name="probe",
            opts=pulumi.ResourceOptions(
                parent=self,
                delete_before_replace=True,
                replace_on_changes=["options"],
                ignore_changes=["labels"],
                protect=True,
                retain_on_delete=True,
                aliases=[pulumi.Alias(name="old-network")],
            ),
        )
        docker.Service(
            f"{name}-service",
            name="probe",
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(image="probe:1"),
                networks_advanceds=[docker.ServiceTaskSpecNetworksAdvancedArgs(id=network.id)],
            ),
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
        )
        self.register_outputs({})


Group("group", opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="probe:index:Old")]))
"""
GROUP = "urn:pulumi:t::probe::probe:index:Group::group"
NETWORK = "urn:pulumi:t::probe::probe:index:Group$docker:index/network:Network::group-network"
SERVICE = "urn:pulumi:t::probe::probe:index:Group$docker:index/service:Service::group-service"


# The CLI (and the program it records) puts project directories on sys.path.
pytestmark = pytest.mark.usefixtures("isolated_sys_path")


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: probe\nruntime: python\n")
    (tmp_path / "Pulumi.t.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(PROGRAM)
    return tmp_path


def test_declared_options_are_recorded(probe: Path) -> None:
    recording = record(probe, "t")
    options = {resource.name: resource.options for resource in recording.resources}
    assert options["group-network"] == RecordedOptions(
        delete_before_replace=True,
        replace_on_changes=("options",),
        ignore_changes=("labels",),
        protect=True,
        retain_on_delete=True,
        aliases=(RecordedAlias(name="old-network"),),
    )
    # Declared false is not the same as not declared: the engine lets the provider decide only
    # for the latter.
    assert options["group-service"].delete_before_replace is False
    assert options["group"] == RecordedOptions(aliases=(RecordedAlias(type="probe:index:Old"),))


def test_snapshot_names_resources_by_engine_urn_with_dependencies(probe: Path) -> None:
    taken = render(record(probe, "t"), probe).snapshot
    by_urn = {resource.urn: resource for resource in taken.resources}
    assert set(by_urn) == {GROUP, NETWORK, SERVICE}
    service = by_urn[SERVICE]
    assert service.parent == GROUP
    assert by_urn[GROUP].parent is None  # the stack itself is no resource of the snapshot
    assert service.dependencies == {"taskSpec": (NETWORK,)}
    assert service.inputs["taskSpec"]["networksAdvanceds"] == [{"id": by_urn[NETWORK].id}]
    assert service.file == "swarm/service.probe.yaml"
    assert by_urn[GROUP].inputs is None
    assert snapshot.from_json(snapshot.to_json(taken)) == taken


def test_snapshot_masks_secrets_like_the_files() -> None:
    recording = run_stack(
        "staging",
        secret_config={
            "mlstack:secrets": {"iris": {"api-token": "s3cr3t-token-value"}},
            "mlstack:registryPassword": "s3cr3t-registry-password",
        },
    )
    text = snapshot.to_json(render(recording, recorded_in(recording)).snapshot)
    assert "s3cr3t" not in text
    assert "[secret]" in text


def test_snapshot_records_the_provider_and_the_dockerfile_of_an_image() -> None:
    recording = run_stack("staging")
    taken = render(recording, recorded_in(recording)).snapshot
    deployment = next(r for r in taken.resources if r.name == "mlstack-iris-deployment")
    assert deployment.provider is not None
    assert deployment.provider.endswith("$pulumi:providers:kubernetes::mlstack-kubernetes-provider")
    image = next(r for r in taken.resources if r.name == "mlstack-iris-image-build")
    assert list(image.files) == ["image/iris/Dockerfile"]
    assert image.files["image/iris/Dockerfile"].startswith(("# syntax", "ARG", "FROM", "#"))
