"""Naming, pushing and pulling the images mlstack builds (the model images and the Swarm
proxy): the pulumi-docker arguments, with every value decided by components/registry.py."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from ..registry import Registry, image_repository
from ..settings import ImageSettings


def repository(settings: ImageSettings, name: str) -> str:
    """The repository image `name` is tagged in (a local name unless it is pushed)."""
    return image_repository(settings.registry, settings.push, name)


def push_registry(
    settings: ImageSettings, password: pulumi.Input[str] | None
) -> docker.RegistryArgs | None:
    """The registry docker.Image logs in to: to push, and to pull `cacheFrom` images (the
    provider pulls them with these same credentials). None when the build uses no registry."""
    if not settings.registry or not (settings.push or settings.cache_from):
        return None
    return docker.RegistryArgs(
        server=Registry.parse(settings.registry).server_address,
        username=settings.registry_username,
        password=pulumi.Output.secret(password) if password is not None else None,
    )


def service_auth(
    settings: ImageSettings, password: pulumi.Input[str] | None
) -> docker.ServiceAuthArgs | None:
    """Credentials every Swarm node pulls pushed images with; None for public or local images
    (the provider drops a partial login anyway: kreuzwerker v4.5 authToServiceAuth)."""
    if password is None or not (settings.push and settings.registry and settings.registry_username):
        return None
    return docker.ServiceAuthArgs(
        server_address=Registry.parse(settings.registry).server_address,
        username=settings.registry_username,
        password=pulumi.Output.secret(password),
    )


def image_reference(image: docker.Image, pushed: bool) -> pulumi.Output[str]:
    """The reference a service runs. Pushed: the registry digest, which pins exactly what was
    built (the offline recorder's mocks echo inputs and repoDigest is an output only, so there it
    is empty and the content-addressed tag stands in). Local: repoDigest would be a bare image
    ID, which Swarm and Kubernetes cannot pull; the content-hash tag is unique per build."""
    if pushed:
        return pulumi.Output.all(image.repo_digest, image.image_name).apply(
            lambda values: values[0] or values[1]
        )
    return image.image_name
