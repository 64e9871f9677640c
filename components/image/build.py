"""Declaring one docker.Image from a rendered build context: shared by every image mlstack
builds (the model images and the Swarm proxy), so both are named, tagged, located and pushed
the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker

from ..settings import ImageSettings
from .context import (
    DOCKERFILE,
    BuildOptions,
    build_digest,
    build_directory,
    image_tag,
    provider_path,
    write_build_context,
)
from .publish import push_registry, repository


@dataclass(frozen=True)
class ImageBuild:
    """One image: its name, the files of its context and how the builder is run."""

    name: str  # repository name ("iris", "proxy"); also names the context directory
    tag_prefix: str  # the model version, or what the image is ("nginx")
    files: Mapping[str, bytes]
    options: BuildOptions
    cache_from: Sequence[str] = field(default_factory=tuple)

    @property
    def tag(self) -> str:
        return image_tag(self.tag_prefix, build_digest(self.files, self.options))


def image_name(settings: ImageSettings, build: ImageBuild) -> str:
    """`<repository>:<tag>`: what the image is tagged (and pushed) as."""
    return f"{repository(settings, build.name)}:{build.tag}"


def declare_image(
    resource_name: str,
    build: ImageBuild,
    *,
    environment: str,
    project_dir: Path,
    settings: ImageSettings,
    password: pulumi.Input[str] | None,
    parent: pulumi.Resource,
) -> docker.Image:
    """Write the context to `.mlstack/build/<environment>/<name>/` under the project and declare
    the image built from it by the parent's Docker provider (the engine that runs it, for
    Swarm). Inputs hold no absolute path: they are the same from every checkout."""
    relative = build_directory(environment, build.name)
    write_build_context(build.files, project_dir / relative)
    context = provider_path(project_dir, relative)
    return docker.Image(
        resource_name,
        image_name=image_name(settings, build),
        build=docker.DockerBuildArgs(
            # The Dockerfile path includes the context: pulumi-docker resolves both against its
            # working directory, not the dockerfile against the context (pulumi-docker#572).
            context=context,
            dockerfile=f"{context}/{DOCKERFILE}",
            args=dict(build.options.args),
            platform=build.options.platform,
            target=build.options.target,
            cache_from=(
                docker.CacheFromArgs(images=list(build.cache_from)) if build.cache_from else None
            ),
        ),
        registry=push_registry(settings, password),
        skip_push=not settings.push,
        opts=pulumi.ResourceOptions(parent=parent),
    )
