"""Framework versus artifact, checked when settings load (components/settings/artifacts.py).

Each check reads the file's own format and never executes it. Its verdict is compared with the
real loaders the serving image runs (model_server.models: joblib.load, onnxruntime) over a
corpus of real files: every file a check accepts loads, every file it refuses does not.
"""

from __future__ import annotations

import datetime
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import joblib
import lightgbm
import numpy as np
import onnx
import pytest
import xgboost
from onnx import helper, numpy_helper

from mlstack.components.settings import Framework, SettingsError, load_settings
from mlstack.components.settings.artifacts import ARTIFACT_CHECKS, ArtifactError
from mlstack.model_server.config import Framework as ServerFramework
from mlstack.model_server.models import load_model
from tests.support.harness import PROJECT_DIR

IRIS_JOBLIB = PROJECT_DIR / "examples/iris/iris.joblib"
IRIS_ONNX = PROJECT_DIR / "examples/iris/iris.onnx"
IRIS_XGBOOST = PROJECT_DIR / "examples/xgboost/iris.ubj"
IRIS_LIGHTGBM = PROJECT_DIR / "examples/lightgbm/iris.txt"


def iris_model() -> object:
    return joblib.load(IRIS_JOBLIB)


def joblib_file(compress: object) -> Callable[[Path], None]:
    return lambda path: joblib.dump(iris_model(), path, compress=compress)


def pickle_file(value: Callable[[], object], protocol: int) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(pickle.dumps(value(), protocol=protocol))


def truncated_onnx(path: Path) -> None:
    path.write_bytes(IRIS_ONNX.read_bytes()[:-40])


def onnx_without_graph(path: Path) -> None:
    path.write_bytes(onnx.ModelProto(ir_version=8).SerializeToString())


def copy_of(source: Path) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(source.read_bytes())


def xgboost_json(path: Path) -> None:
    xgboost.Booster(model_file=str(IRIS_XGBOOST)).save_model(str(path))


def lightgbm_json_dump(path: Path) -> None:
    """LightGBM's JSON dump: readable, but Booster(model_file=...) loads the text format only."""
    dump = lightgbm.Booster(model_file=str(IRIS_LIGHTGBM)).dump_model()
    path.write_text(json.dumps(dump))


# file name -> how to write it; the framework whose loader must accept it (None: neither).
CORPUS: dict[str, tuple[Callable[[Path], None], Framework | None]] = {
    "zlib.joblib": (lambda p: p.write_bytes(IRIS_JOBLIB.read_bytes()), Framework.SKLEARN),
    "raw.joblib": (joblib_file(0), Framework.SKLEARN),
    "gzip.joblib": (joblib_file(("gzip", 3)), Framework.SKLEARN),
    "bz2.joblib": (joblib_file(("bz2", 3)), Framework.SKLEARN),
    "xz.joblib": (joblib_file(("xz", 3)), Framework.SKLEARN),
    "lzma.joblib": (joblib_file(("lzma", 3)), Framework.SKLEARN),
    "protocol0.pkl": (pickle_file(iris_model, 0), Framework.SKLEARN),
    "protocol2.pkl": (pickle_file(iris_model, 2), Framework.SKLEARN),
    "iris.onnx": (lambda p: p.write_bytes(IRIS_ONNX.read_bytes()), Framework.ONNX),
    "plain-data.joblib": (pickle_file(lambda: {"weights": [1.0, 2.0]}, 5), None),
    "a-date.pkl": (pickle_file(lambda: datetime.date(2026, 1, 1), 5), None),
    "truncated.onnx": (truncated_onnx, None),
    "no-graph.onnx": (onnx_without_graph, None),
    "empty.bin": (lambda p: p.write_bytes(b""), None),
    "notes.json": (lambda p: p.write_bytes(b'{"not": "a model"}\n'), None),
    "iris.ubj": (copy_of(IRIS_XGBOOST), Framework.XGBOOST),
    "iris-xgboost.json": (xgboost_json, Framework.XGBOOST),
    "ubjson-named.json": (copy_of(IRIS_XGBOOST), None),  # XGBoost reads .json as JSON
    "iris-lightgbm.txt": (copy_of(IRIS_LIGHTGBM), Framework.LIGHTGBM),
    "lightgbm-dump.json": (lightgbm_json_dump, None),
}


def loads(framework: Framework, path: Path) -> bool:
    """What the serving image does with the file: load it with the framework's loader."""
    try:
        load_model(ServerFramework(framework.value), path)
    except Exception:  # noqa: BLE001 - whatever the loader raises, the container would exit
        return False
    return True


def accepted(framework: Framework, path: Path) -> bool:
    try:
        ARTIFACT_CHECKS[framework](path)
    except ValueError:
        return False
    return True


def test_every_framework_has_an_artifact_check() -> None:
    assert set(ARTIFACT_CHECKS) == set(Framework)


@pytest.mark.parametrize("name", sorted(CORPUS))
@pytest.mark.parametrize("framework", list(Framework))
def test_the_check_agrees_with_the_framework_loader(
    tmp_path: Path, name: str, framework: Framework
) -> None:
    write, loadable_by = CORPUS[name]
    path = tmp_path / name
    write(path)
    assert accepted(framework, path) == (loadable_by is framework)
    assert loads(framework, path) == (loadable_by is framework)


@pytest.mark.parametrize(
    ("framework", "artifact", "message"),
    [
        (
            "onnx",
            "examples/iris/iris.joblib",
            "mlstack:models[0].artifact: wrong file for framework onnx: a joblib/pickle file "
            "(scikit-learn), not an ONNX model (got examples/iris/iris.joblib); allowed: an "
            "ONNX model",
        ),
        (
            "sklearn",
            "examples/iris/iris.onnx",
            "mlstack:models[0].artifact: wrong file for framework sklearn: an ONNX model, not a "
            "joblib/pickle file (got examples/iris/iris.onnx); allowed: a scikit-learn "
            "estimator saved with joblib.dump",
        ),
    ],
)
def test_a_framework_with_the_other_frameworks_artifact_is_refused_naming_the_key(
    framework: str, artifact: str, message: str
) -> None:
    model = {"name": "iris", "framework": framework, "artifact": artifact, "version": "1"}
    with pytest.raises(SettingsError) as info:
        load_settings(
            {"orchestrator": "swarm", "size": "small", "models": [model]},
            environment="dev",
            project_dir=PROJECT_DIR,
        )
    (problem,) = info.value.problems
    assert problem.startswith(f"Pulumi.dev.yaml: {message}"), problem


def test_a_pickle_is_read_never_run(tmp_path: Path) -> None:
    """A pickle whose loading would run a command: the check refuses it without running it."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "model.joblib"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ArtifactError, match=r"a pickled (posix|os)\.system, which is not"):
        ARTIFACT_CHECKS[Framework.SKLEARN](path)
    assert not marker.exists()


def test_lz4_and_pre_0_10_joblib_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    lz4 = tmp_path / "lz4.joblib"
    lz4.write_bytes(b"\x04\x22\x4d\x18" + b"\0" * 32)
    with pytest.raises(ArtifactError, match="no lz4 package"):
        ARTIFACT_CHECKS[Framework.SKLEARN](lz4)
    old = tmp_path / "old.joblib"
    old.write_bytes(b"ZF0x00000000000000000000" + b"\0" * 8)
    with pytest.raises(ArtifactError, match=r"joblib before 0\.10"):
        ARTIFACT_CHECKS[Framework.SKLEARN](old)


def test_an_onnx_model_with_external_weights_is_refused(tmp_path: Path) -> None:
    """onnxruntime loads it next to its weights file, but the image copies the model file only."""
    weights = numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), name="weights")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "weights"], ["output"])],
        "linear",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [None, 3])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    inside = tmp_path / "inside.onnx"
    onnx.save_model(model, inside)
    assert accepted(Framework.ONNX, inside)
    assert loads(Framework.ONNX, inside)
    external = tmp_path / "external.onnx"
    onnx.save_model(
        model, external, save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    assert loads(Framework.ONNX, external)  # beside its weights file
    with pytest.raises(ArtifactError, match=r"1 tensor\(s\) in external data files"):
        ARTIFACT_CHECKS[Framework.ONNX](external)


def artifact_problem(project: Path, artifact: str) -> str:
    model = {"name": "iris", "framework": "sklearn", "artifact": artifact, "version": "1"}
    with pytest.raises(SettingsError) as info:
        load_settings(
            {"orchestrator": "swarm", "size": "small", "models": [model]},
            environment="dev",
            project_dir=project,
        )
    (problem,) = info.value.problems
    return problem


def test_artifacts_outside_the_project_are_refused(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "iris.joblib"
    outside.write_bytes(IRIS_JOBLIB.read_bytes())
    (project / "linked.joblib").symlink_to(outside)
    (project / "models").mkdir()
    (project / "models" / "iris.joblib").write_bytes(IRIS_JOBLIB.read_bytes())
    load_settings(
        {
            "orchestrator": "swarm",
            "size": "small",
            "models": [
                {"name": "iris", "framework": "sklearn", "artifact": "models/iris.joblib",
                 "version": "1"}
            ],
        },
        environment="dev",
        project_dir=project,
    )  # fmt: skip
    assert "outside the project directory" in artifact_problem(project, "../iris.joblib")
    assert "outside the project directory" in artifact_problem(project, "linked.joblib")
    assert "an absolute path works only in this checkout" in artifact_problem(
        project, str(project / "models" / "iris.joblib")
    )
