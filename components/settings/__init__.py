"""Typed, validated settings of one mlstack environment (one Pulumi stack)."""

from .errors import Problem, SettingsError
from .image import ImageSettings
from .kubernetes import KubernetesSettings
from .loader import NAMESPACE, load_settings, stack_file_name
from .models import served_model
from .size import Size, VpaUpdateMode
from .stack import (
    Framework,
    Orchestrator,
    ServedModel,
    StackConfig,
    StackSettings,
)
from .swarm import SwarmSettings

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
    "served_model",
    "stack_file_name",
]
