"""Rules for a model that runs its own server image (`models[].image`) instead of one mlstack
builds from its artifact: exactly one of the two, the image pinned by digest, probe paths and a
healthcheck command only where the server is not the reference one, and on Swarm the command
(Swarm checks health by running it inside the container, and only the image knows what it has:
the reference image's `python -m model_server.healthcheck` is not in another)."""

from __future__ import annotations

from .base import split_image_reference
from .errors import Problem, missing
from .stack import REFERENCE_HEALTH_PATH, REFERENCE_READY_PATH, ModelConfig, Orchestrator

NAMESPACE = "mlstack"
PINNED_FORMS = (
    "a reference pinned by digest: REGISTRY/NAME@sha256:<64 hex digits> or "
    "REGISTRY/NAME:TAG@sha256:<64 hex digits>"
)


def is_pinned(reference: str) -> bool:
    """A digest names the bytes: every node, now and on a later `pulumi up`, runs the same
    image. A tag is a name that can move (even a version tag can be pushed again)."""
    try:
        _, _, digest = split_image_reference(reference)
    except ValueError:
        return False
    return digest is not None


def model_image_problems(
    index: int, model: ModelConfig, orchestrator: Orchestrator, source: str
) -> list[Problem]:
    key = f"{NAMESPACE}:models[{index}]"
    if model.image is None:
        problems = []
        if model.artifact is None:
            problems.append(
                Problem(
                    source, f"{key}.artifact",
                    "a model needs an artifact to build its image from, or a pinned image",
                    f"artifact: a model file inside the project; or image: {PINNED_FORMS}",
                    missing(),
                )
            )  # fmt: skip
        for path_key, value, default in (
            ("healthPath", model.health_path, REFERENCE_HEALTH_PATH),
            ("readyPath", model.ready_path, REFERENCE_READY_PATH),
            ("healthcheck", model.healthcheck, "python -m model_server.healthcheck"),
        ):
            if value is not None:
                problems.append(
                    Problem(
                        source, f"{key}.{path_key}",
                        "only a model with its own image sets how it is probed; the image "
                        f"mlstack builds has {default}",
                        f"remove it, or set {key}.image", value,
                    )
                )  # fmt: skip
        return problems
    if model.artifact is not None:
        return [
            Problem(
                source, f"{key}.image",
                "a model runs an image built from its artifact or a pinned image, not both",
                f"remove {key}.artifact (the image is then not built) or {key}.image",
                model.image,
            )
        ]  # fmt: skip
    problems = []
    if not is_pinned(model.image):
        problems.append(
            Problem(
                source, f"{key}.image",
                "image reference not pinned by digest (a tag can move to other bytes)",
                PINNED_FORMS, model.image,
            )
        )  # fmt: skip
    if orchestrator is Orchestrator.SWARM and model.healthcheck is None:
        ready = model.ready_path or REFERENCE_READY_PATH
        problems.append(
            Problem(
                source, f"{key}.healthcheck",
                "Swarm checks a task's health by running a command in its container, and an "
                "image of your own has its own tools",
                "the command as a list, e.g. "
                f"[curl, -fsS, http://127.0.0.1:{model.port}{ready}]", missing(),
            )
        )  # fmt: skip
    return problems
