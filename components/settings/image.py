"""How each model's serving image is built and where it is pushed (`mlstack:image`)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from .base import PinnedImage, StrictModel

# The slim Debian image of the Python the reference server is tested with. Pinned by tag: override
# with a @sha256 digest from your registry mirror for byte-for-byte reproducible builds.
DEFAULT_BASE_IMAGE = "python:3.11.11-slim-bookworm"

# Build arguments mlstack sets itself; a stack sets them through their own keys.
RESERVED_BUILD_ARGS = {"BASE_IMAGE": "mlstack:image.baseImage"}
_BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_build_args(args: dict[str, str]) -> dict[str, str]:
    for name in args:
        if name in RESERVED_BUILD_ARGS:
            raise ValueError(
                f"expected build argument names other than {name} "
                f"(set it with {RESERVED_BUILD_ARGS[name]})"
            )
        if not _BUILD_ARG_NAME.match(name):
            raise ValueError(
                f"expected build argument names of letters, digits and '_' "
                f"not starting with a digit ({name!r} is not)"
            )
    return args


class ImageSettings(StrictModel):
    registry: Annotated[
        str | None,
        Field(
            pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
            description=(
                "Registry and path images are pushed to, e.g. ghcr.io/acme/models (acme/models: "
                "a Docker Hub namespace). Required on Kubernetes."
            ),
        ),
    ] = None
    push: bool = Field(
        False,
        description=(
            "Push to the registry (required on Kubernetes); services then run the pushed digest. "
            "Unpushed images are named localhost/mlstack/<model>."
        ),
    )
    base_image: PinnedImage = Field(
        DEFAULT_BASE_IMAGE, description="Image both build stages start from (has python3)."
    )
    ca_bundle: Annotated[
        str | None,
        Field(
            description=(
                "PEM file of extra CA certificates pip trusts during the build (builder stage "
                "only); relative to the project, or absolute."
            )
        ),
    ] = None
    platform: Annotated[
        str,
        Field(
            pattern=r"^linux/(amd64|arm64|arm/v7|ppc64le|s390x)$",
            description="Target platform of the build (part of the image tag).",
        ),
    ] = "linux/amd64"
    cache_from: list[str] = Field(
        default_factory=list,
        description="Images on mlstack:image.registry whose layers seed the build cache.",
    )
    build_args: Annotated[dict[str, str], AfterValidator(_check_build_args)] = Field(
        default_factory=dict,
        description="Extra Docker build arguments, e.g. PIP_INDEX_URL for a package mirror.",
    )
    registry_username: str | None = Field(
        None, description="Registry user for the push, Swarm pulls and the Kubernetes pull secret."
    )
