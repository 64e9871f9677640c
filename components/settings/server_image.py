"""Rules for a model that runs its own server image (`models[].image`) instead of one mlstack
builds from its artifact: exactly one of the two, the image pinned by digest, and probe paths
only where the server is not the reference one."""

from __future__ import annotations

from .base import split_image_reference
from .errors import Problem, missing
from .stack import REFERENCE_HEALTH_PATH, REFERENCE_READY_PATH, ModelConfig

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


def model_image_problems(index: int, model: ModelConfig, source: str) -> list[Problem]:
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
        ):
            if value is not None:
                problems.append(
                    Problem(
                        source, f"{key}.{path_key}",
                        "only a model with its own image sets probe paths; the image mlstack "
                        f"builds serves {default}",
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
    if not is_pinned(model.image):
        return [
            Problem(
                source, f"{key}.image",
                "image reference not pinned by digest (a tag can move to other bytes)",
                PINNED_FORMS, model.image,
            )
        ]  # fmt: skip
    return []
