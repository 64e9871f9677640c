"""Load a model artifact and predict with it: scikit-learn (joblib) or ONNX (onnxruntime).

Each loader returns a `LoadedModel`: the number of features it expects (when the artifact says)
and a predict function from a float64 matrix to JSON-ready predictions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model_server.config import Framework

Matrix = npt.NDArray[np.float64]
FLOAT64: np.dtype[Any] = np.dtype(np.float64)


@dataclass(frozen=True)
class LoadedModel:
    framework: Framework
    n_features: int | None
    predict: Callable[[Matrix], list[Any]]
    # What the model computes in: inputs beyond its range are refused (model_server.tensors).
    input_dtype: np.dtype[Any] = FLOAT64
    # Tensor names the Open Inference Protocol (/v2) reports for the input and the predictions.
    input_name: str = "input-0"
    output_name: str = "predict"


class ModelLoadError(RuntimeError):
    """The artifact is missing or not a model this server can run."""


def load_model(framework: Framework, path: Path) -> LoadedModel:
    if not path.is_file():
        raise ModelLoadError(f"model artifact {path} does not exist or is not a file")
    if framework is Framework.SKLEARN:
        return _load_sklearn(path)
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


def _load_onnx(path: Path) -> LoadedModel:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread per worker process: the server scales with processes, and extra threads only
    # contend for the container's CPU quota.
    options.intra_op_num_threads = int(os.environ.get("ORT_INTRA_OP_THREADS", "1"))
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"{path}: not a loadable ONNX model: {error}") from error
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
    )
