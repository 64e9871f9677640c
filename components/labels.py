"""Names and labels shared by every orchestrator, so a model is recognisable wherever it runs."""

from __future__ import annotations

from collections.abc import Mapping

from .settings import ServedModel

PART_OF = "mlstack"
MANAGED_BY = "pulumi"


def ownership_labels() -> dict[str, str]:
    """What every object mlstack declares carries: the app it is part of and who manages it."""
    return {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": MANAGED_BY}


# The labels that pick an object's pods (Deployment selector, NetworkPolicy, Service): immutable
# on a Deployment, so never the version.
SELECTOR_KEYS = ("app.kubernetes.io/name", "app.kubernetes.io/instance")


def selector_of(labels: Mapping[str, str]) -> dict[str, str]:
    """The selecting part of an object's labels."""
    return {key: labels[key] for key in SELECTOR_KEYS}


def selector_labels(model: ServedModel, environment: str) -> dict[str, str]:
    """Labels that pick a model's pods. Immutable on a Deployment, so never the version."""
    return {
        "app.kubernetes.io/name": model.name,
        "app.kubernetes.io/instance": f"{model.name}-{environment}",
    }


def model_labels(model: ServedModel, environment: str) -> dict[str, str]:
    """The recommended app.kubernetes.io labels (also used as Swarm service labels)."""
    return {
        **selector_labels(model, environment),
        "app.kubernetes.io/version": model.version,
        "app.kubernetes.io/component": "model-server",
        **ownership_labels(),
        "mlstack.dev/environment": environment,
        "mlstack.dev/size": model.size_name,
    }


def stack_labels(environment: str, component: str) -> dict[str, str]:
    """Labels of a stack-wide object (network, proxy) that belongs to no single model."""
    return {
        "app.kubernetes.io/name": f"mlstack-{component}",
        "app.kubernetes.io/instance": f"{component}-{environment}",
        "app.kubernetes.io/component": component,
        **ownership_labels(),
        "mlstack.dev/environment": environment,
    }
