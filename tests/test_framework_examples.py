"""The XGBoost, LightGBM and MLflow example models regenerate from their train.py with the pinned
versions (pyproject dev extras): XGBoost and LightGBM byte for byte; MLflow in everything but
the fields MLflow makes different on every save (examples/mlflow/train.py says which)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.harness import PROJECT_DIR

EXAMPLES = PROJECT_DIR / "examples"


def train(example: str, out: Path) -> None:
    subprocess.run(
        [sys.executable, str(EXAMPLES / example / "train.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("example", "files"),
    [("xgboost", ("iris.ubj", "iris.json")), ("lightgbm", ("iris.txt", "iris.json"))],
)
def test_boosters_regenerate_byte_for_byte(
    example: str, files: tuple[str, ...], tmp_path: Path
) -> None:
    train(example, tmp_path)
    for name in files:
        assert (tmp_path / name).read_bytes() == (EXAMPLES / example / name).read_bytes(), name


# MLmodel keys MLflow fills from the moment, the machine or the saving environment.
MLMODEL_VOLATILE = ("model_uuid", "utc_time_created")
PYFUNC_VOLATILE = ("model_code_path", "python_version")


def stable_mlmodel(model_dir: Path) -> dict[str, Any]:
    mlmodel: dict[str, Any] = yaml.safe_load((model_dir / "MLmodel").read_text())
    for key in MLMODEL_VOLATILE:
        assert mlmodel.pop(key), key  # present, and left out of the comparison
    pyfunc = mlmodel["flavors"]["python_function"]
    for key in PYFUNC_VOLATILE:
        assert pyfunc.pop(key), key
    pyfunc["artifacts"]["classifier"].pop("uri")  # the absolute path it was copied from
    return mlmodel


@pytest.mark.slow
def test_the_mlflow_model_regenerates_all_but_what_mlflow_stamps(tmp_path: Path) -> None:
    train("mlflow", tmp_path)
    committed, fresh = EXAMPLES / "mlflow" / "iris", tmp_path / "iris"
    listing = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file())
    assert listing == sorted(
        str(p.relative_to(committed)) for p in committed.rglob("*") if p.is_file()
    )
    for name in ("requirements.txt", "iris_species.py", "artifacts/iris.joblib"):
        assert (fresh / name).read_bytes() == (committed / name).read_bytes(), name
    assert stable_mlmodel(fresh) == stable_mlmodel(committed)
    # python_env.yaml and conda.yaml record the saving interpreter and its pip/setuptools; the
    # requirements they name are the same.
    envs = [yaml.safe_load((d / "python_env.yaml").read_text()) for d in (fresh, committed)]
    assert envs[0]["dependencies"] == envs[1]["dependencies"] == ["-r requirements.txt"]
    assert len({env["python"].rsplit(".", 1)[0] for env in envs}) == 1
    condas = [yaml.safe_load((d / "conda.yaml").read_text()) for d in (fresh, committed)]
    pips = [next(i["pip"] for i in c["dependencies"] if isinstance(i, dict)) for c in condas]
    assert pips[0] == pips[1] == (committed / "requirements.txt").read_text().splitlines()
    assert (fresh / "requirements.txt").read_text().splitlines()[0] == "mlflow==3.17.2"
    metadata = json.loads((tmp_path / "iris.json").read_text())
    assert metadata == json.loads((EXAMPLES / "mlflow" / "iris.json").read_text())
    # The model's code is the example's own file, copied in.
    assert (committed / "iris_species.py").read_bytes() == (
        EXAMPLES / "mlflow" / "iris_species.py"
    ).read_bytes()
    assert (committed / "artifacts" / "iris.joblib").read_bytes() == (
        EXAMPLES / "iris" / "iris.joblib"
    ).read_bytes()
