"""The XGBoost, LightGBM and MLflow images, offline: their Dockerfiles, build contexts and tags
(real builds: test_framework_images.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from mlstack.components.image.context import MODEL_REQUIREMENTS, REQUIREMENTS, plan_build_context
from mlstack.components.image.render import requirements_for
from mlstack.components.settings import Framework, ServedModel, load_settings
from mlstack.components.settings.image import ImageSettings
from tests.support.harness import PROJECT_DIR
from tests.test_image import HADOLINT, instructions

MODELS = {
    Framework.XGBOOST: "examples/xgboost/iris.ubj",
    Framework.LIGHTGBM: "examples/lightgbm/iris.txt",
    Framework.MLFLOW: "examples/mlflow/iris",
}


def served(framework: Framework, project: Path = PROJECT_DIR) -> tuple[ServedModel, ImageSettings]:
    entry = {"name": "iris", "framework": framework.value, "artifact": MODELS[framework],
             "version": "1.0.0"}  # fmt: skip
    settings = load_settings(
        {"orchestrator": "swarm", "size": "small", "models": [entry]},
        environment="dev",
        project_dir=project,
    )
    return settings.models[0], settings.image


def context_files(framework: Framework, project: Path = PROJECT_DIR) -> dict[str, bytes]:
    model, image = served(framework, project)
    return dict(plan_build_context(model, image, project).files)


def dockerfile(framework: Framework) -> str:
    return context_files(framework)["Dockerfile"].decode()


@pytest.mark.parametrize("framework", list(MODELS))
def test_hadolint_accepts_the_rendered_dockerfile(framework: Framework) -> None:
    result = subprocess.run(
        [HADOLINT, "--no-color", "-"],
        input=dockerfile(framework),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_boosters_copy_their_model_file_and_run_one_openmp_thread() -> None:
    for framework, name in ((Framework.XGBOOST, "iris.ubj"), (Framework.LIGHTGBM, "iris.txt")):
        steps = instructions(dockerfile(framework))
        assert f"COPY model/{name} /models/{name}" in steps
        assert "ENV OMP_NUM_THREADS=1" in steps
        assert any(f'MODEL_FRAMEWORK="{framework.value}"' in step for step in steps)


def test_only_lightgbm_installs_the_openmp_runtime_and_in_the_runtime_stage() -> None:
    steps = instructions(dockerfile(Framework.LIGHTGBM))
    runtime = steps.index("FROM ${BASE_IMAGE} AS runtime")
    (apt,) = [i for i, step in enumerate(steps) if "apt-get install" in step]
    assert apt > runtime
    assert "--no-install-recommends libgomp1" in steps[apt]
    assert "rm -rf /var/lib/apt/lists/*" in steps[apt]
    assert not any("apt-get" in step for step in instructions(dockerfile(Framework.XGBOOST)))


def test_booster_images_lock_the_framework_and_mlflow_locks_only_the_server() -> None:
    for framework, package in (
        (Framework.XGBOOST, "xgboost-cpu=="),
        (Framework.LIGHTGBM, "lightgbm=="),
    ):
        assert package in requirements_for(framework)
    server = (PROJECT_DIR / "model_server/requirements/server.txt").read_text()
    assert requirements_for(Framework.MLFLOW) == server


def test_the_mlflow_image_checks_python_then_installs_the_models_requirements() -> None:
    files = context_files(Framework.MLFLOW)
    steps = instructions(files["Dockerfile"].decode())
    builder = steps[: steps.index("FROM ${BASE_IMAGE} AS runtime")]
    (install,) = [i for i, step in enumerate(builder) if "pip install" in step]
    assert builder.index(f"COPY {REQUIREMENTS} {MODEL_REQUIREMENTS} /build/") < install
    check, _, _ = builder[install].partition(" && /opt/venv/bin/pip install")
    assert check.startswith("RUN python3 -c 'import sys; v = ")  # Python first
    assert '!= "3.11"' in check
    assert (
        " && /opt/venv/bin/pip install --no-deps --requirement /build/requirements.txt && "
        "/opt/venv/bin/pip install --constraint /build/requirements.txt --requirement "
        "/build/model-requirements.txt && /opt/venv/bin/pip check"
    ) in builder[install]
    assert files[MODEL_REQUIREMENTS].decode().splitlines()[0] == "mlflow-skinny==3.17.2"
    assert "COPY model/iris /models/iris" in steps
    assert any('MODEL_PATH="/models/iris"' in step for step in steps)


def test_the_mlflow_context_holds_and_hashes_the_whole_model_directory(tmp_path: Path) -> None:
    files = context_files(Framework.MLFLOW)
    model_dir = PROJECT_DIR / MODELS[Framework.MLFLOW]
    inside = {name.removeprefix("model/iris/") for name in files if name.startswith("model/")}
    assert inside == {
        str(path.relative_to(model_dir)) for path in model_dir.rglob("*") if path.is_file()
    }
    # A copy of the project: any byte of any file of the model changes the tag's hash.
    project = tmp_path / "project"
    (project / "examples").mkdir(parents=True)
    shutil.copytree(model_dir, project / MODELS[Framework.MLFLOW])
    (project / "Pulumi.yaml").write_text("name: copy\n")
    model, image = served(Framework.MLFLOW, project)
    base = plan_build_context(model, image, project).digest
    assert base == plan_build_context(*served(Framework.MLFLOW), PROJECT_DIR).digest
    copy = project / MODELS[Framework.MLFLOW]
    digests = {base}
    for edit in ("artifacts/iris.joblib", "conda.yaml", "MLmodel"):
        with (copy / edit).open("ab") as file:
            file.write(b"\n")
        digests.add(plan_build_context(*served(Framework.MLFLOW, project), project).digest)
    (copy / "artifacts" / "notes.md").write_text("a new file\n")
    digests.add(plan_build_context(*served(Framework.MLFLOW, project), project).digest)
    assert len(digests) == 5


def test_framework_pins_match_the_dev_extras_and_the_examples() -> None:
    """The examples are trained with the dev extras; the images must load them: same versions."""
    from tests.test_image import pins

    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    dev = pins(
        "\n".join(d for d in project["project"]["optional-dependencies"]["dev"] if "==" in d)
    )
    for framework in (Framework.XGBOOST, Framework.LIGHTGBM):
        locked = pins(requirements_for(framework))
        example = json.loads((PROJECT_DIR / MODELS[framework]).with_name("iris.json").read_text())
        for name, version in example["versions"].items():
            assert locked[name] == dev[name] == version, (framework, name)
    fallbacks = pins((PROJECT_DIR / "model_server/requirements/mlflow.txt").read_text())
    assert fallbacks == {name: dev[name] for name in ("mlflow-skinny", "pandas")}
    saved = pins((PROJECT_DIR / MODELS[Framework.MLFLOW] / "requirements.txt").read_text())
    assert saved["mlflow"] == fallbacks["mlflow-skinny"]
