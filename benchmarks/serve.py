"""Throughput and latency of the built model image for POST /predict at concurrency 1, 8, 32.

    venv/bin/python benchmarks/serve.py [--stack dev] [--duration 10] [--runs 1]
        [--baseline-image TAG]   # e.g. the image an older commit's serve.py built

Builds (or reuses: the tag is content-addressed) the image exactly as the stack declares it,
runs it with the stack size's CPU and memory limits (dev: small = 0.5 CPU, 512 MiB), read-only
root and tmpfs /tmp, on a loopback port, and drives it with wrk.

Why wrk: a C event-loop client with keep-alive connections, so one client thread costs far less
CPU per request than the server it measures; it reports per-request latency percentiles. It runs
outside the server's CPU limit. On a 2-core machine the client still shares the cores with the
engine and docker-proxy, and other work on the machine makes figures noisy.

Two views of concurrency 1. wrk drives the server as fast as it answers (closed loop): with the
small size's 0.5-CPU limit that uses up the CFS quota in most 100 ms periods, and requests that
arrive while the container is paused wait up to ~50 ms (the "throttled" column shows it). hey
offers a fixed rate on one connection (e.g. MLServer's 300 req/s), the load a real client
brings; then the quota is not exhausted and latency is the server's own.

Needs: a Docker engine, wrk (`apt-get install wrk`), the base image (offline:
`bash scripts/offline-base-image.sh`) and, behind a TLS-intercepting proxy, a CA bundle.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from mlstack.loadtest.container import (  # noqa: E402
    Limits,
    RunningModel,
    build_recorded,
    model_image,
    run_model,
)
from mlstack.offline import record  # noqa: E402
from mlstack.plan.command import stack_settings  # noqa: E402

LUA = Path(__file__).resolve().parent / "post_predict.lua"
CONCURRENCY = (1, 8, 32)
# MLServer's CI bar for an iris sklearn model at concurrency 1.
BAR = {"rps": 300.0, "mean_ms": 5.0, "p99_ms": 10.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help="stack file whose first model to serve")
    parser.add_argument("--base-image", default="mlstack/python-base:3.11-bookworm")
    parser.add_argument(
        "--ca-bundle",
        default="/etc/ssl/certs/ca-certificates.crt",
        help="extra CA bundle for pip in the build ('' for none)",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per concurrency")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up first")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole table")
    parser.add_argument("--workers", default="", help="WORKERS for the server (default: cgroup)")
    parser.add_argument("--cpus", default="", help="CPU limit instead of the size's, e.g. 1")
    parser.add_argument(
        "--baseline-image",
        default="",
        help="another image of the server (e.g. built from an older commit) run beside this one "
        "with the same limits; the two alternate on the same load",
    )
    parser.add_argument(
        "--paced",
        default="300",
        help="comma-separated request rates for paced concurrency-1 runs with hey ('' for none)",
    )
    return parser.parse_args()


def build(client: docker.DockerClient, args: argparse.Namespace) -> tuple[str, Limits]:
    """The stack's first model image, built as the stack declares it, and its size's limits."""
    image_config: dict[str, Any] = {"baseImage": args.base_image}
    if args.ca_bundle:
        image_config["caBundle"] = args.ca_bundle
    recording = record(PROJECT_DIR, args.stack, config={"mlstack:image": image_config})
    model = stack_settings(PROJECT_DIR, args.stack).models[0]
    started = time.monotonic()
    tag = build_recorded(model_image(recording, model.name), client, PROJECT_DIR)
    print(f"image {tag} ready in {time.monotonic() - started:.0f} s")
    resources = model.size.resources
    return tag, Limits(model.size_name, resources.cpu.limit, resources.memory.limit)


def wrk(url: str, connections: int, seconds: int) -> dict[str, Any]:
    threads = min(connections, 2)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(LUA), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def hey(url: str, rate: int, seconds: int) -> dict[str, Any]:
    """One connection sending `rate` requests a second (hey -q): the latency a client sees when
    the server is offered a fixed load rather than driven as fast as it can go."""
    body = LUA.read_text().split("wrk.body = '", 1)[1].split("'", 1)[0]
    command = [
        "hey", "-z", f"{seconds}s", "-c", "1", "-q", str(rate), "-m", "POST",
        "-T", "application/json", "-d", body, "-o", "csv", url,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = [line.split(",") for line in output.splitlines()[1:] if line]
    latencies = sorted(float(row[0]) * 1000 for row in rows)
    errors = sum(1 for row in rows if row[6] != "200")
    count = len(latencies)
    return {
        "rps": count / seconds,
        "mean_ms": sum(latencies) / count,
        "p50_ms": latencies[count // 2],
        "p99_ms": latencies[min(count - 1, int(count * 0.99))],
        "max_ms": latencies[-1],
        "errors": errors,
    }


def throttled_share(running: RunningModel, before: Any) -> str:
    """Share of 100 ms CFS periods since `before` in which the container was throttled."""
    after = running.usage()
    return f"{after.throttled_share_since(before):.0%}" if after.periods > before.periods else "n/a"


def main() -> None:
    args = parse_args()
    for tool in ("wrk", "hey"):
        if shutil.which(tool) is None:
            raise SystemExit(f"benchmarks/serve.py needs {tool}: apt-get install {tool}")
    client = docker.from_env(timeout=600)
    tag, limit = build(client, args)
    if args.cpus:
        limit = Limits(f"{limit.size} with --cpus", args.cpus, limit.memory)
    environment = {"WORKERS": args.workers} if args.workers else {}
    images = {"this": tag}
    if args.baseline_image:
        images["baseline"] = args.baseline_image
    with contextlib.ExitStack() as stack:
        servers: dict[str, RunningModel] = {
            name: stack.enter_context(
                run_model(client, image, limit, environment=environment, label="mlstack-bench")
            )
            for name, image in images.items()
        }
        print(
            f"image {tag}"
            + (f", baseline {args.baseline_image}" if args.baseline_image else "")
            + f"; size {limit.size}: {limit.cpu} CPU, {limit.memory} memory; "
            f"{os.cpu_count()} host cores; wrk, keep-alive, one iris row per request; "
            f"{args.duration} s per row"
        )
        for running in servers.values():
            wrk(f"{running.base}/predict", 8, args.warmup)  # warm-up: imports, caches
        for run in range(1, args.runs + 1):
            print(f"\nrun {run}/{args.runs}")
            verdict = ""
            # "throttled": share of 100 ms CFS periods in which the container used up its CPU
            # quota and was paused for the rest of the period (the cause of tail latency).
            print(
                "| server | concurrency | requests/s | mean ms | p50 ms | p99 ms | max ms "
                "| errors | throttled |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for connections in CONCURRENCY:
                # With a baseline, the two alternate at each step: drift in the machine's load
                # falls on both alike.
                order = list(servers) if (connections + run) % 2 else list(reversed(servers))
                for name in order:
                    running = servers[name]
                    before = running.usage()
                    r = wrk(f"{running.base}/predict", connections, args.duration)
                    print(
                        f"| {name} | {connections} | {r['rps']:.0f} | {r['mean_us'] / 1000:.2f} | "
                        f"{r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | "
                        f"{r['max_us'] / 1000:.1f} | {r['non_2xx'] + r['socket_errors']} | "
                        f"{throttled_share(running, before)} |",
                        flush=True,
                    )
                    if connections == 1 and name == "this":
                        ok = (
                            r["rps"] > BAR["rps"]
                            and r["mean_us"] / 1000 < BAR["mean_ms"]
                            and r["p99_us"] / 1000 < BAR["p99_ms"]
                        )
                        verdict = (
                            f"concurrency 1 {'meets' if ok else 'misses'} MLServer's CI bar "
                            f"(> {BAR['rps']:.0f} req/s, mean < {BAR['mean_ms']} ms, "
                            f"p99 < {BAR['p99_ms']} ms)"
                        )
            print(verdict)
            rates = [int(rate) for rate in args.paced.split(",") if rate]
            if rates:
                print("\npaced, concurrency 1 (hey: one connection, fixed request rate)")
                print(
                    "| server | offered req/s | served req/s | mean ms | p50 ms | p99 ms "
                    "| max ms | non-200 | throttled |"
                )
                print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for rate in rates:
                for name, running in servers.items():
                    before = running.usage()
                    p = hey(f"{running.base}/predict", rate, args.duration)
                    print(
                        f"| {name} | {rate} | {p['rps']:.0f} | {p['mean_ms']:.2f} | "
                        f"{p['p50_ms']:.2f} | {p['p99_ms']:.2f} | {p['max_ms']:.1f} | "
                        f"{p['errors']} | {throttled_share(running, before)} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
