"""The reference model server's parts without Docker: settings, CPU detection, input validation,
typed tensors, logging, and the app served by a worker in a thread over real HTTP. The whole
process is tested in test_server_lifecycle.py, attacks in test_server_bad_clients.py, the Open
Inference Protocol with a real client in test_open_inference.py."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from mlstack.model_server.app import inline_rows
from mlstack.model_server.config import ConfigError, Framework, load_config
from mlstack.model_server.cpus import cgroup_cpu_limit, default_workers
from mlstack.model_server.logs import LOG_FORMAT, LineFormatter, RateLimit
from mlstack.model_server.models import LoadedModel, ModelLoadError, load_model
from mlstack.model_server.tensors import (
    TensorError,
    check_fits,
    decode_binary,
    decode_json,
    encode_binary,
)
from mlstack.model_server.validation import BadRequestError, parse_instances
from tests.support.harness import PROJECT_DIR
from tests.support.inprocess import make_app, serving
from tests.support.server_support import LOG_LINE, ROW, http, read_one, read_response, status_of

IRIS_JOBLIB = PROJECT_DIR / "examples/iris/iris.joblib"
IRIS_ONNX = PROJECT_DIR / "examples/iris/iris.onnx"
IRIS_META = json.loads((PROJECT_DIR / "examples/iris/iris.json").read_text())


# --- settings -----------------------------------------------------------------------------------


def test_config_defaults_and_framework_from_the_suffix() -> None:
    config = load_config({"MODEL_PATH": "/models/iris.joblib", "WORKERS": "2"})
    assert config.framework is Framework.SKLEARN
    assert (config.model_name, config.model_version) == ("iris", "unversioned")
    assert (config.host, config.port, config.workers) == ("0.0.0.0", 8080, 2)
    assert config.graceful_timeout == 20
    assert config.drain_seconds == 3
    assert config.exit_margin == 0.5
    assert (config.max_request_line_bytes, config.max_header_bytes) == (8192, 16384)
    assert (config.header_timeout, config.body_timeout, config.keepalive_timeout) == (10, 30, 75)
    assert config.max_connections == 1000
    assert config.log_level == "info"
    assert load_config({"MODEL_PATH": "m.onnx", "LOG_LEVEL": "DEBUG"}).log_level == "debug"
    assert load_config({"MODEL_PATH": "m.onnx"}).framework is Framework.ONNX
    explicit = {"MODEL_PATH": "m.bin", "MODEL_FRAMEWORK": "onnx"}
    assert load_config(explicit).framework is Framework.ONNX


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MODEL_PATH is not set"),
        ({"MODEL_PATH": "m.bin"}, "cannot tell the framework from the suffix"),
        ({"MODEL_PATH": "m.onnx", "MODEL_FRAMEWORK": "torch"}, "expected one of sklearn, onnx"),
        ({"MODEL_PATH": "m.onnx", "PORT": "http"}, "PORT='http': expected a whole number from 1"),
        ({"MODEL_PATH": "m.onnx", "PORT": "1e3"}, "PORT='1e3': expected a whole number"),
        ({"MODEL_PATH": "m.onnx", "WORKERS": "1.5"}, "WORKERS='1.5': expected a whole number"),
        ({"MODEL_PATH": "m.onnx", "WORKERS": "2_0"}, "WORKERS='2_0': expected a whole number"),
        ({"MODEL_PATH": "m.onnx", "WORKERS": " 2"}, "WORKERS=' 2': expected a whole number"),
        ({"MODEL_PATH": "m.onnx", "WORKERS": "0"}, "WORKERS='0': expected a whole number from 1"),
        ({"MODEL_PATH": "m.onnx", "DRAIN_SECONDS": "nan"}, "DRAIN_SECONDS='nan': expected a"),
        ({"MODEL_PATH": "m.onnx", "LOG_LEVEL": "bogus"}, "LOG_LEVEL='bogus': expected one of"),
        ({"MODEL_PATH": "m.onnx", "MAX_CONNECTIONS": "0"}, "MAX_CONNECTIONS='0': expected a"),
        (
            {"MODEL_PATH": "m.onnx", "GRACEFUL_TIMEOUT": "5", "DRAIN_SECONDS": "5"},
            "DRAIN_SECONDS=5: expected less than GRACEFUL_TIMEOUT=5",
        ),
    ],
)
def test_bad_environment_is_named_with_what_is_allowed(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(env)


def test_drain_defaults_to_at_most_half_the_graceful_timeout() -> None:
    assert load_config({"MODEL_PATH": "m.onnx", "GRACEFUL_TIMEOUT": "2"}).drain_seconds == 1


# --- CPUs -> workers ----------------------------------------------------------------------------


def cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "limit", "workers"),
    [
        ({"cpu.max": "50000 100000"}, 0.5, 1),
        ({"cpu.max": "150000 100000"}, 1.5, 2),
        ({"cpu.max": "400000 100000"}, 4.0, 2),  # never more than the 2 schedulable CPUs
        ({"cpu.max": "max 100000"}, None, 2),
        ({"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1.0, 1),
        (
            {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            None,
            2,
        ),
        ({}, None, 2),
    ],
)
def test_workers_follow_the_cgroup_cpu_quota(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str],
    limit: float | None,
    workers: int,
) -> None:
    monkeypatch.setattr("mlstack.model_server.cpus.schedulable_cpus", lambda: 2)
    root = cgroup(tmp_path, files)
    assert cgroup_cpu_limit(root) == limit
    assert default_workers(root) == workers


# --- input validation ---------------------------------------------------------------------------


def test_valid_instances_become_a_float_matrix() -> None:
    rows = parse_instances(b'{"instances": [[1, 2.5, 3, 4], [5, 6, 7, 8e-1]]}', 4, 100)
    assert rows.dtype == np.float64
    assert rows.shape == (2, 4)
    assert parse_instances(b'{"instances": [[1, 2]]}', None, 100).shape == (1, 2)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b'{"instances": [[1, 2, 3, NaN]]}', "NaN is not a number JSON allows"),
        (b"[[1, 2, 3, 4]]", 'expected a JSON object {"instances"'),
        (b'{"inputs": [[1, 2, 3, 4]]}', 'expected a JSON object {"instances"'),
        (b'{"instances": []}', "instances must be a non-empty list of rows"),
        (b'{"instances": [1]}', "instances[0] is int, expected a list of numbers"),
        (b'{"instances": [[1, 2, 3]]}', "instances[0] has 3 features; the model expects 4"),
        (b'{"instances": [[1, 2, 3, "4"]]}', "instances[0][3] is a string, expected a number"),
        (b'{"instances": [[1, 2, 3, true]]}', "instances[0][3] is a boolean, expected a number"),
        (b'{"instances": [[1, 2, 3, null]]}', "instances[0][3] is null, expected a number"),
        (b'{"instances": [[1, 2, 3, 4]], "x": 1}', None),  # extra keys are ignored
        (b'{"instances": [[1, 2, 3, 1e999]]}', "too large for a 64-bit float"),
        (b'{"instances": [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]]}', "at most 2 per request"),
    ],
)
def test_bad_instances_are_refused_with_a_message(body: bytes, message: str | None) -> None:
    if message is None:
        assert parse_instances(body, 4, 2).shape == (1, 4)
        return
    with pytest.raises(BadRequestError) as info:
        parse_instances(body, 4, 2)
    assert message in str(info.value)


# --- models -------------------------------------------------------------------------------------


def test_both_loaders_predict_like_the_training_run() -> None:
    sample = np.asarray(IRIS_META["sample"])
    for framework, path in ((Framework.SKLEARN, IRIS_JOBLIB), (Framework.ONNX, IRIS_ONNX)):
        model = load_model(framework, path)
        assert model.n_features == 4
        assert model.predict(sample) == IRIS_META["sample_predictions"], framework
    # What each computes in: the server refuses inputs beyond that range.
    assert load_model(Framework.SKLEARN, IRIS_JOBLIB).input_dtype == np.float64
    onnx = load_model(Framework.ONNX, IRIS_ONNX)
    assert (onnx.input_dtype, onnx.input_name, onnx.output_name) == (np.float32, "input", "label")


def test_a_missing_or_wrong_artifact_fails_to_load(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(Framework.SKLEARN, tmp_path / "none.joblib")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="not a loadable ONNX model"):
        load_model(Framework.ONNX, junk)
    not_a_model = tmp_path / "list.joblib"
    joblib.dump([1, 2, 3], not_a_model)
    with pytest.raises(ModelLoadError, match="list has no predict method"):
        load_model(Framework.SKLEARN, not_a_model)


def test_small_predictions_run_inline_and_slow_ones_do_not() -> None:
    fast = load_model(Framework.SKLEARN, IRIS_JOBLIB)
    assert inline_rows(fast) >= 1

    def slow_predict(rows: Any) -> list[Any]:
        time.sleep(0.003)
        return [0] * len(rows)

    assert inline_rows(LoadedModel(Framework.SKLEARN, 4, slow_predict)) == 0


# --- typed tensors (the Open Inference Protocol's datatypes) ----------------------------------


def test_json_tensors_decode_flat_or_nested_with_their_datatype() -> None:
    flat = decode_json("x", "FP32", [2, 2], [1, 2.5, 3, 4])
    assert (flat.dtype, flat.shape, flat.tolist()) == (np.float32, (2, 2), [[1, 2.5], [3, 4]])
    nested = decode_json("x", "INT64", [2, 2], [[1, 2], [3, 4]])
    assert (nested.dtype, nested.tolist()) == (np.int64, [[1, 2], [3, 4]])
    assert decode_json("x", "BOOL", [2], [True, False]).tolist() == [True, False]
    assert decode_json("x", "BYTES", [1], ["setosa"]).tolist() == [b"setosa"]


@pytest.mark.parametrize(
    ("datatype", "shape", "data", "message"),
    [
        ("FP32", [1, 2], [1, 1e300], "1e+300 is out of range for FP32"),
        ("FP64", [1, 2], [1, 1e999], "NaN or infinity is not a valid input"),
        ("INT32", [2], [1, 2**40], "1099511627776 is out of range for INT32"),
        ("INT64", [1], [2**70], "out of range for INT64"),
        ("UINT8", [1], [-1], "-1 is out of range for UINT8"),
        ("FP32", [2], [1, True], "element 1 is a boolean; FP32 expects a number"),
        ("INT64", [2], [1, 2.5], "element 1 is float; INT64 expects an integer"),
        ("FP64", [2], [1, "2"], "element 1 is a string; FP64 expects a number"),
        ("BOOL", [1], [1], "element 0 is int; BOOL expects true or false"),
        ("FP64", [2, 2], [1, 2, 3], "data is neither 4 flat values nor nested to shape [2, 2]"),
        ("FP64", [2, 2], [[1, 2], [3]], "data has 3 values; shape [2, 2] needs 4"),
        ("FP64", [2, 2], [[1, 2]], "dimension 0 has 1 items, expected 2"),
        ("FP128", [1], [1], "datatype 'FP128' is not one of BOOL"),
        ("FP64", [1], {"a": 1}, "data must be a list, got an object"),
    ],
)
def test_json_tensors_refuse_values_their_datatype_cannot_hold(
    datatype: str, shape: list[int], data: Any, message: str
) -> None:
    with pytest.raises(TensorError) as info:
        decode_json("x", datatype, shape, data)
    assert message in str(info.value)
    assert "input 'x'" in str(info.value)


def test_binary_tensors_round_trip_and_are_checked() -> None:
    values = np.asarray([[1.5, -2.0], [3.0, 4.25]], dtype=np.float32)
    decoded = decode_binary("x", "FP32", [2, 2], encode_binary(values))
    assert decoded.dtype == np.float32
    assert decoded.tolist() == values.tolist()
    labels = np.asarray(["setosa", "virginica"], dtype=object)
    assert decode_binary("x", "BYTES", [2], encode_binary(labels)).tolist() == [
        b"setosa", b"virginica"
    ]  # fmt: skip
    with pytest.raises(TensorError, match="12 bytes of binary data; shape"):
        decode_binary("x", "FP32", [2, 2], b"\0" * 12)
    with pytest.raises(TensorError, match="NaN or infinity in FP32 data"):
        decode_binary("x", "FP32", [1], np.asarray([np.inf], dtype=np.float32).tobytes())


def test_values_beyond_the_models_float_range_are_refused() -> None:
    rows = np.asarray([[1.0, 3.5e38]])
    check_fits(rows, np.dtype(np.float64), "instances")  # fits a float64 model
    with pytest.raises(TensorError, match=r"3.5e\+38 is out of range for the model's input \(FP32"):
        check_fits(rows, np.dtype(np.float32), "instances")
    check_fits(np.asarray([[3.4e38]]), np.dtype(np.float32), "instances")


# --- logging ------------------------------------------------------------------------------------


def test_every_log_line_has_a_timestamp_and_the_process_id() -> None:
    formatter = LineFormatter(LOG_FORMAT)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("model_server", logging.ERROR, __file__, 1, "two\nlines", (),
                                   __import__("sys").exc_info())  # fmt: skip
    lines = formatter.format(record).splitlines()
    assert len(lines) > 3  # the message's second line and the traceback
    assert all(LOG_LINE.match(line) for line in lines), lines
    assert lines[-1].endswith("RuntimeError: boom")


def test_the_rate_limit_drops_a_flood_and_reports_it() -> None:
    limit = RateLimit(burst=2, period=0.2)
    assert [limit.allow("x")[0] for _ in range(5)] == [True, True, False, False, False]
    assert limit.allow("y") == (True, 0)  # kinds are limited apart
    time.sleep(0.25)
    assert limit.allow("x") == (True, 3)  # the next message says how many were dropped


# --- the app over HTTP (a worker in a thread) ---------------------------------------------------


def test_routes_probes_predictions_and_metrics() -> None:
    gate = threading.Event()
    real = load_model(Framework.SKLEARN, IRIS_JOBLIB)

    def loader(config: Any) -> LoadedModel:
        assert gate.wait(30)
        return real

    app = make_app(loader=loader)
    with serving(app) as (base, _):
        # Loading: alive, not ready, predictions refused.
        assert http(f"{base}/healthz") == (200, b"ok")
        assert http(f"{base}/readyz") == (503, b"loading model")
        body = json.dumps({"instances": IRIS_META["sample"]}).encode()
        status, payload = http(f"{base}/predict", body)
        assert (status, json.loads(payload)) == (503, {"error": "model not loaded yet"})
        assert http(f"{base}/v2/health/ready")[0] == 400  # the protocol: 4xx means false
        gate.set()
        deadline = time.monotonic() + 30
        while http(f"{base}/readyz")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)

        status, payload = http(f"{base}/predict", body)
        assert (status, json.loads(payload)) == (200, {
            "predictions": IRIS_META["sample_predictions"], "model": "iris", "version": "1.0.0",
        })  # fmt: skip
        status, payload = http(f"{base}/predict", b'{"instances": [[1]]}')
        assert (status, json.loads(payload)) == (
            400, {"error": "instances[0] has 1 features; the model expects 4"}
        )  # fmt: skip
        status, payload = http(f"{base}/predict", method="GET")
        assert status == 405
        assert json.loads(payload) == {"error": "GET is not allowed here; use POST"}
        assert http(f"{base}/nope")[0] == 404
        assert http(f"{base}/v2/models/iris/explain", ROW)[0] == 404
        big = b'{"instances": [' + b"[1,2,3,4]," * 200_000 + b"[1,2,3,4]]}"
        assert http(f"{base}/predict", big)[0] == 413

        status, metrics = http(f"{base}/metrics")
        text = metrics.decode()
        assert status == 200
        assert 'mlstack_requests_total{code="200",model="iris",route="predict"} 1.0' in text
        assert 'mlstack_requests_total{code="400",model="iris",route="predict"} 1.0' in text
        assert 'mlstack_requests_total{code="405",model="iris",route="predict"} 1.0' in text
        assert 'mlstack_requests_total{code="404",model="iris",route="other"} 2.0' in text
        assert 'mlstack_requests_total{code="413",model="iris",route="predict"} 1.0' in text
        assert (
            'mlstack_request_duration_seconds_bucket{le="0.005",model="iris",route="predict"}'
            in text
        )
        # The 413 was refused by the HTTP layer before the body: no latency observed for it.
        assert 'mlstack_request_duration_seconds_count{model="iris",route="predict"} 4.0' in text
        assert 'mlstack_requests_in_flight{model="iris"} 1.0' in text  # the scrape itself
        assert 'mlstack_connections{model="iris"} ' in text  # this one, and lingering ones

        # Draining: not ready, still serving, and asking clients to reconnect elsewhere.
        app.state.draining = True
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.HTTPError) as info:
            opener.open(f"{base}/readyz", timeout=5)
        assert (info.value.code, info.value.headers["connection"]) == (503, "close")
        assert http(f"{base}/predict", body)[0] == 200


def test_a_failed_load_stops_the_worker_with_exit_code_3() -> None:
    def loader(config: Any) -> LoadedModel:
        raise ModelLoadError("broken artifact")

    app = make_app(loader=loader)
    with serving(app) as (_, worker):
        deadline = time.monotonic() + 10
        while worker.exit_code != 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert isinstance(app.state.failure, ModelLoadError)


@pytest.mark.slow
def test_large_batches_predict_off_the_event_loop_so_probes_answer() -> None:
    real = load_model(Framework.SKLEARN, IRIS_JOBLIB)
    started = threading.Event()

    def slow(rows: Any) -> list[Any]:
        if len(rows) > 1:
            started.set()
            time.sleep(1.0)
        return real.predict(rows)

    app = make_app(loader=lambda config: LoadedModel(Framework.SKLEARN, 4, slow))
    with serving(app) as (base, _):
        deadline = time.monotonic() + 30
        while http(f"{base}/readyz")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        app.state.inline_rows = 2  # calibration is tested above; a 3-row batch goes to a thread
        answers: list[int] = []
        batch = json.dumps({"instances": IRIS_META["sample"]}).encode()
        thread = threading.Thread(target=lambda: answers.append(http(f"{base}/predict", batch)[0]))
        thread.start()
        assert started.wait(10)
        began = time.monotonic()
        assert http(f"{base}/healthz") == (200, b"ok")
        assert time.monotonic() - began < 0.5  # answered while the batch is predicted
        thread.join(10)
        assert answers == [200]


def test_pipelined_chunked_and_http10_requests() -> None:
    app = make_app()
    with serving(app) as (base, _):
        deadline = time.monotonic() + 30
        while http(f"{base}/readyz")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        port = int(base.rsplit(":", 1)[1])
        chunked = (
            b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n" % (10, ROW[:10])
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(ROW) - 10, ROW[10:])
        )
        last = chunked.replace(b"Host: x", b"Host: x\r\nConnection: close")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            # Three requests in one write: answered in order on the same connection.
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + chunked + last)
            stream = read_response(sock)
        answers = [b"HTTP/1.1 " + part for part in stream.split(b"HTTP/1.1 ")[1:]]
        assert [status_of(answer) for answer in answers] == [200, 200, 200]
        assert answers[0].endswith(b"\r\n\r\nok")
        assert answers[2].endswith(b'{"predictions":[2],"model":"iris","version":"1.0.0"}')
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            answer = read_one(sock)
            assert b"connection: keep-alive" in answer.lower()
            sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200 OK")  # then closed
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert status_of(read_response(sock)) == 400
