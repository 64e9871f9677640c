"""The XGBoost, LightGBM and MLflow images on the real Docker engine, built as a stack declares
them and served as the orchestrators run them (tests/test_image_engine.py's `serving`).

One recording declares the three example models; each image is built once for the module (the
slow part: pip installs each framework) and shared by its tests. Every answer is compared with
the framework's own prediction, made here with the same model file and pinned versions.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import lightgbm
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import xgboost
import yaml
from packaging.utils import canonicalize_name
from sklearn.datasets import load_iris

from mlstack.offline import Recording
from tests.support.harness import PROJECT_DIR, run_stack
from tests.support.images import BuildFailedError, BuiltImage, build_image
from tests.test_image_engine import (
    SYSTEM_CA_BUNDLE,
    http,
    image_resource,
    predict,
    remove_image,
    serving,
)

pytestmark = pytest.mark.engine

EXAMPLES = PROJECT_DIR / "examples"
RUN_ID = f"mlstack-fw-{uuid.uuid4().hex[:8]}"
MODELS = {
    "iris-xgboost": ("xgboost", "examples/xgboost/iris.ubj"),
    "iris-lightgbm": ("lightgbm", "examples/lightgbm/iris.txt"),
    "iris-mlflow": ("mlflow", "examples/mlflow/iris"),
}
FEATURES = load_iris().data


def xgboost_answers() -> list[Any]:
    booster = xgboost.Booster(model_file=str(EXAMPLES / "xgboost/iris.ubj"))
    return booster.inplace_predict(FEATURES).argmax(axis=1).tolist()  # type: ignore[no-any-return]


def lightgbm_answers() -> list[Any]:
    booster = lightgbm.Booster(model_file=str(EXAMPLES / "lightgbm/iris.txt"))
    return np.asarray(booster.predict(FEATURES)).argmax(axis=1).tolist()  # type: ignore[no-any-return]


def mlflow_answers() -> list[Any]:
    model = mlflow.pyfunc.load_model(str(EXAMPLES / "mlflow/iris"))
    names = model.metadata.get_input_schema().input_names()
    return list(model.predict(pd.DataFrame(FEATURES, columns=names)))


# What each framework itself answers for all 150 iris rows (the likeliest class; for the
# MLflow model, the species name its pyfunc returns).
OWN_ANSWERS: dict[str, Callable[[], list[Any]]] = {
    "iris-xgboost": xgboost_answers,
    "iris-lightgbm": lightgbm_answers,
    "iris-mlflow": mlflow_answers,
}


def recorded(base_image: str, models: dict[str, tuple[str, str]] = MODELS) -> Recording:
    entries = [
        {"name": name, "framework": framework, "artifact": artifact, "version": "1.0.0"}
        for name, (framework, artifact) in models.items()
    ]
    return run_stack(
        "dev",
        config={
            "mlstack:models": entries,
            "mlstack:image": {"baseImage": base_image, "caBundle": SYSTEM_CA_BUNDLE},
        },
    )


@pytest.fixture(scope="module")
def recording(python_base_image: str) -> Recording:
    return recorded(python_base_image)


@pytest.fixture(scope="module")
def images(docker_engine: docker.DockerClient, recording: Recording) -> Iterator[BuildCache]:
    cache = BuildCache(docker_engine, recording)
    try:
        yield cache
    finally:
        cache.remove()


class BuildCache:
    """Builds each model's image the first time a test asks for it, then reuses it."""

    def __init__(self, client: docker.DockerClient, recording: Recording) -> None:
        self.client = client
        self.recording = recording
        self.built: dict[str, BuiltImage] = {}

    def __getitem__(self, model: str) -> BuiltImage:
        if model not in self.built:
            tag = f"{RUN_ID}/{model}:test"
            self.built[model] = build_image(
                image_resource(self.recording, model), self.client, tag=tag
            )
        return self.built[model]

    def remove(self) -> None:
        for built in self.built.values():
            remove_image(self.client, built.tag)


@pytest.mark.parametrize("model", list(MODELS))
def test_the_image_serves_the_frameworks_own_predictions(
    docker_engine: docker.DockerClient, images: BuildCache, model: str
) -> None:
    framework, artifact = MODELS[model]
    image = images[model]
    with serving(docker_engine, image.tag, model) as (container, base):
        assert predict(base, FEATURES.tolist()) == OWN_ANSWERS[model]()
        sample = json.loads((PROJECT_DIR / artifact).parent.joinpath("iris.json").read_text())
        assert predict(base, sample["sample"]) == sample["sample_predictions"]
        status, payload = http(f"{base}/predict", b'{"instances": [[1, 2, 3]]}')
        assert status == 400
        assert json.loads(payload)["error"] == "instances[0] has 3 features; the model expects 4"
        logs = container.logs().decode()
        assert f"({framework}, 4 features) loaded from /models/" in logs
        config = docker_engine.images.get(image.tag).attrs["Config"]
        assert config["User"] == "10001:10001"
        assert f"MODEL_FRAMEWORK={framework}" in config["Env"]


def test_lightgbm_runs_with_the_systems_openmp(
    docker_engine: docker.DockerClient, images: BuildCache
) -> None:
    """The wheel links libgomp.so.1, which the slim base lacks: the image installs libgomp1."""
    tag = images["iris-lightgbm"].tag
    script = "import ctypes.util, lightgbm; print(ctypes.util.find_library('gomp'))"
    found = docker_engine.containers.run(tag, ["python", "-c", script], remove=True)
    assert found.decode().strip() == "libgomp.so.1"


def test_the_mlflow_image_installs_the_models_own_pins_with_mlflow_skinny(
    docker_engine: docker.DockerClient, images: BuildCache
) -> None:
    tag = images["iris-mlflow"].tag
    frozen = docker_engine.containers.run(
        tag, ["cat", "/opt/venv/pip-freeze.txt"], remove=True
    ).decode()
    installed = {
        canonicalize_name(name): version
        for name, _, version in (line.partition("==") for line in frozen.splitlines())
        if version
    }
    pinned = (EXAMPLES / "mlflow/iris/requirements.txt").read_text().split()
    for line in pinned:
        name, version = line.split("==")
        name = "mlflow-skinny" if name == "mlflow" else canonicalize_name(name)
        assert installed.get(name) == version, (name, frozen)
    assert "mlflow" not in installed  # the tracking server, UI and database stay out
    server = (PROJECT_DIR / "model_server/requirements/server.txt").read_text().split()
    for line in (word for word in server if "==" in word):
        name, version = line.split("==")
        assert installed.get(canonicalize_name(name)) == version, f"the lock must hold: {name}"


def test_an_mlflow_model_saved_with_another_python_fails_the_build_saying_so(
    docker_engine: docker.DockerClient, python_base_image: str, tmp_path: Path
) -> None:
    """The base image's Python is checked before anything is installed."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns(
        "venv", ".git", ".mlstack", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"
    ))  # fmt: skip
    model = project / "examples/mlflow/iris"
    env = yaml.safe_load((model / "python_env.yaml").read_text())
    env["python"] = "3.12.4"
    (model / "python_env.yaml").write_text(yaml.safe_dump(env))
    recording = run_stack(
        "dev",
        config={
            "mlstack:models": [
                {"name": "iris-mlflow", "framework": "mlflow",
                 "artifact": "examples/mlflow/iris", "version": "1.0.0"}
            ],
            "mlstack:image": {"baseImage": python_base_image, "caBundle": SYSTEM_CA_BUNDLE},
        },
        project_dir=project,
    )  # fmt: skip
    resource = image_resource(recording, "iris-mlflow")
    # The recorded context is relative to the project it was recorded in: the copy.
    context = project / resource.inputs["build"]["context"]
    assert "3.12" in (context / "Dockerfile").read_text()
    tag = f"{RUN_ID}/iris-mlflow:py312"
    with pytest.raises(BuildFailedError) as failed:
        build_image(resource, docker_engine, tag=tag, context=context)
    assert (
        "the MLflow model was saved with Python 3.12, the base image has Python 3.11: set "
        "mlstack:image.baseImage to an image with Python 3.12"
    ) in str(failed.value)
