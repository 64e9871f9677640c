"""Build on the real engine exactly the image a stack declares.

`build_recorded_image(resource, client)` takes a Recording's `docker:index/image:Image` resource
(tests.support.harness.run_stack) and builds it with the docker SDK from the recorded inputs:
context, dockerfile, build args, platform, target and cache_from, so tests run what the stack
declares rather than something assembled by hand. The engine's classic builder runs the same
Dockerfile the pulumi-docker provider hands to BuildKit (the templates use no BuildKit-only syntax);
`buildkit_build` builds it with BuildKit itself, through the docker CLI, to show that too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from mlstack.components.image.context import BuildOptions, build_digest, image_tag
from mlstack.offline import RecordedResource, reveal
from tests.support.harness import recorded_in

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


def recorded_context(resource: RecordedResource) -> Path:
    """The recorded build context on disk. The recorded path is relative to the directory the
    program ran in, the project's (harness.recorded_in), which is where the provider resolves it
    too."""
    context: str = recorded_build(resource)["context"]
    return recorded_in(resource) / context


def build_paths(resource: RecordedResource, context: Path | None) -> tuple[Path, Path]:
    """The context to build (`context`, or the recorded one) and the recorded Dockerfile's path
    relative to it. Both recorded paths are relative to the project directory, as the provider
    resolves them (docker/cli GetContextFromLocalDir: each against the working directory)."""
    build = recorded_build(resource)
    project = recorded_in(resource)
    recorded = project / build["context"]
    dockerfile = project / (build.get("dockerfile") or f"{build['context']}/Dockerfile")
    return context or recorded, dockerfile.relative_to(recorded)


def recorded_tag(resource: RecordedResource, files: dict[str, bytes], prefix: str) -> str:
    """The tag ModelImage would give `files` built with the recorded build options."""
    build = recorded_build(resource)
    options = BuildOptions(
        platform=build["platform"], args=build.get("args") or {}, target=build.get("target")
    )
    return image_tag(prefix, build_digest(files, options))


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
    context, dockerfile = build_paths(resource, context)
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


# ---- BuildKit: the builder the pulumi-docker provider uses ----

_BUILDKIT_STEP = re.compile(r"^#(\d+) \[(?:[\w-]+ )?\d+/\d+\] (.*)$")


@dataclass(frozen=True)
class BuildKitImage:
    tag: str
    image_id: str
    instructions: dict[str, bool]  # each Dockerfile instruction run -> whether it was CACHED
    log: str

    def cached(self, prefix: str) -> bool:
        """Whether the one instruction starting with `prefix` came from BuildKit's cache."""
        found = [text for text in self.instructions if text.startswith(prefix)]
        assert len(found) == 1, f"expected one instruction {prefix!r}, found {found}"
        return self.instructions[found[0]]


def buildkit_cli() -> str | None:
    """A docker CLI that builds with BuildKit: one with `buildx`, or a pre-23 one (BuildKit
    built in, as Debian's docker.io ships). None when there is none."""
    for cli in dict.fromkeys(filter(None, ["/usr/bin/docker", shutil.which("docker")])):
        if subprocess.run([cli, "buildx", "version"], capture_output=True).returncode == 0:
            return cli
        version = subprocess.run(
            [cli, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
        ).stdout.strip()
        if version and int(version.split(".", 1)[0]) < 23:
            return cli
    return None


def buildkit_build(
    resource: RecordedResource, cli: str, *, tag: str, context: Path | None = None
) -> BuildKitImage:
    """Build the recorded image with BuildKit from the same recorded inputs as build_image."""
    build = recorded_build(resource)
    context, dockerfile = build_paths(resource, context)
    command = [cli, "build", "--progress=plain", "--tag", tag, "--file", str(context / dockerfile)]
    for key, value in (build.get("args") or {}).items():
        command += ["--build-arg", f"{key}={value}"]
    if build.get("target"):
        command += ["--target", build["target"]]
    if build.get("platform"):
        command += ["--platform", build["platform"]]
    for image in (build.get("cacheFrom") or {}).get("images") or []:
        command += ["--cache-from", image]
    done = subprocess.run(
        [*command, str(context)],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        check=False,
    )
    log = done.stdout + done.stderr
    if done.returncode != 0:
        raise BuildFailedError(f"BuildKit build of {tag} failed:\n{log[-4000:]}")
    names: dict[str, str] = {}
    instructions: dict[str, bool] = {}
    for line in log.splitlines():
        match = _BUILDKIT_STEP.match(line.strip())
        if match:
            names[match.group(1)] = match.group(2)
            instructions.setdefault(match.group(2), False)
        elif line.strip().endswith(" CACHED"):
            number = line.strip().split(" ", 1)[0].lstrip("#")
            if number in names:
                instructions[names[number]] = True
    inspected = subprocess.run(
        [cli, "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        text=True,
        check=True,
    )
    return BuildKitImage(tag, inspected.stdout.strip(), instructions, log)
