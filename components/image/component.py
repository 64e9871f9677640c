"""ModelImage: a model's serving image, built from a rendered Dockerfile with pulumi-docker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.image.context import (
    DOCKERFILE,
    build_directory,
    image_repository,
    image_tag,
    plan_build_context,
    write_build_context,
)
from components.image.publish import image_reference, push_registry
from components.image.render import RUNTIME_TARGET
from components.labels import PART_OF
from components.settings import ImageSettings, ServedModel

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
    when the program runs; the tag is `<version>-<hash of that context>`.
    """

    image_ref: pulumi.Output[str]
    image_name: str

    def __init__(
        self, name: str, args: ModelImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        model, settings = args.model, args.image
        context = plan_build_context(model, settings, args.project_dir, labels=oci_labels(model))
        directory = build_directory(args.project_dir, args.environment, model.name).resolve()
        write_build_context(context.files, directory)
        self.image_name = (
            f"{image_repository(settings.registry, model.name)}:"
            f"{image_tag(model.version, context.digest)}"
        )
        image = docker.Image(
            f"{name}-build",
            image_name=self.image_name,
            build=docker.DockerBuildArgs(
                # Absolute paths: pulumi-docker resolves a relative dockerfile against its own
                # working directory, not the context (pulumi/pulumi-docker#572).
                context=str(directory),
                dockerfile=str(directory / DOCKERFILE),
                args=build_args(settings),
                platform=settings.platform,
                target=RUNTIME_TARGET,
                cache_from=(
                    docker.CacheFromArgs(images=list(settings.cache_from))
                    if settings.cache_from
                    else None
                ),
            ),
            registry=push_registry(settings, args.registry_password),
            skip_push=not settings.push,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image_ref = image_reference(image, pushed=settings.push)
        self.register_outputs({"imageRef": self.image_ref})
