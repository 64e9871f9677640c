"""`mlstack validate`: the Kubernetes schema checks and the checklist rules, as one list of
findings with rule IDs."""

from __future__ import annotations

from mlstack.checks.base import Finding
from mlstack.checks.kubernetes_schema import SchemaFinding, check_recording, default_versions
from mlstack.checks.rules import check, orchestrator_of, rules
from mlstack.offline import Recording

SCHEMA_RULE = "K8S-SCHEMA"
_RULE_LABELS = {"kubernetes": "Kubernetes checklist rules", "swarm": "Swarm checklist rules"}


def validate(recording: Recording, *, development: bool) -> list[Finding]:
    schema = [_from_schema(finding) for finding in check_recording(recording)]
    orchestrator = orchestrator_of(recording)
    return sorted(set(schema), key=_order) + check(
        recording, development=development, orchestrator=orchestrator
    )


def checked(recording: Recording) -> str:
    """What validate checked, for its summary line: only the stack's orchestrator's rules."""
    orchestrator = orchestrator_of(recording)
    count = f"{len(rules(orchestrator))} {_RULE_LABELS.get(orchestrator or '', 'checklist rules')}"
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
        "change the stack setting behind that field to a value the schema accepts; if no "
        "setting reaches it, the component declares it (report it)",
    )


def _order(finding: Finding) -> tuple[str, str, str]:
    return (finding.rule, finding.resource, finding.message)
