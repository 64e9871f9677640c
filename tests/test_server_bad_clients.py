"""Attacks on the real model server process, each as a client would make it, over raw sockets.

Every test here failed against the uvicorn-based server this one replaced (run this module with
its PROJECT_DIR pointing at an older checkout to see it); see model_server/protocol.py for the
limits. The server runs with short timeouts and a small connection limit so the tests are fast.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server_support import (
    IRIS_ONNX,
    LOG_LINE,
    ROW,
    Server,
    http,
    read_one,
    read_response,
    status_of,
)
from tests.support.trick_model import TrickModel

TIMEOUT = 2  # HEADER_TIMEOUT, BODY_TIMEOUT and KEEPALIVE_TIMEOUT of the server under attack
MAX_CONNECTIONS = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "MODEL_PATH": str(IRIS_ONNX),
        "MODEL_NAME": "iris",
        "WORKERS": "1",
        "HEADER_TIMEOUT": str(TIMEOUT),
        "BODY_TIMEOUT": str(TIMEOUT),
        "KEEPALIVE_TIMEOUT": str(TIMEOUT),
        "MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    running = Server(env, tmp_path_factory.mktemp("bad-clients") / "server.log")
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def stream_until_answered(sock: socket.socket, start: bytes, filler: bytes, limit: int) -> int:
    """Send `start`, then `filler` repeatedly (up to `limit` bytes) until the server answers;
    the number of bytes sent."""
    sock.sendall(start)
    sent = len(start)
    try:
        while sent < limit:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered
            sock.sendall(filler)
            sent += len(filler)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def test_a_huge_header_is_refused_with_431_without_being_buffered(server: Server) -> None:
    before = rss_kib(server.process.pid)
    with server.connect() as sock:
        start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
        sent = stream_until_answered(sock, start, b"a" * 65536, 100 << 20)
        if sent >= 100 << 20:
            sock.sendall(b"\r\n\r\n")
        response = read_response(sock)
    assert status_of(response) == 431, response[:200]
    assert sent < 10 << 20, f"the server read {sent} bytes of one header before refusing it"
    assert rss_kib(server.process.pid) - before < 20 << 10  # KiB: not the header's 100 MiB


def test_a_huge_request_line_is_refused_with_414(server: Server) -> None:
    with server.connect() as sock:
        sent = stream_until_answered(sock, b"GET /", b"a" * 65536, 100 << 20)
        if sent >= 100 << 20:
            sock.sendall(b" HTTP/1.1\r\nHost: x\r\n\r\n")
        response = read_response(sock)
    assert status_of(response) == 414, response[:200]
    assert sent < 10 << 20


@pytest.mark.slow
def test_idle_partial_and_slow_connections_are_closed_and_not_counted(server: Server) -> None:
    requests_before = server.metric("mlstack_requests_total")
    latency_before = server.metric("mlstack_request_duration_seconds_count")
    timeouts_before = server.metric(
        'mlstack_incomplete_requests_total{model="iris",reason="timeout"'
    )
    sockets = [server.connect() for _ in range(15)]
    for sock in sockets[5:10]:  # a head that never ends
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    for sock in sockets[10:]:  # a body that never arrives whole
        sock.sendall(b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"inst')
    started = time.monotonic()
    closed = [read_response(sock, timeout=TIMEOUT + 5) for sock in sockets]
    waited = time.monotonic() - started
    for sock in sockets:
        sock.close()
    # The server closed every one of them (recv saw the end) within the timeout and a tick.
    assert waited < TIMEOUT + 4, waited
    assert all(status_of(answer) in (0, 408) for answer in closed), closed
    assert [status_of(answer) for answer in closed[5:]] == [408] * 10
    # Only requests answered count: these 15 connections added none, and no latency.
    assert server.metric('mlstack_requests_in_flight{model="iris"}') == 1  # the scrape itself
    assert server.metric("mlstack_requests_total") == requests_before + 4  # the scrapes
    assert server.metric("mlstack_request_duration_seconds_count") == latency_before + 4
    assert (
        server.metric('mlstack_incomplete_requests_total{model="iris",reason="timeout"')
        == timeouts_before + 10
    )


def test_connections_beyond_the_limit_are_refused_unless_an_idle_one_can_go(
    server: Server,
) -> None:
    # Busy connections (a head in progress) hold their place: the next one gets 503.
    busy = [server.connect() for _ in range(MAX_CONNECTIONS)]
    for sock in busy:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    time.sleep(0.2)
    with server.connect() as extra:
        assert status_of(read_response(extra, timeout=TIMEOUT)) == 503
    for sock in busy:
        sock.close()
    deadline = time.monotonic() + 10
    while server.metric('mlstack_connections{model="iris"}') > 1:  # the scrape's own
        assert time.monotonic() < deadline, "the server kept closed connections open"
        time.sleep(0.1)
    # Idle keep-alive connections give way: the oldest closes for a new one.
    idle = [server.connect() for _ in range(MAX_CONNECTIONS)]
    time.sleep(0.2)
    with server.connect() as extra:
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(read_one(extra)) == 200
    assert read_response(idle[0], timeout=1) == b""  # closed by the server
    for sock in idle:
        sock.close()


def test_a_body_cut_short_is_refused_not_predicted(server: Server) -> None:
    predicted = server.metric('mlstack_requests_total{code="200",model="iris",route="predict"}')
    with server.connect() as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + ROW
        )
        sock.shutdown(socket.SHUT_WR)  # the client stops sending after 37 of 100 bytes
        response = read_response(sock)
    assert status_of(response) == 400, response
    assert b"ended after 37 of 100 bytes" in response
    after = server.metric('mlstack_requests_total{code="200",model="iris",route="predict"}')
    assert after == predicted


def test_expect_100_continue_with_an_oversized_body_gets_413_at_once(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 10485760\r\n\r\n"
        )
        response = read_one(sock, timeout=2)
    assert status_of(response) == 413, response
    assert b"MAX_BODY_BYTES" in response
    # A body within the limit is invited with 100 Continue, then answered.
    with server.connect() as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(ROW)
        )
        sock.settimeout(2)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(ROW)
        assert status_of(read_one(sock)) == 200


def test_upgrade_requests_are_served_without_flooding_the_log(server: Server) -> None:
    lines_before = server.output().count("\n")
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with server.connect() as sock:
        statuses = []
        for _ in range(300):
            sock.sendall(request)
            statuses.append(status_of(read_one(sock)))
    assert statuses == [200] * 300
    output = server.output()
    assert output.count("\n") - lines_before <= 2, output[-2000:]
    lines = output.splitlines()
    assert lines
    assert all(LOG_LINE.match(line) for line in lines), [
        line for line in lines if not LOG_LINE.match(line)
    ][:5]


def test_finite_values_beyond_the_models_float32_are_refused(server: Server) -> None:
    for value in ("1e300", "-1e300", "3.5e38"):
        status, body = http(
            f"{server.base}/predict", b'{"instances": [[%s, 1, 1, 1]]}' % value.encode()
        )
        assert status == 400, (value, body)
        assert "out of range for the model's input (FP32" in json.loads(body)["error"]
    assert http(f"{server.base}/predict", b'{"instances": [[3e38, 1, 1, 1]]}')[0] == 200


def test_head_is_answered_on_get_routes(server: Server) -> None:
    for path in (b"/healthz", b"/readyz", b"/metrics", b"/v2/health/live"):
        with server.connect() as sock:
            sock.sendall(b"HEAD " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            response = read_response(sock)
        head, _, body = response.partition(b"\r\n\r\n")
        assert status_of(head) == 200, (path, head)
        assert b"content-length: " in head.lower()
        assert body == b"", path


@pytest.fixture(scope="module")
def trick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import joblib

    directory = tmp_path_factory.mktemp("trick")
    joblib.dump(TrickModel(), directory / "trick.joblib")
    env = {"MODEL_PATH": str(directory / "trick.joblib"), "MODEL_NAME": "trick", "WORKERS": "1"}
    running = Server(env, directory / "server.log")
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def test_a_failing_model_answers_500_and_counts_it(trick_server: Server) -> None:
    series = 'mlstack_requests_total{code="500",model="trick",route="predict"}'
    before = trick_server.metric(series)
    status, body = http(f"{trick_server.base}/predict", b'{"instances": [[-1, 0, 0, 0]]}')
    assert status == 500
    assert json.loads(body) == {"error": "internal server error"}
    assert trick_server.metric(series) == before + 1
    assert "trick model: asked to fail" in trick_server.output()  # the traceback is logged
