"""mlstack components: reusable Pulumi components for autoscaled model serving.

Use `MLServingStack` (with `MLServingStackArgs`) for a whole environment, or the per-concern
components on their own: `ModelImage`, `KubernetesPlatform` + `KubernetesModelService`,
`SwarmPlatform` + `SwarmModelService`, each model from `served_model(...)`. Installed, they are
`mlstack.components`; docs/components.md shows both routes.
"""

from .image import ModelImage, ModelImageArgs
from .kubernetes import (
    KubernetesModelService,
    KubernetesModelServiceArgs,
    KubernetesPlatform,
    KubernetesPlatformArgs,
)
from .serving_args import MLServingStackArgs, ModelArgs
from .serving_stack import MLServingStack
from .settings import ServedModel, served_model
from .swarm import (
    SwarmModelService,
    SwarmModelServiceArgs,
    SwarmPlatform,
    SwarmPlatformArgs,
)

__all__ = [
    "KubernetesModelService",
    "KubernetesModelServiceArgs",
    "KubernetesPlatform",
    "KubernetesPlatformArgs",
    "MLServingStack",
    "MLServingStackArgs",
    "ModelArgs",
    "ModelImage",
    "ModelImageArgs",
    "ServedModel",
    "SwarmModelService",
    "SwarmModelServiceArgs",
    "SwarmPlatform",
    "SwarmPlatformArgs",
    "served_model",
]
