"""The mlstack Pulumi program: stack config in, serving stack out."""

from pathlib import Path

import pulumi

from mlstack.components import MLServingStack
from mlstack.components.settings.pulumi_config import settings_from_pulumi

settings = settings_from_pulumi(project_dir=Path(__file__).resolve().parent)
serving = MLServingStack.from_settings("mlstack", settings)

pulumi.export("orchestrator", settings.orchestrator.value)
pulumi.export("imageRefs", serving.image_refs)
pulumi.export("endpoints", serving.endpoints)
