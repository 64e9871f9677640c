"""Running the real model server process in tests: start it on a free loopback port, wait for
it, talk to it over raw sockets or urllib, read its log, stop it and every worker it started.

Imports nothing from model_server, so the attack tests that use it can be run unchanged
against another version of the server (e.g. the previous commit's) to show they fail there.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
IRIS_JOBLIB = PROJECT_DIR / "examples/iris/iris.joblib"
IRIS_ONNX = PROJECT_DIR / "examples/iris/iris.onnx"
ROW = b'{"instances": [[6.5, 3.2, 5.1, 2.0]]}'
# Every log line: ISO 8601 UTC timestamp, level, logger[pid].
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ \S+\[\d+\] ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    url: str, body: bytes | None = None, method: str | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method or ("POST" if body else "GET"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Server:
    """`python -m model_server` in its own process group, output to a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        full = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "model_server"],
            env=full,
            cwd=PROJECT_DIR,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: cleanup reaches the workers too
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, seconds: float = 90, loaded: int = 1) -> None:
        """Until /readyz answers 200 and `loaded` processes logged that the model loaded."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                ready = http(f"{self.base}/readyz", timeout=2)[0] == 200
                if ready and self.output().count("loaded from") >= loaded:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready in {seconds} s:\n{self.output()}")

    def connect(self, timeout: float = 5) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return sock

    def metric(self, name: str) -> float:
        """The sum of every series of metric `name` (e.g. 'mlstack_requests_total{...route=...')."""
        text = http(f"{self.base}/metrics")[1].decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def signal(self, sig: int, group: bool = False) -> None:
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)

    def stop(self) -> None:
        """Kill the server and every worker it started, whatever state the test left them in."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def read_response(sock: socket.socket, timeout: float = 5) -> bytes:
    """Bytes until the server closes the connection or `timeout` passes."""
    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def read_one(sock: socket.socket, timeout: float = 5) -> bytes:
    """One response on a keep-alive connection: its head and a content-length body."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length: *(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def status_of(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(match.group(1)) if match else 0
