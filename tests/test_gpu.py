"""GPU images (issue 12): an ONNX model on a GPU size gets onnxruntime-gpu with the CUDA and
cuDNN wheels, the server runs it on CUDA when a GPU is visible and says so, falls back to the
CPU with a warning, and a framework that cannot use a GPU is refused on a GPU size.

There is no GPU here and the GPU image is several GB, so it is not built: the tests check the
rendered Dockerfile and requirements, resolve the requirements against PyPI (pip's resolver over
the real package metadata, without downloading the wheels), and run the provider selection on
the real onnxruntime with the providers it reports.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from mlstack.components.image.render import requirements_file, requirements_for
from mlstack.components.settings import Framework
from mlstack.components.settings.image_rules import GPU_FRAMEWORKS
from mlstack.model_server.config import Framework as ServerFramework
from mlstack.model_server.models import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    load_model,
    onnx_providers,
    provider_report,
)
from mlstack.offline import RecordedResource, Recording
from tests.support.harness import PROJECT_DIR, recorded_in, run_stack, settings_error
from tests.support.kubernetes_objects import VARIANTS
from tests.test_image import HADOLINT, pins

IMAGE_TYPE = "docker:index/image:Image"
IRIS_ONNX = PROJECT_DIR / "examples/iris/iris.onnx"
IRIS_META = json.loads((PROJECT_DIR / "examples/iris/iris.json").read_text())
REQUIREMENTS = resources.files("mlstack.model_server") / "requirements"


def gpu_recording() -> Recording:
    """staging with the ONNX model on the gpu size (scikit-learn stays on medium)."""
    environment, config, secret = VARIANTS["staging-gpu"]
    return run_stack(environment, config=config, secret_config=secret)


def context_file(image: RecordedResource, name: str) -> str:
    return (recorded_in(image) / image.inputs["build"]["context"] / name).read_text()


def images_by_model(recording: Recording) -> dict[str, RecordedResource]:
    return {Path(r.inputs["build"]["context"]).name: r for r in recording.of_type(IMAGE_TYPE)}


# --- settings -------------------------------------------------------------------------------------


def test_a_framework_that_cannot_use_a_gpu_is_refused_on_a_gpu_size() -> None:
    error, declared = settings_error("staging", **{"mlstack:size": "gpu"})
    assert (
        "Pulumi.staging.yaml: mlstack:models[0].framework: sklearn models cannot use a GPU, and "
        "this model's size reserves 1 per replica (resources.gpu; size 'gpu') (got sklearn); "
        "allowed: a framework that can (onnx), or a size without GPUs (resources.gpu 0)"
    ) in error
    assert "models[1]" not in error  # iris-onnx keeps its own size (small)
    assert declared == ()
    override, _ = settings_error("dev", **{"mlstack:overrides": {"resources": {"gpu": 2}}})
    assert "mlstack:models[0].framework: sklearn models cannot use a GPU" in override


def test_every_gpu_framework_and_only_those_have_a_gpu_build() -> None:
    gpu_files = {p.name for p in REQUIREMENTS.iterdir() if p.name.endswith("-gpu.txt")}
    assert gpu_files == {f"{framework.value}-gpu.txt" for framework in GPU_FRAMEWORKS}
    for framework in set(Framework) - GPU_FRAMEWORKS:
        with pytest.raises(ValueError, match="has no GPU build"):
            requirements_file(framework, gpu=True)


# --- the rendered image ---------------------------------------------------------------------------


def test_an_onnx_model_on_a_gpu_size_gets_the_gpu_build() -> None:
    images = images_by_model(gpu_recording())
    gpu, cpu = images["iris-onnx"], images["iris"]
    requirements = pins(context_file(gpu, "requirements.txt"))
    assert requirements["onnxruntime-gpu"]
    assert "onnxruntime" not in requirements  # one onnxruntime package, or they overwrite
    for wheel in ("nvidia-cuda-runtime", "nvidia-cudnn-cu13", "nvidia-cublas", "nvidia-cufft"):
        assert wheel in requirements
    dockerfile = context_file(gpu, "Dockerfile")
    assert "ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility" in dockerfile
    assert "NVIDIA_VISIBLE_DEVICES=" not in dockerfile  # the orchestrator assigns the GPUs
    assert 'dev.mlstack.model.accelerator="nvidia-gpu"' in dockerfile
    # The scikit-learn model of the same stack, on a CPU size, is a CPU image.
    assert "NVIDIA_DRIVER_CAPABILITIES" not in context_file(cpu, "Dockerfile")
    assert not any(
        name.startswith("nvidia-") for name in pins(context_file(cpu, "requirements.txt"))
    )
    result = subprocess.run(
        [HADOLINT, "--no-color", "-"], input=dockerfile, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_same_model_on_a_cpu_size_gets_the_cpu_build() -> None:
    images = images_by_model(run_stack("staging"))  # iris-onnx on small
    requirements = pins(context_file(images["iris-onnx"], "requirements.txt"))
    assert "onnxruntime" in requirements
    assert "onnxruntime-gpu" not in requirements
    assert "NVIDIA_DRIVER_CAPABILITIES" not in context_file(images["iris-onnx"], "Dockerfile")
    gpu_tag = images_by_model(gpu_recording())["iris-onnx"].inputs["imageName"]
    assert gpu_tag != images["iris-onnx"].inputs["imageName"]


# mlflow.txt holds fallbacks, not a lock: an MLflow image resolves the model's own requirements
# (components/mlflow_model.py; tests/test_framework_images.py builds one).
@pytest.mark.slow
@pytest.mark.parametrize(
    "framework_file",
    sorted(p.name for p in REQUIREMENTS.iterdir() if p.name not in ("server.txt", "mlflow.txt")),
)
def test_each_image_lock_resolves_on_pypi_to_exactly_itself(
    framework_file: str, tmp_path: Path
) -> None:
    """pip's resolver, against PyPI's metadata (no wheel is downloaded), finds every pin and
    needs nothing unpinned: the lock the image installs with --no-deps is complete. Resolved for
    this interpreter, which is the images' platform (CPython 3.11, Linux x86-64, glibc 2.36)."""
    assert sys.version_info[:2] == (3, 11), "the images run Python 3.11"
    assert platform.machine() == "x86_64", "the images are built for linux/amd64"
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--quiet", "--only-binary=:all:", "--report", str(report),
            "--requirement", str(REQUIREMENTS / "server.txt"),
            "--requirement", str(REQUIREMENTS / framework_file),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = {
        item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    locked = pins((REQUIREMENTS / "server.txt").read_text())
    locked.update(pins((REQUIREMENTS / framework_file).read_text()))
    assert resolved == {name.replace("_", "-"): version for name, version in locked.items()}


# --- the server picks the provider ------------------------------------------------------------


def test_cuda_is_asked_for_first_only_when_the_build_has_it() -> None:
    assert onnx_providers([CUDA_PROVIDER, "TensorrtExecutionProvider", CPU_PROVIDER]) == [
        CUDA_PROVIDER,
        CPU_PROVIDER,
    ]
    assert onnx_providers(["AzureExecutionProvider", CPU_PROVIDER]) == [CPU_PROVIDER]
    assert onnx_providers(onnxruntime.get_available_providers()) == [CPU_PROVIDER]  # CPU build


def test_the_provider_report_says_what_runs_and_warns_on_a_fallback() -> None:
    assert provider_report([CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER]) == (
        CUDA_PROVIDER,
        None,
    )
    running, warning = provider_report([CUDA_PROVIDER, CPU_PROVIDER], [CPU_PROVIDER])
    assert running == CPU_PROVIDER
    assert warning is not None
    assert "no GPU visible" in warning
    assert provider_report([CPU_PROVIDER], [CPU_PROVIDER]) == (CPU_PROVIDER, None)


def test_without_a_usable_gpu_the_model_is_served_on_the_cpu_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The real onnxruntime told that CUDA is available (as onnxruntime-gpu reports on a node
    without a GPU): the session cannot start CUDA, runs on the CPU, and the server warns."""
    monkeypatch.setattr(
        onnxruntime, "get_available_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER]
    )
    preloaded: list[bool] = []
    monkeypatch.setattr(onnxruntime, "preload_dlls", lambda: preloaded.append(True), raising=False)
    with (
        caplog.at_level(logging.INFO, logger="model_server"),
        pytest.warns(UserWarning, match=f"Specified provider '{CUDA_PROVIDER}' is not in"),
    ):
        model = load_model(ServerFramework.ONNX, IRIS_ONNX)
    assert preloaded == [True]  # the CUDA wheels' libraries are loaded before the session
    assert model.runs_on == CPU_PROVIDER
    sample = np.asarray(IRIS_META["sample"], dtype=np.float64)
    assert model.predict(sample) == IRIS_META["sample_predictions"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{CUDA_PROVIDER} is in this image but could not start" in w for w in warnings)


def test_a_cpu_build_serves_on_the_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="model_server"):
        model = load_model(ServerFramework.ONNX, IRIS_ONNX)
    assert model.runs_on == CPU_PROVIDER
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.INFO, f"iris.onnx runs on onnxruntime's {CPU_PROVIDER}") in messages
    assert not [m for level, m in messages if level >= logging.WARNING]


def test_requirements_for_a_gpu_image_add_nothing_to_a_cpu_image() -> None:
    cpu = pins(requirements_for(Framework.ONNX))
    gpu = pins(requirements_for(Framework.ONNX, gpu=True))
    shared = set(cpu) & set(gpu)
    assert {"numpy", "protobuf", "flatbuffers", "packaging", "httptools"} <= shared
    for name in shared:
        assert cpu[name] == gpu[name], name  # the same versions wherever both install it
