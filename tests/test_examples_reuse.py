"""The two programs of another team in examples/ (issue 16, item 5), as docs/components.md shows
them: the Python route (examples/reuse-python, recorded by the offline recorder) and the package
route (examples/reuse-yaml, a Pulumi YAML program).

The Pulumi CLI (and with it the YAML runtime) is not available here, so the YAML program is not
run by Pulumi: its resource is checked against the schema the component package's provider
answers GetSchema with, and its properties are then sent to that provider in a Construct, as the
engine would send them, against a recording resource monitor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from mlstack.offline import record
from tests.support.harness import PROJECT_DIR
from tests.support.package_host import (
    PLUGIN_DIR,
    RecordingMonitor,
    construct,
    get_schema,
    hosted_package,
)

PYTHON_EXAMPLE = PROJECT_DIR / "examples" / "reuse-python"
PARTS_EXAMPLE = PROJECT_DIR / "examples" / "reuse-parts"
YAML_EXAMPLE = PROJECT_DIR / "examples" / "reuse-yaml"
DOC = PROJECT_DIR / "docs" / "components.md"


def test_the_python_route_serves_next_to_the_teams_own_objects() -> None:
    recording = record(PYTHON_EXAMPLE, "dev")
    [cluster] = recording.of_type("pulumi:providers:kubernetes")
    assert cluster.name == "cluster"
    assert cluster.inputs["kubeconfig"] == "~/.kube/search-ml"
    objects = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    # One provider for the team's objects and mlstack's: the team's own.
    assert {r.provider for r in objects} == {f"{cluster.urn}::cluster-id"}
    [namespace] = recording.of_type("kubernetes:core/v1:Namespace")
    assert namespace.name == "search-ml"  # the team's; mlstack declares none
    assert len(recording.of_type("kubernetes:core/v1:ResourceQuota")) == 1
    [deployment] = [
        r
        for r in recording.of_type("kubernetes:apps/v1:Deployment")
        if r.name == "search-iris-deployment"
    ]
    [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("ghcr.io/acme/models/iris:1.0.0@sha256:")
    assert deployment.inputs["metadata"]["namespace"] == "search-ml"
    assert recording.of_type("docker:index/image:Image") == []  # pinned: nothing built
    assert recording.outputs == {
        "endpoints": {"iris": "http://iris.search-ml.svc.cluster.local"},
        "serviceNames": {"iris": "iris"},
    }


def test_the_parts_composed_by_hand_serve_in_the_teams_namespace() -> None:
    recording = record(PARTS_EXAMPLE, "dev")
    [cluster] = recording.of_type("pulumi:providers:kubernetes")
    objects = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    assert {r.provider for r in objects} == {f"{cluster.urn}::cluster-id"}
    hpa = next(r for r in objects if r.type == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    # The medium preset's minimum, and the program's override of its maximum.
    assert (hpa.inputs["spec"]["minReplicas"], hpa.inputs["spec"]["maxReplicas"]) == (2, 4)
    assert recording.outputs == {
        "service": "iris",
        "namespace": "search-ml",
        "endpoint": "http://iris.search-ml.svc.cluster.local",
    }


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[RecordingMonitor, str, Any]]:
    with hosted_package("iris-yaml", "dev") as engine:
        yield engine


def yaml_program() -> dict[str, Any]:
    program: dict[str, Any] = yaml.safe_load((YAML_EXAMPLE / "Pulumi.yaml").read_text())
    return program


def test_the_yaml_program_uses_this_folder_as_its_mlstack_package() -> None:
    program = yaml_program()
    assert program["runtime"] == "yaml"
    [plugin] = program["plugins"]["providers"]
    assert plugin["name"] == "mlstack"
    assert (YAML_EXAMPLE / plugin["path"]).resolve() == PLUGIN_DIR
    assert (YAML_EXAMPLE / "Pulumi.dev.yaml").is_file()


def test_the_yaml_program_fits_the_package_schema(
    engine: tuple[RecordingMonitor, str, Any],
) -> None:
    schema = get_schema(engine[2])
    problems = []
    for name, resource in yaml_program()["resources"].items():
        spec = schema["resources"].get(resource["type"])
        assert spec is not None, f"{name}: {resource['type']} is not in the package"
        problems += schema_problems(
            resource.get("properties", {}), spec["inputProperties"],
            spec.get("requiredInputs", []), schema, name,
        )  # fmt: skip
    for name, expression in yaml_program()["outputs"].items():
        match = re.fullmatch(r"\$\{(\w+)\.(\w+)\}", expression)
        assert match, f"outputs.{name}: {expression}"
        resource = yaml_program()["resources"][match[1]]
        assert match[2] in schema["resources"][resource["type"]]["properties"], name
    assert problems == []


def test_the_schema_check_catches_what_the_engine_would_refuse(
    engine: tuple[RecordingMonitor, str, Any],
) -> None:
    """The checker above is no rubber stamp: a misspelt key, a wrong type and a missing
    required input are each found."""
    schema = get_schema(engine[2])
    spec = schema["resources"]["mlstack:index:MLServingStack"]
    bad = {"orchestrator": "swarm", "sizes": "small", "models": [{"name": "iris", "port": "80"}]}
    problems = schema_problems(bad, spec["inputProperties"], spec["requiredInputs"], schema, "x")
    assert problems == [
        "x.sizes: not an input of the resource",
        "x.models[0].port: expected integer, got '80'",
        "x.models[0]: framework is required",
        "x.models[0]: version is required",
        "x: size is required",
    ]


def test_the_yaml_programs_resource_constructs_the_serving_stack(
    engine: tuple[RecordingMonitor, str, Any],
) -> None:
    monitor, address, provider = engine
    [(name, resource)] = yaml_program()["resources"].items()
    response = construct(
        provider, monitor, address,
        type_token=resource["type"], name=name, inputs=resource["properties"],
    )  # fmt: skip
    services = monitor.of_type("docker:index/service:Service")
    assert [s.inputs["name"] for s in services] == ["dev-iris"]
    image = services[0].inputs["taskSpec"]["containerSpec"]["image"]
    assert image == resource["properties"]["models"][0]["image"]
    assert monitor.of_type("docker:index/image:Image") == []
    assert response.state["endpoints"]["iris"] == "http://localhost:8090"


def schema_problems(
    given: Any, properties: dict[str, Any], required: list[str], schema: dict[str, Any], at: str
) -> list[str]:
    """What a Pulumi package schema says of an object's properties: unknown keys, values of
    another type, required inputs left out."""
    if not isinstance(given, dict):
        return [f"{at}: expected an object, got {given!r}"]
    problems = []
    for key, value in given.items():
        if key not in properties:
            problems.append(f"{at}.{key}: not an input of the resource")
            continue
        problems += _type_problems(value, properties[key], schema, f"{at}.{key}")
    problems += [f"{at}: {key} is required" for key in sorted(required) if key not in given]
    return problems


_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
}  # fmt: skip


def _type_problems(value: Any, spec: dict[str, Any], schema: dict[str, Any], at: str) -> list[str]:
    ref = spec.get("$ref")
    if ref == "pulumi.json#/Any":
        return []
    if ref is not None and ref.startswith("#/types/"):
        named = schema["types"][ref.removeprefix("#/types/")]
        return schema_problems(value, named["properties"], named.get("required", []), schema, at)
    kind = spec.get("type")
    if kind in _PRIMITIVES:
        wrong = isinstance(value, bool) and kind != "boolean"
        if wrong or not isinstance(value, _PRIMITIVES[kind]):
            return [f"{at}: expected {kind}, got {value!r}"]
        return []
    if kind == "array":
        if not isinstance(value, list):
            return [f"{at}: expected a list, got {value!r}"]
        return [
            p
            for i, item in enumerate(value)
            for p in _type_problems(item, spec["items"], schema, f"{at}[{i}]")
        ]
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{at}: expected an object, got {value!r}"]
        item = spec.get("additionalProperties", {"type": "string"})
        return [p for k, v in value.items() for p in _type_problems(v, item, schema, f"{at}.{k}")]
    return [f"{at}: the schema's type {spec} is not one this check knows"]


def test_the_doc_shows_both_programs_as_the_tests_run_them() -> None:
    """docs/components.md quotes each program whole: a change to one shows in the doc."""
    text = DOC.read_text(encoding="utf-8")
    for path in (
        PYTHON_EXAMPLE / "__main__.py",
        PARTS_EXAMPLE / "__main__.py",
        YAML_EXAMPLE / "Pulumi.yaml",
    ):
        relative = path.relative_to(PROJECT_DIR).as_posix()
        block = re.search(rf"<!-- {re.escape(relative)} -->\n```\w+\n(.*?)```", text, re.S)
        assert block, f"docs/components.md does not quote {relative}"
        assert block[1] == path.read_text(encoding="utf-8"), f"{relative} differs from the doc"


def test_the_readme_links_the_doc_and_shows_both_routes_as_the_tests_run_them() -> None:
    """The README's section quotes an excerpt of each program: a contiguous part of the file
    the tests record or check, so it cannot drift from what runs."""
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using the components in your own Pulumi program", 1)[1]
    section = section.split("\n## ", 1)[0]
    assert "(docs/components.md)" in section
    excerpts = re.findall(r"<!-- excerpt of (\S+) -->\n```\w+\n(.*?)```", section, re.S)
    assert [path for path, _ in excerpts] == [
        (PYTHON_EXAMPLE / "__main__.py").relative_to(PROJECT_DIR).as_posix(),
        (YAML_EXAMPLE / "Pulumi.yaml").relative_to(PROJECT_DIR).as_posix(),
    ]
    for path, excerpt in excerpts:
        assert excerpt.count("\n") >= 10, f"{path}: the excerpt shows too little"
        assert excerpt in (PROJECT_DIR / path).read_text(encoding="utf-8"), f"{path} differs"
