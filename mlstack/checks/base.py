"""Findings and the rule registry every checklist rule registers itself in."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from mlstack.checks.inventory import Inventory


@dataclass(frozen=True, order=True)
class Finding:
    rule: str  # e.g. K8S-PROBES: stable, greppable, listed under `validate` in docs/cli.md
    resource: str  # the object as people name it, e.g. "Deployment ml-serving/iris"
    message: str
    # How to make it pass: the stack key to change and a value that passes when a setting
    # decides it; otherwise the field of the declared object and the value it needs.
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.rule}: {self.resource}: {self.message}"


Check = Callable[[Inventory], Iterable[Finding]]

# Rule ID prefix -> the orchestrator whose objects the rule reads.
ORCHESTRATORS = {"K8S-": "kubernetes", "SWARM-": "swarm"}


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    check: Check
    fix: str  # what fixes any finding of the rule (findings may say more precisely)

    @property
    def orchestrator(self) -> str:
        return next(name for prefix, name in ORCHESTRATORS.items() if self.id.startswith(prefix))


RULES: dict[str, Rule] = {}


def rule(rule_id: str, summary: str, fix: str) -> Callable[[Check], Check]:
    """Register a check under `rule_id`; its findings carry that ID, and `fix` when they do not
    say how to fix them themselves."""

    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        if not any(rule_id.startswith(prefix) for prefix in ORCHESTRATORS):
            raise ValueError(f"rule {rule_id}: IDs start with {' or '.join(ORCHESTRATORS)}")
        RULES[rule_id] = Rule(rule_id, summary, _with_fix(check, fix), fix)
        return check

    return register


def _with_fix(check: Check, fix: str) -> Check:
    def checked(inventory: Inventory) -> Iterable[Finding]:
        for finding in check(inventory):
            yield finding if finding.fix else replace(finding, fix=fix)

    return checked
