"""Load a model artifact and predict with it: scikit-learn (joblib), ONNX (onnxruntime), XGBoost
and LightGBM boosters, or an MLflow model directory (its python_function flavor).

Each loader returns a `LoadedModel`: the number of features it expects (when the artifact says)
and a predict function from a float64 matrix to JSON-ready predictions.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .config import Framework

Matrix = npt.NDArray[np.float64]
log = logging.getLogger("model_server")

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
FLOAT64: np.dtype[Any] = np.dtype(np.float64)


@dataclass(frozen=True)
class LoadedModel:
    framework: Framework
    n_features: int | None
    predict: Callable[[Matrix], list[Any]]
    runs_on: str = "cpu"  # ONNX: the onnxruntime execution provider that runs it
    # What the model computes in: inputs beyond its range are refused (model_server.tensors).
    input_dtype: np.dtype[Any] = FLOAT64
    # Tensor names the Open Inference Protocol (/v2) reports for the input and the predictions.
    input_name: str = "input-0"
    output_name: str = "predict"


class ModelLoadError(RuntimeError):
    """The artifact is missing or not a model this server can run."""


def load_model(framework: Framework, path: Path) -> LoadedModel:
    if framework is Framework.MLFLOW:
        return _load_mlflow(path)  # a directory, not a file
    if not path.is_file():
        raise ModelLoadError(f"model artifact {path} does not exist or is not a file")
    if framework is Framework.SKLEARN:
        return _load_sklearn(path)
    if framework is Framework.XGBOOST:
        return _load_xgboost(path)
    if framework is Framework.LIGHTGBM:
        return _load_lightgbm(path)
    return _load_onnx(path)


def _load_sklearn(path: Path) -> LoadedModel:
    import joblib  # only the framework in use is imported
    import sklearn

    # Rows reaching predict are validated finite (model_server.validation), so scikit-learn's
    # own per-call finiteness scan is redundant: ~15% of a one-row prediction.
    sklearn.set_config(assume_finite=True)
    model = joblib.load(path)
    if not callable(getattr(model, "predict", None)):
        raise ModelLoadError(f"{path}: {type(model).__name__} has no predict method")
    n_features = getattr(model, "n_features_in_", None)

    def predict(rows: Matrix) -> list[Any]:
        result: list[Any] = np.asarray(model.predict(rows)).tolist()
        return result

    return LoadedModel(Framework.SKLEARN, int(n_features) if n_features else None, predict)


def onnx_providers(available: Sequence[str]) -> list[str]:
    """The execution providers to ask for, best first: CUDA when this onnxruntime build has it
    (the GPU image's onnxruntime-gpu), then the CPU, which every build has."""
    return [CUDA_PROVIDER, CPU_PROVIDER] if CUDA_PROVIDER in available else [CPU_PROVIDER]


def provider_report(requested: Sequence[str], active: Sequence[str]) -> tuple[str, str | None]:
    """(the provider that runs the model, a warning when it is not the one asked for first).
    `active` is what the session reports: onnxruntime falls back to the CPU when CUDA cannot
    start (no GPU visible to the container, or a driver too old for its CUDA)."""
    running = active[0] if active else CPU_PROVIDER
    if requested and running != requested[0]:
        return running, (
            f"{requested[0]} is in this image but could not start (no GPU visible to the "
            f"container, or its NVIDIA driver is too old for this CUDA); running on {running}"
        )
    return running, None


def _preload_cuda(onnxruntime: Any) -> None:
    """Load CUDA and cuDNN from the nvidia-* wheels beside onnxruntime (onnxruntime-gpu's own
    loader, onnxruntime.preload_dlls); a failure leaves the session to fall back to the CPU."""
    try:
        onnxruntime.preload_dlls()
    except Exception as error:  # noqa: BLE001 - any failure means: no CUDA, serve on the CPU
        log.warning("could not load the CUDA libraries (%s)", error)


def _load_onnx(path: Path) -> LoadedModel:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread per worker process: the server scales with processes, and extra threads only
    # contend for the container's CPU quota.
    options.intra_op_num_threads = int(os.environ.get("ORT_INTRA_OP_THREADS", "1"))
    options.inter_op_num_threads = 1
    providers = onnx_providers(onnxruntime.get_available_providers())
    if CUDA_PROVIDER in providers:
        _preload_cuda(onnxruntime)
    try:
        session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"{path}: not a loadable ONNX model: {error}") from error
    running, warning = provider_report(providers, session.get_providers())
    if warning:
        log.warning("%s: %s", path.name, warning)
    else:
        log.info("%s runs on onnxruntime's %s", path.name, running)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelLoadError(f"{path}: expected one input tensor, found {len(inputs)}")
    tensor = inputs[0]
    dtype = np.float32 if tensor.type == "tensor(float)" else np.float64
    shape = tensor.shape
    n_features = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
    output_name = session.get_outputs()[0].name  # classifiers: the label; regressors: the value

    def predict(rows: Matrix) -> list[Any]:
        (result,) = session.run([output_name], {tensor.name: rows.astype(dtype, copy=False)})
        values: list[Any] = np.asarray(result).tolist()
        return values

    return LoadedModel(
        Framework.ONNX,
        n_features,
        predict,
        input_dtype=np.dtype(dtype),
        input_name=tensor.name,
        output_name=output_name,
        runs_on=running,
    )


# ---- gradient-boosted trees: a classifier answers its likeliest class, as sklearn and ONNX do ----

# Objectives whose output is class probabilities (XGBoost, LightGBM); other objectives answer
# their own output: already a class (multi:softmax, binary:hinge), or a value or score.
_PROBABILITY_OBJECTIVES = {
    "binary:logistic",
    "multi:softprob",
    "binary",
    "multiclass",
    "multiclassova",
}
_LABEL_OBJECTIVES = {"multi:softmax", "binary:hinge"}


def _answers(objective: str) -> Callable[[npt.NDArray[Any]], list[Any]]:
    """Booster output -> predictions: the likeliest class index for probabilities (argmax over
    classes; p > 0.5 for one binary probability, as XGBClassifier and LGBMClassifier decide)."""
    if objective in _PROBABILITY_OBJECTIVES:

        def likeliest(scores: npt.NDArray[Any]) -> list[Any]:
            labels = scores.argmax(axis=1) if scores.ndim == 2 else scores > 0.5
            result: list[Any] = labels.astype(np.int64).tolist()
            return result

        return likeliest
    if objective in _LABEL_OBJECTIVES:
        return lambda scores: scores.astype(np.int64).tolist()
    return lambda scores: scores.tolist()


def _load_xgboost(path: Path) -> LoadedModel:
    import xgboost

    try:
        booster = xgboost.Booster(model_file=str(path))
    except xgboost.core.XGBoostError as error:
        reason = str(error).splitlines()[0]
        raise ModelLoadError(
            f"{path}: not a loadable XGBoost model (.json or .ubj): {reason}"
        ) from error
    # One thread per worker process: the server scales with processes (XGBoost's default, every
    # core, costs ~10x the latency of a one-row prediction in thread start-up).
    booster.set_param({"nthread": 1})
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    answer = _answers(objective)

    def predict(rows: Matrix) -> list[Any]:
        return answer(booster.inplace_predict(rows))

    # XGBoost computes in float32: values beyond its range are refused, not predicted.
    return LoadedModel(
        Framework.XGBOOST,
        booster.num_features() or None,
        predict,
        input_dtype=np.dtype(np.float32),
    )


def _load_lightgbm(path: Path) -> LoadedModel:
    import lightgbm

    try:
        booster = lightgbm.Booster(model_file=str(path))
    except lightgbm.basic.LightGBMError as error:
        raise ModelLoadError(f"{path}: not a loadable LightGBM text model: {error}") from error
    answer = _answers(str(booster.params.get("objective", "")))

    def predict(rows: Matrix) -> list[Any]:
        # One thread per worker process (as for XGBoost).
        return answer(np.asarray(booster.predict(rows, num_threads=1)))

    return LoadedModel(Framework.LIGHTGBM, booster.num_feature() or None, predict)


# ---- MLflow: a model directory, served through its python_function flavor ----


def _load_mlflow(path: Path) -> LoadedModel:
    if not (path / "MLmodel").is_file():
        raise ModelLoadError(f"{path}: not an MLflow model directory (it has no MLmodel file)")
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from .pyfunc import json_rows, signature_input

    try:
        model = mlflow.pyfunc.load_model(str(path))
    except MlflowException as error:
        raise ModelLoadError(
            f"{path}: MLflow cannot load its python_function flavor: {error.message}"
        ) from error
    try:
        to_input, n_features = signature_input(model.metadata.get_input_schema())
    except ValueError as error:
        raise ModelLoadError(f"{path}: {error}") from error

    def predict(rows: Matrix) -> list[Any]:
        try:
            result = model.predict(to_input(rows))
        except MlflowException as error:  # e.g. the signature refused the values: a client error
            raise ValueError(error.message) from error
        return json_rows(result)

    return LoadedModel(Framework.MLFLOW, n_features, predict)
