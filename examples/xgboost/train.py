"""Regenerate the example XGBoost model: iris.ubj (a Booster in UBJSON, XGBoost's default format)
and iris.json (what it was trained on, a sample and its predictions, the versions).

Deterministic: the data set ships with scikit-learn (no download), the split is seeded, and
boosting runs on one thread with a fixed seed, so a rerun with the versions in iris.json writes
the same bytes.

    python examples/xgboost/train.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import xgboost
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

SEED = 20261128
HERE = Path(__file__).resolve().parent
PARAMS = {
    "objective": "multi:softprob",  # class probabilities; the server answers the likeliest class
    "num_class": 3,
    "max_depth": 3,
    "eta": 0.3,
    "tree_method": "hist",
    "nthread": 1,
    "seed": SEED,
}
ROUNDS = 20


def train(out: Path) -> dict[str, object]:
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.3, random_state=SEED, stratify=data.target
    )
    booster = xgboost.train(PARAMS, xgboost.DMatrix(x_train, label=y_train), ROUNDS)
    labels = booster.inplace_predict(x_test).argmax(axis=1)
    out.mkdir(parents=True, exist_ok=True)
    booster.save_model(out / "iris.ubj")
    metadata = {
        "features": list(data.feature_names),
        "classes": [str(name) for name in data.target_names],
        "objective": PARAMS["objective"],
        "test_accuracy": round(float((labels == y_test).mean()), 4),
        "seed": SEED,
        "sample": x_test[:3].tolist(),
        "sample_predictions": labels[:3].tolist(),
        "versions": {"xgboost-cpu": xgboost.__version__, "numpy": np.__version__},
    }
    (out / "iris.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    metadata = train(args.out)
    print(f"test accuracy {metadata['test_accuracy']}; wrote {args.out}/iris.{{ubj,json}}")


if __name__ == "__main__":
    main()
