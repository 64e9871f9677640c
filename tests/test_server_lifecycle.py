"""The real server process from start to exit: several workers, signals, draining, restarts,
and the exit codes of what stops it (model_server.exitcodes). Slow requests come from
tests/support/trick_model.py, whose first feature is seconds to sleep."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest

from tests.support.server_support import IRIS_JOBLIB, LOG_LINE, ROW, Server, http
from tests.support.trick_model import ExitOnLoad, TrickModel

# Slow: each test starts real server processes and waits out their timeouts and backoffs.
pytestmark = pytest.mark.slow


@pytest.fixture
def trick(tmp_path: Path) -> Path:
    path = tmp_path / "trick.joblib"
    joblib.dump(TrickModel(), path)
    return path


@pytest.fixture
def started() -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.stop()


def start(servers: list[Server], tmp_path: Path, env: dict[str, str]) -> Server:
    server = Server(env, tmp_path / f"server-{len(servers)}.log")
    servers.append(server)
    return server


def slow_requests(
    server: Server, seconds: float, count: int
) -> tuple[list[int], list[threading.Thread]]:
    """`count` requests that each take `seconds` in the model, on their own connections."""
    statuses: list[int] = []
    body = b'{"instances": [[%g, 0, 0, 0]]}' % seconds

    def one() -> None:
        try:
            statuses.append(http(f"{server.base}/predict", body, timeout=30)[0])
        except OSError as error:  # reset or closed without an answer
            statuses.append(-1)
            print(error)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    return statuses, threads


def assert_every_line_stamped(output: str) -> None:
    bad = [line for line in output.splitlines() if not LOG_LINE.match(line)]
    assert not bad, bad[:5]


def test_workers_share_the_load_aggregate_metrics_and_drain_on_sigterm(
    tmp_path: Path, started: list[Server]
) -> None:
    env = {"MODEL_PATH": str(IRIS_JOBLIB), "MODEL_NAME": "iris", "WORKERS": "2",
           "DRAIN_SECONDS": "1", "GRACEFUL_TIMEOUT": "5"}  # fmt: skip
    server = start(started, tmp_path, env)
    server.wait_ready(loaded=2)
    for _ in range(40):  # a new connection each time: the kernel spreads them over the workers
        status, payload = http(f"{server.base}/predict", ROW)
        assert (status, json.loads(payload)["predictions"]) == (200, [2])
    text = http(f"{server.base}/metrics")[1].decode()
    # Multi-process mode: one total across both workers, and a series per worker.
    assert 'mlstack_requests_total{code="200",model="iris",route="predict"} 40.0' in text
    per_worker = [line for line in text.splitlines() if line.startswith("mlstack_worker_requests")]
    assert len(per_worker) == 2, per_worker
    assert all(float(line.rsplit(" ", 1)[1]) > 0 for line in per_worker), per_worker
    began = time.monotonic()
    server.signal(signal.SIGTERM)
    time.sleep(0.3)
    assert http(f"{server.base}/readyz") == (503, b"draining")
    assert http(f"{server.base}/predict", ROW)[0] == 200  # still serving while draining
    assert server.process.wait(timeout=10) == 0, server.output()
    assert time.monotonic() - began < 5
    output = server.output()
    assert output.count("draining for 1.0 s") == 2, output
    assert_every_line_stamped(output)


def test_listening_sockets_close_when_draining_ends(
    tmp_path: Path, started: list[Server], trick: Path
) -> None:
    env = {"MODEL_PATH": str(trick), "WORKERS": "2", "DRAIN_SECONDS": "1",
           "GRACEFUL_TIMEOUT": "10"}  # fmt: skip
    server = start(started, tmp_path, env)
    server.wait_ready(loaded=2)
    statuses, threads = slow_requests(server, 4, 4)
    time.sleep(0.5)
    server.signal(signal.SIGTERM)
    time.sleep(1.8)  # the drain is over; the slow requests are still in flight
    assert server.process.poll() is None
    for _ in range(5):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 4
    assert server.process.wait(timeout=15) == 0, server.output()


def test_a_single_ctrl_c_reaches_each_worker_once_and_in_flight_requests_finish(
    tmp_path: Path, started: list[Server], trick: Path
) -> None:
    env = {"MODEL_PATH": str(trick), "WORKERS": "2", "DRAIN_SECONDS": "0.5",
           "GRACEFUL_TIMEOUT": "10"}  # fmt: skip
    server = start(started, tmp_path, env)
    server.wait_ready(loaded=2)
    statuses, threads = slow_requests(server, 2, 4)
    time.sleep(0.5)
    server.signal(signal.SIGINT, group=True)  # what a terminal's Ctrl+C does
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 4
    assert server.process.wait(timeout=15) == 0
    output = server.output()
    assert output.count("draining for 0.5 s") == 2, output
    assert "second interrupt" not in output


def test_graceful_timeout_of_two_seconds_lets_in_flight_work_finish(
    tmp_path: Path, started: list[Server], trick: Path
) -> None:
    # GRACEFUL_TIMEOUT=2: drain 1 s, then in-flight requests have until 2 s minus a 0.2 s margin.
    env = {"MODEL_PATH": str(trick), "WORKERS": "1", "GRACEFUL_TIMEOUT": "2"}
    server = start(started, tmp_path, env)
    server.wait_ready()
    began = time.monotonic()
    server.signal(signal.SIGTERM)
    time.sleep(0.8)
    finishing, threads = slow_requests(server, 0.5, 1)  # ends ~1.3 s after SIGTERM
    too_slow, more = slow_requests(server, 5, 1)  # cannot end in time: cut at the deadline
    for thread in threads + more:
        thread.join(timeout=30)
    assert finishing == [200]
    assert too_slow == [-1]
    assert server.process.wait(timeout=10) == 0
    assert time.monotonic() - began < 2.5
    assert "graceful timeout (2 s): closing 1 connections" in server.output()


def test_a_worker_dying_while_starting_is_restarted_with_backoff_then_given_up(
    tmp_path: Path, started: list[Server]
) -> None:
    model = tmp_path / "exits.joblib"
    joblib.dump(ExitOnLoad(), model)  # unpickling it exits the process with code 7
    server = start(started, tmp_path, {"MODEL_PATH": str(model), "WORKERS": "2"})
    assert server.process.wait(timeout=120) == 5, server.output()
    output = server.output()
    for delay in ("0.5", "1.0", "2.0", "4.0"):
        assert f"exited with code 7 while starting; restarting in {delay} s" in output, output
    assert "while starting, 5 times in a row; giving up" in output
    assert_every_line_stamped(output)


def test_workers_accept_no_request_before_they_can_predict(
    tmp_path: Path, started: list[Server]
) -> None:
    # A worker listens only once its model is loaded: before that, connections are refused
    # (never answered 503 by a worker that cannot predict yet).
    server = start(started, tmp_path, {"MODEL_PATH": str(IRIS_JOBLIB), "WORKERS": "2"})
    statuses: list[int] = []
    deadline = time.monotonic() + 90
    while len(statuses) < 10:
        assert time.monotonic() < deadline, f"answers so far: {statuses}"
        assert server.process.poll() is None, server.output()
        try:
            statuses.append(http(f"{server.base}/predict", ROW, timeout=30)[0])
        except OSError:  # nothing listens yet
            time.sleep(0.02)
    assert statuses == [200] * 10


def test_workers_whose_supervisor_dies_drain_and_exit(
    tmp_path: Path, started: list[Server]
) -> None:
    env = {"MODEL_PATH": str(IRIS_JOBLIB), "WORKERS": "2", "DRAIN_SECONDS": "1",
           "GRACEFUL_TIMEOUT": "5"}  # fmt: skip
    server = start(started, tmp_path, env)
    server.wait_ready(loaded=2)
    server.process.kill()  # the supervisor only: its workers are orphaned
    server.process.wait(timeout=10)
    deadline = time.monotonic() + 15
    while server.output().count("drained") < 2:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    assert server.output().count("supervisor") == 2  # "supervisor N is gone: stopping"
    time.sleep(0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


@pytest.mark.parametrize(
    ("env", "code", "message"),
    [
        ({"LOG_LEVEL": "bogus"}, 2, "LOG_LEVEL='bogus': expected one of debug, info, warning"),
        ({"WORKERS": "2_0"}, 2, "WORKERS='2_0': expected a whole number from 1 to 256"),
        ({"PORT": "1e3"}, 2, "PORT='1e3': expected a whole number from 1 to 65535"),
        ({"GRACEFUL_TIMEOUT": "inf"}, 2, "GRACEFUL_TIMEOUT='inf': expected a number"),
        ({"MODEL_PATH": "/nonexistent/model.joblib"}, 3, "does not exist or is not a file"),
        (
            {"MODEL_PATH": "/nonexistent/model.joblib", "WORKERS": "2"},
            3,
            "could not load the model",
        ),
        ({"PORT": "busy"}, 4, "Address already in use (another process holds it)"),
        ({"PORT": "busy", "WORKERS": "2"}, 4, "Address already in use (another process holds it)"),
        # Another server's SO_REUSEPORT socket would let ours share its port silently: refused.
        ({"PORT": "busy-reuseport", "WORKERS": "2"}, 4, "Address already in use"),
        ({"HOST": "no.such.host.invalid"}, 4, "cannot listen on HOST='no.such.host.invalid'"),
    ],
)
def test_the_process_exits_with_a_distinct_code_when_it_cannot_serve(
    tmp_path: Path, started: list[Server], env: dict[str, str], code: int, message: str
) -> None:
    with socket.socket() as holder:
        if env.get("PORT") == "busy-reuseport":
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        if env.get("PORT", "").startswith("busy"):
            env = {**env, "PORT": str(holder.getsockname()[1])}
        server = start(started, tmp_path, {"MODEL_PATH": str(IRIS_JOBLIB), **env})
        assert server.process.wait(timeout=90) == code, server.output()
    output = server.output()
    assert message in output, output
    assert_every_line_stamped(output)
