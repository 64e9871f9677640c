"""A model that runs its own server image (issue 16, item 4): `models[].image` pinned by digest
and not built, with its own port and probe paths; refusals name file, key, value and the forms
allowed, in the settings' one-line format."""

from __future__ import annotations

from typing import Any

from tests.support.harness import run_stack, settings_error

DIGEST = "sha256:" + "0123456789abcdef" * 4
TRITON = f"nvcr.io/nvidia/tritonserver:25.01-py3@{DIGEST}"
PINNED_FORMS = (
    "a reference pinned by digest: REGISTRY/NAME@sha256:<64 hex digits> or "
    "REGISTRY/NAME:TAG@sha256:<64 hex digits>"
)


def triton(**keys: Any) -> dict[str, Any]:
    return {"name": "triton", "framework": "onnx", "version": "25.01", "image": TRITON, **keys}


IRIS = {"name": "iris", "framework": "sklearn", "artifact": "examples/iris/iris.joblib",
        "version": "1.0.0"}  # fmt: skip


READY = ["curl", "-fsS", "http://127.0.0.1:8000/v2/health/ready"]


def test_a_tag_alone_is_refused_naming_file_key_value_and_forms() -> None:
    error, declared = settings_error(
        "dev", models=[IRIS, triton(image="nvcr.io/triton:25.01", healthcheck=READY)]
    )
    assert error.splitlines()[1:] == [
        "Pulumi.dev.yaml: mlstack:models[1].image: image reference not pinned by digest (a tag "
        f"can move to other bytes) (got nvcr.io/triton:25.01); allowed: {PINNED_FORMS}"
    ]
    assert declared == ()


def test_an_image_and_an_artifact_together_are_refused() -> None:
    error, _ = settings_error(
        "dev", models=[triton(artifact="examples/iris/iris.onnx", healthcheck=READY)]
    )
    shown = TRITON[:77] + "..."  # values past 80 characters are cut, as in every message
    assert error.splitlines()[1:] == [
        f"Pulumi.dev.yaml: mlstack:models[0].image: a model runs an image built from its artifact "
        f"or a pinned image, not both (got {shown}); allowed: remove mlstack:models[0].artifact "
        "(the image is then not built) or mlstack:models[0].image"
    ]


def test_neither_an_image_nor_an_artifact_is_refused() -> None:
    model = {key: value for key, value in IRIS.items() if key != "artifact"}
    error, _ = settings_error("dev", models=[model])
    assert error.splitlines()[1:] == [
        "Pulumi.dev.yaml: mlstack:models[0].artifact: a model needs an artifact to build its "
        "image from, or a pinned image (not set); allowed: artifact: a model file inside the "
        f"project; or image: {PINNED_FORMS}"
    ]


def test_probe_paths_belong_to_a_models_own_image() -> None:
    error, _ = settings_error("dev", models=[{**IRIS, "readyPath": "/ready"}])
    assert error.splitlines()[1:] == [
        "Pulumi.dev.yaml: mlstack:models[0].readyPath: only a model with its own image sets how it "
        "is probed; the image mlstack builds has /readyz (got /ready); allowed: remove it, or set "
        "mlstack:models[0].image"
    ]
    error, _ = settings_error("dev", models=[triton(healthPath="v2/health", healthcheck=READY)])
    assert (
        "mlstack:models[0].healthPath: malformed value (got v2/health); allowed: an HTTP path"
        in (error)
    )


def test_swarm_needs_the_readiness_command_an_image_of_its_own_has() -> None:
    error, _ = settings_error("dev", models=[triton(port=8000, readyPath="/v2/health/ready")])
    assert error.splitlines()[1:] == [
        "Pulumi.dev.yaml: mlstack:models[0].healthcheck: Swarm checks a task's health by running "
        "a command in its container, and an image of your own has its own tools (not set); "
        "allowed: the command as a list, e.g. [curl, -fsS, http://127.0.0.1:8000/v2/health/ready]"
    ]
    error, _ = settings_error("staging", models=[triton(healthcheck=READY)], image={})
    assert error.splitlines()[1:] == [
        "Pulumi.staging.yaml: mlstack:models[0].healthcheck: only a swarm stack reads it; this "
        'stack\'s orchestrator is kubernetes (got [curl, "-fsS", http://127.0.0.1:8000/v2/health/'
        "ready]); allowed: remove it (the kubelet probes healthPath and readyPath over HTTP)"
    ]


def test_swarm_runs_the_pinned_image_unbuilt_beside_a_built_one() -> None:
    recording = run_stack(
        "dev", config={"models": [IRIS, triton(port=8000, publishedPort=8081, healthcheck=READY)]}
    )
    images = [image.name for image in recording.of_type("docker:index/image:Image")]
    assert "mlstack-iris-image-build" in images
    assert not [name for name in images if "triton" in name]
    services = {s.inputs["name"]: s for s in recording.of_type("docker:index/service:Service")}
    container = services["dev-triton"].inputs["taskSpec"]["containerSpec"]
    assert container["image"] == TRITON
    assert container["env"]["PORT"] == "8000"
    # The image's own command: it need not have the python the reference healthcheck runs.
    assert container["healthcheck"]["tests"] == ["CMD", *READY]
    built = services["dev-iris"].inputs["taskSpec"]["containerSpec"]
    assert built["healthcheck"]["tests"] == ["CMD", "python", "-m", "model_server.healthcheck"]
    assert recording.outputs["imageRefs"]["triton"] == TRITON


def test_kubernetes_probes_the_images_own_port_and_paths_without_a_registry() -> None:
    # No mlstack:image.registry: nothing is built, so nothing needs pushing.
    recording = run_stack(
        "staging",
        config={
            "models": [
                triton(port=8000, healthPath="/v2/health/live", readyPath="/v2/health/ready")
            ],
            "image": {},
        },
    )
    assert recording.of_type("docker:index/image:Image") == []
    deployments = recording.of_type("kubernetes:apps/v1:Deployment")
    deployment = next(d for d in deployments if d.name == "mlstack-triton-deployment")
    [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == TRITON
    assert container["ports"][0]["containerPort"] == 8000
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_the_reference_servers_paths_stay_the_default() -> None:
    recording = run_stack("staging")
    models = [
        d for d in recording.of_type("kubernetes:apps/v1:Deployment") if "headroom" not in d.name
    ]
    assert len(models) == 2
    for deployment in models:
        [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
