"""Pushing a built image and naming what orchestrators run: shared by every image mlstack builds
(the model images and the Swarm proxy)."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from components.image.context import registry_server
from components.settings import ImageSettings


def push_registry(
    settings: ImageSettings, password: pulumi.Input[str] | None
) -> docker.RegistryArgs | None:
    """Where and as whom docker.Image pushes; None when the image stays local."""
    if not (settings.push and settings.registry):
        return None
    return docker.RegistryArgs(
        server=registry_server(settings.registry),
        username=settings.registry_username,
        password=pulumi.Output.secret(password) if password is not None else None,
    )


def image_reference(image: docker.Image, pushed: bool) -> pulumi.Output[str]:
    """The reference a service runs. Pushed: the registry digest, which pins exactly what was
    built (the offline recorder's mocks echo inputs and repoDigest is an output only, so there it
    is empty and the content-addressed tag stands in). Local: repoDigest would be a bare image
    ID, which Swarm and Kubernetes cannot pull; the content-hash tag is unique per context."""
    if pushed:
        return pulumi.Output.all(image.repo_digest, image.image_name).apply(
            lambda values: values[0] or values[1]
        )
    return image.image_name
