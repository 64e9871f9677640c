"""mlstack components: reusable Pulumi components for autoscaled model serving.

Use `MLServingStack` for a whole environment, or the per-concern components on their own:
`ModelImage`, `KubernetesPlatform` + `KubernetesModelService`,
`SwarmPlatform` + `SwarmModelService`.
"""

from components.image import ModelImage, ModelImageArgs
from components.kubernetes import (
    KubernetesModelService,
    KubernetesModelServiceArgs,
    KubernetesPlatform,
    KubernetesPlatformArgs,
)
from components.serving_stack import MLServingStack
from components.swarm import (
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
