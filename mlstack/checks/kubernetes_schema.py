"""Validate every Kubernetes object of a Recording against the real Kubernetes schemas.

Built-in kinds go through `kubernetes-validate` in strict mode (unknown fields are errors) for each
requested Kubernetes version. It has no schema for custom resources; those the project declares
(the VerticalPodAutoscaler) are checked against the JSON Schemas kept in `schemas/`, derived from
the official CRDs (see schemas/README.md). A custom kind with no schema is itself a finding: an
object nobody checked is not reported as valid.

The manifest of an object is its recorded inputs (what the provider sends to the API server):
secrets replaced by a placeholder before validation, so no message can echo one, and whole-number
floats (protobuf carries every number as a double) turned back into integers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import all_versions

from mlstack.offline import Recording, Secret

# The oldest Kubernetes minor version mlstack supports: `lifecycle.preStop.sleep` (beta, on by
# default) and the PDB's unhealthyPodEvictionPolicy (GA in 1.31, beta on by default in 1.27+).
MINIMUM_KUBERNETES_VERSION = "1.30"
SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - what a secret value is replaced with

# (apiVersion, kind) -> the schema file in mlstack/checks/schemas/ that validates it.
CUSTOM_RESOURCE_SCHEMAS: Mapping[tuple[str, str], str] = {
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"): "verticalpodautoscaler-v1.json",
}


@dataclass(frozen=True)
class SchemaFinding:
    """One object that failed one schema."""

    kind: str
    name: str  # namespace/name, or name for cluster-scoped objects
    resource: str  # the Pulumi resource name, to find the declaration
    version: str  # the Kubernetes version checked against, or the custom schema's label
    path: str  # where in the object, dotted ("spec.template.spec"); "" for the object itself
    message: str

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return (
            f"{self.kind} {self.name} (Pulumi resource {self.resource}), "
            f"schema {self.version}{where}: {self.message}"
        )


@dataclass(frozen=True)
class Manifest:
    """A Kubernetes object as the API server would receive it, secrets concealed."""

    resource: str
    body: dict[str, Any]

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata") or {}
        name = str(metadata.get("name", "<unnamed>"))
        namespace = metadata.get("namespace")
        return f"{namespace}/{name}" if namespace else name


def newest_kubernetes_version() -> str:
    """The newest Kubernetes minor version the installed kubernetes-validate bundles."""
    return _minor(str(kubernetes_validate.latest_version()))


def default_versions() -> tuple[str, ...]:
    """The oldest supported and the newest bundled Kubernetes version."""
    return tuple(dict.fromkeys((MINIMUM_KUBERNETES_VERSION, newest_kubernetes_version())))


def kubernetes_manifests(recording: Recording) -> list[Manifest]:
    """Every Kubernetes object the recorded program declared (providers and components excluded,
    and so is anything without apiVersion/kind, such as a Helm release)."""
    found = []
    for resource in recording.resources:
        if not (resource.custom and resource.type.startswith("kubernetes:")):
            continue
        if "apiVersion" not in resource.inputs or "kind" not in resource.inputs:
            continue
        found.append(Manifest(resource.name, _as_manifest(resource.inputs)))
    return found


def check_recording(
    recording: Recording, versions: Sequence[str] | None = None
) -> list[SchemaFinding]:
    """Findings for every Kubernetes object of `recording`; empty when all of them validate."""
    chosen = tuple(versions) if versions is not None else default_versions()
    findings: list[SchemaFinding] = []
    for manifest in kubernetes_manifests(recording):
        findings += check_manifest(manifest, chosen)
    return findings


def check_manifest(manifest: Manifest, versions: Iterable[str]) -> list[SchemaFinding]:
    """Findings for one object: per Kubernetes version the first error kubernetes-validate
    reports (it stops there), or every error against a custom resource's schema (the schema does
    not depend on the Kubernetes version). ValueError for a version with no bundled schemas."""
    chosen = list(versions)
    for version in chosen:
        _require_bundled(version)
    key = (manifest.api_version, manifest.kind)
    if key in CUSTOM_RESOURCE_SCHEMAS:
        return _check_custom(manifest, CUSTOM_RESOURCE_SCHEMAS[key])
    findings = []
    for version in chosen:
        try:
            kubernetes_validate.validate(manifest.body, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            findings.append(_finding(manifest, version, error))
        except kubernetes_validate.SchemaNotFoundError:
            findings.append(
                SchemaFinding(
                    manifest.kind, manifest.name, manifest.resource, version, "",
                    f"no schema for {manifest.api_version} {manifest.kind}: kubernetes-validate "
                    "has none (a custom resource?) and mlstack/checks/schemas/ has none either",
                )
            )  # fmt: skip
    return findings


def _check_custom(manifest: Manifest, schema_file: str) -> list[SchemaFinding]:
    schema = _custom_schema(schema_file)
    label = _custom_label(schema_file)
    validator = jsonschema.Draft202012Validator(schema)
    return [
        _finding(manifest, label, error)
        for error in sorted(
            validator.iter_errors(manifest.body), key=lambda e: [str(step) for step in e.path]
        )
    ]


@cache
def _custom_schema(schema_file: str) -> dict[str, Any]:
    text = resources.files("mlstack.checks").joinpath("schemas", schema_file).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _custom_label(schema_file: str) -> str:
    source = _custom_schema(schema_file).get("x-mlstack-source", {})
    commit = str(source.get("commit", "unknown"))[:12]
    return f"{schema_file} (CRD at kubernetes/autoscaler@{commit})"


def _finding(manifest: Manifest, version: str, error: jsonschema.ValidationError) -> SchemaFinding:
    path = ".".join(str(step) for step in error.path)
    return SchemaFinding(
        manifest.kind, manifest.name, manifest.resource, version, path, error.message
    )


def _as_manifest(inputs: Mapping[str, Any]) -> dict[str, Any]:
    body = _normalise(dict(inputs))
    assert isinstance(body, dict)
    return body


def _normalise(value: Any) -> Any:
    if isinstance(value, Secret):
        return _conceal(value.value)
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _conceal(value: Any) -> Any:
    """A secret's shape with every text replaced, so schema messages can never quote it."""
    if isinstance(value, Secret):
        return _conceal(value.value)
    if isinstance(value, str):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {key: _conceal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_conceal(item) for item in value]
    return _normalise(value)


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _minor_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in _minor(version.removeprefix("v")).split("."))


def _require_bundled(version: str) -> None:
    """kubernetes-validate compares versions as text (and fails oddly below its oldest); check
    the range numerically first."""
    bundled = sorted({_minor_tuple(v) for v in all_versions()})
    try:
        wanted = _minor_tuple(version)
    except ValueError:
        wanted = ()
    if not (bundled[0] <= wanted <= bundled[-1]):
        oldest, newest = (".".join(map(str, v)) for v in (bundled[0], bundled[-1]))
        raise ValueError(
            f"kubernetes-validate has no schemas for Kubernetes {version}; "
            f"it bundles {oldest} to {newest}"
        )
