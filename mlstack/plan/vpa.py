"""The VerticalPodAutoscaler's effect on requests over time, where its mode applies them.

From kubernetes/autoscaler vertical-pod-autoscaler at 55c37cd5eb550756c5ccc5a89e9068d77797e575:
the recommender (pkg/recommender: config.go defaults, logic/recommender.go, logic/estimator.go)
samples usage every minute (--recommender-interval 1m); its target is the 90th percentile of the
samples plus a 15% safety margin (--safety-margin-fraction 0.15), at least 25 millicores and
250 MiB (--pod-recommendation-min-*), clamped to the VPA's minAllowed/maxAllowed; its lower bound
is the 50th percentile with the margin times (1 + 0.001/confidence)^-2, its upper bound the 95th
with the margin times (1 + 1/confidence), confidence being the history's length in days (or
samples / 1440 if fewer). The updater (pkg/updater, --updater-interval 1m, --min-replicas 2,
--eviction-tolerance 0.5) evicts pods whose request lies outside [lower, upper] in Recreate mode
(resizes them in place in InPlaceOrRecreate), at most half the replicas at a time; Initial sets
the target only on pods created after the recommendation; Off only recommends. Percentiles are
taken over all samples (the recommender's histograms decay with a 24 h half-life, which matters
little over a plan of hours) without its exponential bucketing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlstack.plan.inputs import Resources, VpaInput

SAFETY_MARGIN = 0.15
MIN_CPU_M = 25
MIN_MEMORY = 250 * 2**20
SAMPLE_INTERVAL = 60.0
UPDATER_INTERVAL = 60.0
UPDATER_MIN_REPLICAS = 2
EVICTION_TOLERANCE = 0.5
APPLYING_MODES = ("Initial", "Recreate", "InPlaceOrRecreate")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@dataclass
class VpaModel:
    spec: VpaInput
    cpu_samples: list[float] = field(default_factory=list)  # millicores per pod
    memory_samples: list[float] = field(default_factory=list)  # bytes per pod
    first_sample: float | None = None
    last_sample: float | None = None
    next_sample: float = 0.0
    next_update: float = UPDATER_INTERVAL

    @property
    def applies(self) -> bool:
        return self.spec.mode in APPLYING_MODES

    def observe(self, now: float, usages: list[tuple[float, float]]) -> None:
        """Per-pod (millicores, bytes) in use, sampled once a minute."""
        if now < self.next_sample or not usages:
            return
        self.next_sample = now + SAMPLE_INTERVAL
        for cpu, memory in usages:
            self.cpu_samples.append(cpu)
            self.memory_samples.append(memory)
        self.first_sample = now if self.first_sample is None else self.first_sample
        self.last_sample = now

    def _confidence(self) -> float:
        if self.first_sample is None or self.last_sample is None:
            return 0.0
        days = (self.last_sample - self.first_sample) / 86400
        return min(days, len(self.cpu_samples) / 1440)

    def _estimate(self, fraction: float) -> Resources:
        cpu = _percentile(self.cpu_samples, fraction) * (1 + SAFETY_MARGIN)
        memory = _percentile(self.memory_samples, fraction) * (1 + SAFETY_MARGIN)
        return Resources(int(cpu), int(memory))

    def _clamped(self, value: Resources) -> Resources:
        low, high = self.spec.min_allowed, self.spec.max_allowed
        cpu = min(max(value.cpu_m, MIN_CPU_M, low.cpu_m), high.cpu_m)
        memory = min(max(value.memory, MIN_MEMORY, low.memory), high.memory)
        return Resources(cpu, memory)

    def target(self) -> Resources | None:
        if not self.cpu_samples:
            return None
        return self._clamped(self._estimate(0.9))

    def bounds(self) -> tuple[Resources, Resources] | None:
        if not self.cpu_samples:
            return None
        confidence = self._confidence()
        lower = self._estimate(0.5)
        upper = self._estimate(0.95)
        low_factor = (1 + 0.001 / confidence) ** -2 if confidence else 0.0
        high_factor = 1 + 1 / confidence if confidence else float("inf")
        scaled_low = Resources(int(lower.cpu_m * low_factor), int(lower.memory * low_factor))
        scaled_high = Resources(
            int(min(upper.cpu_m * high_factor, 1e15)), int(min(upper.memory * high_factor, 1e18))
        )
        return self._clamped(scaled_low), self._clamped(scaled_high)

    def requests_for_new_pod(self, declared: Resources) -> Resources:
        """What the admission controller sets on a pod created now."""
        target = self.target()
        if not self.applies or target is None:
            return declared
        return Resources(
            target.cpu_m if "cpu" in self.spec.controlled else declared.cpu_m,
            target.memory if "memory" in self.spec.controlled else declared.memory,
            declared.gpu,
        )

    def outside_range(self, requests: Resources) -> bool:
        found = self.bounds()
        if found is None:
            return False
        low, high = found
        checks = []
        if "cpu" in self.spec.controlled:
            checks.append(not low.cpu_m <= requests.cpu_m <= high.cpu_m)
        if "memory" in self.spec.controlled:
            checks.append(not low.memory <= requests.memory <= high.memory)
        return any(checks)

    def due_update(self, now: float) -> bool:
        if self.spec.mode not in ("Recreate", "InPlaceOrRecreate") or now < self.next_update:
            return False
        self.next_update = now + UPDATER_INTERVAL
        return True

    @staticmethod
    def eviction_budget(replicas: int) -> int:
        if replicas < UPDATER_MIN_REPLICAS:
            return 0
        return max(1, int(replicas * EVICTION_TOLERANCE))
