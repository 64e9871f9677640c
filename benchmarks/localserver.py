"""Start the model server from a source directory as a local process (no Docker) and drive it
with wrk: what benchmarks/protocols.py and benchmarks/workers.py share."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
SCRIPTS = {"predict": BENCHMARKS / "post_predict.lua", "v2": BENCHMARKS / "post_v2_infer.lua"}
PATHS = {"predict": "/predict", "v2": "/v2/models/iris/infer"}


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        raise SystemExit(f"this benchmark needs {tool}: apt-get install {tool}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str, timeout: float = 2) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return int(response.status), bytes(response.read())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (it is what a request costs the server,
    and unlike requests/s it barely moves when other work competes for the cores)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Running:
    base: str  # http://127.0.0.1:PORT
    pid: int  # the server process (with WORKERS=1, the one that serves)


@contextmanager
def local_server(
    source: Path, env: dict[str, str], cpus: str = "", log: Path | None = None
) -> Iterator[Running]:
    """`python -m model_server` from `source` (a checkout's root), on a free loopback port;
    yields it once /readyz answers 200, and stops it (SIGTERM, then SIGKILL)."""
    port = free_port()
    command = [sys.executable, "-m", "model_server"]
    if cpus:
        need("taskset")
        command = ["taskset", "-c", cpus, *command]
    full = {
        **os.environ,
        "PYTHONPATH": str(source),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MODEL_NAME": "iris",
        "MODEL_PATH": str(PROJECT_DIR / "examples/iris/iris.joblib"),  # unless env says
        "DRAIN_SECONDS": "0",
        **env,
    }
    output = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        command, env=full, cwd=source, stdout=output, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server from {source} exited with {process.returncode}")
            try:
                if fetch(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server from {source} was not ready in 120 s")
            time.sleep(0.2)
        yield Running(base, process.pid)  # taskset execs python: the same pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wrk(url: str, script: Path, connections: int, seconds: float, cpus: str = "") -> dict[str, Any]:
    """One wrk run (one thread, keep-alive connections); the figures of its RESULT line."""
    need("wrk")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = result["non_2xx"] + result["socket_errors"]
    return result


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
