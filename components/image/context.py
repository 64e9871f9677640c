"""The build context of an image: which files, where they are written, the hash that tags it.

Pure functions over bytes, plus one writer. A tag ends in a hash of everything that changes the
built bytes: every byte of the context (Dockerfile, requirements, artifact, server code, CA
bundle; for an MLflow model every file of its directory) in a stable order, and the build
options that are not in it (build args, platform, target). Any change gives a new tag; the same
inputs give the same tag in any checkout.

Location independence: the context is written under the project at a relative path, and the
docker.Image inputs name it relative to the program's working directory, which Pulumi makes the
project directory for the program and the provider alike; every file is written with the same
mode and modification time, so the context is the same bytes from any clone at any time, and so
are the files COPY puts in the image (the builder keeps their modes and times).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from pulumi.provider.experimental import host

from ..mlflow_model import image_requirements, model_files, read_mlflow_model
from ..settings import Framework, ImageSettings, ServedModel
from .render import DockerfileSpec, render_dockerfile, requirements_for

DOCKERFILE = "Dockerfile"
REQUIREMENTS = "requirements.txt"
MODEL_REQUIREMENTS = "model-requirements.txt"  # an MLflow model's own, as the image installs them
CA_BUNDLE_FILE = "extra-ca.pem"
SERVER_PACKAGE = "model_server"
MODEL_DIR = "model"
MODELS_PATH = "/models"
TAG_HASH_LENGTH = 12
BUILD_ROOT = PurePosixPath(".mlstack/build")
# BuildKit and the classic builder keep a file's mode and mtime in the layer COPY makes (tested in
# tests/test_image_engine.py): one fixed time makes a context written anywhere, anytime, put the
# same files in the image. (Folders COPY creates get the build's time; nothing here sets that.)
CONTEXT_MTIME = 315_532_800  # 1980-01-01T00:00:00Z (as wheels and zip archives use)
FILE_MODE, FOLDER_MODE = 0o644, 0o755
_SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class BuildContext:
    """Relative path -> bytes, plus the Dockerfile spec it was rendered from."""

    files: Mapping[str, bytes]
    spec: DockerfileSpec

    @property
    def digest(self) -> str:
        return content_hash(self.files)


def content_hash(files: Mapping[str, bytes]) -> str:
    """sha256 over (path, size, bytes) of every file, in sorted path order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        data = files[path]
        digest.update(path.encode())
        digest.update(b"\0")
        digest.update(str(len(data)).encode())
        digest.update(b"\0")
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class BuildOptions:
    """What the builder is told besides the context; each changes the built bytes."""

    platform: str
    args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None


def build_digest(files: Mapping[str, bytes], options: BuildOptions) -> str:
    """sha256 over the context's content hash and the build options, so `image.platform` or a
    build argument changes the tag as surely as a changed file does."""
    described = {"args": dict(options.args), "platform": options.platform, "target": options.target}
    digest = hashlib.sha256(content_hash(files).encode())
    digest.update(b"\0")
    digest.update(json.dumps(described, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def image_tag(prefix: str, digest: str) -> str:
    """Never `latest`: a prefix (the model version), then the build hash (at most 128 chars)."""
    return f"{prefix}-{digest[:TAG_HASH_LENGTH]}"


def server_files() -> dict[str, bytes]:
    """The model_server package's Python files (its requirements go in their own layer)."""
    package = resources.files(f"mlstack.{SERVER_PACKAGE}")
    return {
        f"{SERVER_PACKAGE}/{entry.name}": entry.read_bytes()
        for entry in package.iterdir()
        if entry.is_file() and entry.name.endswith(".py")
    }


def uses_gpu(model: ServedModel) -> bool:
    """A model whose size reserves GPUs gets its framework's GPU build (settings refuse the
    frameworks that have none)."""
    return model.size.resources.gpu > 0


def artifact_name(artifact: Path) -> str:
    """The artifact's file (or directory) name in the image; unusual names become
    model<suffix>."""
    name = artifact.name
    return name if _SAFE_FILE_NAME.match(name) else f"model{artifact.suffix.lower()}"


def plan_build_context(
    model: ServedModel,
    image: ImageSettings,
    project_dir: Path,
    *,
    labels: Mapping[str, str] | None = None,
) -> BuildContext:
    """Read the artifact (and the CA bundle) and render everything the image is built from."""
    if model.artifact is None:
        raise ValueError(
            f"model {model.name} runs the pinned image {model.image}: nothing to build"
        )
    artifact = project_dir / model.artifact
    name = artifact_name(artifact)
    gpu = uses_gpu(model)
    files: dict[str, bytes] = {
        REQUIREMENTS: requirements_for(model.framework, gpu=gpu).encode(),
        **server_files(),
    }
    model_requirements = python_version = None
    if model.framework is Framework.MLFLOW:
        try:  # the settings check ran these already; a model changed since then ends here
            mlflow_model = read_mlflow_model(artifact)
            requirements = image_requirements(mlflow_model)
            for path, data in model_files(artifact).items():
                files[f"{MODEL_DIR}/{name}/{path}"] = data
        except ValueError as error:
            raise ValueError(f"MLflow model {model.artifact}: {error}") from None
        files[MODEL_REQUIREMENTS] = "".join(f"{line}\n" for line in requirements).encode()
        model_requirements, python_version = MODEL_REQUIREMENTS, mlflow_model.python_version
    else:
        files[f"{MODEL_DIR}/{name}"] = artifact.read_bytes()
    ca_file = None
    if image.ca_bundle is not None:
        # An absolute caBundle stays absolute: `/` drops project_dir for an absolute right side.
        files[CA_BUNDLE_FILE] = (project_dir / image.ca_bundle).read_bytes()
        ca_file = CA_BUNDLE_FILE
    spec = DockerfileSpec(
        model_name=model.name,
        model_version=model.version,
        framework=model.framework,
        base_image=image.base_image,
        port=model.port,
        artifact_source=f"{MODEL_DIR}/{name}",
        artifact_path=f"{MODELS_PATH}/{name}",
        start_period=model.startup_timeout_seconds,
        ca_bundle_file=ca_file,
        gpu=gpu,
        model_requirements_file=model_requirements,
        python_version=python_version,
        labels=dict(labels or {}),
    )
    files[DOCKERFILE] = render_dockerfile(spec).encode()
    return BuildContext(files=files, spec=spec)


def build_directory(environment: str, name: str) -> PurePosixPath:
    """Where the context of image `name` is written, relative to the project directory."""
    return BUILD_ROOT / environment / name


def provider_path(project_dir: Path, relative: PurePosixPath) -> str:
    """A project path as pulumi-docker reads it: relative to its working directory. Pulumi
    starts the program and the provider in the same directory, the project's (pulumi/pulumi
    pkg/engine/project.go getPwdMain; plugin.go `cmd.Dir = pwd`), and the provider resolves
    build.context and build.dockerfile against it (docker/cli GetContextFromLocalDir: both
    filepath.Abs; pulumi-docker 5.2 provider.go Check stats the dockerfile as given).

    Hosted in the component package's provider (components/__main__.py), this process runs in
    the plugin's folder, not the program's, and nothing says where the program runs: the path
    is then absolute, which pulumi-docker reads the same from any directory."""
    if host.is_hosting:
        return (project_dir / relative).resolve().as_posix()
    return Path(os.path.relpath(project_dir / relative, Path.cwd())).as_posix()


def _normalize(path: Path, mode: int) -> None:
    path.chmod(mode)
    os.utime(path, (CONTEXT_MTIME, CONTEXT_MTIME), follow_symlinks=False)


def _matches(directory: Path, files: Mapping[str, bytes]) -> bool:
    if not directory.is_dir():
        return False
    present = {
        path.relative_to(directory).as_posix(): path
        for path in directory.rglob("*")
        if not path.is_dir()
    }
    return set(present) == set(files) and all(
        path.is_file() and not path.is_symlink() and path.read_bytes() == files[name]
        for name, path in present.items()
    )


def write_build_context(files: Mapping[str, bytes], directory: Path) -> None:
    """Make `directory` hold exactly `files`, each file 0644 and each folder 0755 (the
    provider's context digest includes modes) with the same mtime (CONTEXT_MTIME). New content
    is written beside it and swapped in, so a reader never sees half a context."""
    if not _matches(directory, files):
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            for name in sorted(files):
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(files[name])
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(staging, directory)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    # Also for a context already in place: another umask, a checkout tool or an editor may have
    # changed its modes or times.
    for path in sorted(directory.rglob("*"), reverse=True):
        _normalize(path, FOLDER_MODE if path.is_dir() else FILE_MODE)
    _normalize(directory, FOLDER_MODE)
