"""The example model regenerates byte-for-byte with the pinned versions (pyproject dev extras),
so the dev stack's artifact is reproducible from examples/iris/train.py alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.harness import PROJECT_DIR

EXAMPLE = PROJECT_DIR / "examples" / "iris"


def test_train_regenerates_identical_artifacts(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    for name in ("iris.joblib", "iris.onnx", "iris.json"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), name
