"""Throughput of /predict and of the Open Inference Protocol's /v2/models/iris/infer, measured
in the same run on the same local server process (one worker, no Docker), optionally beside a
baseline server from another source tree (e.g. an older commit) on the same load.

    venv/bin/python benchmarks/protocols.py [--rounds 5] [--duration 5] [--connections 8]
        [--baseline DIR]   # DIR: a checkout's root, e.g. from `git archive main | tar -x -C DIR`

Rounds alternate the order of the runs, so drift in the machine's load (other work on a shared
machine) hits every path alike. Each run gives requests/s and the server's CPU time per
request (from /proc: user + system); on a busy shared machine requests/s swings with what else
runs, while CPU per request is the cost itself. The table ends with medians over the rounds
and the ratios the acceptance bar is about (v2 against /predict: v2 may cost at most 10%).
The servers are pinned to CPU 0 and wrk to CPU 1 (taskset), so they do not share a core.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from localserver import PATHS, PROJECT_DIR, SCRIPTS, cpu_seconds, local_server, median, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5, help="seconds per run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--baseline", type=Path, help="source tree of a server to compare with")
    parser.add_argument(
        "--model",
        type=Path,
        default=PROJECT_DIR / "examples/iris/iris.joblib",
        help="model artifact (the ONNX iris model predicts ~10x faster: HTTP costs weigh more)",
    )
    parser.add_argument("--server-cpus", default="0", help="taskset CPU list for servers")
    parser.add_argument("--client-cpus", default="1", help="taskset CPU list for wrk")
    args = parser.parse_args()
    env = {"WORKERS": "1", "MODEL_PATH": str(args.model.resolve())}
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
            wrk(servers[server].base + PATHS[path], SCRIPTS[path], args.connections, 2,
                args.client_cpus)  # fmt: skip
        rps: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
        cpu_us: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
        print(
            f"model {args.model.name}; wrk -t1 -c{args.connections}, {args.duration:g} s per "
            "run, one iris row per request, WORKERS=1; servers on CPU "
            f"{args.server_cpus}, wrk on CPU {args.client_cpus}; each cell: requests/s, "
            "server CPU us per request"
        )
        print("| round | " + " | ".join(f"{s} {p}" for s, p in runs) + " |")
        print("|---:|" + "---:|" * len(runs))
        for round_ in range(1, args.rounds + 1):
            order = runs if round_ % 2 else list(reversed(runs))
            for server, path in order:
                running = servers[server]
                cpu_before = cpu_seconds(running.pid)
                result = wrk(running.base + PATHS[path], SCRIPTS[path], args.connections,
                             args.duration, args.client_cpus)  # fmt: skip
                cpu = cpu_seconds(running.pid) - cpu_before
                if result["errors"]:
                    raise SystemExit(f"{server} {path}: {result['errors']} errors")
                rps[(server, path)].append(result["rps"])
                cpu_us[(server, path)].append(cpu / result["requests"] * 1e6)
            cells = [f"{rps[run][-1]:.0f}, {cpu_us[run][-1]:.0f} us" for run in runs]
            print(f"| {round_} | " + " | ".join(cells) + " |", flush=True)
        medians = {run: (median(rps[run]), median(cpu_us[run])) for run in runs}
        cells = [f"{medians[run][0]:.0f}, {medians[run][1]:.0f} us" for run in runs]
        print("| median | " + " | ".join(cells) + " |")
        # Interference only ever adds cost: the best round is the least disturbed measurement.
        cells = [f"{max(rps[run]):.0f}, {min(cpu_us[run]):.0f} us" for run in runs]
        print("| best | " + " | ".join(cells) + " |")
        this_predict, this_v2 = medians[("this", "predict")], medians[("this", "v2")]
        print(
            f"\nv2 against /predict: requests/s x{this_v2[0] / this_predict[0]:.3f}, "
            f"CPU per request x{this_v2[1] / this_predict[1]:.3f} "
            f"(the bar: v2 costs at most 10% more, i.e. CPU x1.10 at most)"
        )
        if "baseline" in servers:
            old = medians[("baseline", "predict")]
            print(
                f"/predict, this against the baseline: requests/s x{this_predict[0] / old[0]:.3f}, "
                f"CPU per request x{this_predict[1] / old[1]:.3f}"
            )


if __name__ == "__main__":
    main()
