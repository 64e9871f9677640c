"""The capacity plan in a pull request's stack diff (`mlstack diff --format markdown`).

When a change alters what capacity depends on (an HPA, a VPA, a model's resources or replicas,
the headroom, the cluster-autoscaler, a Swarm service's replicas or resources), the Markdown diff
gets the plan of the base revision and of the working tree under one load profile, one after the
other. The base is planned the way `mlstack diff` renders it: exported with `git archive` and
run in a fresh interpreter with its checkout first on sys.path (mlstack/revision.py), by this
tool's planner, with the working tree's capacity file (the base may predate it; figures measured
for other image inputs are reported stale). The profile is `--plan-load`, or by default a step
from a quarter to all of what the working tree's replica maximum serves at the p99 target.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import mlstack
from mlstack.diff import StackDiff
from mlstack.errors import CliError
from mlstack.plan.command import PlanOptions, prepare, simulate_prepared
from mlstack.revision import Revision, export
from mlstack.stackfile import stack_path

CAPACITY_TYPES = (
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler",
)
CAPACITY_FIELDS = ("resources", "replicas", "command", "mode", "limits", "reservations")
MARKER = "<!-- mlstack-plan -->"
TIMEOUT_SECONDS = 600

_BOOTSTRAP = """\
import sys
tool = sys.argv[1]
sys.path.insert(0, tool)
from mlstack.plan import pr
sys.path.remove(tool)
sys.exit(pr.worker(sys.argv[2:]))
"""


def capacity_changed(diff: StackDiff) -> list[str]:
    """The changed resources a plan depends on (their titles)."""
    found = []
    for change in diff.changes:
        altered = change.action in ("update", "replace") and any(
            part in field.path for field in change.fields for part in CAPACITY_FIELDS
        )
        if change.type in CAPACITY_TYPES or altered:
            found.append(change.title)
    return found


def default_load(project: Path, environment: str, options: PlanOptions) -> str:
    prepared = prepare(project, environment, options)
    most = 0.0
    for model in prepared.stack.models:
        bound = model.hpa.max_replicas if model.hpa else (model.swarm_replicas or 0)
        most = max(most, bound * prepared.capacities[model.name].throughput_at(options.p99_ms))
    return f"step:from={most / 4:.0f},to={most:.0f},at=2m,duration=20m"


def _plan_text(project: Path, environment: str, options: PlanOptions) -> str:
    try:
        result = simulate_prepared(prepare(project, environment, options), project, options)
    except CliError as error:
        return "no plan: " + " ".join(error.lines) + "\n"
    return result.report.text()


def worker(argv: list[str]) -> int:
    """The subprocess side: plan one stack of the base checkout, print the report."""
    from mlstack.project import open_project

    project_dir, environment, load, capacity_file, p99, node_cpu, node_memory = argv
    project = open_project(Path(project_dir))
    options = PlanOptions(
        load=load, p99_ms=float(p99), models=[], node_cpu=node_cpu or None,
        node_memory=node_memory or None, provision_seconds=210.0, image_pull_seconds=0.0,
        max_age_days=90.0, budget=0.01, plot=None, capacity_file=Path(capacity_file),
    )  # fmt: skip
    sys.stdout.write(_plan_text(project, environment, options))
    return 0


def _base_plan(project: Path, environment: str, revision: Revision, options: PlanOptions) -> str:
    prefix = subprocess.run(
        ["git", "-C", str(project), "rev-parse", "--show-prefix"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mlstack-plan-base-") as temporary:
        checkout = Path(temporary) / "checkout"
        try:
            export(project, revision, prefix, checkout)
        except CliError:
            return f"no plan: git archive of {revision.label} failed\n"
        base = checkout / prefix
        if not stack_path(base, environment).is_file():
            return f"no plan: {revision.label} has no Pulumi.{environment}.yaml\n"
        tool = str(Path(mlstack.__file__).resolve().parent.parent)
        environ = dict(os.environ)
        environ["PYTHONPATH"] = os.pathsep.join(
            [str(base), *filter(None, [environ.get("PYTHONPATH")])]
        )
        capacity = options.capacity_file
        if not capacity.is_absolute():
            capacity = project / capacity
        args = [environment, options.load, str(capacity), str(options.p99_ms),
                options.node_cpu or "", options.node_memory or ""]  # fmt: skip
        try:
            done = subprocess.run(
                [sys.executable, "-c", _BOOTSTRAP, tool, str(base), *args],
                cwd=base, env=environ, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"no plan: planning {revision.label} took over {TIMEOUT_SECONDS} s\n"
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()][-3:]
            return f"no plan: planning {revision.label} failed: {' '.join(lines)}\n"
        return done.stdout


def markdown_section(
    project: Path,
    environment: str,
    revision: Revision,
    diff: StackDiff,
    options: PlanOptions,
) -> str:
    """The before/after plan for the PR comment, or "" when no capacity input changed."""
    changed = capacity_changed(diff)
    if not changed:
        return ""
    if not options.load:
        try:
            options = replace(options, load=default_load(project, environment, options))
        except CliError as error:
            return (
                f"\n{MARKER}\n#### Capacity plan\n\nCapacity inputs changed "
                f"({len(changed)} resources), but there is no plan: {' '.join(error.lines)}\n"
            )
    before = _base_plan(project, environment, revision, options)
    after = _plan_text(project, environment, options)
    return (
        f"\n{MARKER}\n#### Capacity plan\n\n"
        f"Capacity inputs changed ({len(changed)} resources); both revisions planned for "
        f"`--load {options.load}` (p99 target {options.p99_ms:g} ms).\n\n"
        f"<details open><summary>Before ({revision.label})</summary>\n\n```\n{before}```\n"
        f"</details>\n\n<details open><summary>After (this change)</summary>\n\n"
        f"```\n{after}```\n</details>\n"
    )
