"""Throughput of /predict and of the Open Inference Protocol's /v2/models/iris/infer, measured
in the same run on the same local server process (one worker, no Docker), optionally beside a
baseline server from another source tree (e.g. an older commit) on the same load.

    venv/bin/python benchmarks/protocols.py [--rounds 5] [--duration 5] [--connections 8]
        [--baseline DIR]   # DIR: a checkout's root, e.g. from `git archive main | tar -x -C DIR`

Rounds alternate the order of the runs, so drift in the machine's load (other work on a shared
machine) hits every path alike; the table gives each path's median requests/s over the rounds
and the ratio the acceptance bar is about (v2 / predict; the bar: v2 costs at most 10%).
The server is pinned to CPU 0 and wrk to CPU 1 (taskset), so they do not compete for a core.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from localserver import PATHS, PROJECT_DIR, SCRIPTS, local_server, median, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5, help="seconds per run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--baseline", type=Path, help="source tree of a server to compare with")
    parser.add_argument("--server-cpus", default="0", help="taskset CPU list for servers")
    parser.add_argument("--client-cpus", default="1", help="taskset CPU list for wrk")
    args = parser.parse_args()
    env = {"WORKERS": "1"}
    with contextlib.ExitStack() as stack:
        servers = {"this": stack.enter_context(local_server(PROJECT_DIR, env, args.server_cpus))}
        if args.baseline:
            baseline = args.baseline.resolve()
            servers["baseline"] = stack.enter_context(local_server(baseline, env, args.server_cpus))
        # (server, path): the baseline may predate /v2, so it runs /predict only.
        runs = [("this", "predict"), ("this", "v2")]
        if "baseline" in servers:
            runs.append(("baseline", "predict"))
        for server, path in runs:  # warm-up: imports, allocations, caches
            wrk(servers[server] + PATHS[path], SCRIPTS[path], args.connections, 2,
                args.client_cpus)  # fmt: skip
        rps: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
        print(
            f"wrk -t1 -c{args.connections}, {args.duration:g} s per run, one iris row per "
            f"request, WORKERS=1; server on CPU {args.server_cpus}, wrk on CPU {args.client_cpus}"
        )
        print("| round | " + " | ".join(f"{s} {p} req/s" for s, p in runs) + " |")
        print("|---:|" + "---:|" * len(runs))
        for round_ in range(1, args.rounds + 1):
            order = runs if round_ % 2 else list(reversed(runs))
            figures: dict[tuple[str, str], float] = {}
            for server, path in order:
                result = wrk(servers[server] + PATHS[path], SCRIPTS[path], args.connections,
                             args.duration, args.client_cpus)  # fmt: skip
                if result["errors"]:
                    raise SystemExit(f"{server} {path}: {result['errors']} errors")
                figures[(server, path)] = result["rps"]
                rps[(server, path)].append(result["rps"])
            print(f"| {round_} | " + " | ".join(f"{figures[run]:.0f}" for run in runs) + " |",
                  flush=True)  # fmt: skip
        medians = {run: median(values) for run, values in rps.items()}
        print("| median | " + " | ".join(f"{medians[run]:.0f}" for run in runs) + " |")
        ratio = medians[("this", "v2")] / medians[("this", "predict")]
        verdict = "within" if ratio >= 0.9 else "OUTSIDE"
        print(f"\nv2 / predict = {ratio:.3f} ({verdict} the 10% bar)")
        if "baseline" in servers:
            change = medians[("this", "predict")] / medians[("baseline", "predict")]
            print(f"this / baseline, /predict = {change:.3f}")


if __name__ == "__main__":
    main()
