"""PriorityClasses: serving pods above the headroom placeholders, which sit at the
cluster-autoscaler's expendable cutoff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...settings.kubernetes import PriorityClassSettings

# The cluster-autoscaler ignores pods below --expendable-pods-priority-cutoff (default -10): they
# neither trigger a scale-up nor hold a node. Placeholders sit exactly at the cutoff: lowest
# priority that still makes the autoscaler add a node for them once serving pods preempt them.
EXPENDABLE_PODS_PRIORITY_CUTOFF = -10
HEADROOM_PRIORITY = EXPENDABLE_PODS_PRIORITY_CUTOFF


def headroom_priority_class_name(priority: PriorityClassSettings) -> str:
    """Derived from the serving class, so two stacks sharing a cluster with distinct serving
    classes also get distinct headroom classes (PriorityClasses are cluster-scoped)."""
    return f"{priority.name}-headroom"


@dataclass(frozen=True)
class PriorityClassSpec:
    value: int
    preemption_policy: str
    description: str

    # The API server refuses to change these in place (ValidatePriorityClassUpdate) and
    # pulumi-kubernetes would try: declared replace_on_changes (components/replacements.py). The
    # class keeps its name, so pulumi-kubernetes deletes it before creating the new one; running
    # pods keep their priority, only a pod created in that moment is refused until it is back.
    IMMUTABLE: ClassVar[tuple[str, ...]] = ("value", "preemptionPolicy")


def serving_priority_class(priority: PriorityClassSettings) -> PriorityClassSpec:
    """The serving PriorityClass: above the headroom, so serving pods preempt placeholders."""
    if priority.value <= HEADROOM_PRIORITY:
        raise ValueError(
            f"the serving priority ({priority.value}) must exceed the headroom's "
            f"({HEADROOM_PRIORITY})"
        )
    return PriorityClassSpec(
        value=priority.value,
        preemption_policy="PreemptLowerPriority",
        description="mlstack model servers: preempt headroom placeholders for capacity.",
    )


def headroom_priority_class() -> PriorityClassSpec:
    return PriorityClassSpec(
        value=HEADROOM_PRIORITY,
        preemption_policy="Never",  # a placeholder never displaces anything
        description="mlstack headroom placeholders: reserve capacity, yield to any pod.",
    )
