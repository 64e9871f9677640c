"""Size presets from stacks/presets/, and the deep merge that applies overrides to them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mlstack.stacks import PRESETS_DIR, preset_names


def available_sizes() -> list[str]:
    return preset_names()


def preset_path(name: str) -> Path:
    return PRESETS_DIR / f"{name}.yaml"


def preset_label(name: str) -> str:
    """How error messages name a preset file: relative to the project, as users see it."""
    return f"stacks/presets/{name}.yaml"


@cache
def _load(name: str) -> Mapping[str, Any]:
    with preset_path(name).open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{preset_label(name)}: expected a mapping at the top level")
    return data


def load_preset(name: str) -> dict[str, Any]:
    """A fresh copy of the raw preset (callers merge into it)."""
    return deep_merge(_load(name), {})


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in `patch` (lists included) replaces `base`."""
    merged: dict[str, Any] = {}
    for key in [*base, *(key for key in patch if key not in base)]:
        if (
            key in patch
            and key in base
            and isinstance(patch[key], Mapping)
            and isinstance(base[key], Mapping)
        ):
            merged[key] = deep_merge(base[key], patch[key])
        elif key in patch:
            merged[key] = _copy(patch[key])
        else:
            merged[key] = _copy(base[key])
    return merged


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return deep_merge(value, {})
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def defines(patch: Mapping[str, Any], path: tuple[str | int, ...]) -> bool:
    """Whether `patch` set the value at `path` (or replaced a list or scalar above it)."""
    node: Any = patch
    for step in path:
        if not isinstance(node, Mapping):
            return True
        if step not in node:
            return False
        node = node[step]
    return True
