"""An MLflow model directory as mlstack serves it: checked, and turned into what its image installs.

An MLflow model is a directory with an `MLmodel` file; mlstack serves its `python_function`
(pyfunc) flavor. The image installs the model's own requirements (its requirements.txt, else the
pip list of its conda.yaml) with `mlflow` replaced by `mlflow-skinny` at the same version: the
same `mlflow` package without the tracking server, UI and database libraries. The fallbacks in
model_server/requirements/mlflow.txt fill in what the model does not name (pandas, which
mlflow.pyfunc imports and full `mlflow` would have brought). The model server's own lock
(model_server/requirements/server.txt) is installed first and holds: a model requirement that
excludes a locked version is refused here, before any build.

Pure functions over files; both the settings check and the image's build context use them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

MLMODEL = "MLmodel"
PYFUNC_FLAVOR = "python_function"
REQUIREMENTS_FILE = "requirements.txt"
CONDA_FILE = "conda.yaml"
PYTHON_ENV_FILE = "python_env.yaml"
MLFLOW = "mlflow"
MLFLOW_SKINNY = "mlflow-skinny"
_PYTHON_VERSION = re.compile(r"^(\d+)\.(\d+)")
_CONDA_PYTHON = re.compile(r"^python\s*=+\s*(\d+\.\d+)")


@dataclass(frozen=True)
class MlflowModel:
    directory: Path
    flavors: tuple[str, ...]
    requirements: tuple[str, ...]  # pip requirement lines, comments and blanks dropped
    requirements_file: str  # requirements.txt or conda.yaml: where they were read from
    python_version: str | None  # "3.11": the major.minor it was saved with, when recorded


def read_mlflow_model(directory: Path) -> MlflowModel:
    """The model in `directory`; ValueError saying what is wrong and what is expected."""
    if not directory.is_dir():
        raise ValueError(
            f"a file, not a directory (an MLflow model is the directory of its {MLMODEL})"
        )
    mlmodel = _yaml(directory / MLMODEL, " (an MLflow model directory holds one)")
    flavors = mlmodel.get("flavors") if isinstance(mlmodel, dict) else None
    if not isinstance(flavors, dict) or PYFUNC_FLAVOR not in flavors:
        found = ", ".join(sorted(flavors)) if isinstance(flavors, dict) else "none"
        raise ValueError(
            f"{MLMODEL} has no {PYFUNC_FLAVOR} flavor (flavors: {found}); mlstack serves MLflow "
            "models through pyfunc: save the model with a flavor that provides it"
        )
    requirements, source = _requirements(directory)
    pyfunc = flavors[PYFUNC_FLAVOR] if isinstance(flavors[PYFUNC_FLAVOR], dict) else {}
    return MlflowModel(
        directory=directory,
        flavors=tuple(sorted(flavors)),
        requirements=requirements,
        requirements_file=source,
        python_version=_python_version(directory, pyfunc),
    )


def image_requirements(model: MlflowModel) -> list[str]:
    """The requirement lines the image installs on top of the model server's lock: the model's
    own (`mlflow` -> `mlflow-skinny`), then the fallbacks for packages the model does not name.
    ValueError for a line pip cannot take from a file in the image, or one that excludes a
    version the model server is locked to."""
    locked = _pins(_packaged("server.txt"))
    where = model.requirements_file
    lines: list[str] = []
    named: set[str] = set()
    for line in model.requirements:
        requirement = _requirement(line, where)
        name: str = canonicalize_name(requirement.name)
        if name == MLFLOW:
            requirement.name = MLFLOW_SKINNY
            requirement.extras = set()  # mlflow's extras are server features, not pyfunc's
            name = MLFLOW_SKINNY
        if name in locked and not requirement.specifier.contains(locked[name], prereleases=True):
            raise ValueError(
                f"{where}: {line!r} excludes {name}=={locked[name]}, which the model server is "
                "locked to (model_server/requirements/server.txt); drop or widen that pin"
            )
        named.add(name)
        lines.append(str(requirement))
    for line in _lines(_packaged("mlflow.txt")):
        if canonicalize_name(Requirement(line).name) not in named:
            lines.append(line)
    return lines


def model_files(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` by relative POSIX path: what the image copies and hashes.
    A symlink is refused: where it points is not part of the model (nor of another checkout)."""
    files: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            raise ValueError(f"{relative} is a symlink; copy the file into the model directory")
        if path.is_file():
            files[relative] = path.read_bytes()
    return files


def _yaml(path: Path, why: str) -> Any:
    if not path.is_file():
        raise ValueError(f"no {path.name} file{why}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"{path.name} is not valid YAML: {error}") from None


def _requirements(directory: Path) -> tuple[tuple[str, ...], str]:
    text_file = directory / REQUIREMENTS_FILE
    if text_file.is_file():
        return tuple(_lines(text_file.read_text(encoding="utf-8"))), REQUIREMENTS_FILE
    if (directory / CONDA_FILE).is_file():
        conda = _yaml(directory / CONDA_FILE, "")
        dependencies = conda.get("dependencies") if isinstance(conda, dict) else None
        for item in dependencies if isinstance(dependencies, list) else []:
            if isinstance(item, dict) and isinstance(item.get("pip"), list):
                return tuple(str(line).strip() for line in item["pip"]), CONDA_FILE
        raise ValueError(
            f"{CONDA_FILE} has no pip dependencies and there is no {REQUIREMENTS_FILE}; the "
            "image installs a model's pip requirements only"
        )
    raise ValueError(
        f"neither {REQUIREMENTS_FILE} nor {CONDA_FILE} (the model's pip requirements, which "
        "MLflow writes when it saves a model)"
    )


def _requirement(line: str, where: str) -> Requirement:
    if line.startswith("-"):
        raise ValueError(
            f"{where}: {line!r} is a pip option; expected requirement specifiers only (an index "
            "is set with mlstack:image.buildArgs PIP_INDEX_URL; constraints and nested files "
            "are not read)"
        )
    try:
        requirement = Requirement(line)
    except InvalidRequirement as error:
        raise ValueError(
            f"{where}: {line!r} is not a requirement specifier ({error}); local paths and "
            "wheels inside the model are not installed"
        ) from None
    if requirement.url is not None and requirement.url.startswith("file:"):
        raise ValueError(f"{where}: {line!r} points at a local file the image cannot reach")
    return requirement


def _python_version(directory: Path, pyfunc: Mapping[str, Any]) -> str | None:
    """major.minor from python_env.yaml, conda.yaml's python=, or MLmodel's pyfunc flavor."""
    candidates: list[object] = []
    if (directory / PYTHON_ENV_FILE).is_file():
        env = _yaml(directory / PYTHON_ENV_FILE, "")
        candidates.append(env.get("python") if isinstance(env, dict) else None)
    if (directory / CONDA_FILE).is_file():
        conda = _yaml(directory / CONDA_FILE, "")
        dependencies = conda.get("dependencies") if isinstance(conda, dict) else None
        for item in dependencies if isinstance(dependencies, list) else []:
            match = _CONDA_PYTHON.match(item) if isinstance(item, str) else None
            candidates.append(match.group(1) if match else None)
    candidates.append(pyfunc.get("python_version"))
    for candidate in candidates:
        match = _PYTHON_VERSION.match(str(candidate)) if candidate is not None else None
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    return None


def _packaged(name: str) -> str:
    return (resources.files("mlstack.model_server") / "requirements" / name).read_text(
        encoding="utf-8"
    )


def _lines(text: str) -> list[str]:
    stripped = (line.split(" #", 1)[0].strip() for line in text.splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def _pins(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in _lines(text):
        name, _, version = line.partition("==")
        pins[canonicalize_name(name)] = version.strip()
    return pins
