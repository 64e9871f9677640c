"""ModelImage: a model's serving image, built from a rendered Dockerfile with pulumi-docker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.settings import ImageSettings, ServedModel


@dataclass(frozen=True)
class ModelImageArgs:
    model: ServedModel
    image: ImageSettings
    environment: str
    project_dir: Path
    registry_password: pulumi.Input[str] | None = None


class ModelImage(pulumi.ComponentResource):
    """Builds the model server image for one model; `image_ref` is what orchestrators run."""

    image_ref: pulumi.Output[str]

    def __init__(
        self, name: str, args: ModelImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlstack:image:ModelImage", name, None, opts)
        model = args.model
        repository = f"{args.image.registry}/{model.name}" if args.image.registry else model.name
        image = docker.Image(
            f"{name}-build",
            image_name=f"{repository}:{model.version}",
            build=docker.DockerBuildArgs(
                context=str(args.project_dir), platform=args.image.platform
            ),
            skip_push=not args.image.push,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image_ref = image.image_name
        self.register_outputs({"imageRef": self.image_ref})
