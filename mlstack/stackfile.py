"""Reading Pulumi project and stack files the way the Pulumi engine hands them to a program."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class StackFileError(Exception):
    """A stack or project file that is missing or is not what Pulumi accepts."""


@dataclass(frozen=True)
class EngineConfig:
    """Config of one stack as the engine passes it: namespaced keys, text values (JSON for
    objects), and which keys are secret. Encrypted values cannot be decrypted without the engine,
    so they arrive as a placeholder that is itself marked secret."""

    values: dict[str, str]
    secret_keys: frozenset[str]


def project_name(project_dir: Path) -> str:
    path = project_dir / "Pulumi.yaml"
    if not path.is_file():
        raise StackFileError(f"{path}: not found; is {project_dir} a Pulumi project?")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise StackFileError(f"{path}: 'name' must be the project name")
    return name


def stack_path(project_dir: Path, environment: str) -> Path:
    return project_dir / f"Pulumi.{environment}.yaml"


def available_stacks(project_dir: Path) -> list[str]:
    return sorted(
        path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for path in project_dir.glob("Pulumi.*.yaml")
    )


def read_stack_config(project_dir: Path, environment: str) -> EngineConfig:
    path = stack_path(project_dir, environment)
    if not path.is_file():
        known = ", ".join(available_stacks(project_dir)) or "none"
        raise StackFileError(f"{path.name}: no such stack file; stacks here: {known}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise StackFileError(f"{path.name}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise StackFileError(f"{path.name}: expected a mapping with a 'config' key")
    if "environment" in data:
        raise StackFileError(
            f"{path.name}: 'environment' imports Pulumi ESC environments, which cannot be "
            "resolved offline; inline those values as config to render this stack"
        )
    raw = data.get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"{path.name}: 'config' must be a mapping of keys to values")
    return config_from_mapping(raw, default_namespace=project_name(project_dir), file=path.name)


def config_from_mapping(
    raw: Mapping[str, Any], *, default_namespace: str, file: str = "config"
) -> EngineConfig:
    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in raw.items():
        full_key = key if ":" in key else f"{default_namespace}:{key}"
        plain, secret = _reveal_structure(value, full_key, file)
        values[full_key] = _as_config_text(plain)
        if secret:
            secret_keys.add(full_key)
    return EngineConfig(values, frozenset(secret_keys))


def _reveal_structure(value: Any, key: str, file: str) -> tuple[Any, bool]:
    """Replace `{secure: ciphertext}` leaves by a placeholder; report whether any were found.

    The placeholder names a hash of the ciphertext (public: it is in the stack file), so a
    rotated secret still changes what is derived from it (a Swarm secret's content-hash name,
    `diff`'s keyed digests of secret inputs) without anything being decrypted."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            cipher = hashlib.sha256(str(value["secure"]).encode()).hexdigest()[:16]
            return f"<encrypted {key} from {file} ({cipher}): not decrypted offline>", True
        pairs = {k: _reveal_structure(v, key, file) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        items = [_reveal_structure(v, key, file) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def _as_config_text(value: Any) -> str:
    # The engine hands scalars over as text ("true", "3") and objects and lists as JSON.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)
