"""ModelImage: a model's serving image, built from a rendered Dockerfile with pulumi-docker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from ..labels import PART_OF
from ..settings import ImageSettings, ServedModel
from .build import ImageBuild, declare_image, image_name
from .context import BuildOptions, plan_build_context, uses_gpu
from .publish import image_reference
from .render import RUNTIME_TARGET

TYPE = "mlstack:image:ModelImage"


@dataclass(frozen=True)
class ModelImageArgs:
    model: ServedModel
    image: ImageSettings
    environment: str
    project_dir: Path
    # A Pulumi secret (mlstack:registryPassword); used only to push.
    registry_password: pulumi.Input[str] | None = None


def oci_labels(model: ServedModel) -> dict[str, str]:
    """OCI image annotations; no creation time, so an unchanged context rebuilds identically."""
    return {
        "org.opencontainers.image.title": model.name,
        "org.opencontainers.image.version": model.version,
        "org.opencontainers.image.description": (
            f"{model.name} {model.version} ({model.framework.value}) served by mlstack"
        ),
        "org.opencontainers.image.vendor": PART_OF,
        "dev.mlstack.model.name": model.name,
        "dev.mlstack.model.framework": model.framework.value,
        "dev.mlstack.model.accelerator": "nvidia-gpu" if uses_gpu(model) else "cpu",
    }


def build_args(image: ImageSettings) -> dict[str, str]:
    """The base image travels as BASE_IMAGE (settings forbid setting it through buildArgs).
    Pushed images carry BuildKit's inline cache, so later builds can use them as cache_from."""
    args = {**image.build_args, "BASE_IMAGE": image.base_image}
    if image.push:
        args["BUILDKIT_INLINE_CACHE"] = "1"
    return args


class ModelImage(pulumi.ComponentResource):
    """Builds the model server image for one model; `image_ref` is what orchestrators run.

    The build context is written to `.mlstack/build/<environment>/<model>/` under the project
    when the program runs; the tag is `<version>-<hash of the context and build options>`. The
    image is built by the Docker provider the component is given (on Swarm: the stack's
    engine, so the services find the image where it was built).
    """

    image_ref: pulumi.Output[str]
    image_name: str

    def __init__(
        self, name: str, args: ModelImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        model, settings = args.model, args.image
        context = plan_build_context(model, settings, args.project_dir, labels=oci_labels(model))
        build = ImageBuild(
            name=model.name,
            tag_prefix=model.version,
            files=context.files,
            options=BuildOptions(
                platform=settings.platform, args=build_args(settings), target=RUNTIME_TARGET
            ),
            cache_from=tuple(settings.cache_from),
        )
        image = declare_image(
            f"{name}-build",
            build,
            environment=args.environment,
            project_dir=args.project_dir,
            settings=settings,
            password=args.registry_password,
            parent=self,
        )
        self.image_name = image_name(settings, build)
        self.image_ref = image_reference(image, pushed=settings.push)
        self.register_outputs({"imageRef": self.image_ref})
