"""Findings and the rule registry every checklist rule registers itself in."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mlstack.checks.inventory import Inventory


@dataclass(frozen=True, order=True)
class Finding:
    rule: str  # e.g. K8S-PROBES: stable, greppable, listed under `validate` in the README
    resource: str  # the object as people name it, e.g. "Deployment ml-serving/iris"
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.resource}: {self.message}"


Check = Callable[[Inventory], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    check: Check


RULES: dict[str, Rule] = {}


def rule(rule_id: str, summary: str) -> Callable[[Check], Check]:
    """Register a check under `rule_id`; its findings carry that ID."""

    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, summary, check)
        return check

    return register
