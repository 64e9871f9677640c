"""The build context of a model image: which files, their content hash, the image tag.

Pure functions over bytes, plus one writer. The tag is `<version>-<hash>` where the hash covers
every byte of the context (Dockerfile, requirements, artifact, server code, CA bundle; for an
MLflow model every file of its directory) in a stable order, so any change gives a new tag and
an unchanged context gives the same tag on any machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from components.image.render import DockerfileSpec, render_dockerfile, requirements_for
from components.mlflow_model import image_requirements, model_files, read_mlflow_model
from components.settings import Framework, ImageSettings, ServedModel

DOCKERFILE = "Dockerfile"
REQUIREMENTS = "requirements.txt"
MODEL_REQUIREMENTS = "model-requirements.txt"  # an MLflow model's own, as the image installs them
CA_BUNDLE_FILE = "extra-ca.pem"
SERVER_PACKAGE = "model_server"
MODEL_DIR = "model"
MODELS_PATH = "/models"
TAG_HASH_LENGTH = 12
LOCAL_REPOSITORY_PREFIX = "mlstack"
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


def image_tag(version: str, digest: str) -> str:
    """Never `latest`: the model version, then the context hash (a tag has at most 128 chars)."""
    return f"{version}-{digest[:TAG_HASH_LENGTH]}"


def image_repository(registry: str | None, model_name: str) -> str:
    return f"{registry}/{model_name}" if registry else f"{LOCAL_REPOSITORY_PREFIX}/{model_name}"


def registry_server(registry: str) -> str:
    """'ghcr.io/acme/models' -> 'ghcr.io' (where credentials are presented)."""
    return registry.split("/", 1)[0]


def server_files() -> dict[str, bytes]:
    """The model_server package's Python files (its requirements go in their own layer)."""
    package = resources.files(SERVER_PACKAGE)
    return {
        f"{SERVER_PACKAGE}/{entry.name}": entry.read_bytes()
        for entry in package.iterdir()
        if entry.is_file() and entry.name.endswith(".py")
    }


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
    artifact = project_dir / model.artifact
    name = artifact_name(artifact)
    files: dict[str, bytes] = {
        REQUIREMENTS: requirements_for(model.framework).encode(),
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
        model_requirements_file=model_requirements,
        python_version=python_version,
        labels=dict(labels or {}),
    )
    files[DOCKERFILE] = render_dockerfile(spec).encode()
    return BuildContext(files=files, spec=spec)


def build_directory(project_dir: Path, environment: str, model_name: str) -> Path:
    return project_dir / ".mlstack" / "build" / environment / model_name


def _matches(directory: Path, files: Mapping[str, bytes]) -> bool:
    if not directory.is_dir():
        return False
    present = {str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file()}
    return present == set(files) and all(
        (directory / name).read_bytes() == data for name, data in files.items()
    )


def write_build_context(files: Mapping[str, bytes], directory: Path) -> None:
    """Make `directory` hold exactly `files` (mode 0644/0755, so COPY gives the same layers on
    every machine). Written beside it and swapped in, so a reader never sees half a context."""
    if _matches(directory, files):
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        staging.chmod(0o755)
        for name in sorted(files):
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            target.write_bytes(files[name])
            target.chmod(0o644)
        for folder in staging.rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
