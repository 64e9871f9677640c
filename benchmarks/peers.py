"""mlstack's model server against MLServer: same model, same CPU, same wrk load, one run.

    venv/bin/python benchmarks/peers.py [--duration 10] [--concurrency 1 8 32] [--runs 1]

Both serve examples/iris/iris.joblib (scikit-learn) as processes on this machine, pinned with
taskset to the same CPU (--server-cpus, default 1); wrk runs pinned to another (--client-cpus,
default 0), so a server never competes with the load generator. Targets, each measured at every
concurrency:

- mlstack: model_server with WORKERS=1, POST /predict (and POST /v2/models/iris/infer too, when
  the server speaks the Open Inference Protocol);
- MLServer 1.7.1 + mlserver-sklearn, POST /v2/models/iris/infer, with parallel_workers=0
  (inference in the server process) and parallel_workers=1 (its default: one inference worker
  process); both share the pinned CPU.

Every request carries one iris row; each target's first answer is checked (class 2) before it
is measured. A cell (target, concurrency) is --duration seconds of wrk cut into --slices slices,
taken round-robin across the targets, so a burst of other work on the machine lands on all of
them alike: requests/s is all requests over all slices' time, p50 and p99 the median of the
slices'. The table gives requests/s, p50 and p99 per target, then mlstack's ratio to the best
MLServer configuration at that concurrency (requests/s: higher is better; latency: lower).

MLServer runs in its own virtualenv, made on first use under .mlstack/bench/ with pinned
versions: uvloop==0.21.0 (later uvloop versions crash-loop MLServer 1.7 workers,
SeldonIO/MLServer#2286) and the scikit-learn/numpy/joblib the model was saved with.

Needs: wrk (`apt-get install -y wrk`), taskset (util-linux), python3-venv, PyPI for the venv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]
LUA = Path(__file__).resolve().parent / "post_json.lua"
MODEL = PROJECT_DIR / "examples" / "iris" / "iris.joblib"
META = json.loads((PROJECT_DIR / "examples" / "iris" / "iris.json").read_text())
MLSERVER_VERSION = "1.7.1"
# The model's own versions (examples/iris/iris.json) so MLServer unpickles what mlstack does.
MLSERVER_REQUIREMENTS = [
    f"mlserver=={MLSERVER_VERSION}",
    f"mlserver-sklearn=={MLSERVER_VERSION}",
    "uvloop==0.21.0",
    f"scikit-learn=={META['versions']['scikit-learn']}",
    f"numpy=={META['versions']['numpy']}",
    "joblib==1.6.0",
]
MLSERVER_VENV = PROJECT_DIR / ".mlstack" / "bench" / f"mlserver-{MLSERVER_VERSION}"
ROW = META["sample"][0]
EXPECTED = META["sample_predictions"][0]
PREDICT_BODY = json.dumps({"instances": [ROW]})
V2_BODY = json.dumps(
    {"inputs": [{"name": "predict", "shape": [1, len(ROW)], "datatype": "FP64", "data": ROW}]}
)


@dataclass(frozen=True)
class Target:
    label: str
    url: str
    body: str
    peer: bool  # an MLServer configuration (mlstack is compared with the best of these)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per cell")
    parser.add_argument("--slices", type=int, default=5, help="round-robin slices per cell")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per target")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole table")
    parser.add_argument("--server-cpus", default="1", help="taskset CPU list for the servers")
    parser.add_argument("--client-cpus", default="0", help="taskset CPU list for wrk")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def post(url: str, body: str, timeout: float = 5) -> tuple[int, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def answer(payload: Any) -> Any:
    """The one prediction in either server's response body."""
    if "predictions" in payload:
        return payload["predictions"][0]
    return payload["outputs"][0]["data"][0]


def mlserver_python() -> Path:
    """The MLServer venv's python, made (once) with the pinned requirements."""
    python = MLSERVER_VENV / "bin" / "python"
    marker = MLSERVER_VENV / "requirements.txt"
    wanted = "\n".join(MLSERVER_REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if MLSERVER_VENV.exists():
        shutil.rmtree(MLSERVER_VENV)
    print(f"making {MLSERVER_VENV} ({', '.join(MLSERVER_REQUIREMENTS)})", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *MLSERVER_REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return python


@contextmanager
def running(command: list[str], env: dict[str, str], ready: str, log: Path) -> Iterator[None]:
    """A server process (its own session, pinned by the command's taskset) until the block ends;
    ready when GET `ready` answers 200."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{command[3:]} exited {process.returncode}:\n{log.read_text()}")
            try:
                with opener.open(ready, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{ready} not ready in 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def mlstack_server(cpus: str, port: int, log: Path) -> Any:
    env = {
        **os.environ,
        "MODEL_PATH": str(MODEL),
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "1",
        "MODEL_FRAMEWORK": "sklearn",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "1",
        "LOG_LEVEL": "warning",
    }
    command = ["taskset", "-c", cpus, sys.executable, "-m", "model_server"]
    return running(command, env, f"http://127.0.0.1:{port}/readyz", log)


def mlserver(python: Path, cpus: str, workers: int, folder: Path, log: Path) -> Any:
    """MLServer with `workers` parallel inference workers; returns (context, http port)."""
    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    folder.mkdir(parents=True)
    shutil.copy(MODEL, folder / "iris.joblib")
    settings = {"host": "127.0.0.1", "parallel_workers": workers, "debug": False, **ports}
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": "iris",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./iris.joblib", "version": "v1"},
    }
    (folder / "model-settings.json").write_text(json.dumps(model_settings))
    mlserver_cli = str(python.parent / "mlserver")
    command = ["taskset", "-c", cpus, mlserver_cli, "start", str(folder)]
    ready = f"http://127.0.0.1:{ports['http_port']}/v2/models/iris/ready"
    return running(command, dict(os.environ), ready, log), ports["http_port"]


def wrk(target: Target, connections: int, seconds: int, cpus: str) -> dict[str, Any]:
    threads = 1 if "," not in cpus and "-" not in cpus else min(connections, 2)
    command = [
        "taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
        "-s", str(LUA), target.url,
    ]  # fmt: skip
    env = {**os.environ, "BENCH_BODY": target.body}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = result["non_2xx"] + result["socket_errors"]
    return result


def cell(
    targets: list[Target], connections: int, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Each target at `connections`, in round-robin slices (see the module docstring)."""
    seconds = max(1, args.duration // args.slices)
    slices: dict[str, list[dict[str, Any]]] = {t.label: [] for t in targets}
    for _ in range(args.slices):
        for target in targets:
            slices[target.label].append(wrk(target, connections, seconds, args.client_cpus))
    results = {}
    for label, parts in slices.items():
        requests = sum(part["requests"] for part in parts)
        duration_us = sum(part["duration_us"] for part in parts)
        results[label] = {
            "rps": requests / (duration_us / 1e6),
            "p50_us": statistics.median(part["p50_us"] for part in parts),
            "p99_us": statistics.median(part["p99_us"] for part in parts),
            "errors": sum(part["errors"] for part in parts),
        }
    return results


def check_answers(targets: list[Target]) -> None:
    for target in targets:
        status, payload = post(target.url, target.body)
        if status != 200 or answer(payload) != EXPECTED:
            raise SystemExit(f"{target.label}: {status} {payload}, expected class {EXPECTED}")


def ratio_line(ours: dict[str, Any], best: dict[str, Any]) -> str:
    return (
        f"{ours['rps'] / best['rps']:.2f}x requests/s, p50 {ours['p50_us'] / best['p50_us']:.2f}x, "
        f"p99 {ours['p99_us'] / best['p99_us']:.2f}x"
    )


def measure(args: argparse.Namespace, targets: list[Target]) -> None:
    check_answers(targets)
    for target in targets:
        wrk(target, 8, args.warmup, args.client_cpus)
    for run in range(1, args.runs + 1):
        print(f"\nrun {run}/{args.runs}")
        print("| concurrency | server | requests/s | p50 ms | p99 ms | errors |")
        print("|---:|---|---:|---:|---:|---:|")
        ratios = []
        for connections in args.concurrency:
            results = cell(targets, connections, args)
            for target in targets:
                r = results[target.label]
                print(
                    f"| {connections} | {target.label} | {r['rps']:.0f} | "
                    f"{r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | {r['errors']} |",
                    flush=True,
                )
            peers = [t.label for t in targets if t.peer]
            best = max(peers, key=lambda label: results[label]["rps"])
            for target in (t for t in targets if not t.peer):
                ratios.append(
                    f"concurrency {connections}: {target.label} vs {best}: "
                    f"{ratio_line(results[target.label], results[best])}"
                )
        print("\nmlstack / best MLServer configuration (requests/s: higher is better; p50, p99:")
        print("lower is better)")
        for line in ratios:
            print(f"- {line}")


def main() -> None:
    args = parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            package = "wrk" if tool == "wrk" else "util-linux"
            raise SystemExit(f"benchmarks/peers.py needs {tool}: apt-get install -y {package}")
    python = mlserver_python()
    with tempfile.TemporaryDirectory(prefix="mlstack-peers-") as scratch:
        work = Path(scratch)
        port = free_port()
        ours = mlstack_server(args.server_cpus, port, work / "mlstack.log")
        server0, port0 = mlserver(python, args.server_cpus, 0, work / "w0", work / "mls0.log")
        server1, port1 = mlserver(python, args.server_cpus, 1, work / "w1", work / "mls1.log")
        with ours, server0, server1:
            base = f"http://127.0.0.1:{port}"
            targets = [Target("mlstack /predict", f"{base}/predict", PREDICT_BODY, peer=False)]
            if post(f"{base}/v2/models/iris/infer", V2_BODY)[0] == 200:
                targets.append(
                    Target("mlstack /v2 infer", f"{base}/v2/models/iris/infer", V2_BODY, False)
                )
            for workers, mls_port in ((0, port0), (1, port1)):
                url = f"http://127.0.0.1:{mls_port}/v2/models/iris/infer"
                targets.append(Target(f"MLServer workers={workers}", url, V2_BODY, peer=True))
            print(
                f"iris sklearn, one row per request; servers on CPU {args.server_cpus}, wrk on "
                f"CPU {args.client_cpus} ({os.cpu_count()} host CPUs); mlstack WORKERS=1; "
                f"MLServer {MLSERVER_VERSION} (uvloop 0.21.0); {args.duration} s per cell in "
                f"{args.slices} round-robin slices"
            )
            measure(args, targets)


if __name__ == "__main__":
    main()
