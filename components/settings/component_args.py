"""A component's arguments (MLServingStackArgs: snake_case keys, secrets as Pulumi Inputs) ->
validated StackSettings, by the same loader and rules as a stack file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi
from pydantic.alias_generators import to_camel

from .loader import load_settings
from .stack import StackSettings

# Keys of the component only, not of a stack file's `mlstack:` namespace.
CONNECTION_KEYS = frozenset(
    {"environment", "project_dir", "kubeconfig", "kubernetes_provider", "docker_provider"}
)
# Checked by name only: their values may be unknown until deployment (another resource's
# output), so the loader sees this stand-in and the component keeps the real Inputs.
_STAND_IN = "[input]"


@dataclass(frozen=True)
class SecretInputs:
    """Secret values as the caller gave them (plain text or Outputs), kept out of settings."""

    files: Mapping[str, Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)
    registry_password: pulumi.Input[str] | None = None

    @classmethod
    def of(cls, settings: StackSettings) -> SecretInputs:
        return cls(dict(settings.secrets), settings.registry_password)


def settings_from_args(
    args: Mapping[str, Any], *, environment: str, project_dir: Path, source: str
) -> tuple[StackSettings, SecretInputs]:
    """Validate `args` as a stack file's `mlstack:` keys; problems name `source` (the
    component) and the key as a stack file would spell it. Raises SettingsError."""
    raw: dict[str, Any] = {}
    for key, value in args.items():
        if key in CONNECTION_KEYS or value is None:
            continue
        if key == "models" and isinstance(value, list):
            value = [_camel_keys(model) for model in value]
        elif key == "secrets" and isinstance(value, Mapping):
            value = {
                model: {file: _STAND_IN for file in files} if isinstance(files, Mapping) else files
                for model, files in value.items()
            }
        elif key == "registry_password":
            value = _STAND_IN
        raw[to_camel(key)] = value
    settings = load_settings(raw, environment=environment, project_dir=project_dir, source=source)
    secrets = SecretInputs(
        files={model: dict(files) for model, files in (args.get("secrets") or {}).items()},
        registry_password=args.get("registry_password"),
    )
    return replace(settings, secrets={}, registry_password=None), secrets


def _camel_keys(model: Any) -> Any:
    if not isinstance(model, Mapping):
        return model  # the loader reports it
    return {to_camel(key): value for key, value in model.items()}
