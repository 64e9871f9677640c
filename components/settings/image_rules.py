"""Rules on what each model's image is built from and where it goes: the artifact, the
framework, GPUs, the registry. Each finding is a Problem naming the stack-file key."""

from __future__ import annotations

from pathlib import Path

from components.settings.artifacts import ARTIFACT_CHECKS, ArtifactError
from components.settings.errors import Problem
from components.settings.stack import Framework, ModelConfig

NAMESPACE = "mlstack"


def artifact_problems(
    index: int, model: ModelConfig, project_dir: Path, source: str
) -> list[Problem]:
    """The artifact exists, lies inside the project (what a clone or CI checkout has too) and is
    in the format of the model's framework."""
    key = f"{NAMESPACE}:models[{index}].artifact"
    inside = f"a path to an existing file inside the project, relative to {project_dir}"
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
