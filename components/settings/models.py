"""A served model from plain values, for programs that compose the per-concern components
(KubernetesModelService, SwarmModelService, ModelImage) themselves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .loader import load_settings
from .stack import ServedModel

DEFAULT_SOURCE = "served_model()"


def served_model(
    name: str,
    framework: str,
    version: str,
    *,
    artifact: str | None = None,
    image: str | None = None,
    size: str = "small",
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    health_path: str | None = None,
    ready_path: str | None = None,
    healthcheck: list[str] | None = None,
    published_port: int | None = None,
    startup_timeout_seconds: int | None = None,
    project_dir: Path | str = ".",
    source: str = DEFAULT_SOURCE,
) -> ServedModel:
    """One model with its size resolved (a preset in stacks/presets/ plus `overrides`), checked by
    the rules a stack file's `mlstack:models[]` entry meets; raises SettingsError naming
    `source` and the key. Keys left None take the stack file's defaults. Give `artifact` (an
    image is built from it) or `image` (a server image pinned by digest, run as is)."""
    given = {
        "name": name,
        "framework": framework,
        "version": version,
        "artifact": artifact,
        "image": image,
        "overrides": dict(overrides) if overrides is not None else None,
        "env": dict(env) if env is not None else None,
        "port": port,
        "healthPath": health_path,
        "readyPath": ready_path,
        "healthcheck": healthcheck,
        "publishedPort": published_port,
        "startupTimeoutSeconds": startup_timeout_seconds,
    }
    model = {key: value for key, value in given.items() if value is not None}
    # Checked as a one-model Swarm stack, the only orchestrator whose models may set every key
    # above. Which orchestrator serves the model is not known here: Swarm's rule that a model's
    # own image needs a healthcheck command is SwarmModelService's to apply.
    stand_in = image is not None and healthcheck is None
    if stand_in:
        model["healthcheck"] = ["true"]
    settings = load_settings(
        {"orchestrator": "swarm", "size": size, "models": [model]},
        environment="model",
        project_dir=Path(project_dir),
        source=source,
    )
    served = settings.models[0]
    return replace(served, healthcheck=None) if stand_in else served
