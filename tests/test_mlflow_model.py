"""An MLflow model directory: what mlstack reads from it (components/mlflow_model.py), what its
image installs, and the settings errors for one it cannot serve."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mlstack.components.mlflow_model import image_requirements, model_files, read_mlflow_model
from mlstack.components.settings import SettingsError, load_settings
from tests.support.harness import PROJECT_DIR

EXAMPLE = PROJECT_DIR / "examples/mlflow/iris"
SERVER_LOCK = (PROJECT_DIR / "model_server/requirements/server.txt").read_text()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A copy of the example model to edit."""
    copy = tmp_path / "model"
    shutil.copytree(EXAMPLE, copy)
    return copy


def write_requirements(model: Path, *lines: str) -> None:
    (model / "requirements.txt").write_text("".join(f"{line}\n" for line in lines))


def test_the_example_reads_as_a_pyfunc_model_saved_with_python_3_11() -> None:
    found = read_mlflow_model(EXAMPLE)
    assert found.flavors == ("python_function",)
    assert found.requirements_file == "requirements.txt"
    assert found.requirements == tuple((EXAMPLE / "requirements.txt").read_text().split())
    assert found.python_version == "3.11"


def test_the_image_installs_the_models_pins_with_mlflow_skinny_for_mlflow() -> None:
    assert image_requirements(read_mlflow_model(EXAMPLE)) == [
        "mlflow-skinny==3.17.2",
        "scikit-learn==1.9.1",
        "scipy==1.17.1",
        "joblib==1.6.0",
        "numpy==2.4.6",
        "pandas==3.1.1",  # the model's own pin: no fallback added
    ]


def test_fallbacks_fill_in_only_what_the_model_does_not_name(model: Path) -> None:
    write_requirements(model, "scikit-learn==1.9.1", "# a comment", "", "numpy>=2  # inline")
    assert image_requirements(read_mlflow_model(model)) == [
        "scikit-learn==1.9.1",
        "numpy>=2",
        "mlflow-skinny==3.17.2",
        "pandas==3.1.1",
    ]
    write_requirements(model, "MLflow[gateway]>=3,<4", "pandas==2.2.3")
    assert image_requirements(read_mlflow_model(model)) == [
        "mlflow-skinny<4,>=3",
        "pandas==2.2.3",
    ]


def test_a_pin_that_excludes_the_servers_lock_is_refused(model: Path) -> None:
    locked = next(line for line in SERVER_LOCK.splitlines() if "==" in line and line[0] != "#")
    name = locked.split("==")[0]
    write_requirements(model, f"{name}==0.0.1")
    with pytest.raises(ValueError, match=rf"'{name}==0.0.1' excludes {locked}, which the"):
        image_requirements(read_mlflow_model(model))
    write_requirements(model, f"{name}>0.0.1")  # admits the locked version
    assert image_requirements(read_mlflow_model(model))[0] == f"{name}>0.0.1"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-r other.txt", "'-r other.txt' is a pip option; expected requirement specifiers"),
        ("--index-url https://x/simple", "is a pip option"),
        ("code/mine-1.0-py3-none-any.whl", "is not a requirement specifier"),
        ("mine @ file:///wheels/mine.whl", "points at a local file the image cannot reach"),
    ],
)
def test_lines_pip_cannot_take_from_the_image_are_refused(
    model: Path, line: str, message: str
) -> None:
    write_requirements(model, "numpy==2.4.6", line)
    with pytest.raises(ValueError, match=message):
        image_requirements(read_mlflow_model(model))


def test_conda_yaml_pip_list_when_there_is_no_requirements_txt(model: Path) -> None:
    (model / "requirements.txt").unlink()
    (model / "python_env.yaml").unlink()
    found = read_mlflow_model(model)
    assert found.requirements_file == "conda.yaml"
    assert found.requirements == tuple((EXAMPLE / "requirements.txt").read_text().split())
    assert found.python_version == "3.11"  # conda.yaml's python=3.11.x
    (model / "conda.yaml").write_text(yaml.safe_dump({"dependencies": ["python=3.10.4"]}))
    with pytest.raises(ValueError, match=r"conda\.yaml has no pip dependencies"):
        read_mlflow_model(model)
    (model / "conda.yaml").unlink()
    with pytest.raises(ValueError, match=r"neither requirements\.txt nor conda\.yaml"):
        read_mlflow_model(model)


def test_python_version_falls_back_to_the_flavors_record(model: Path) -> None:
    (model / "python_env.yaml").unlink()
    (model / "conda.yaml").unlink()
    assert read_mlflow_model(model).python_version == "3.11"  # MLmodel's python_version
    mlmodel = yaml.safe_load((model / "MLmodel").read_text())
    del mlmodel["flavors"]["python_function"]["python_version"]
    (model / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    assert read_mlflow_model(model).python_version is None  # nothing to check the base against


def test_a_directory_that_is_not_a_pyfunc_model_is_refused(model: Path) -> None:
    mlmodel = yaml.safe_load((model / "MLmodel").read_text())
    mlmodel["flavors"] = {"sklearn": {}, "onnx": {}}
    (model / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(ValueError, match=r"no python_function flavor \(flavors: onnx, sklearn\)"):
        read_mlflow_model(model)
    (model / "MLmodel").write_text("flavors: [unclosed\n")
    with pytest.raises(ValueError, match="MLmodel is not valid YAML"):
        read_mlflow_model(model)
    (model / "MLmodel").unlink()
    with pytest.raises(ValueError, match="no MLmodel file"):
        read_mlflow_model(model)
    with pytest.raises(ValueError, match="a file, not a directory"):
        read_mlflow_model(model / "requirements.txt")


def test_model_files_are_every_file_and_never_a_symlink(model: Path, tmp_path: Path) -> None:
    files = model_files(model)
    assert set(files) == {
        "MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt", "iris_species.py",
        "artifacts/iris.joblib",
    }  # fmt: skip
    assert files["artifacts/iris.joblib"] == (EXAMPLE / "artifacts/iris.joblib").read_bytes()
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the model")
    (model / "artifacts" / "extra.txt").symlink_to(outside)
    with pytest.raises(ValueError, match=r"artifacts/extra.txt is a symlink"):
        model_files(model)


def settings_problem(project: Path, artifact: str) -> str:
    entry = {"name": "iris", "framework": "mlflow", "artifact": artifact, "version": "1"}
    with pytest.raises(SettingsError) as info:
        load_settings(
            {"orchestrator": "swarm", "size": "small", "models": [entry]},
            environment="dev",
            project_dir=project,
        )
    (problem,) = info.value.problems
    return problem


def test_settings_name_the_key_for_a_model_mlstack_cannot_serve(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project / "model")
    (project / "model" / "requirements.txt").write_text("mlflow==3.17.2\n-r more.txt\n")
    assert settings_problem(project, "model") == (
        "Pulumi.dev.yaml: mlstack:models[0].artifact: wrong file for framework mlflow: "
        "requirements.txt: '-r more.txt' is a pip option; expected requirement specifiers only "
        "(an index is set with mlstack:image.buildArgs PIP_INDEX_URL; constraints and nested "
        "files are not read) (got model); allowed: an MLflow model directory: MLmodel with a "
        "python_function flavor, the model's pip requirements (requirements.txt or conda.yaml) "
        "and no symlinks; or the framework that saved it"
    )
    assert settings_problem(project, "missing") == (
        "Pulumi.dev.yaml: mlstack:models[0].artifact: model directory not found (got "
        f"missing); allowed: a path to an MLflow model directory inside the project, relative "
        f"to {project}"
    )
    assert "a file, not a directory" in settings_problem(project, "model/MLmodel")
