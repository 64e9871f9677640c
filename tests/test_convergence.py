"""mlstack.convergence without a cluster: what a stack asks it to watch, and how it reports.

Against a real multi-node Swarm (pending GPU tasks, a saturated maxReplicasPerNode, a drained
node) it is tested in tests/test_swarm_multinode.py.
"""

from __future__ import annotations

from pathlib import Path

from mlstack.convergence import (
    DEFAULT_DOCKER_HOST,
    ConvergenceWatch,
    ServiceReport,
    SwarmTarget,
    swarm_targets,
)
from tests.support.harness import run_stack


def test_a_swarm_stack_is_watched_on_the_engine_its_provider_names() -> None:
    assert swarm_targets(run_stack("dev")) == [
        SwarmTarget("dev-iris", DEFAULT_DOCKER_HOST),
        SwarmTarget("dev-proxy", DEFAULT_DOCKER_HOST),
    ]
    manager = "ssh://admin@manager-1"
    recording = run_stack(
        "dev", config={"mlstack:swarm": {"dockerHost": manager, "endpointMode": "vip"}}
    )
    assert swarm_targets(recording) == [SwarmTarget("dev-iris", manager)]


def test_a_kubernetes_stack_has_nothing_to_watch() -> None:
    assert swarm_targets(run_stack("staging")) == []


def test_a_report_says_what_runs_what_waits_and_why() -> None:
    report = ServiceReport(
        name="prod-iris",
        desired=3,
        running=1,
        waiting=(("pending: no suitable node (insufficient resources on 3 nodes)", 2),),
        failures=(("task: non-zero exit (3)", 4),),
        update="rollback_started: update rolled back due to failure",
        hints=("each task reserves 2 CPU",),
    )
    assert not report.converged
    assert report.lines() == [
        "prod-iris: 1 of 3 tasks running; "
        "2 pending: no suitable node (insufficient resources on 3 nodes); "
        "4 failed since the last change: task: non-zero exit (3); "
        "update rollback_started: update rolled back due to failure",
        "  each task reserves 2 CPU",
    ]
    gone = ServiceReport("prod-iris", 2, 1, (), (), None, ())
    assert not gone.converged
    assert gone.lines()[0].startswith("prod-iris: 1 of 2 tasks running; 1 with no task (")
    proxy = ServiceReport("prod-proxy", None, 3, (), (), None, ())
    assert proxy.converged
    assert proxy.lines() == ["prod-proxy: 3 tasks running (global: one per eligible node)"]


def test_an_engine_it_cannot_reach_is_a_line_of_the_report_never_an_error(tmp_path: Path) -> None:
    host = f"unix://{tmp_path / 'no-engine.sock'}"
    printed: list[str] = []
    with ConvergenceWatch([SwarmTarget("dev-iris", host)], printed.append) as watch:
        (line,) = watch.final_report()
    assert line.startswith(f"cannot read the Swarm's tasks from {host}: ")
