"""How each model's serving image is built and where it is pushed (`mlstack:image`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from components.settings.base import PinnedImage, StrictModel

# The slim Debian image of the Python the reference server is tested with. Pinned by tag: override
# with a @sha256 digest from your registry mirror for byte-for-byte reproducible builds.
DEFAULT_BASE_IMAGE = "python:3.11.11-slim-bookworm"


class ImageSettings(StrictModel):
    registry: Annotated[
        str | None,
        Field(
            pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
            description="Registry and path images are named under, e.g. ghcr.io/acme/models.",
        ),
    ] = None
    push: bool = Field(False, description="Push to the registry; the reference is then a digest.")
    base_image: PinnedImage = Field(
        DEFAULT_BASE_IMAGE, description="Image both build stages start from (has python3)."
    )
    ca_bundle: Annotated[
        str | None,
        Field(description="PEM file of extra CA certificates trusted during the build."),
    ] = None
    platform: Annotated[
        str,
        Field(
            pattern=r"^linux/(amd64|arm64|arm/v7|ppc64le|s390x)$",
            description="Target platform of the build.",
        ),
    ] = "linux/amd64"
    cache_from: list[str] = Field(
        default_factory=list, description="Images whose layers seed the build cache."
    )
    build_args: dict[str, str] = Field(
        default_factory=dict, description="Extra Docker build arguments."
    )
    registry_username: str | None = Field(None, description="User for the registry push.")
