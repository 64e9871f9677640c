"""mlstack components: reusable Pulumi components for autoscaled model serving.

Use `MLServingStack` for a whole environment, or the per-concern components on their own:
`ModelImage`, `KubernetesPlatform` + `KubernetesModelService`,
`SwarmPlatform` + `SwarmModelService`.
"""

from .image import ModelImage, ModelImageArgs
from .kubernetes import (
    KubernetesModelService,
    KubernetesModelServiceArgs,
    KubernetesPlatform,
    KubernetesPlatformArgs,
)
from .serving_stack import MLServingStack
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
    "ModelImage",
    "ModelImageArgs",
    "SwarmModelService",
    "SwarmModelServiceArgs",
    "SwarmPlatform",
    "SwarmPlatformArgs",
]
