"""The reference model server without Docker: settings, CPU detection, input validation, the ASGI
app driven directly, and the real process (several workers, SIGTERM) on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from model_server.app import ModelApp, inline_rows
from model_server.config import ConfigError, Framework, load_config
from model_server.cpus import cgroup_cpu_limit, default_workers
from model_server.metrics import Metrics
from model_server.models import LoadedModel, ModelLoadError, load_model
from model_server.validation import BadRequestError, parse_instances
from tests.harness import PROJECT_DIR

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
    assert config.shutdown_budget == 16
    assert load_config({"MODEL_PATH": "m.onnx"}).framework is Framework.ONNX
    explicit = {"MODEL_PATH": "m.bin", "MODEL_FRAMEWORK": "onnx"}
    assert load_config(explicit).framework is Framework.ONNX


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MODEL_PATH is not set"),
        ({"MODEL_PATH": "m.bin"}, "cannot tell the framework from the suffix"),
        ({"MODEL_PATH": "m.onnx", "MODEL_FRAMEWORK": "torch"}, "expected one of sklearn, onnx"),
        ({"MODEL_PATH": "m.onnx", "PORT": "http"}, "PORT='http': expected a number from 1"),
        ({"MODEL_PATH": "m.onnx", "WORKERS": "1.5"}, "WORKERS='1.5': expected a whole number"),
        ({"MODEL_PATH": "m.onnx", "WORKERS": "0"}, "WORKERS='0': expected a number from 1 to 256"),
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
    monkeypatch.setattr("model_server.cpus.schedulable_cpus", lambda: 2)
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


# --- the ASGI app -------------------------------------------------------------------------------


class Client:
    """Calls the ASGI app in-process, as uvicorn would."""

    def __init__(self, app: ModelApp) -> None:
        self.app = app

    async def start(self) -> None:
        messages = [{"type": "lifespan.startup"}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.sleep(3600)
            return {}

        async def send(message: dict[str, Any]) -> None:
            assert message["type"] == "lifespan.startup.complete"

        self.lifespan = asyncio.get_running_loop().create_task(self.app(
            {"type": "lifespan"}, receive, send
        ))  # fmt: skip
        while self.app.state.loader_task is None:
            await asyncio.sleep(0.001)

    async def request(
        self, method: str, path: str, body: bytes = b"", chunks: int = 1
    ) -> tuple[int, dict[str, str], bytes]:
        size = max(1, len(body) // chunks)
        parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            part = parts.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(parts)}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": method, "path": path, "headers": []}
        await self.app(scope, receive, send)
        start, payload = sent
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        return start["status"], headers, payload["body"]


def run_async(coroutine: Any) -> None:
    """asyncio.run in a thread of its own: asyncio.run in the main thread leaves it without an
    event loop, and Pulumi's recorder (later tests) needs the main thread's default loop."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def make_app(env: dict[str, str] | None = None, loader: Any = None) -> ModelApp:
    config = load_config(
        {
            "MODEL_PATH": str(IRIS_JOBLIB),
            "MODEL_NAME": "iris",
            "MODEL_VERSION": "1.0.0",
            **(env or {}),
        }
    )
    return ModelApp(config, Metrics("iris", CollectorRegistry()), loader)


def test_routes_probes_predictions_and_metrics() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        real = load_model(Framework.SKLEARN, IRIS_JOBLIB)

        def loader(config: Any) -> LoadedModel:
            asyncio.run_coroutine_threadsafe(gate.wait(), loop).result()
            return real

        loop = asyncio.get_running_loop()
        app = make_app(loader=loader)
        client = Client(app)
        await client.start()
        # Loading: alive, not ready, predictions refused.
        assert (await client.request("GET", "/healthz"))[0] == 200
        assert (await client.request("GET", "/readyz"))[:3:2] == (503, b"loading model")
        body = json.dumps({"instances": IRIS_META["sample"]}).encode()
        assert (await client.request("POST", "/predict", body))[0] == 503
        gate.set()
        assert app.state.loader_task is not None
        await app.state.loader_task
        assert (await client.request("GET", "/readyz"))[0] == 200

        status, headers, payload = await client.request("POST", "/predict", body, chunks=3)
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert json.loads(payload) == {
            "predictions": IRIS_META["sample_predictions"],
            "model": "iris",
            "version": "1.0.0",
        }
        status, _, payload = await client.request("POST", "/predict", b'{"instances": [[1]]}')
        assert status == 400
        assert json.loads(payload) == {"error": "instances[0] has 1 features; the model expects 4"}
        status, headers, _ = await client.request("GET", "/predict")
        assert status == 405
        assert headers["allow"] == "POST"
        assert (await client.request("GET", "/nope"))[0] == 404
        big = b'{"instances": [' + b"[1,2,3,4]," * 200_000 + b"[1,2,3,4]]}"
        assert (await client.request("POST", "/predict", big, chunks=50))[0] == 413

        status, headers, text = await client.request("GET", "/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
        metrics = text.decode()
        assert 'mlstack_requests_total{code="200",model="iris",route="predict"} 1.0' in metrics
        assert 'mlstack_requests_total{code="400",model="iris",route="predict"} 1.0' in metrics
        assert 'mlstack_requests_total{code="404",model="iris",route="other"} 1.0' in metrics
        assert (
            'mlstack_request_duration_seconds_bucket{le="0.005",model="iris",route="predict"}'
            in metrics
        )
        assert 'mlstack_requests_in_flight{model="iris"} 1.0' in metrics  # the scrape itself

        # Draining: not ready, still serving, and asking clients to reconnect elsewhere.
        app.state.draining = True
        status, headers, _ = await client.request("GET", "/readyz")
        assert (status, headers["connection"]) == (503, "close")
        assert (await client.request("POST", "/predict", body))[0] == 200
        client.lifespan.cancel()

    run_async(scenario())


def test_a_failed_load_is_recorded_for_the_server_to_exit() -> None:
    async def scenario() -> None:
        def loader(config: Any) -> LoadedModel:
            raise ModelLoadError("broken artifact")

        app = make_app(loader=loader)
        client = Client(app)
        await client.start()
        assert app.state.loader_task is not None
        await app.state.loader_task
        assert isinstance(app.state.failure, ModelLoadError)
        assert (await client.request("GET", "/readyz"))[0] == 503
        client.lifespan.cancel()

    run_async(scenario())


# --- the real process ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start_server(env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """The server in its own process group; its output piped, or written to `log`."""
    full = {**os.environ, "HOST": "127.0.0.1", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "model_server"],
        env=full,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE if log is None else log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: cleanup reaches the workers too
    )


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the server and every worker it started, whatever state the test left them in."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)


def wait_ready(base: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0].decode()
        try:
            if get(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("server not ready in time")


def test_several_workers_share_the_port_aggregate_metrics_and_drain_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server(
        {
            "MODEL_PATH": str(IRIS_JOBLIB),
            "PORT": str(port),
            "WORKERS": "2",
            "DRAIN_SECONDS": "1",
            "GRACEFUL_TIMEOUT": "5",
        },
        log := tmp_path / "server.log",
    )
    try:
        wait_ready(base, process)
        # Ready means one worker serves; wait for both (a loading worker has nothing to drain).
        deadline = time.monotonic() + 30
        while log.read_text().count("loaded from") < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        body = json.dumps({"instances": IRIS_META["sample"]}).encode()
        for _ in range(20):  # new connection each time: the kernel spreads them over workers
            status, payload = get(f"{base}/predict", body)
            assert status == 200
            assert json.loads(payload)["predictions"] == IRIS_META["sample_predictions"]
        metrics = get(f"{base}/metrics")[1].decode()
        # Multi-process mode: one total across both workers.
        assert 'mlstack_requests_total{code="200",model="iris",route="predict"} 20.0' in metrics
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert get(f"{base}/readyz") == (503, b"draining")
        assert get(f"{base}/predict", body)[0] == 200  # still serving while draining
        process.wait(timeout=10)
        output = log.read_text()
        assert process.returncode == 0, output
        assert time.monotonic() - started < 5
        assert output.count("draining for 1.0 s") == 2, output
    finally:
        stop_group(process)


def test_workers_accept_no_request_before_they_can_predict() -> None:
    # Workers share one socket: a request must never reach a worker still loading the model
    # (the pod is ready as soon as any worker is). It waits in the backlog instead.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server({"MODEL_PATH": str(IRIS_JOBLIB), "PORT": str(port), "WORKERS": "2"})
    body = json.dumps({"instances": IRIS_META["sample"]}).encode()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    statuses: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(statuses) < 10:
            assert time.monotonic() < deadline, f"answers so far: {statuses}"
            assert process.poll() is None, process.communicate()[0].decode()
            request = urllib.request.Request(f"{base}/predict", data=body, method="POST")
            try:
                with opener.open(request, timeout=30) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
            except urllib.error.URLError:  # not bound yet
                time.sleep(0.02)
        assert statuses == [200] * 10
    finally:
        stop_group(process)


def test_workers_whose_supervisor_dies_drain_and_exit() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"MODEL_PATH": str(IRIS_JOBLIB), "PORT": str(port), "WORKERS": "2"}
    process = start_server({**env, "DRAIN_SECONDS": "1", "GRACEFUL_TIMEOUT": "5"})
    try:
        wait_ready(base, process)
        process.kill()  # the supervisor only: its workers are orphaned
        process.wait(timeout=10)
        # The pipe closes once no process holds it: every orphaned worker has exited.
        output = process.communicate(timeout=15)[0].decode()
        assert output.count("draining for 1.0 s") == 2, output
        with pytest.raises(urllib.error.URLError, match="Connection refused"):
            get(f"{base}/readyz")
    finally:
        stop_group(process)


@pytest.mark.parametrize(
    ("env", "code", "message"),
    [
        ({"MODEL_PATH": "/nonexistent/model.joblib"}, 3, "does not exist or is not a file"),
        ({"MODEL_PATH": str(IRIS_JOBLIB), "WORKERS": "many"}, 2, "WORKERS='many'"),
        (
            {"MODEL_PATH": "/nonexistent/model.joblib", "WORKERS": "2"},
            3,
            "could not load the model",
        ),
    ],
)
def test_the_process_exits_non_zero_when_it_cannot_serve(
    env: dict[str, str], code: int, message: str
) -> None:
    process = start_server({"PORT": str(free_port()), **env})
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == code, output
    assert message in output
