"""The `mlstack:` namespace of a stack file, and the resolved settings components receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from .base import Kind, StrictModel, dns_label
from .image import ImageSettings
from .kubernetes import KubernetesSettings
from .size import Size
from .swarm import SwarmSettings

# Environment variables the model server contract defines; mlstack sets them, a model's env may not.
RESERVED_ENV = ("MODEL_NAME", "MODEL_VERSION", "MODEL_PATH", "PORT", "GRACEFUL_TIMEOUT")

# Where the reference server (model_server/) answers its probes; a model with its own image
# (models[].image) may name others.
REFERENCE_HEALTH_PATH = "/healthz"
REFERENCE_READY_PATH = "/readyz"
_PROBE_PATH = r"^/[A-Za-z0-9._~/-]*$"

# Derived names add up to 22 characters ("-headroom", "-vpa", ...): 40 keeps them under 63.
MODEL_NAME_MAX = 40


class Orchestrator(StrEnum):
    KUBERNETES = "kubernetes"
    SWARM = "swarm"


class Framework(StrEnum):
    """What the model artifact is; picks the Dockerfile template and the server's loader."""

    SKLEARN = "sklearn"  # a joblib/pickle file
    ONNX = "onnx"  # a .onnx file
    XGBOOST = "xgboost"  # a Booster saved as .json or .ubj
    LIGHTGBM = "lightgbm"  # a Booster saved as a text model file
    MLFLOW = "mlflow"  # an MLflow model directory with a python_function flavor


class ModelConfig(StrictModel):
    """One entry of `mlstack:models`, as written in the stack file."""

    name: Annotated[
        str,
        dns_label(MODEL_NAME_MAX),
        Kind(f"DNS label, at most {MODEL_NAME_MAX} characters"),
        Field(description="Names the image, the service and every object of this model."),
    ]
    framework: Annotated[
        Framework,
        Field(description="Picks the Dockerfile template; the artifact must be in its format."),
    ]
    artifact: Annotated[
        str | None,
        Field(
            min_length=1,
            description="Model file (mlflow: the model directory) inside the project, relative "
            "to it; mlstack builds the serving image from it. Or set image instead.",
        ),
    ] = None
    image: Annotated[
        str | None,
        Field(
            description="A server image to run instead of building one, pinned by digest "
            "(REGISTRY/NAME@sha256:...); not built. Instead of artifact.",
        ),
    ] = None
    version: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
            description="Model version; starts the image tag and labels every object.",
        ),
    ]
    size: str | None = Field(None, description="Size preset for this model; default: mlstack:size.")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Size keys for this model only (see Size keys)."
    )
    env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = Field(
        default_factory=dict, description="Plain environment variables (never secrets)."
    )
    port: Annotated[int, Field(ge=1024, le=65535, description="Container port.")] = 8080
    health_path: Annotated[
        str | None,
        Field(
            pattern=_PROBE_PATH,
            description="With image: the path its liveness and startup probes GET "
            f"(default {REFERENCE_HEALTH_PATH}).",
        ),
    ] = None
    healthcheck: Annotated[
        list[Annotated[str, Field(min_length=1)]] | None,
        Field(
            min_length=1,
            description="With image, on Swarm: the command the container runs to check it is "
            "ready, e.g. [curl, -fsS, http://127.0.0.1:8000/v2/health/ready].",
        ),
    ] = None
    ready_path: Annotated[
        str | None,
        Field(
            pattern=_PROBE_PATH,
            description="With image: the path its readiness probe GETs "
            f"(default {REFERENCE_READY_PATH}).",
        ),
    ] = None
    published_port: Annotated[
        int | None, Field(ge=1, le=65535, description="Swarm host port; default 8080 + index.")
    ] = None
    startup_timeout_seconds: Annotated[
        int, Field(ge=10, le=3600, description="Longest model load before the startup probe fails.")
    ] = 300


class StackConfig(StrictModel):
    """Everything under `mlstack:` in Pulumi.<env>.yaml, shape-checked."""

    orchestrator: Annotated[Orchestrator, Field(description="Where the models are served.")]
    size: Annotated[
        str, Field(description="A preset in stacks/presets/: small, medium, large or gpu.")
    ]
    models: Annotated[list[ModelConfig], Field(min_length=1)]
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Size keys for every model (see Size keys)."
    )
    image: ImageSettings = Field(default_factory=ImageSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    swarm: SwarmSettings = Field(default_factory=SwarmSettings)
    secrets: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Per model: file name -> secret value (mounted as files)."
    )
    registry_password: str | None = Field(
        None,
        description="Registry password, a secret: pulumi config set --secret --stack ENV "
        "mlstack:registryPassword (reads stdin).",
    )


@dataclass(frozen=True)
class ServedModel:
    """A model with its size fully resolved: what the image and service components consume."""

    name: str
    framework: Framework
    artifact: Path | None  # None: the model runs `image`, which is not built
    version: str
    size_name: str
    size: Size
    env: dict[str, str]
    port: int
    published_port: int
    startup_timeout_seconds: int
    secret_files: tuple[str, ...] = ()
    image: str | None = None  # a pinned reference run as is; None: built from the artifact
    health_path: str = REFERENCE_HEALTH_PATH
    ready_path: str = REFERENCE_READY_PATH
    # Swarm's readiness command for a model's own image; None: the reference server's.
    healthcheck: tuple[str, ...] | None = None


@dataclass(frozen=True)
class StackSettings:
    """Validated settings of one environment (one Pulumi stack)."""

    environment: str
    source: str
    project_dir: Path
    orchestrator: Orchestrator
    size_name: str
    # The stack's own size (preset + mlstack:overrides): cluster-wide capacity such as node-group
    # bounds and headroom comes from it; each model's pods use ServedModel.size.
    size: Size
    models: tuple[ServedModel, ...]
    image: ImageSettings
    kubernetes: KubernetesSettings
    swarm: SwarmSettings
    # Secret values stay out of repr so a traceback or log line never prints them.
    secrets: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    registry_password: str | None = field(default=None, repr=False)
    # Hints that do not stop the stack (a plain env entry named like a secret), one line each.
    warnings: tuple[str, ...] = ()
