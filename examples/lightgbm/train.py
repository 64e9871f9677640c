"""Regenerate the example LightGBM model: iris.txt (a Booster in LightGBM's text model format)
and iris.json (what it was trained on, a sample and its predictions, the versions).

Deterministic: the data set ships with scikit-learn (no download), the split is seeded, and
training runs on one thread with LightGBM's `deterministic` mode and a fixed seed, so a rerun
with the versions in iris.json writes the same bytes.

    python examples/lightgbm/train.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lightgbm
import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

SEED = 20261128
HERE = Path(__file__).resolve().parent
PARAMS = {
    "objective": "multiclass",  # class probabilities; the server answers the likeliest class
    "num_class": 3,
    "num_leaves": 7,
    "min_data_in_leaf": 5,
    "learning_rate": 0.2,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": SEED,
    "verbose": -1,
}
ROUNDS = 20


def train(out: Path) -> dict[str, object]:
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.3, random_state=SEED, stratify=data.target
    )
    names = [name.removesuffix(" (cm)").replace(" ", "_") for name in data.feature_names]
    dataset = lightgbm.Dataset(x_train, label=y_train, feature_name=names)
    booster = lightgbm.train(PARAMS, dataset, num_boost_round=ROUNDS)
    labels = booster.predict(x_test).argmax(axis=1)
    out.mkdir(parents=True, exist_ok=True)
    booster.save_model(out / "iris.txt")
    metadata = {
        "features": names,
        "classes": [str(name) for name in data.target_names],
        "objective": PARAMS["objective"],
        "test_accuracy": round(float((labels == y_test).mean()), 4),
        "seed": SEED,
        "sample": x_test[:3].tolist(),
        "sample_predictions": labels[:3].tolist(),
        "versions": {"lightgbm": lightgbm.__version__, "numpy": np.__version__},
    }
    (out / "iris.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    metadata = train(args.out)
    print(f"test accuracy {metadata['test_accuracy']}; wrote {args.out}/iris.{{txt,json}}")


if __name__ == "__main__":
    main()
