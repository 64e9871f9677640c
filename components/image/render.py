"""Dockerfile rendering: a typed spec in, Dockerfile text out (pure; no Pulumi, no files)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import jinja2

from ..security import RUNTIME_GID, RUNTIME_UID
from ..settings import Framework
from ..settings.image_rules import GPU_FRAMEWORKS
from ..templating import template_environment

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATES = {
    Framework.SKLEARN: "sklearn.Dockerfile.j2",
    Framework.ONNX: "onnx.Dockerfile.j2",
    Framework.XGBOOST: "xgboost.Dockerfile.j2",
    Framework.LIGHTGBM: "lightgbm.Dockerfile.j2",
    Framework.MLFLOW: "mlflow.Dockerfile.j2",
}
# The Dockerfile stage orchestrators run; `builder` only makes the virtualenv.
RUNTIME_TARGET = "runtime"
DEFAULT_GRACEFUL_TIMEOUT = 20
HEALTHCHECK_INTERVAL = 5


@dataclass(frozen=True)
class DockerfileSpec:
    """Everything a Dockerfile template may use. Paths are relative to the build context."""

    model_name: str
    model_version: str
    framework: Framework
    base_image: str
    port: int
    artifact_source: str
    artifact_path: str
    start_period: int
    ca_bundle_file: str | None = None
    gpu: bool = False  # built to run on an NVIDIA GPU (GPU_FRAMEWORKS only)
    # MLflow: the model's own requirements file in the context, and the Python (major.minor) it
    # was saved with, which the build checks the base image against.
    model_requirements_file: str | None = None
    python_version: str | None = None
    graceful_timeout: int = DEFAULT_GRACEFUL_TIMEOUT
    healthcheck_interval: int = HEALTHCHECK_INTERVAL
    uid: int = RUNTIME_UID
    gid: int = RUNTIME_GID
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def template(self) -> str:
        return TEMPLATES[self.framework]


def _environment() -> jinja2.Environment:
    environment = template_environment(TEMPLATES_DIR)
    # Dockerfile ENV/LABEL values: a double-quoted string with JSON escapes reads back verbatim.
    environment.filters["quote"] = lambda value: json.dumps(str(value))
    return environment


def render_dockerfile(spec: DockerfileSpec) -> str:
    values = asdict(spec)
    values["framework"] = spec.framework.value
    values["template"] = spec.template
    return _environment().get_template(spec.template).render(**values)


def requirements_file(framework: Framework, *, gpu: bool = False) -> str:
    """model_server/requirements/<framework>.txt, or <framework>-gpu.txt for a GPU image."""
    if gpu and framework not in GPU_FRAMEWORKS:
        raise ValueError(f"{framework.value} has no GPU build")
    return f"{framework.value}-gpu.txt" if gpu else f"{framework.value}.txt"


def requirements_for(framework: Framework, *, gpu: bool = False) -> str:
    """The exact lock an image of `framework` installs with --no-deps: the server's, then the
    framework's (model_server/requirements/*.txt; the GPU build's for a GPU image). An MLflow
    image locks the server only and installs the model's own requirements on top
    (components/mlflow_model.py)."""
    folder = resources.files("mlstack.model_server") / "requirements"
    names = ["server.txt"]
    if framework is not Framework.MLFLOW:
        names.append(requirements_file(framework, gpu=gpu))
    parts = [(folder / name).read_text(encoding="utf-8") for name in names]
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts)
