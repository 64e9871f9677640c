"""Build on the real engine exactly the image a stack declares.

`build_recorded_image(resource, client)` takes a Recording's `docker:index/image:Image` resource
(tests.harness.run_stack) and builds it with the docker SDK from the recorded inputs: context,
dockerfile, build args, platform, target and cache_from, so tests run what the stack declares
rather than something assembled by hand. The engine's classic builder runs the same Dockerfile
the pulumi-docker provider hands to BuildKit (the templates use no BuildKit-only syntax).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from mlstack.offline import RecordedResource, reveal

IMAGE_TYPE = "docker:index/image:Image"
_STEP = re.compile(r"^Step (\d+)/\d+ : (.*)$")


@dataclass(frozen=True)
class BuildStep:
    number: int
    instruction: str
    cached: bool


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    recorded_name: str  # the imageName the stack declares (equal to `tag` unless overridden)
    image_id: str
    steps: tuple[BuildStep, ...]
    log: str

    def step(self, prefix: str) -> BuildStep:
        """The one step whose instruction starts with `prefix` (e.g. 'COPY --from=builder')."""
        found = [s for s in self.steps if s.instruction.startswith(prefix)]
        assert len(found) == 1, f"expected one step {prefix!r}, found {found}"
        return found[0]


class BuildFailedError(AssertionError):
    pass


def recorded_build(resource: RecordedResource) -> dict[str, Any]:
    if resource.type != IMAGE_TYPE:
        raise ValueError(f"{resource.name} is a {resource.type}, not a {IMAGE_TYPE}")
    build: dict[str, Any] = reveal(resource.inputs["build"])
    return build


def build_image(
    resource: RecordedResource,
    client: docker.DockerClient,
    *,
    tag: str | None = None,
    context: Path | None = None,
) -> BuiltImage:
    """Build the recorded image; tag it `tag` (default: the recorded imageName).

    `context`: a copy of the recorded context (e.g. with an edited file) to build instead, with
    the same Dockerfile path inside it and every other recorded input unchanged.
    """
    build = recorded_build(resource)
    recorded_context = Path(build["context"])
    dockerfile = Path(build.get("dockerfile") or recorded_context / "Dockerfile")
    if not dockerfile.is_absolute():
        dockerfile = recorded_context / dockerfile
    dockerfile = dockerfile.relative_to(recorded_context)
    context = context or recorded_context
    name = tag or resource.inputs["imageName"]
    log_lines: list[str] = []
    steps: list[BuildStep] = []
    image_id = None
    pending: tuple[int, str] | None = None
    for chunk in client.api.build(
        path=str(context),
        dockerfile=str(dockerfile),
        buildargs=build.get("args") or {},
        platform=build.get("platform"),
        target=build.get("target"),
        cache_from=(build.get("cacheFrom") or {}).get("images") or None,
        tag=name,
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "error" in chunk:
            raise BuildFailedError(
                f"building {name} failed: {chunk['error']}\n" + "".join(log_lines[-40:])
            )
        text = chunk.get("stream", "")
        if text:
            log_lines.append(text)
            for line in text.splitlines():
                match = _STEP.match(line.strip())
                if match:
                    if pending is not None:
                        steps.append(BuildStep(pending[0], pending[1], cached=False))
                    pending = (int(match.group(1)), match.group(2))
                elif line.strip() == "---> Using cache" and pending is not None:
                    steps.append(BuildStep(pending[0], pending[1], cached=True))
                    pending = None
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
    if pending is not None:
        steps.append(BuildStep(pending[0], pending[1], cached=False))
    if image_id is None:
        image_id = client.images.get(name).id
    return BuiltImage(
        tag=name,
        recorded_name=resource.inputs["imageName"],
        image_id=image_id,
        steps=tuple(steps),
        log="".join(log_lines),
    )


def build_recorded_image(
    resource: RecordedResource, client: docker.DockerClient, *, tag: str | None = None
) -> str:
    """Build the recorded image and return its tag (the recorded imageName unless `tag`)."""
    return build_image(resource, client, tag=tag).tag
