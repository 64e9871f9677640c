"""The model server contract as orchestrators use it: routes, env and shutdown timing.

Kubernetes and Swarm both build a model's environment and its stop timing from here, so the
server, the grace period and the probes agree on one set of numbers (model_server/config.py
holds the server's own defaults).
"""

from __future__ import annotations

from typing import Final

from mlstack.model_server.config import DEFAULT_DRAIN_SECONDS, DEFAULT_GRACEFUL_TIMEOUT

from .settings import ServedModel
from .settings.stack import REFERENCE_HEALTH_PATH, REFERENCE_READY_PATH, RESERVED_ENV

HEALTH_PATH: Final = REFERENCE_HEALTH_PATH  # liveness: the process serves HTTP
READY_PATH: Final = REFERENCE_READY_PATH  # readiness: the model is loaded, the server not draining
METRICS_PATH: Final = "/metrics"
PREDICT_PATH: Final = "/predict"

# GRACEFUL_TIMEOUT the orchestrators set: on SIGTERM the server drains (/readyz 503, still
# serving) for DRAIN_SECONDS, finishes in-flight requests and exits within this many seconds.
GRACEFUL_TIMEOUT_SECONDS: Final = int(DEFAULT_GRACEFUL_TIMEOUT)
DRAIN_SECONDS: Final = int(DEFAULT_DRAIN_SECONDS)

# The image's own healthcheck command (model_server/healthcheck.py): GET /readyz on $PORT with
# python, so no curl or wget is needed in the image.
READINESS_COMMAND: Final = ("python", "-m", "model_server.healthcheck")


def server_env(
    model: ServedModel, graceful_seconds: int = GRACEFUL_TIMEOUT_SECONDS
) -> dict[str, str]:
    """The model's plain env, then what the server contract reads. Secrets are never env vars.

    Raises ValueError when the model's env sets a reserved name (the settings loader refuses
    that already; this guards programs that build settings by hand).
    """
    clashes = sorted(set(model.env) & set(RESERVED_ENV))
    if clashes:
        raise ValueError(
            f"model {model.name!r}: env sets {', '.join(clashes)}, which mlstack sets itself "
            f"(reserved: {', '.join(RESERVED_ENV)}); remove them from models[].env"
        )
    return {
        **model.env,
        "MODEL_NAME": model.name,
        "MODEL_VERSION": model.version,
        "PORT": str(model.port),
        "GRACEFUL_TIMEOUT": str(graceful_seconds),
    }
