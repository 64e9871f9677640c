"""The model server's XGBoost, LightGBM and MLflow loaders against the frameworks themselves.

A classifier answers its likeliest class, as the scikit-learn and ONNX paths do; every other
objective answers the booster's own output. Small models are trained here for each objective.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import lightgbm
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import xgboost
import yaml
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec
from sklearn.datasets import load_iris

from mlstack.model_server.config import Framework, load_config
from mlstack.model_server.models import LoadedModel, ModelLoadError, load_model
from tests.support.harness import PROJECT_DIR

EXAMPLES = PROJECT_DIR / "examples"
X, Y = load_iris(return_X_y=True)
BINARY = (Y == 2).astype(int)


def meta(example: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / example / "iris.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("framework", "artifact"),
    [
        (Framework.XGBOOST, "xgboost/iris.ubj"),
        (Framework.LIGHTGBM, "lightgbm/iris.txt"),
        (Framework.MLFLOW, "mlflow/iris"),
    ],
)
def test_the_example_models_load_and_answer_their_recorded_predictions(
    framework: Framework, artifact: str
) -> None:
    model = load_model(framework, EXAMPLES / artifact)
    sample = meta(artifact.split("/")[0])
    assert model.framework is framework
    assert model.n_features == 4
    assert model.predict(np.array(sample["sample"])) == sample["sample_predictions"]


def test_the_server_tells_xgboost_by_its_ubj_suffix_only() -> None:
    assert load_config({"MODEL_PATH": "/models/m.ubj"}).framework is Framework.XGBOOST
    explicit = {"MODEL_PATH": "/models/m.json", "MODEL_FRAMEWORK": "xgboost"}
    assert load_config(explicit).framework is Framework.XGBOOST
    mlflow_dir = {"MODEL_PATH": "/models/iris", "MODEL_FRAMEWORK": "mlflow"}
    assert load_config(mlflow_dir).framework is Framework.MLFLOW


# ---- XGBoost ---------------------------------------------------------------------------------


def xgboost_model(tmp_path: Path, params: dict[str, Any], labels: Any, name: str) -> Path:
    booster = xgboost.train(
        {**params, "nthread": 1, "seed": 1}, xgboost.DMatrix(X, label=labels), 5
    )
    path = tmp_path / name
    booster.save_model(str(path))
    return path


@pytest.mark.parametrize(
    ("params", "labels", "expected"),
    [
        pytest.param(
            {"objective": "multi:softprob", "num_class": 3}, Y,
            lambda out: out.argmax(axis=1), id="softprob-likeliest-class",
        ),
        pytest.param(
            {"objective": "multi:softmax", "num_class": 3}, Y,
            lambda out: out.astype(int), id="softmax-its-class",
        ),
        pytest.param(
            {"objective": "binary:logistic"}, BINARY,
            lambda out: (out > 0.5).astype(int), id="logistic-over-one-half",
        ),
        pytest.param(
            {"objective": "reg:squarederror"}, X[:, 3], lambda out: out, id="regression-value",
        ),
    ],
)  # fmt: skip
def test_xgboost_answers_by_objective(
    tmp_path: Path, params: dict[str, Any], labels: Any, expected: Any
) -> None:
    for suffix in ("json", "ubj"):
        path = xgboost_model(tmp_path, params, labels, f"model.{suffix}")
        model = load_model(Framework.XGBOOST, path)
        own = xgboost.Booster(model_file=str(path)).inplace_predict(X)
        assert model.predict(X) == expected(own).tolist()
        assert model.n_features == 4


# ---- LightGBM --------------------------------------------------------------------------------


def lightgbm_model(tmp_path: Path, params: dict[str, Any], labels: Any) -> Path:
    dataset = lightgbm.Dataset(X, label=labels)
    booster = lightgbm.train(
        {**params, "num_threads": 1, "verbose": -1, "min_data_in_leaf": 5}, dataset, 5
    )
    path = tmp_path / "model.txt"
    booster.save_model(str(path))
    return path


@pytest.mark.parametrize(
    ("params", "labels", "expected"),
    [
        pytest.param(
            {"objective": "multiclass", "num_class": 3}, Y,
            lambda out: out.argmax(axis=1), id="multiclass-likeliest-class",
        ),
        pytest.param(
            {"objective": "multiclassova", "num_class": 3}, Y,
            lambda out: out.argmax(axis=1), id="one-vs-all-likeliest-class",
        ),
        pytest.param(
            {"objective": "binary"}, BINARY,
            lambda out: (out > 0.5).astype(int), id="binary-over-one-half",
        ),
        pytest.param({"objective": "regression"}, X[:, 3], lambda out: out, id="regression"),
    ],
)  # fmt: skip
def test_lightgbm_answers_by_objective(
    tmp_path: Path, params: dict[str, Any], labels: Any, expected: Any
) -> None:
    path = lightgbm_model(tmp_path, params, labels)
    model = load_model(Framework.LIGHTGBM, path)
    own = np.asarray(lightgbm.Booster(model_file=str(path)).predict(X))
    assert model.predict(X) == expected(own).tolist()


def test_a_wrong_booster_file_fails_to_load_saying_which(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a loadable XGBoost model"):
        load_model(Framework.XGBOOST, EXAMPLES / "lightgbm/iris.txt")
    with pytest.raises(ModelLoadError, match="not a loadable LightGBM text model"):
        load_model(Framework.LIGHTGBM, EXAMPLES / "xgboost/iris.ubj")
    with pytest.raises(ModelLoadError, match="does not exist or is not a file"):
        load_model(Framework.XGBOOST, tmp_path / "missing.ubj")


# ---- MLflow ----------------------------------------------------------------------------------


class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Answers its input back: what the loader handed the model, and how it returns it."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        # No annotations: MLflow would read them as the input schema (the signature says it).
        if isinstance(model_input, pd.DataFrame):
            return model_input  # several columns: one JSON object per row
        return np.asarray(model_input) * 2


def mlflow_model(tmp_path: Path, signature: ModelSignature | None) -> LoadedModel:
    path = tmp_path / "model"
    mlflow.pyfunc.save_model(
        str(path), python_model=Echo(), signature=signature, pip_requirements=["numpy"]
    )
    return load_model(Framework.MLFLOW, path)


def test_mlflow_named_columns_get_a_frame_of_the_signatures_types(tmp_path: Path) -> None:
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", "a"), ColSpec("float", "b"), ColSpec("long", "c")])
    )
    model = mlflow_model(tmp_path, signature)
    assert model.n_features == 3
    assert model.predict(np.array([[1.5, 2.5, 3.0]])) == [{"a": 1.5, "b": 2.5, "c": 3}]
    with pytest.raises(ValueError, match="'c' takes whole numbers"):
        model.predict(np.array([[1.5, 2.5, 3.5]]))
    with pytest.raises(ValueError, match="too large for the model's float32"):
        model.predict(np.array([[1.5, 1e300, 3.0]]))


def test_mlflow_tensor_and_no_signature(tmp_path: Path) -> None:
    tensor = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 2))]))
    model = mlflow_model(tmp_path / "tensor", tensor)
    assert model.n_features == 2
    assert model.predict(np.array([[1.0, 2.0]])) == [[2.0, 4.0]]
    unsigned = mlflow_model(tmp_path / "none", None)
    assert unsigned.n_features is None
    assert unsigned.predict(np.array([[1.0, 2.0, 3.0]])) == [[2.0, 4.0, 6.0]]


def test_an_mlflow_model_with_text_inputs_is_refused_at_load(tmp_path: Path) -> None:
    signature = ModelSignature(inputs=Schema([ColSpec("string", "text")]))
    with pytest.raises(ModelLoadError, match="input column 'text' is string; /predict sends"):
        mlflow_model(tmp_path, signature)


def test_an_mlflow_directory_without_pyfunc_or_mlmodel_fails_to_load(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no MLmodel file"):
        load_model(Framework.MLFLOW, EXAMPLES / "xgboost")
    model = tmp_path / "no-pyfunc"
    shutil.copytree(EXAMPLES / "mlflow/iris", model)
    mlmodel = yaml.safe_load((model / "MLmodel").read_text())
    mlmodel["flavors"] = {"sklearn": mlmodel["flavors"].pop("python_function")}
    (model / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(ModelLoadError, match="MLflow cannot load its python_function flavor"):
        load_model(Framework.MLFLOW, model)
