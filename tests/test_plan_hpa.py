"""mlstack.plan.hpa against the upstream controller's own test cases.

Transcribed from kubernetes/kubernetes, pkg/controller/podautoscaler:
- replica_calculator_test.go at commit 00067268967ec95a40035bd666374a1caf48dd1a (the commit of
  the replica_calculator.go ported), tests TestReplicaCalc* and TestGroupPods;
- horizontal_test.go at commit 003e86297d18a8538c9da3619871393f9703bf70 (the commit of the
  horizontal.go ported), tests TestScalingWithRules, TestNormalizeDesiredReplicasWithBehavior,
  TestNormalizeDesiredReplicas, TestStoreScaleEvents, TestConvertDesiredReplicasWithRules,
  TestCalculateScaleUpLimitWithScalingRules, TestCalculateScaleDownLimitWithBehaviors.
The expected replica counts (and utilizations, raw values, conditions) are theirs. The upstream
harness is reproduced: every pod has two containers, each requesting the given quantity and each
reporting the given level, so pod values are twice the per-container ones; an unset start time or
transition time is Go's zero time (0.0 here, with "now" far later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from mlstack.plan.hpa import (
    CPU,
    Behavior,
    HorizontalController,
    MetricError,
    NormalizationArg,
    Pod,
    PodMetric,
    Recommendation,
    ReplicaCalculator,
    ScaleEvent,
    ScalingPolicy,
    ScalingRules,
    convert_desired_replicas_with_rules,
    generate_scale_down_rules,
    generate_scale_up_rules,
    group_pods,
    replicas_change_per_period,
    scale_down_limit_with_behaviors,
    scale_up_limit,
    scale_up_limit_with_scaling_rules,
)

NOW = 1_000_000_000.0
HOT = NOW  # hotCPUCreationTime(): time.Now()
COOL = NOW - 180  # coolCPUCreationTime(): time.Now().Add(-3 * time.Minute)
CONTAINERS = 2  # numContainersPerPod
# defaultTestingTolerance, defaultTestingCPUInitializationPeriod (2 min),
# defaultTestingDelayOfInitialReadinessStatus (10 s)
CALC = ReplicaCalculator(0.1, 120.0, 10.0)


@dataclass
class Case:
    """replicaCalcTestCase."""

    current: int
    expected: int | None = None
    error: str | None = None
    requests: list[float] = field(default_factory=list)  # cores per container
    levels: list[int] = field(default_factory=list)  # milli per container (or metric milli)
    target: int = 0
    utilization: int | None = None
    raw: int | None = None
    readiness: list[bool] | None = None
    start: list[float] | None = None
    phase: list[str] | None = None
    deleting: list[bool] | None = None
    pod_names: list[str] | None = None

    def pods(self, resource: str | None) -> list[Pod]:
        count = max(self.current, len(self.phase or []))
        pods = []
        for i in range(count):
            if resource and i < len(self.requests):
                request = round(self.requests[i] * 1000)
                containers: tuple[dict[str, int], ...] = ({resource: request},) * CONTAINERS
            else:
                containers = ({},) * CONTAINERS
            pods.append(
                Pod(
                    name=f"test-pod-{i}",
                    phase=(self.phase[i] if self.phase else "Running"),  # type: ignore[arg-type]
                    ready=(
                        self.readiness[i] if self.readiness and i < len(self.readiness) else True
                    ),
                    start_time=self.start[i] if self.start else 0.0,
                    ready_transition_time=0.0,
                    deleting=bool(self.deleting and self.deleting[i]),
                    containers=containers,
                )
            )
        return pods

    def resource_metrics(self) -> dict[str, PodMetric]:
        names = self.pod_names or []
        return {
            (names[i] if i < len(names) else f"test-pod-{i}"): PodMetric(
                CONTAINERS * level, timestamp=0.0, window=60.0
            )
            for i, level in enumerate(self.levels)
        }

    def pod_metrics(self) -> dict[str, PodMetric]:
        # Custom metrics: one value per pod (the fake custom-metrics client).
        return {f"test-pod-{i}": PodMetric(level) for i, level in enumerate(self.levels)}


RESOURCE_CASES = {
    "TestReplicaCalcDisjointResourcesMetrics": Case(
        1, error="no metrics returned matched known pods", requests=[1.0], levels=[100],
        pod_names=["an-older-pod-name"], target=100,
    ),
    "TestReplicaCalcScaleUp": Case(
        3, 5, requests=[1.0] * 3, levels=[300, 500, 700], target=30, utilization=50, raw=2 * 500
    ),
    "TestReplicaCalcScaleUpUnreadyLessScale": Case(
        3, 4, readiness=[False, True, True], requests=[1.0] * 3, levels=[300, 500, 700],
        target=30, utilization=60, raw=2 * 600,
    ),
    "TestReplicaCalcScaleUpHotCpuLessScale": Case(
        3, 4, start=[HOT, COOL, COOL], requests=[1.0] * 3, levels=[300, 500, 700], target=30,
        utilization=60, raw=2 * 600,
    ),
    "TestReplicaCalcScaleUpUnreadyNoScale": Case(
        3, 3, readiness=[True, False, False], requests=[1.0] * 3, levels=[400, 500, 700],
        target=30, utilization=40, raw=2 * 400,
    ),
    "TestReplicaCalcScaleHotCpuNoScale": Case(
        3, 3, readiness=[True, False, False], start=[COOL, HOT, HOT], requests=[1.0] * 3,
        levels=[400, 500, 700], target=30, utilization=40, raw=2 * 400,
    ),
    "TestReplicaCalcScaleUpIgnoresFailedPods": Case(
        2, 4, readiness=[True, True, False, False],
        phase=["Running", "Running", "Failed", "Failed"], requests=[1.0] * 4, levels=[500, 700],
        target=30, utilization=60, raw=2 * 600,
    ),
    "TestReplicaCalcScaleUpIgnoresDeletionPods": Case(
        2, 4, readiness=[True, True, False, False], phase=["Running"] * 4,
        deleting=[False, False, True, True], requests=[1.0] * 4, levels=[500, 700], target=30,
        utilization=60, raw=2 * 600,
    ),
    "TestReplicaCalcScaleDown": Case(
        5, 3, requests=[1.0] * 5, levels=[100, 300, 500, 250, 250], target=50, utilization=28,
        raw=2 * 280,
    ),
    "TestReplicaCalcScaleDownIncludeUnreadyPods": Case(
        5, 2, readiness=[True, True, True, False, False], requests=[1.0] * 5,
        levels=[100, 300, 500, 250, 250], target=50, utilization=30, raw=2 * 300,
    ),
    "TestReplicaCalcScaleDownExcludeUnscheduledPods": Case(
        5, 1, readiness=[True, False, False, False, False],
        phase=["Running", "Pending", "Pending", "Pending", "Pending"], requests=[1.0] * 5,
        levels=[100], target=50, utilization=10, raw=2 * 100,
    ),
    "TestReplicaCalcScaleDownIgnoreHotCpuPods": Case(
        5, 2, start=[COOL, COOL, COOL, HOT, HOT], requests=[1.0] * 5,
        levels=[100, 300, 500, 250, 250], target=50, utilization=30, raw=2 * 300,
    ),
    "TestReplicaCalcScaleDownIgnoresFailedPods": Case(
        5, 3, readiness=[True] * 5 + [False] * 2, phase=["Running"] * 5 + ["Failed"] * 2,
        requests=[1.0] * 7, levels=[100, 300, 500, 250, 250], target=50, utilization=28,
        raw=2 * 280,
    ),
    "TestReplicaCalcScaleDownIgnoresDeletionPods": Case(
        5, 3, readiness=[True] * 5 + [False] * 2, phase=["Running"] * 7,
        deleting=[False] * 5 + [True] * 2, requests=[1.0] * 7, levels=[100, 300, 500, 250, 250],
        target=50, utilization=28, raw=2 * 280,
    ),
    "TestReplicaCalcTolerance": Case(
        3, 3, requests=[0.9, 1.0, 1.1], levels=[1010, 1030, 1020], target=100, utilization=102,
        raw=2 * 1020,
    ),
    "TestReplicaCalcSuperfluousMetrics": Case(
        4, 24, requests=[1.0] * 4, levels=[4000, 9500, 3000, 7000, 3200, 2000], target=100,
        utilization=587, raw=2 * 5875,
    ),
    "TestReplicaCalcMissingMetrics": Case(
        4, 3, requests=[1.0] * 4, levels=[400, 95], target=100, utilization=24, raw=495
    ),
    "TestReplicaCalcEmptyMetrics": Case(
        4, error="unable to get metrics for resource cpu: no metrics returned from resource "
        "metrics API", requests=[1.0] * 3, levels=[], target=100,
    ),
    "TestReplicaCalcEmptyCPURequest": Case(
        1, error="missing request for", requests=[], levels=[200], target=100
    ),
    "TestReplicaCalcMissingMetricsNoChangeEq": Case(
        2, 2, requests=[1.0] * 2, levels=[1000], target=100, utilization=100, raw=2 * 1000
    ),
    "TestReplicaCalcMissingMetricsNoChangeGt": Case(
        2, 2, requests=[1.0] * 2, levels=[1900], target=100, utilization=190, raw=2 * 1900
    ),
    "TestReplicaCalcMissingMetricsNoChangeLt": Case(
        2, 2, requests=[1.0] * 2, levels=[600], target=100, utilization=60, raw=2 * 600
    ),
    "TestReplicaCalcMissingMetricsUnreadyChange": Case(
        3, 3, readiness=[False, True, True], requests=[1.0] * 3, levels=[100, 450], target=50,
        utilization=45, raw=2 * 450,
    ),
    "TestReplicaCalcMissingMetricsHotCpuNoChange": Case(
        3, 3, start=[HOT, COOL, COOL], requests=[1.0] * 3, levels=[100, 450], target=50,
        utilization=45, raw=2 * 450,
    ),
    "TestReplicaCalcMissingMetricsUnreadyScaleUp": Case(
        3, 4, readiness=[False, True, True], requests=[1.0] * 3, levels=[100, 2000], target=50,
        utilization=200, raw=2 * 2000,
    ),
    "TestReplicaCalcMissingMetricsHotCpuScaleUp": Case(
        3, 4, readiness=[False, True, True], start=[HOT, COOL, COOL], requests=[1.0] * 3,
        levels=[100, 2000], target=50, utilization=200, raw=2 * 2000,
    ),
    "TestReplicaCalcMissingMetricsUnreadyScaleDown": Case(
        4, 3, readiness=[False, True, True, True], requests=[1.0] * 4, levels=[100, 100, 100],
        target=50, utilization=10, raw=2 * 100,
    ),
    "TestReplicaCalcDuringRollingUpdateWithMaxSurge": Case(
        2, 2, phase=["Running"] * 3, requests=[1.0] * 3, levels=[100, 100], target=50,
        utilization=10, raw=2 * 100,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(RESOURCE_CASES))
def test_resource_replicas_match_replica_calculator_test_go(name: str) -> None:
    case = RESOURCE_CASES[name]
    run = lambda: CALC.resource_replicas(  # noqa: E731
        case.current, case.target, CPU, case.pods(CPU), case.resource_metrics(), NOW
    )
    if case.error is not None:
        with pytest.raises(MetricError, match=case.error):
            run()
        return
    assert run() == (case.expected, case.utilization, case.raw)


def _computed_tolerance_case(margin: float) -> tuple[Case, int]:
    """TestReplicaCalcComputedToleranceAlgImplementation, computed as upstream computes it."""
    start_pods = 10
    used = start_pods * 150
    requested = 2 * used
    requested_to_used = float(requested // used)
    per_pod = requested // start_pods
    target = abs(1 / (requested_to_used * (1 - 0.1))) + margin
    percent = int(target * 100)
    used_ratio = used / (requested * target)
    final_pods = math.ceil(used_ratio * start_pods)
    offsets = [100, -100, 10, -10, 2, -2, 1, -1, 0, 0]
    case = Case(
        start_pods, final_pods, requests=[(per_pod + o) / 1000 for o in offsets],
        levels=[used // 10] * 10, target=percent, utilization=(used * 100) // requested,
        raw=2 * used // 10,
    )  # fmt: skip
    return case, start_pods


def test_computed_tolerance_alg_implementation() -> None:
    case, _ = _computed_tolerance_case(0.01)
    result = CALC.resource_replicas(
        case.current, case.target, CPU, case.pods(CPU), case.resource_metrics(), NOW
    )
    assert result == (case.expected, case.utilization, case.raw)
    # "now, we test that no scaling happens if we are in a very close margin to the tolerance"
    near, start_pods = _computed_tolerance_case(0.004)
    replicas, _, _ = CALC.resource_replicas(
        near.current, near.target, CPU, near.pods(CPU), near.resource_metrics(), NOW
    )
    assert replicas == start_pods


METRIC_CASES = {
    "TestReplicaCalcScaleUpCM": (Case(3, 4, levels=[20000, 10000, 30000], target=15000), 20000),
    "TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale": (
        Case(3, 6, readiness=[True, True, False], start=[COOL, COOL, HOT],
             levels=[50000, 10000, 30000], target=15000),
        30000,
    ),
    "TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown": (
        Case(3, 7, readiness=[False, True, False], start=[HOT, COOL, HOT],
             levels=[50000, 15000, 30000], target=15000),
        31666,
    ),
    # podMetric type, despite the name (the test sets metricType: podMetric)
    "TestReplicaCalcScaleUpCMExternal": (Case(1, 2, levels=[8600], target=4400), 8600),
    "TestReplicaCalcScaleUpCMExternalNoLabels": (Case(1, 2, levels=[8600], target=4400), 8600),
    "TestReplicaCalcScaleDownCM": (Case(5, 3, levels=[12000] * 5, target=20000), 12000),
    "TestReplicaCalcToleranceCM": (Case(3, 3, levels=[20000, 21000, 21000], target=20000), 20666),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(METRIC_CASES))
def test_pods_metric_replicas_match_replica_calculator_test_go(name: str) -> None:
    case, utilization = METRIC_CASES[name]
    result = CALC.metric_replicas(
        case.current, case.target, case.pods(None), case.pod_metrics(), NOW
    )
    assert result == (case.expected, utilization)


# TestGroupPods: (name, pods, metrics, resource, ready count, ignored, missing)
GROUP_CASES = [
    ("void", [], {}, CPU, 0, set(), set()),
    (
        "count in a ready pod - memory",
        [Pod("bentham", phase="Succeeded", ready=None, start_time=None)],
        {"bentham": PodMetric(1, NOW, 60)}, "memory", 1, set(), set(),
    ),
    (
        "ignore a pod without ready condition - CPU",
        [Pod("lucretius", phase="Succeeded", ready=None, start_time=NOW)],
        {"lucretius": PodMetric(1)}, CPU, 0, {"lucretius"}, set(),
    ),
    (
        "count in a ready pod with fresh metrics during initialization period - CPU",
        [Pod("bentham", phase="Succeeded", start_time=NOW - 60, ready=True,
             ready_transition_time=NOW - 30)],
        {"bentham": PodMetric(1, NOW, 30)}, CPU, 1, set(), set(),
    ),
    (
        "ignore a ready pod without fresh metrics during initialization period - CPU",
        [Pod("bentham", phase="Succeeded", start_time=NOW - 60, ready=True,
             ready_transition_time=NOW - 30)],
        {"bentham": PodMetric(1, NOW, 60)}, CPU, 0, {"bentham"}, set(),
    ),
    (
        "ignore an unready pod during initialization period - CPU",
        [Pod("lucretius", phase="Succeeded", start_time=NOW - 600, ready=False,
             ready_transition_time=NOW - 594)],
        {"lucretius": PodMetric(1)}, CPU, 0, {"lucretius"}, set(),
    ),
    (
        "count in a ready pod without fresh metrics after initialization period - CPU",
        [Pod("bentham", phase="Succeeded", start_time=NOW - 180, ready=True,
             ready_transition_time=NOW - 180)],
        {"bentham": PodMetric(1, NOW - 120, 60)}, CPU, 1, set(), set(),
    ),
    (
        "count in an unready pod that was ready after initialization period - CPU",
        [Pod("lucretius", phase="Succeeded", start_time=NOW - 600, ready=False,
             ready_transition_time=NOW - 540)],
        {"lucretius": PodMetric(1)}, CPU, 1, set(), set(),
    ),
    (
        "ignore pod that has never been ready after initialization period - CPU",
        [Pod("lucretius", phase="Succeeded", start_time=NOW - 600, ready=False,
             ready_transition_time=NOW - 590)],
        {"lucretius": PodMetric(1)}, CPU, 1, set(), set(),
    ),
    (
        "a missing pod",
        [Pod("epicurus", phase="Succeeded", ready=None, start_time=NOW - 180)],
        {}, CPU, 0, set(), {"epicurus"},
    ),
    (
        "several pods",
        [
            Pod("lucretius", phase="Succeeded", ready=None, start_time=NOW),
            Pod("niccolo", phase="Succeeded", start_time=NOW - 180, ready=True,
                ready_transition_time=NOW - 180),
            Pod("epicurus", phase="Succeeded", ready=None, start_time=NOW - 180),
        ],
        {"lucretius": PodMetric(1), "niccolo": PodMetric(1)}, CPU, 1, {"lucretius"}, {"epicurus"},
    ),
    (
        "pending pods are ignored",
        [Pod("unscheduled", phase="Pending", ready=None, start_time=None)],
        {}, CPU, 0, {"unscheduled"}, set(),
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", GROUP_CASES, ids=[case[0] for case in GROUP_CASES])
def test_group_pods_matches_test_group_pods(case: tuple) -> None:  # type: ignore[type-arg]
    _, pods, metrics, resource, ready, ignored, missing = case
    assert group_pods(pods, metrics, resource, 120.0, 10.0, NOW) == (ready, ignored, missing)


# ---- horizontal_test.go -------------------------------------------------------------------------


def rules(
    pods: int, pods_period: int, percent: int, percent_period: int, window: int
) -> ScalingRules:
    """generateScalingRules."""
    policies = []
    if pods:
        policies.append(ScalingPolicy("Pods", pods, pods_period))
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, "Max", tuple(policies) if policies else None)


def events(raw: list[int], period: int) -> list[ScaleEvent]:
    """generateEventsUniformDistribution: one event in the middle of each equal segment of the
    last `period` seconds (time.Duration truncates the seconds to whole ones)."""
    segment = period / len(raw)
    return [
        ScaleEvent(change, NOW - int(period - segment * (index + 1) + segment / 2))
        for index, change in enumerate(raw)
    ]


# The events are generated, then used a moment later (time.Now() moves on).
LATER = NOW + 0.001

# TestScalingWithRules: (name, up events, down events, min, max, up rules, down rules, current,
# prenormalized desired, expected replicas, expected condition)
SCALING_CASES = [
    ("prenormalized desired replicas within range", [], [], 3, 8, None, None, 5, 7, 7, "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", [], [], 2, 8, None, None, 3, 1, 2, "TooFewReplicas"),
    ("prenormalized desired replicas within range when minReplicas is 0", [], [], 0, 10, None, None, 1, 0, 0, "DesiredWithinRange"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", [], [], 1, 10, None, None, 20, 1000, 10, "TooManyReplicas"),
    ("desired replica count is more than the maximum replica count", [], [], 100, 150, None, None, 100, 1000, 150, "TooManyReplicas"),
    ("scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", [], [], 1, 2000, rules(0, 0, 1, 60, 0), None, 3, 1000, 4, "ScaleUpLimit"),
    # (upstream skips "scaleDownLimit is the limit ... with user defined policies": testThis)
    ("scaleUp with default behavior", [], [], 1, 1000, None, None, 10, 50, 20, "ScaleUpLimit"),
    ("scaleUp with pods policy larger than percent policy", [], [], 1, 1000, rules(100, 60, 100, 60, 0), None, 10, 500, 110, "ScaleUpLimit"),
    ("scaleUp with percent policy larger than pods policy", [], [], 1, 1000, rules(2, 60, 100, 60, 0), None, 10, 500, 20, "ScaleUpLimit"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy", [], [], 1, 1000, rules(100, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy", [], [], 1, 1000, rules(10000, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with pod policy limitation", [], [], 1, 1000, rules(30, 60, 0, 0, 0), None, 10, 50, 40, "ScaleUpLimit"),
    ("scaleUp with percent policy limitation", [], [], 1, 1000, rules(0, 0, 200, 60, 0), None, 10, 50, 30, "ScaleUpLimit"),
    ("scaleDown with percent policy larger than pod policy", [], [], 1, 1000, None, rules(20, 60, 1, 60, 300), 100, 2, 80, "ScaleDownLimit"),
    ("scaleDown with pod policy larger than percent policy", [], [], 1, 1000, None, rules(2, 60, 1, 60, 300), 100, 2, 98, "ScaleDownLimit"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy", [], [], 1, 1000, None, rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy", [], [], 1, 1000, None, rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy", [], [], 5, 1000, None, rules(0, 0, 100, 60, 300), 10, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation", [], [], 1, 1000, None, rules(5, 60, 0, 0, 300), 10, 2, 5, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation", [], [], 1, 1000, None, rules(0, 0, 50, 60, 300), 10, 5, 5, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy and events", events([1, 5, 9], 120), [], 1, 200, rules(300, 60, 0, 0, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy and events", events([1, 5, 9], 120), [], 1, 200, rules(0, 0, 10000, 60, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events", events([1, 5, 9], 120), [], 1, 1000, rules(5, 120, 0, 0, 0), None, 100, 500, 100, "ScaleUpLimit"),
    ("scaleUp with pod policy and previous scale up events", events([1, 5, 9], 120), [], 1, 1000, rules(150, 120, 0, 0, 0), None, 100, 500, 235, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up events", events([1, 5, 9], 120), [], 1, 1000, rules(0, 0, 200, 120, 0), None, 100, 500, 255, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up and down events", events([4], 120), events([2], 120), 1, 1000, rules(0, 0, 300, 300, 0), None, 6, 24, 16, "ScaleUpLimit"),
    ("scaleDown with default policy and previous events", [], events([1, 5, 9], 120), 1, 1000, None, None, 10, 5, 5, "DesiredWithinRange"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", [], events([1, 5, 9], 120), 1, 1000, None, rules(115, 120, 0, 0, 300), 100, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy and previous events", [], events([1, 5, 9], 120), 5, 1000, None, rules(130, 120, 0, 0, 300), 100, 0, 5, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy and previous events", [], events([1, 5, 9], 120), 5, 1000, None, rules(0, 0, 100, 120, 300), 100, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation and previous events", [], events([1, 5, 9], 120), 1, 1000, None, rules(5, 120, 0, 0, 300), 100, 2, 100, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation and previous events", [], events([2, 4, 6], 120), 1, 1000, None, rules(0, 0, 50, 120, 300), 100, 0, 56, "ScaleDownLimit"),
    ("scaleDown with percent policy and previous scale up and down events", events([2], 120), events([4], 120), 1, 1000, None, rules(0, 0, 50, 180, 0), 10, 1, 6, "ScaleDownLimit"),
    ("scaleDown with previous events preventing further scale down", [], events([10, 10, 10], 120), 1, 1000, None, rules(0, 0, 10, 120, 300), 100, 0, 100, "ScaleDownLimit"),
    ("scaleDown with with previous events still allowing more scale down", [], events([10, 10, 10], 120), 1, 1000, None, rules(0, 0, 1000, 120, 300), 10, 5, 5, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for up", events([8, 12, 9, 11], 120), [], 1, 1000, rules(1000, 60, 0, 0, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for up", events([8, 12, 9, 11], 120), [], 1, 1000, rules(1000, 120, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for up", events([8, 12, 9, 11], 120), [], 1, 1000, rules(1000, 30, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for down", [], events([8, 12, 9, 11], 120), 1, 1000, None, rules(1000, 60, 0, 0, 300), 100, 5, 5, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for down", [], events([8, 12, 9, 11], 120), 1, 1000, None, rules(1000, 120, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for down", [], events([8, 12, 9, 11], 120), 1, 1000, None, rules(1000, 30, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
]  # fmt: skip


@pytest.mark.parametrize("case", SCALING_CASES, ids=[case[0] for case in SCALING_CASES])
def test_scaling_with_rules_matches_horizontal_test_go(case: tuple) -> None:  # type: ignore[type-arg]
    _, up, down, low, high, up_rules, down_rules, current, desired, expected, condition = case
    controller = HorizontalController(scale_up_events=list(up), scale_down_events=list(down))
    args = NormalizationArg(
        scale_up=generate_scale_up_rules(up_rules),
        scale_down=generate_scale_down_rules(down_rules),
        min_replicas=low,
        max_replicas=high,
        current_replicas=current,
        desired_replicas=desired,
    )
    assert controller.convert_desired_replicas_with_behavior_rate(args, LATER) == (
        expected,
        condition,
    )


# TestNormalizeDesiredReplicasWithBehavior: (name, recommendations (value, age s), current,
# prenormalized, expected stabilized, expected stored values or None, up window, down window)
STABILIZE_CASES = [
    ("empty recommendations for scaling down", [], 100, 5, 5, [5], 0, 0),
    ("simple scale down stabilization", [(4, 120), (5, 60)], 100, 3, 5, [4, 5, 3], 0, 180),
    ("simple scale up stabilization", [(4, 120), (5, 60)], 1, 7, 4, [4, 5, 7], 300, 0),
    ("no scale down stabilization", [(1, 120), (2, 60)], 100, 3, 3, [1, 2, 3], 300, 0),
    ("no scale up stabilization", [(4, 120), (5, 60)], 1, 3, 3, [4, 5, 3], 0, 300),
    ("no scale down stabilization, reuse recommendation element", [(10, 600), (9, 540)], 100, 3, 3, [10, 3], 0, 0),
    ("no scale up stabilization, reuse recommendation element", [(10, 600), (9, 540)], 1, 100, 100, [10, 100], 0, 0),
    ("scale down stabilization, reuse one of obsolete recommendation element", [(10, 600), (4, 60), (5, 120), (9, 540)], 100, 3, 5, [10, 4, 5, 3], 0, 180),
    ("scale up stabilization, reuse one of obsolete recommendation element", [(10, 6000), (6, 60), (5, 120), (9, 180)], 1, 100, 5, [100, 6, 5, 9], 300, 0),
    ("scale up and down stabilization, do not scale up when prenormalized rec goes down", [(2, 6000), (3, 180)], 2, 1, 2, None, 300, 300),
    ("scale up and down stabilization, do not scale down when prenormalized rec goes up", [(2, 6000), (1, 180)], 2, 3, 2, None, 300, 300),
]  # fmt: skip


@pytest.mark.parametrize("case", STABILIZE_CASES, ids=[case[0] for case in STABILIZE_CASES])
def test_stabilization_matches_normalize_desired_replicas_with_behavior(case: tuple) -> None:  # type: ignore[type-arg]
    _, stored, current, desired, expected, after, up_window, down_window = case
    controller = HorizontalController(
        recommendations=[Recommendation(value, NOW - age) for value, age in stored]
    )
    args = NormalizationArg(
        scale_up=ScalingRules(up_window),
        scale_down=ScalingRules(down_window),
        min_replicas=1,
        max_replicas=1000,
        current_replicas=current,
        desired_replicas=desired,
    )
    stabilized, _ = controller.stabilize_recommendation_with_behaviors(args, NOW)
    assert stabilized == expected
    if after is not None:
        assert [r.recommendation for r in controller.recommendations or []] == after


# TestNormalizeDesiredReplicas (no behavior; 5 min downscale stabilisation window)
@pytest.mark.parametrize(
    ("stored", "desired", "expected", "length"),
    [
        ([], 5, 5, 1),
        ([(4, 120), (5, 60)], 3, 5, 3),
        ([(1, 120), (2, 60)], 3, 3, 3),
        ([(10, 600), (9, 540)], 3, 3, 2),
        ([(10, 600), (4, 60), (5, 120), (9, 540)], 3, 5, 4),
    ],
    ids=["empty log", "stabilize", "no stabilize", "no stabilize - old recommendations",
         "stabilize - old recommendations"],
)  # fmt: skip
def test_stabilize_recommendation_matches_test_normalize_desired_replicas(
    stored: list[tuple[int, int]], desired: int, expected: int, length: int
) -> None:
    controller = HorizontalController(
        downscale_stabilisation_window=300,
        recommendations=[Recommendation(value, NOW - age) for value, age in stored],
    )
    assert controller.stabilize_recommendation(desired, NOW) == expected
    assert len(controller.recommendations or []) == length


# TestStoreScaleEvents: (name, previous events (change, age s), expected (change, outdated)
# after storing a change of 5, rules, expected replicas change over 60 s before storing)
STORE_CASES = [
    ("empty entries with default behavior", [], [], None, 0),
    ("empty entries with two-policy-behavior", [], [(5, False)], rules(10, 60, 100, 60, 0), 0),
    ("one outdated entry to be kept untouched without behavior", [(7, 61)], [(7, False)], None, 0),
    ("one outdated entry to be replaced with behavior", [(7, 61)], [(5, False)], rules(10, 60, 100, 60, 0), 0),
    ("one actual entry to be not touched with behavior", [(7, 58)], [(7, False), (5, False)], rules(10, 60, 100, 60, 0), 7),
    ("two entries, one of them to be replaced", [(7, 61), (6, 59)], [(5, False), (6, False)], rules(10, 60, 0, 0, 0), 6),
    ("replace one entry, use policies with different periods", [(8, 29), (6, 59), (7, 61), (9, 61)], [(8, False), (6, False), (7, True), (5, False)], rules(10, 60, 100, 30, 0), 14),
    ("two entries, both actual", [(7, 58), (6, 59)], [(7, False), (6, False), (5, False)], rules(10, 120, 100, 30, 0), 13),
]  # fmt: skip


@pytest.mark.parametrize("case", STORE_CASES, ids=[case[0] for case in STORE_CASES])
def test_store_scale_event_matches_test_store_scale_events(case: tuple) -> None:  # type: ignore[type-arg]
    _, previous, expected, scaling_rules, change = case
    for direction in ("up", "down"):
        stored = [ScaleEvent(value, NOW - age) for value, age in previous]
        controller = HorizontalController()
        if direction == "up":
            controller.scale_up_events = stored
            behavior = None if scaling_rules is None else Behavior(scale_up=scaling_rules)
        else:
            controller.scale_down_events = stored
            behavior = None if scaling_rules is None else Behavior(scale_down=scaling_rules)
        assert replicas_change_per_period(60, stored, LATER) == change
        new = 10 + 5 if direction == "up" else 10 - 5
        controller.store_scale_event(behavior, 10, new, LATER)
        after = controller.scale_up_events if direction == "up" else controller.scale_down_events
        assert [(e.replica_change, e.outdated) for e in after] == expected, direction


@pytest.mark.parametrize(
    ("current", "desired", "low", "high", "expected", "condition"),
    [
        (5, 7, 3, 8, 7, "DesiredWithinRange"),
        (3, 1, 2, 8, 2, "TooFewReplicas"),
        (1, 0, 0, 10, 0, "DesiredWithinRange"),
        (20, 1000, 1, 10, 10, "TooManyReplicas"),
        (3, 1000, 1, 2000, scale_up_limit(3), "ScaleUpLimit"),
    ],
)
def test_convert_desired_replicas_with_rules_matches_upstream(
    current: int, desired: int, low: int, high: int, expected: int, condition: str
) -> None:
    assert convert_desired_replicas_with_rules(current, desired, low, high) == (expected, condition)


MIN_SELECT = ScalingRules(
    300, "Min", (ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 50, 60))
)


def test_calculate_scale_up_and_down_limits_with_min_select_policy() -> None:
    """TestCalculateScaleUpLimitWithScalingRules (2) and ...DownLimitWithBehaviors (3)."""
    assert scale_up_limit_with_scaling_rules(1, [], [], MIN_SELECT, NOW) == 2
    assert scale_down_limit_with_behaviors(5, [], [], MIN_SELECT, NOW) == 3


def test_reconcile_applies_bounds_and_behavior_like_reconcile_autoscaler() -> None:
    """Not an upstream case: the glue of reconcileAutoscaler around the ported pieces."""
    behavior = Behavior(
        scale_up=ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 15),)),
        scale_down=ScalingRules(300, "Max", (ScalingPolicy("Pods", 1, 60),)),
    )
    hpa = HorizontalController()
    assert hpa.reconcile(NOW, 0, 2, 6, behavior, [5]).rescaled is False  # scaling disabled
    assert hpa.reconcile(NOW, 1, 2, 6, behavior, [1]).replicas == 2  # below min
    assert hpa.reconcile(NOW, 8, 2, 6, behavior, [8]).replicas == 6  # above max
    # Those two rescales are scale events of the period: +1 up, 2 down, so it starts from 3.
    assert hpa.reconcile(NOW, 2, 2, 10, behavior, [9]).replicas == 3 + 4
    hpa = HorizontalController()
    up = hpa.reconcile(NOW, 2, 2, 10, behavior, [9])
    assert (up.replicas, up.scaling_limited) == (6, "ScaleUpLimit")  # 2 + 4 pods per 15 s
    again = hpa.reconcile(NOW + 15, 6, 2, 10, behavior, [9])
    assert again.replicas == 9  # the 15 s period has passed
    held = hpa.reconcile(NOW + 30, 9, 2, 10, behavior, [3])
    assert (held.replicas, held.able_to_scale) == (9, "ScaleDownStabilized")
    failed = hpa.reconcile(NOW + 45, 9, 2, 10, behavior, [MetricError("no metrics")])
    assert (failed.replicas, failed.rescaled) == (9, False)
