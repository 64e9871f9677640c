"""Wall time of `mlstack render` for stacks serving 1, 10 and 50 models.

Each stack is generated with `mlstack new-stack` into a temporary copy of the project, then
rendered by the `mlstack` command in a fresh process (interpreter start-up, running the program
offline under Pulumi's mocks, writing every file), as a user or CI would run it. Prints a table:
the median of --repeat runs, and the fastest. The machine's other load makes single runs noisy.

    venv/bin/python benchmarks/render.py [--repeat 3] [--models 1 10 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
MLSTACK = Path(sys.executable).parent / "mlstack"
COPIED = ("Pulumi.yaml", "__main__.py", "components", "stacks", "examples")
ORCHESTRATORS = {"kubernetes": "medium", "swarm": "small"}


def copy_project(target: Path) -> None:
    target.mkdir(parents=True)
    for name in COPIED:
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)


def new_stack(project: Path, environment: str, orchestrator: str, models: int) -> None:
    specs = []
    for index in range(models):
        specs += [
            "--model",
            f"name=model-{index:03d},framework=sklearn,"
            "artifact=examples/iris/iris.joblib,version=1.0.0",
        ]
    run(
        "new-stack", environment, "--orchestrator", orchestrator,
        "--size", ORCHESTRATORS[orchestrator], *specs, "--project", str(project),
    )  # fmt: skip


def run(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(MLSTACK), *args], check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", type=int, nargs="+", default=[1, 10, 50])
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlstack-bench-") as temporary:
        project = Path(temporary) / "project"
        copy_project(project)
        for orchestrator in ORCHESTRATORS:
            for models in options.models:
                environment = f"bench-{orchestrator}-{models}"
                new_stack(project, environment, orchestrator, models)
                out = Path(temporary) / environment
                times = [
                    run("render", environment, "--out", str(out), "--project", str(project))
                    for _ in range(options.repeat)
                ]
                files = sum(1 for path in out.rglob("*") if path.is_file()) - 1  # the marker
                rows.append((models, orchestrator, files, statistics.median(times), min(times)))
    print(f"mlstack render: wall time of the command, {options.repeat} runs each")
    print()
    print("| models | orchestrator | files written | median s | fastest s |")
    print("|---:|---|---:|---:|---:|")
    for models, orchestrator, files, median, fastest in rows:
        print(f"| {models} | {orchestrator} | {files} | {median:.2f} | {fastest:.2f} |")


if __name__ == "__main__":
    main()
