"""Regenerate the example iris model: iris.joblib (scikit-learn) and iris.onnx (same model).

Deterministic: the data set ships with scikit-learn (no download), the split and the model are
seeded, and OpenBLAS runs one pinned kernel set on one thread, so a rerun with the versions in
iris.json yields the same bytes on any x86-64 machine.

    python examples/iris/train.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

# OpenBLAS (inside numpy's and scipy's wheels) picks its kernels by CPU model, and kernels round
# the solver's last bits differently: an AVX-512 Intel machine and an AMD one fitted coefficients
# a few ULP apart. Pin one kernel set every x86-64 CPU since 2013 runs (AVX2) and one thread,
# before numpy loads, so the artifact is byte-identical on any such machine.
if platform.machine() in ("x86_64", "AMD64"):
    os.environ["OPENBLAS_CORETYPE"] = "Haswell"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import joblib  # after the OpenBLAS pin
import numpy as np
import scipy
import skl2onnx
import sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 20261128
HERE = Path(__file__).resolve().parent


def train(out: Path) -> dict[str, object]:
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.3, random_state=SEED, stratify=data.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=SEED))
    model.fit(x_train, y_train)
    accuracy = float(model.score(x_test, y_test))

    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "iris.joblib", compress=3)
    onnx_model = skl2onnx.to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, 4]))],
        target_opset=17,
        options={id(model.steps[-1][1]): {"zipmap": False}},
    )
    (out / "iris.onnx").write_bytes(onnx_model.SerializeToString())
    metadata = {
        "features": list(data.feature_names),
        "classes": [str(name) for name in data.target_names],
        "test_accuracy": round(accuracy, 4),
        "seed": SEED,
        "sample": x_test[:3].tolist(),
        "sample_predictions": model.predict(x_test[:3]).tolist(),
        "versions": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "skl2onnx": skl2onnx.__version__,
        },
    }
    (out / "iris.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    metadata = train(args.out)
    print(f"test accuracy {metadata['test_accuracy']}; wrote {args.out}/iris.{{joblib,onnx,json}}")


if __name__ == "__main__":
    main()
