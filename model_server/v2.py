"""The Open Inference Protocol (KServe v2 REST) for one model with one input and one output:
decoding an inference request into a feature matrix, encoding predictions as an output tensor,
and the metadata documents. Both JSON tensors and the binary tensor data extension (what
tritonclient sends by default) are understood.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .httptypes import JSON, Response
from .models import LoadedModel, Matrix
from .tensors import (
    DATATYPES,
    NUMERIC,
    TensorError,
    check_fits,
    datatype_of,
    decode_binary,
    decode_json,
    encode_binary,
    needs_range_check,
)

_dumps = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call
SERVER_NAME = "mlstack-model-server"
SERVER_VERSION = "0.1.0"
EXTENSIONS = ("binary_tensor_data",)
OCTET_STREAM = b"application/octet-stream"


@dataclass(frozen=True)
class Signature:
    """What the model's output looks like, found by predicting once on zeros at load time."""

    datatype: str
    tail: tuple[int, ...]  # the output shape after the row dimension


def signature(model: LoadedModel) -> Signature:
    width = model.n_features or 1
    probe = np.asarray(model.predict(np.zeros((1, width))))
    return Signature(datatype_of(probe.dtype), tuple(int(size) for size in probe.shape[1:]))


class InferRequest(NamedTuple):
    rows: Matrix
    request_id: str | None
    binary_output: bool


def parse_infer(
    body: bytes, header_length: bytes | None, model: LoadedModel, max_rows: int
) -> InferRequest:
    """Decode `body` (JSON, or a JSON header of `header_length` bytes and binary tensors)."""
    binary = b""
    if header_length is not None:
        try:
            split = int(header_length)
        except ValueError:
            raise TensorError(
                f"Inference-Header-Content-Length={header_length.decode('latin-1')!r}: "
                "expected the JSON header's size in bytes"
            ) from None
        if not 0 < split <= len(body):
            raise TensorError(
                f"Inference-Header-Content-Length={split}: outside the body of {len(body)} bytes"
            )
        body, binary = body[:split], body[split:]
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise TensorError(f"the inference request is not valid JSON ({error})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise TensorError('expected a JSON object {"inputs": [{"name", "shape", "datatype", ...}]}')
    inputs = payload["inputs"]
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise TensorError(
            f"the model takes one input tensor ({model.input_name!r}); the request has "
            f"{len(inputs)}"
        )
    array, checked = _decode_input(inputs[0], binary, model, max_rows)
    rows = array.astype(np.float64, copy=False)
    if not checked and needs_range_check(inputs[0]["datatype"], model.input_dtype):
        check_fits(rows, model.input_dtype, f"input {inputs[0]['name']!r}")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise TensorError(f"id must be a string, got {type(request_id).__name__}")
    return InferRequest(rows, request_id, _binary_output(payload, model))


def _decode_input(
    tensor: dict[str, Any], binary: bytes, model: LoadedModel, max_rows: int
) -> tuple[Any, bool]:
    """The input's array, and whether it was already checked against the model's dtype."""
    name = tensor.get("name")
    if not isinstance(name, str):
        raise TensorError('the input tensor needs a "name" (a string)')
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise TensorError(
            f"input {name!r}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}"
        )
    if datatype not in NUMERIC:
        raise TensorError(
            f"input {name!r}: the model takes numbers ({datatype_of(model.input_dtype)}); "
            f"{datatype} is not accepted; use one of {', '.join(sorted(NUMERIC))}"
        )
    shape = tensor.get("shape")
    width = model.n_features
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(type(size) is int and size >= 0 for size in shape)
    ):
        raise TensorError(
            f"input {name!r}: shape must be [rows, {width if width else 'features'}], got {shape!r}"
        )
    if width is not None and shape[1] != width:
        raise TensorError(f"input {name!r}: shape {shape} has {shape[1]} features; the model "
                          f"expects {width}")  # fmt: skip
    if not 1 <= shape[0] <= max_rows:
        raise TensorError(f"input {name!r}: {shape[0]} rows; from 1 to {max_rows} per request")
    parameters = tensor.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is not None:
        if type(size) is not int or not 0 <= size <= len(binary):
            raise TensorError(
                f"input {name!r}: binary_data_size {size!r} is outside the {len(binary)} bytes "
                "after the JSON header"
            )
        if size != len(binary):
            raise TensorError(
                f"input {name!r}: binary_data_size {size} but {len(binary)} bytes follow the "
                "JSON header"
            )
        return decode_binary(name, datatype, shape, binary), False
    if "data" not in tensor:
        raise TensorError(f'input {name!r}: no "data" and no binary_data_size parameter')
    return decode_json(name, datatype, shape, tensor["data"], model.input_dtype), True


def _binary_output(payload: dict[str, Any], model: LoadedModel) -> bool:
    parameters = payload.get("parameters")
    binary = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    outputs = payload.get("outputs")
    if outputs is None:
        return binary
    if not isinstance(outputs, list):
        raise TensorError('"outputs" must be a list of {"name": ...}')
    for output in outputs:
        name = output.get("name") if isinstance(output, dict) else None
        if name != model.output_name:
            raise TensorError(
                f"output {name!r} does not exist; the model's output is {model.output_name!r}"
            )
        options = output.get("parameters")
        if isinstance(options, dict) and "binary_data" in options:
            binary = options["binary_data"] is True
    return binary


class Encoder:
    """Builds inference responses for one model; the constant parts are encoded once."""

    def __init__(self, model_name: str, version: str, output_name: str, sig: Signature) -> None:
        self.signature = sig
        head = {"model_name": model_name, "model_version": version}
        self._head = json.dumps(head, separators=(",", ":")).encode()[:-1]
        self._output = (
            b'"outputs":[{"name":' + json.dumps(output_name).encode()
            + b',"datatype":"' + sig.datatype.encode() + b'","shape":['
        )  # fmt: skip
        self._tail = b"".join(b"," + str(size).encode() for size in sig.tail)

    def response(self, predictions: list[Any], request: InferRequest) -> Response:
        parts = [self._head]
        if request.request_id is not None:
            parts += [b',"id":', json.dumps(request.request_id).encode()]
        parts += [b",", self._output, str(len(predictions)).encode(), self._tail, b"]"]
        if not request.binary_output:
            data = _dumps(predictions).encode()
            return Response(200, b"".join([*parts, b',"data":', data, b"}]}"]), JSON)
        dtype = DATATYPES[self.signature.datatype]
        raw = encode_binary(np.asarray(predictions, dtype=dtype))
        parts += [b',"parameters":{"binary_data_size":', str(len(raw)).encode(), b"}}]}"]
        header = b"".join(parts)
        length = str(len(header)).encode()
        return Response(
            200, header + raw, OCTET_STREAM, ((b"inference-header-content-length", length),)
        )


def server_metadata() -> bytes:
    document = {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)}
    return json.dumps(document).encode()


def model_metadata(
    model_name: str, version: str, platform: str, model: LoadedModel, sig: Signature
) -> bytes:
    document = {
        "name": model_name,
        "versions": [version],
        "platform": platform,
        "inputs": [
            {
                "name": model.input_name,
                "datatype": datatype_of(model.input_dtype),
                "shape": [-1, model.n_features if model.n_features is not None else -1],
            }
        ],
        "outputs": [
            {"name": model.output_name, "datatype": sig.datatype, "shape": [-1, *sig.tail]}
        ],
    }
    return json.dumps(document).encode()
