"""Rules on what each model's image is built from and where it goes: the artifact, the
framework, GPUs, the registry. Each finding is a Problem naming the stack-file key."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..registry import Registry, image_domain
from .artifacts import ARTIFACT_CHECKS, ArtifactError
from .errors import Problem, missing
from .secret_advice import STDIN_NOTE, config_stack, set_secret_command
from .stack import (
    Framework,
    ModelConfig,
    Orchestrator,
    ServedModel,
    StackConfig,
)

NAMESPACE = "mlstack"
# Frameworks whose image can run a model on a GPU (components/image renders their GPU build).
GPU_FRAMEWORKS = frozenset({Framework.ONNX})


def artifact_problems(
    index: int, model: ModelConfig, project_dir: Path, source: str
) -> list[Problem]:
    """The artifact exists, lies inside the project (what a clone or CI checkout has too) and is
    in the format of the model's framework."""
    key = f"{NAMESPACE}:models[{index}].artifact"
    inside = f"a path to an existing file inside the project, relative to {project_dir}"
    if model.artifact is None:
        return []  # the model runs a pinned image (server_image.py has its rules)
    given = Path(model.artifact)
    if given.is_absolute():
        return [
            Problem(
                source, key, "an absolute path works only in this checkout (not in a clone or CI)",
                inside, model.artifact,
            )
        ]  # fmt: skip
    path = (project_dir / given).resolve()
    if not path.is_relative_to(project_dir.resolve()):
        return [
            Problem(
                source, key, "the model file is outside the project directory (through '..' or "
                "a symlink), so another checkout would not have it", inside, model.artifact,
            )
        ]  # fmt: skip
    if model.framework is Framework.MLFLOW:  # a directory; its check says if it is a file
        if not path.exists():
            inside = inside.replace("an existing file", "an MLflow model directory")
            return [Problem(source, key, "model directory not found", inside, model.artifact)]
    elif not path.is_file():
        return [Problem(source, key, "model file not found", inside, model.artifact)]
    try:
        ARTIFACT_CHECKS[model.framework](path)
    except ArtifactError as mismatch:
        return [
            Problem(
                source, key, f"wrong file for framework {model.framework.value}: {mismatch.found}",
                f"{mismatch.expected}; or the framework that saved it", model.artifact,
            )
        ]  # fmt: skip
    except ValueError as error:
        return [
            Problem(
                source, key, f"wrong file for framework {model.framework.value}: {error}",
                f"a model file the {model.framework.value} image loads", model.artifact,
            )
        ]  # fmt: skip
    return []


def image_problems(config: StackConfig, project_dir: Path, source: str) -> list[Problem]:
    """Registry, push, credentials and CA bundle, as the orchestrator needs them."""
    key = f"{NAMESPACE}:image"
    image = config.image
    problems: list[Problem] = []
    if image.push and image.registry is None:
        problems.append(
            Problem(
                source, f"{key}.push", "pushing needs a registry",
                "false, or set mlstack:image.registry", image.push,
            )
        )  # fmt: skip
    builds = any(model.image is None for model in config.models)
    if config.orchestrator is Orchestrator.KUBERNETES and builds:
        problems += _kubernetes_pulls_from_a_registry(config, source)
    uses_registry = image.registry is not None and (image.push or bool(image.cache_from))
    if uses_registry and image.registry_username and not config.registry_password:
        problems.append(
            Problem(
                source, f"{NAMESPACE}:registryPassword", "a registry username needs a password",
                f"a secret: {set_secret_command('registryPassword', config_stack(source))} "
                f"({STDIN_NOTE})", missing(),
            )
        )  # fmt: skip
    problems += _cache_from_problems(config, source)
    if image.ca_bundle is not None and not (project_dir / image.ca_bundle).is_file():
        problems.append(
            Problem(
                source, f"{key}.caBundle", "CA bundle file not found",
                f"a path to a PEM file, relative to {project_dir}", image.ca_bundle,
            )
        )  # fmt: skip
    return problems


def _kubernetes_pulls_from_a_registry(config: StackConfig, source: str) -> list[Problem]:
    """A cluster's nodes pull every image from a registry: an image that was only built (on
    the machine running `pulumi up`) is on none of them."""
    image = config.image
    if image.registry is None:
        return [
            Problem(
                source, f"{NAMESPACE}:image.registry",
                "a Kubernetes stack needs a registry to push its images to (the cluster's nodes "
                "pull them from there)", "a registry the nodes can pull from, with "
                "mlstack:image.push true, e.g. ghcr.io/acme/models", missing(),
            )
        ]  # fmt: skip
    if not image.push:
        return [
            Problem(
                source, f"{NAMESPACE}:image.push",
                f"a Kubernetes stack must push its images to {image.registry} (an unpushed image "
                "exists only on the engine that built it)", "true", image.push,
            )
        ]  # fmt: skip
    return []


def _cache_from_problems(config: StackConfig, source: str) -> list[Problem]:
    """pulumi-docker 5.2 pulls `cacheFrom` images before building, logged in with the image's
    registry credentials (provider/image.go: one getRegistryAuth for the push and every cache
    image), and insists on fully qualified names once cacheFrom is set (provider.go Check)."""
    image = config.image
    key = f"{NAMESPACE}:image.cacheFrom"
    if not image.cache_from:
        return []
    if image.registry is None:
        return [
            Problem(
                source, key, "cache images come from a registry, and none is set",
                "set mlstack:image.registry (cache images on it, e.g. "
                "ghcr.io/acme/models/iris:cache), or no cacheFrom", list(image.cache_from),
            )
        ]  # fmt: skip
    registry = Registry.parse(image.registry)
    return [
        Problem(
            source, f"{key}[{index}]",
            f"an image on {image_domain(reference)}; the provider would pull it with the "
            f"credentials for {registry.host}", f"images on {registry.host}, e.g. "
            f"{registry.repository('iris')}:cache", reference,
        )
        for index, reference in enumerate(image.cache_from)
        if not registry.serves(reference)
    ]  # fmt: skip


def gpu_problems(config: StackConfig, models: Sequence[ServedModel], source: str) -> list[Problem]:
    """A model whose size reserves GPUs must have a framework whose image can use them; on any
    other a GPU would be reserved, paid for and never used."""
    index = {model.name: position for position, model in reversed(list(enumerate(config.models)))}
    problems = []
    for model in models:
        gpus = model.size.resources.gpu
        # A model's own image (models[].image) is not built: whether it uses a GPU is its own.
        if gpus > 0 and model.image is None and model.framework not in GPU_FRAMEWORKS:
            capable = ", ".join(sorted(framework.value for framework in GPU_FRAMEWORKS))
            problems.append(
                Problem(
                    source, f"{NAMESPACE}:models[{index[model.name]}].framework",
                    f"{model.framework.value} models cannot use a GPU, and this model's size "
                    f"reserves {gpus} per replica (resources.gpu; size '{model.size_name}')",
                    f"a framework that can ({capable}), or a size without GPUs "
                    "(resources.gpu 0)", model.framework.value,
                )
            )  # fmt: skip
    return problems
