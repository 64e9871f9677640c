"""`mlstack validate`: the Kubernetes schema checks and the checklist rules, as one list of
findings with rule IDs."""

from __future__ import annotations

from mlstack.checks.base import Finding
from mlstack.checks.kubernetes_schema import SchemaFinding, check_recording, default_versions
from mlstack.checks.rules import check, rules
from mlstack.offline import Recording

SCHEMA_RULE = "K8S-SCHEMA"


def validate(recording: Recording, *, development: bool) -> list[Finding]:
    schema = [_from_schema(finding) for finding in check_recording(recording)]
    return sorted(set(schema), key=_order) + check(recording, development=development)


def checked(recording: Recording) -> str:
    """What validate checked, for its summary line."""
    count = f"{len(rules())} checklist rules"
    if not any(resource.type.startswith("kubernetes:") for resource in recording.resources):
        return count  # a Swarm stack: no Kubernetes object to hold against a schema
    versions = " and ".join(default_versions())
    return f"Kubernetes schemas {versions} (strict) and {count}"


def _from_schema(finding: SchemaFinding) -> Finding:
    where = f" at {finding.path}" if finding.path else ""
    return Finding(
        SCHEMA_RULE,
        f"{finding.kind} {finding.name}",
        f"schema {finding.version}{where}: {finding.message}",
    )


def _order(finding: Finding) -> tuple[str, str, str]:
    return (finding.rule, finding.resource, finding.message)
