"""Load a model artifact and predict with it: scikit-learn (joblib) or ONNX (onnxruntime).

Each loader returns a `LoadedModel`: the number of features it expects (when the artifact says)
and a predict function from a float64 matrix to JSON-ready predictions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model_server.config import Framework

Matrix = npt.NDArray[np.float64]
log = logging.getLogger("model_server")

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


@dataclass(frozen=True)
class LoadedModel:
    framework: Framework
    n_features: int | None
    predict: Callable[[Matrix], list[Any]]
    runs_on: str = "cpu"  # ONNX: the onnxruntime execution provider that runs it


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

    return LoadedModel(Framework.ONNX, n_features, predict, running)
