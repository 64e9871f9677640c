"""How two workers share the load: the per-worker split of requests at `wrk -t1 -c32`, 10 runs.

    venv/bin/python benchmarks/workers.py [--runs 10] [--duration 3] [--connections 32]
        [--workers 2] [--source DIR]   # DIR: a checkout's root to measure instead of this one

Each run opens new connections (a new wrk), so each run is a fresh draw of how the kernel
spreads connections over the workers' listening sockets. The split comes from the server's own
per-worker counter, mlstack_worker_requests_total{pid=...}, read before and after each run.
A run where one worker answered under 10% of the requests counts as unbalanced.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from localserver import PATHS, PROJECT_DIR, SCRIPTS, fetch, local_server, wrk


def per_worker(base: str) -> dict[str, float]:
    text = fetch(f"{base}/metrics")[1].decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("mlstack_worker_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            pid = labels.split('pid="', 1)[1].split('"', 1)[0]
            counts[pid] = float(value)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", type=Path, default=PROJECT_DIR)
    args = parser.parse_args()
    env = {"WORKERS": str(args.workers)}
    with local_server(args.source.resolve(), env) as server:
        base = server.base
        # Every worker must be listening before the runs: wait until each has answered (its
        # series exists from its start, at 0, while it still loads the model).
        for _ in range(200):
            counts = per_worker(base)
            if len([count for count in counts.values() if count > 0]) >= args.workers:
                break
            wrk(base + PATHS["predict"], SCRIPTS["predict"], 8, 1)
        print(f"WORKERS={args.workers}, wrk -t1 -c{args.connections} -d{args.duration:g}s "
              "POST /predict, new connections each run")  # fmt: skip
        print("| run | requests/s | share per worker | busiest worker |")
        print("|---:|---:|---|---:|")
        balanced = 0
        for run in range(1, args.runs + 1):
            before = per_worker(base)
            result = wrk(base + PATHS["predict"], SCRIPTS["predict"], args.connections,
                         args.duration)  # fmt: skip
            after = per_worker(base)
            answered = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
            total = sum(answered.values()) or 1.0
            shares = sorted((count / total for count in answered.values()), reverse=True)
            shares += [0.0] * (args.workers - len(shares))
            if min(shares) >= 0.10:
                balanced += 1
            split = " / ".join(f"{share:.0%}" for share in shares)
            print(f"| {run} | {result['rps']:.0f} | {split} | {shares[0]:.0%} |", flush=True)
        print(f"\nevery worker answered at least 10% of the requests in {balanced} of "
              f"{args.runs} runs")  # fmt: skip


if __name__ == "__main__":
    main()
