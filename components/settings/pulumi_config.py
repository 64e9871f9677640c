"""Read the `mlstack:` namespace from the running Pulumi program's config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from .loader import NAMESPACE, load_settings
from .stack import StackSettings


def namespace_config(namespace: str = NAMESPACE) -> dict[str, Any]:
    """Every key of `namespace`, prefix stripped. Enumerated (not read key by key) so that an
    unknown key, a typo most often, is reported instead of silently ignored."""
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{namespace}:"
    return {key[len(prefix) :]: value for key, value in merged.items() if key.startswith(prefix)}


def settings_from_pulumi(project_dir: Path) -> StackSettings:
    """Validated settings of the stack being deployed; raises SettingsError before anything is
    declared."""
    settings = load_settings(
        namespace_config(), environment=pulumi.get_stack(), project_dir=project_dir
    )
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    return settings
