"""The HorizontalPodAutoscaler controller, ported from kubernetes/kubernetes.

Read from pkg/controller/podautoscaler in kubernetes/kubernetes, at two commits (the versions the
code index holds; each with the tests of the same commit, which tests/test_plan_hpa.py
transcribes):

- replica_calculator.go at 00067268967ec95a40035bd666374a1caf48dd1a: GetResourceReplicas,
  GetMetricReplicas (calcPlainMetricReplicas), groupPods, calculatePodRequests; and the two
  ratio helpers of metrics/utilization.go it calls (pinned by the tests' expected values:
  integer utilization percent, raw value = integer average).
- horizontal.go at 003e86297d18a8538c9da3619871393f9703bf70: reconcileAutoscaler's min/max
  handling, stabilizeRecommendation, stabilizeRecommendationWithBehaviors,
  convertDesiredReplicasWithBehaviorRate, convertDesiredReplicasWithRules,
  calculateScaleUpLimitWithScalingRules, calculateScaleDownLimitWithBehaviors (both count the
  scale-up and the scale-down events of the period), storeScaleEvent, markScaleEventsOutdated.
- pkg/apis/autoscaling/v2/defaults.go at 1adaa75345752d96375fae03334fa9ed3bf535a1: the behavior
  the API server fills in (GenerateHPAScaleUpRules / GenerateHPAScaleDownRules).
- pkg/controller/podautoscaler/config/v1alpha1/defaults.go at
  85643c0f93064ad9f9bcd9303972d8308734d269: the kube-controller-manager defaults below.

Only the metric types mlstack declares are ported (Resource utilization and Pods average value);
Object and External metrics are not. Time is seconds on the caller's clock instead of time.Now(),
so a simulation can drive the controller. Go's int32 conversions truncate toward zero, as int()
does; math.Ceil is math.ceil.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

# kube-controller-manager defaults (config/v1alpha1/defaults.go).
SYNC_PERIOD_SECONDS = 15.0
TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD_SECONDS = 300.0
INITIAL_READINESS_DELAY_SECONDS = 30.0
DOWNSCALE_STABILIZATION_SECONDS = 300.0

# horizontal.go: the scale-up limit without a behavior.
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

CPU = "cpu"
Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
SelectPolicy = Literal["Max", "Min", "Disabled"]


class MetricError(Exception):
    """What the controller would report as a failed metric computation."""


# ---- pods and metrics, as the controller sees them ----------------------------------------------


@dataclass(frozen=True)
class Pod:
    """The fields of a v1.Pod the replica calculator reads.

    `ready` is the Ready condition's status (None: no such condition); times are seconds.
    `containers` holds each container's requests in milli-units (a container without the
    resource has no key for it).
    """

    name: str
    phase: Phase = "Running"
    ready: bool | None = True
    start_time: float | None = 0.0
    ready_transition_time: float = 0.0
    deleting: bool = False
    containers: tuple[Mapping[str, int], ...] = ()


@dataclass(frozen=True)
class PodMetric:
    value: int  # milli-units, summed over the pod's containers
    timestamp: float = 0.0
    window: float = 60.0


def group_pods(
    pods: Iterable[Pod],
    metrics: Mapping[str, PodMetric],
    resource: str,
    cpu_initialization_period: float,
    delay_of_initial_readiness_status: float,
    now: float,
) -> tuple[int, set[str], set[str]]:
    """groupPods: (ready pod count, ignored pods, missing pods)."""
    ready_count = 0
    ignored: set[str] = set()
    missing: set[str] = set()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            continue
        if pod.phase == "Pending":  # pending pods are ignored
            ignored.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            missing.add(pod.name)
            continue
        if resource == CPU:
            if pod.ready is None or pod.start_time is None:
                ignore = True
            elif pod.start_time + cpu_initialization_period > now:
                # Still within the initialisation period: ignore the sample if the pod is
                # unready or one window of metric was not collected since its last transition.
                ignore = (not pod.ready) or (
                    metric.timestamp < pod.ready_transition_time + metric.window
                )
            else:
                # Ignore the metric if the pod is unready and has never been ready.
                ignore = (not pod.ready) and (
                    pod.start_time + delay_of_initial_readiness_status > pod.ready_transition_time
                )
            if ignore:
                ignored.add(pod.name)
                continue
        ready_count += 1
    return ready_count, ignored, missing


def calculate_pod_requests(pods: Iterable[Pod], resource: str) -> dict[str, int]:
    requests: dict[str, int] = {}
    for pod in pods:
        total = 0
        for container in pod.containers:
            if resource not in container:
                raise MetricError(f"missing request for {resource}")
            total += container[resource]
        requests[pod.name] = total
    return requests


def resource_utilization_ratio(
    metrics: Mapping[str, PodMetric], requests: Mapping[str, int], target_utilization: int
) -> tuple[float, int, int]:
    """GetResourceUtilizationRatio: (usage ratio, utilization %, raw average milli-value)."""
    metrics_total = requests_total = entities = 0
    for name, metric in metrics.items():
        if name not in requests:
            continue  # missing requests are checked elsewhere: an extraneous metric
        metrics_total += metric.value
        requests_total += requests[name]
        entities += 1
    if requests_total == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = (metrics_total * 100) // requests_total
    return utilization / target_utilization, utilization, metrics_total // entities


def metric_utilization_ratio(
    metrics: Mapping[str, PodMetric], target_utilization: int
) -> tuple[float, int]:
    """GetMetricUtilizationRatio for a per-pod average target: (usage ratio, average)."""
    total = sum(metric.value for metric in metrics.values())
    # Go's int64 division truncates toward zero.
    average = total // len(metrics) if total >= 0 else -(-total // len(metrics))
    return average / target_utilization, average


@dataclass(frozen=True)
class ReplicaCalculator:
    tolerance: float = TOLERANCE
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD_SECONDS
    delay_of_initial_readiness_status: float = INITIAL_READINESS_DELAY_SECONDS

    def resource_replicas(
        self,
        current_replicas: int,
        target_utilization: int,
        resource: str,
        pods: Sequence[Pod],
        metrics: Mapping[str, PodMetric],
        now: float,
    ) -> tuple[int, int, int]:
        """GetResourceReplicas: (replicas, utilization %, raw average milli-value)."""
        if not metrics:
            raise MetricError(
                f"unable to get metrics for resource {resource}: "
                "no metrics returned from resource metrics API"
            )
        if not pods:
            raise MetricError("no pods returned by selector while calculating replica count")
        metrics = dict(metrics)
        ready_count, ignored, missing = group_pods(
            pods,
            metrics,
            resource,
            self.cpu_initialization_period,
            self.delay_of_initial_readiness_status,
            now,
        )
        for name in ignored:
            metrics.pop(name, None)
        requests = calculate_pod_requests(pods, resource)
        if not metrics:
            raise MetricError("did not receive metrics for any ready pods")
        ratio, utilization, raw = resource_utilization_ratio(metrics, requests, target_utilization)

        rebalance_ignored = bool(ignored) and ratio > 1.0
        if not rebalance_ignored and not missing:
            if abs(1.0 - ratio) <= self.tolerance:
                return current_replicas, utilization, raw
            return math.ceil(ratio * ready_count), utilization, raw

        if missing:
            if ratio < 1.0:  # scale-down: missing pods count as using 100% of their request
                for name in missing:
                    metrics[name] = PodMetric(requests[name])
            elif ratio > 1.0:  # scale-up: missing pods count as using nothing
                for name in missing:
                    metrics[name] = PodMetric(0)
        if rebalance_ignored:  # scale-up: unready pods count as using nothing
            for name in ignored:
                metrics[name] = PodMetric(0)

        new_ratio, _, _ = resource_utilization_ratio(metrics, requests, target_utilization)
        if (
            abs(1.0 - new_ratio) <= self.tolerance
            or (ratio < 1.0 and new_ratio > 1.0)
            or (ratio > 1.0 and new_ratio < 1.0)
        ):
            return current_replicas, utilization, raw  # too small, or the direction would flip
        new_replicas = math.ceil(new_ratio * len(metrics))
        if (new_ratio < 1.0 and new_replicas > current_replicas) or (
            new_ratio > 1.0 and new_replicas < current_replicas
        ):
            return current_replicas, utilization, raw
        return new_replicas, utilization, raw

    def metric_replicas(
        self,
        current_replicas: int,
        target_utilization: int,
        pods: Sequence[Pod],
        metrics: Mapping[str, PodMetric],
        now: float,
        resource: str = "",
    ) -> tuple[int, int]:
        """GetMetricReplicas (calcPlainMetricReplicas): (replicas, average milli-value)."""
        if not pods:
            raise MetricError("no pods returned by selector while calculating replica count")
        metrics = dict(metrics)
        ready_count, ignored, missing = group_pods(
            pods,
            metrics,
            resource,
            self.cpu_initialization_period,
            self.delay_of_initial_readiness_status,
            now,
        )
        for name in ignored:
            metrics.pop(name, None)
        if not metrics:
            raise MetricError("did not receive metrics for any ready pods")
        ratio, utilization = metric_utilization_ratio(metrics, target_utilization)

        rebalance_ignored = bool(ignored) and ratio > 1.0
        if not rebalance_ignored and not missing:
            if abs(1.0 - ratio) <= self.tolerance:
                return current_replicas, utilization
            return math.ceil(ratio * ready_count), utilization

        if missing:
            value = target_utilization if ratio < 1.0 else 0
            for name in missing:
                metrics[name] = PodMetric(value)
        if rebalance_ignored:
            for name in ignored:
                metrics[name] = PodMetric(0)

        new_ratio, _ = metric_utilization_ratio(metrics, target_utilization)
        if (
            abs(1.0 - new_ratio) <= self.tolerance
            or (ratio < 1.0 and new_ratio > 1.0)
            or (ratio > 1.0 and new_ratio < 1.0)
        ):
            return current_replicas, utilization
        return math.ceil(new_ratio * len(metrics)), utilization


# ---- behavior ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingPolicy:
    type: Literal["Pods", "Percent"]
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """HPAScalingRules; None fields take the API server's defaults (generate_*_rules)."""

    stabilization_window_seconds: int | None = None
    select_policy: SelectPolicy | None = None
    policies: tuple[ScalingPolicy, ...] | None = None


DEFAULT_SCALE_UP_RULES = ScalingRules(
    stabilization_window_seconds=0,
    select_policy="Max",
    policies=(ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)),
)
DEFAULT_SCALE_DOWN_RULES = ScalingRules(
    stabilization_window_seconds=None,  # the controller's --horizontal-pod-autoscaler-downscale-*
    select_policy="Max",
    policies=(ScalingPolicy("Percent", 100, 15),),
)


def _copy_rules(given: ScalingRules | None, default: ScalingRules) -> ScalingRules:
    if given is None:
        return default
    return ScalingRules(
        stabilization_window_seconds=(
            given.stabilization_window_seconds
            if given.stabilization_window_seconds is not None
            else default.stabilization_window_seconds
        ),
        select_policy=given.select_policy or default.select_policy,
        policies=given.policies if given.policies is not None else default.policies,
    )


def generate_scale_up_rules(rules: ScalingRules | None) -> ScalingRules:
    return _copy_rules(rules, DEFAULT_SCALE_UP_RULES)


def generate_scale_down_rules(rules: ScalingRules | None) -> ScalingRules:
    return _copy_rules(rules, DEFAULT_SCALE_DOWN_RULES)


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


@dataclass
class Recommendation:
    recommendation: int
    timestamp: float


@dataclass
class ScaleEvent:
    replica_change: int  # always positive: the direction is the list it is in
    timestamp: float
    outdated: bool = False


def replicas_change_per_period(
    period_seconds: int, events: Sequence[ScaleEvent], now: float
) -> int:
    cutoff = now - period_seconds
    return sum(event.replica_change for event in events if event.timestamp > cutoff)


def longest_policy_period(rules: ScalingRules) -> int:
    return max((policy.period_seconds for policy in rules.policies or ()), default=0)


def mark_scale_events_outdated(
    events: Sequence[ScaleEvent], longest_period: int, now: float
) -> None:
    cutoff = now - longest_period
    for event in events:
        if event.timestamp < cutoff:
            event.outdated = True


def _policies(rules: ScalingRules) -> tuple[ScalingPolicy, ...]:
    return rules.policies or ()


def scale_up_limit_with_scaling_rules(
    current_replicas: int,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    rules: ScalingRules,
    now: float,
) -> int:
    """calculateScaleUpLimitWithScalingRules: the most replicas the policies allow now."""
    if rules.select_policy == "Disabled":
        return current_replicas
    if rules.select_policy == "Min":
        result, select = INT32_MAX, min
    else:
        result, select = INT32_MIN, max
    for policy in _policies(rules):
        added = replicas_change_per_period(policy.period_seconds, up_events, now)
        deleted = replicas_change_per_period(policy.period_seconds, down_events, now)
        period_start = current_replicas - added + deleted
        if policy.type == "Pods":
            proposed = period_start + policy.value
        else:
            # Rounded up, or a small percentage of few pods would never scale up.
            proposed = math.ceil(period_start * (1 + policy.value / 100))
        result = select(result, proposed)
    return result


def scale_down_limit_with_behaviors(
    current_replicas: int,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    rules: ScalingRules,
    now: float,
) -> int:
    """calculateScaleDownLimitWithBehaviors: the fewest replicas the policies allow now."""
    if rules.select_policy == "Disabled":
        return current_replicas
    if rules.select_policy == "Min":
        result, select = INT32_MIN, max
    else:
        result, select = INT32_MAX, min
    for policy in _policies(rules):
        added = replicas_change_per_period(policy.period_seconds, up_events, now)
        deleted = replicas_change_per_period(policy.period_seconds, down_events, now)
        period_start = current_replicas - added + deleted
        if policy.type == "Pods":
            proposed = period_start - policy.value
        else:
            proposed = int(period_start * (1 - policy.value / 100))
        result = select(result, proposed)
    return result


def scale_up_limit(current_replicas: int) -> int:
    """calculateScaleUpLimit (no behavior): at most double, or at least 4."""
    return int(max(SCALE_UP_LIMIT_FACTOR * current_replicas, SCALE_UP_LIMIT_MINIMUM))


def convert_desired_replicas_with_rules(
    current: int, desired: int, min_replicas: int, max_replicas: int
) -> tuple[int, str]:
    """convertDesiredReplicasWithRules: (replicas, ScalingLimited reason)."""
    limit = scale_up_limit(current)
    if max_replicas > limit:
        maximum, condition = limit, "ScaleUpLimit"
    else:
        maximum, condition = max_replicas, "TooManyReplicas"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas"
    if desired > maximum:
        return maximum, condition
    return desired, "DesiredWithinRange"


@dataclass(frozen=True)
class NormalizationArg:
    scale_up: ScalingRules
    scale_down: ScalingRules
    min_replicas: int
    max_replicas: int
    current_replicas: int
    desired_replicas: int


@dataclass
class HorizontalController:
    """The controller's memory for one HPA: recommendations and scale events."""

    downscale_stabilisation_window: float = DOWNSCALE_STABILIZATION_SECONDS
    recommendations: list[Recommendation] | None = None
    scale_up_events: list[ScaleEvent] = field(default_factory=list)
    scale_down_events: list[ScaleEvent] = field(default_factory=list)

    def _recommendations(self) -> list[Recommendation]:
        if self.recommendations is None:
            self.recommendations = []
        return self.recommendations

    def record_initial_recommendation(self, current_replicas: int, now: float) -> None:
        if self.recommendations is None:
            self.recommendations = [Recommendation(current_replicas, now)]

    def stabilize_recommendation(self, desired: int, now: float) -> int:
        """stabilizeRecommendation (no behavior): the highest recommendation of the window."""
        recommendations = self._recommendations()
        highest = desired
        old_index = None
        cutoff = now - self.downscale_stabilisation_window
        for index, rec in enumerate(recommendations):
            if rec.timestamp < cutoff:
                old_index = index
            elif rec.recommendation > highest:
                highest = rec.recommendation
        if old_index is not None:
            recommendations[old_index] = Recommendation(desired, now)
        else:
            recommendations.append(Recommendation(desired, now))
        return highest

    def stabilize_recommendation_with_behaviors(
        self, args: NormalizationArg, now: float
    ) -> tuple[int, str]:
        """stabilizeRecommendationWithBehaviors: (stabilized replicas, AbleToScale reason)."""
        recommendations = self._recommendations()
        up_window = args.scale_up.stabilization_window_seconds or 0
        down_window = args.scale_down.stabilization_window_seconds or 0
        up_recommendation = down_recommendation = args.desired_replicas
        up_cutoff, down_cutoff = now - up_window, now - down_window
        old_index = None
        for index, rec in enumerate(recommendations):
            if rec.timestamp > up_cutoff:
                up_recommendation = min(rec.recommendation, up_recommendation)
            if rec.timestamp > down_cutoff:
                down_recommendation = max(rec.recommendation, down_recommendation)
            if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
                old_index = index
        recommendation = args.current_replicas
        recommendation = max(recommendation, up_recommendation)
        recommendation = min(recommendation, down_recommendation)
        if old_index is not None:
            recommendations[old_index] = Recommendation(args.desired_replicas, now)
        else:
            recommendations.append(Recommendation(args.desired_replicas, now))
        reason = (
            "ScaleUpStabilized"
            if args.desired_replicas >= args.current_replicas
            else "ScaleDownStabilized"
        )
        return recommendation, reason

    def convert_desired_replicas_with_behavior_rate(
        self, args: NormalizationArg, now: float
    ) -> tuple[int, str]:
        """convertDesiredReplicasWithBehaviorRate: (replicas, ScalingLimited reason)."""
        if args.desired_replicas > args.current_replicas:
            limit = scale_up_limit_with_scaling_rules(
                args.current_replicas,
                self.scale_up_events,
                self.scale_down_events,
                args.scale_up,
                now,
            )
            limit = max(limit, args.current_replicas)  # no scale-up until events expire
            if args.max_replicas > limit:
                maximum, reason = limit, "ScaleUpLimit"
            else:
                maximum, reason = args.max_replicas, "TooManyReplicas"
            if args.desired_replicas > maximum:
                return maximum, reason
        elif args.desired_replicas < args.current_replicas:
            limit = scale_down_limit_with_behaviors(
                args.current_replicas,
                self.scale_up_events,
                self.scale_down_events,
                args.scale_down,
                now,
            )
            limit = min(limit, args.current_replicas)  # no scale-down until events expire
            if args.min_replicas < limit:
                minimum, reason = limit, "ScaleDownLimit"
            else:
                minimum, reason = args.min_replicas, "TooFewReplicas"
            if args.desired_replicas < minimum:
                return minimum, reason
        return args.desired_replicas, "DesiredWithinRange"

    def store_scale_event(
        self, behavior: Behavior | None, previous: int, new: int, now: float
    ) -> None:
        if behavior is None:
            return  # without a behavior the events are never used
        if new > previous:
            rules = generate_scale_up_rules(behavior.scale_up)
            events, change = self.scale_up_events, new - previous
        else:
            rules = generate_scale_down_rules(behavior.scale_down)
            events, change = self.scale_down_events, previous - new
        mark_scale_events_outdated(events, longest_policy_period(rules), now)
        old_index = None
        for index, event in enumerate(events):
            if event.outdated:
                old_index = index
        if old_index is not None:
            events[old_index] = ScaleEvent(change, now)
        else:
            events.append(ScaleEvent(change, now))

    def normalize_with_behaviors(
        self, behavior: Behavior, current: int, desired: int, min_replicas: int, max_replicas: int,
        now: float,
    ) -> tuple[int, str, str]:  # fmt: skip
        """normalizeDesiredReplicasWithBehaviors: (replicas, AbleToScale, ScalingLimited)."""
        scale_down = generate_scale_down_rules(behavior.scale_down)
        if scale_down.stabilization_window_seconds is None:  # maybeInitScaleDownStabilization…
            scale_down = ScalingRules(
                int(self.downscale_stabilisation_window),
                scale_down.select_policy,
                scale_down.policies,
            )
        args = NormalizationArg(
            scale_up=generate_scale_up_rules(behavior.scale_up),
            scale_down=scale_down,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            current_replicas=current,
            desired_replicas=desired,
        )
        stabilized, able = self.stabilize_recommendation_with_behaviors(args, now)
        if stabilized == desired:
            able = "ReadyForNewScale"
        limited_args = NormalizationArg(
            args.scale_up, args.scale_down, min_replicas, max_replicas, current, stabilized
        )
        replicas, limited = self.convert_desired_replicas_with_behavior_rate(limited_args, now)
        return replicas, able, limited

    def reconcile(
        self,
        now: float,
        current_replicas: int,
        min_replicas: int | None,
        max_replicas: int,
        behavior: Behavior | None,
        proposals: Sequence[int | MetricError],
    ) -> Decision:
        """reconcileAutoscaler after the scale is read: `proposals` holds one replica count
        (or the error) per metric, as computeReplicasForMetrics gathers them."""
        self.record_initial_recommendation(current_replicas, now)
        minimum = 1 if min_replicas is None else min_replicas
        if current_replicas == 0 and minimum != 0:
            return Decision(0, False, "ScalingDisabled", "", "")
        if current_replicas > max_replicas:
            desired, reason = max_replicas, "Current number of replicas above Spec.MaxReplicas"
            able = limited = ""
        elif current_replicas < minimum:
            desired, reason = minimum, "Current number of replicas below Spec.MinReplicas"
            able = limited = ""
        else:
            valid = [p for p in proposals if not isinstance(p, MetricError)]
            if not valid:
                errors = [str(p) for p in proposals]
                return Decision(current_replicas, False, "FailedComputeMetricsReplicas",
                                "", "; ".join(errors))  # fmt: skip
            desired = 0
            for proposal in valid:
                desired = max(desired, proposal)
            reason = ""
            if desired > current_replicas:
                reason = "metric above target"
            elif desired < current_replicas:
                reason = "All metrics below target"
            if behavior is None:
                stabilized = self.stabilize_recommendation(desired, now)
                able = "ScaleDownStabilized" if stabilized != desired else "ReadyForNewScale"
                desired, limited = convert_desired_replicas_with_rules(
                    current_replicas, stabilized, minimum, max_replicas
                )
            else:
                desired, able, limited = self.normalize_with_behaviors(
                    behavior, current_replicas, desired, minimum, max_replicas, now
                )
        rescale = desired != current_replicas
        if rescale:
            self.store_scale_event(behavior, current_replicas, desired, now)
        return Decision(desired if rescale else current_replicas, rescale, reason, able, limited)


@dataclass(frozen=True)
class Decision:
    replicas: int
    rescaled: bool
    reason: str
    able_to_scale: str
    scaling_limited: str
