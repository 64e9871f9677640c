"""The checklist rules (../shared/guide/CHECKLIST.md) over a stack's recording, both orchestrators.

Rules live in kubernetes_rules.py and swarm_rules.py and register themselves with an ID;
`check` runs every one of them. Each finding names the rule, the object and what is wrong.
"""

from __future__ import annotations

from mlstack.checks import kubernetes_rules, swarm_rules
from mlstack.checks.base import RULES, Finding, Rule
from mlstack.checks.inventory import build
from mlstack.offline import Recording

# Importing the rule modules registers their rules; keep the names referenced.
RULE_MODULES = (kubernetes_rules, swarm_rules)


def check(
    recording: Recording, *, development: bool, orchestrator: str | None = None
) -> list[Finding]:
    """Findings of every rule, or of `orchestrator`'s rules only."""
    inventory = build(recording, development=development)
    findings: set[Finding] = set()
    for registered in rules(orchestrator):
        findings.update(registered.check(inventory))
    return sorted(findings, key=lambda f: (f.rule, f.resource, f.message))


def rules(orchestrator: str | None = None) -> list[Rule]:
    chosen = [r for r in RULES.values() if orchestrator in (None, r.orchestrator)]
    return sorted(chosen, key=lambda r: r.id)


def orchestrator_of(recording: Recording) -> str | None:
    """The orchestrator the stack deploys to (the program exports it), None if unknown."""
    value = recording.outputs.get("orchestrator")
    return value if isinstance(value, str) else None
