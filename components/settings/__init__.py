"""Typed, validated settings of one mlstack environment (one Pulumi stack)."""

from components.settings.errors import Problem, SettingsError
from components.settings.image import ImageSettings
from components.settings.kubernetes import KubernetesSettings
from components.settings.loader import NAMESPACE, load_settings, stack_file_name
from components.settings.size import Size, VpaUpdateMode
from components.settings.stack import (
    Framework,
    Orchestrator,
    ServedModel,
    StackConfig,
    StackSettings,
)
from components.settings.swarm import SwarmSettings

__all__ = [
    "NAMESPACE",
    "Framework",
    "ImageSettings",
    "KubernetesSettings",
    "Orchestrator",
    "Problem",
    "ServedModel",
    "SettingsError",
    "Size",
    "StackConfig",
    "StackSettings",
    "SwarmSettings",
    "VpaUpdateMode",
    "load_settings",
    "stack_file_name",
]
