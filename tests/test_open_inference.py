"""The Open Inference Protocol (KServe v2 REST) spoken with a real client: tritonclient[http]
against the server's worker in a thread, for the scikit-learn and the ONNX iris models; JSON
tensors and the binary tensor extension (tritonclient's default)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.support.inprocess import make_app, serving
from tests.support.server_support import IRIS_ONNX, http

SAMPLE = np.asarray([[6.5, 3.2, 5.1, 2.0], [6.7, 3.1, 5.6, 2.4], [5.0, 3.4, 1.6, 0.4]])
EXPECTED = [2, 2, 0]


class Target(NamedTuple):
    client: triton.InferenceServerClient
    framework: str
    base: str


@pytest.fixture(scope="module", params=["sklearn", "onnx"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    env = {"MODEL_PATH": str(IRIS_ONNX)} if request.param == "onnx" else {}
    with serving(make_app(env)) as (base, _):
        deadline = time.monotonic() + 60
        while http(f"{base}/readyz")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client = triton.InferenceServerClient(url=base.removeprefix("http://"))
        yield Target(client, request.param, base)


def infer_input(name: str, values: Any, datatype: str, *, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput(name, list(values.shape), datatype)
    tensor.set_data_from_numpy(values, binary_data=binary)
    return tensor


def test_health_and_metadata(target: Target) -> None:
    triton_client, framework = target.client, target.framework
    assert triton_client.is_server_live()
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready("iris")
    assert triton_client.is_model_ready("iris", "1.0.0")
    assert not triton_client.is_model_ready("iris", "2.0.0")
    assert not triton_client.is_model_ready("other")
    server = triton_client.get_server_metadata()
    assert server["name"] == "mlstack-model-server"
    assert "binary_tensor_data" in server["extensions"]
    model = triton_client.get_model_metadata("iris")
    assert (model["name"], model["versions"], model["platform"]) == ("iris", ["1.0.0"], framework)
    (model_input,) = model["inputs"]
    (model_output,) = model["outputs"]
    assert model_input["shape"] == [-1, 4]
    assert model_input["datatype"] == ("FP32" if framework == "onnx" else "FP64")
    assert (model_output["datatype"], model_output["shape"]) == ("INT64", [-1])
    with pytest.raises(InferenceServerException, match="'other' is not served here") as info:
        triton_client.get_model_metadata("other")
    assert info.value.status() == "404"


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize(("datatype", "dtype"), [("FP32", np.float32), ("FP64", np.float64)])
def test_inference_with_json_and_binary_tensors(
    target: Target, binary: bool, datatype: str, dtype: Any
) -> None:
    triton_client = target.client
    rows = infer_input("input-0", SAMPLE.astype(dtype), datatype, binary=binary)
    output = triton.InferRequestedOutput(
        triton_client.get_model_metadata("iris")["outputs"][0]["name"], binary_data=binary
    )
    result = triton_client.infer("iris", [rows], outputs=[output], request_id="r-1")
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        "iris", "1.0.0", "r-1"
    )  # fmt: skip
    (found,) = response["outputs"]
    predictions = result.as_numpy(found["name"])
    assert predictions is not None
    assert (predictions.dtype, predictions.tolist()) == (np.int64, EXPECTED)
    assert ("parameters" in found) == binary  # binary_data_size of the raw output


def test_tritonclient_defaults_binary_everything(
    target: Target,
) -> None:
    triton_client = target.client
    # No outputs named: tritonclient asks for binary outputs; integer features are fine too.
    rows = infer_input("input-0", SAMPLE.round().astype(np.int64), "INT64", binary=True)
    result = triton_client.infer("iris", [rows])
    name = result.get_response()["outputs"][0]["name"]
    assert result.as_numpy(name).shape == (3,)


@pytest.mark.parametrize(
    ("values", "datatype", "message"),
    [
        (np.ones((1, 3)), "FP64", "shape [1, 3] has 3 features; the model expects 4"),
        (np.ones((4,)), "FP64", "shape must be [rows, 4], got [4]"),
        (np.asarray([["a", "b", "c", "d"]], dtype=object), "BYTES", "BYTES is not accepted"),
    ],
)
def test_bad_inputs_are_refused_with_the_protocols_error(
    target: Target, values: Any, datatype: str, message: str
) -> None:
    triton_client = target.client
    for binary in (False, True):
        rows = infer_input("input-0", values, datatype, binary=binary)
        with pytest.raises(InferenceServerException, match=message.replace("[", r"\[")) as info:
            triton_client.infer("iris", [rows])
        assert info.value.status() == "400"


def test_values_beyond_the_models_range_are_refused(
    target: Target,
) -> None:
    triton_client, framework = target.client, target.framework
    rows = infer_input("input-0", np.asarray([[1e300, 1.0, 1.0, 1.0]]), "FP64", binary=False)
    if framework == "sklearn":  # float64 all the way: 1e300 is a valid input
        assert triton_client.infer("iris", [rows]).as_numpy("predict") is not None
        return
    with pytest.raises(InferenceServerException, match="out of range for the model's input"):
        triton_client.infer("iris", [rows])


def test_unknown_models_versions_and_outputs(
    target: Target,
) -> None:
    triton_client = target.client
    rows = infer_input("input-0", SAMPLE, "FP64", binary=False)
    with pytest.raises(InferenceServerException, match="'other' is not served here") as info:
        triton_client.infer("other", [rows])
    assert info.value.status() == "404"
    with pytest.raises(InferenceServerException, match="has no version '9'"):
        triton_client.infer("iris", [rows], model_version="9")
    wrong = triton.InferRequestedOutput("probabilities", binary_data=False)
    with pytest.raises(InferenceServerException, match="output 'probabilities' does not exist"):
        triton_client.infer("iris", [rows], outputs=[wrong])


def test_hand_written_requests_get_the_protocols_error_body(target: Target) -> None:
    url = f"{target.base}/v2/models/iris/infer"
    cases = [
        (b"{not json", "the inference request is not valid JSON"),
        (b'{"inputs": []}', "the model takes one input tensor"),
        (b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64"}]}', 'no "data"'),
        (
            b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", '
            b'"data": [1, 2, 3, true]}]}',
            "element 3 is a boolean; FP32 expects a number",
        ),
    ]
    for body, message in cases:
        status, payload = http(url, body)
        assert status == 400
        assert message in json.loads(payload)["error"]
    nested = (
        b'{"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", '
        b'"data": [[6.5, 3.2, 5.1, 2.0], [5.0, 3.4, 1.6, 0.4]]}]}'
    )
    status, payload = http(url, nested)
    assert status == 200
    assert json.loads(payload)["outputs"][0]["data"] == [2, 0]
    assert http(f"{target.base}/v2/models/iris/infer", method="GET")[0] == 405
