"""A second-by-second simulation of the serving stack under a load profile.

Each second: the offered load of each model is spread evenly over its ready replicas; a replica
serves up to its measured saturation rate, and its p99 latency is read off its measured curve
(mlstack.plan.capacity). Running pods use the CPU the curve says for the load they serve. The
metrics pipeline scrapes every `metric_resolution` seconds (the average over that window, as
metrics-server's resolution); the HPA controller (mlstack.plan.hpa, the upstream port) syncs
every 15 s, `hpa_offset` seconds after a scrape, and sets the Deployment's replicas; new pods are
pending until the scheduler binds them (mlstack.plan.cluster), then start (an image pull on a node
that has not pulled it yet, then the measured startup time) and turn ready. Headroom placeholders
are recreated when preempted; the cluster-autoscaler adds and removes nodes; the VPA's target
applies to new pods (or evicts, in Recreate mode). Swarm services run their fixed replica count.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from mlstack.plan.capacity import Capacity
from mlstack.plan.cluster import Cluster, SimPod
from mlstack.plan.hpa import (
    CPU,
    SYNC_PERIOD_SECONDS,
    HorizontalController,
    MetricError,
    Pod,
    PodMetric,
    ReplicaCalculator,
)
from mlstack.plan.inputs import ClusterInput, ModelInput, Resources, StackInput
from mlstack.plan.profiles import Profile
from mlstack.plan.vpa import VpaModel

START_LONG_AGO = -86400.0  # pods present at t=0 started a day earlier
NewPod = Callable[[str, Resources, int, float], SimPod]  # owner, requests, priority, created


@dataclass(frozen=True)
class Options:
    p99_target_ms: float
    allocatable: Resources | None
    provision_seconds: float
    image_pull_seconds: float = 0.0
    metric_resolution: float = 15.0
    hpa_offset: float = 7.0


@dataclass
class ModelSeries:
    model: ModelInput
    capacity: Capacity
    throughput: float  # per replica, at the p99 target
    t: list[float] = field(default_factory=list)
    offered: list[float] = field(default_factory=list)
    served: list[float] = field(default_factory=list)
    short: list[float] = field(default_factory=list)  # unserved or slower than the target
    p99: list[float] = field(default_factory=list)  # nan when no replica is ready
    desired: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    memory_request: list[int] = field(default_factory=list)
    rescales: list[tuple[float, int, int, str]] = field(default_factory=list)


@dataclass
class ClusterSeries:
    t: list[float] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    provisioning: list[int] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class Simulation:
    stack: StackInput
    profile: Profile
    options: Options
    models: list[ModelSeries]
    cluster: ClusterSeries | None


@dataclass
class _Model:
    series: ModelSeries
    hpa: HorizontalController
    vpa: VpaModel | None
    desired: int
    usage: dict[int, deque[float]] = field(default_factory=dict)  # pod uid -> cores, last window
    scraped: dict[int, PodMetric] = field(default_factory=dict)
    scraped_pods: dict[int, PodMetric] = field(default_factory=dict)  # in-flight requests


def settled_replicas(model: ModelInput, capacity: Capacity, rate: float) -> int:
    """Where the HPA settles for a steady `rate` (iterating its own rule, within tolerance)."""
    if model.hpa is None:
        return model.swarm_replicas or 1
    replicas = model.hpa.min_replicas
    for _ in range(50):
        wanted = replicas
        for metric in model.hpa.metrics:
            per_pod = min(rate / replicas, capacity.saturation_rps)
            if metric.kind == CPU:
                usage = min(capacity.cores_at(per_pod), model.limits.cpu_m / 1000)
                ratio = usage * 1000 / model.requests.cpu_m * 100 / metric.target
            elif metric.kind == "pods":
                ratio = per_pod * capacity.p99_at(per_pod) / 2 / metric.target
            else:
                ratio = capacity.memory_bytes / model.requests.memory * 100 / metric.target
            if abs(1 - ratio) > 0.1:
                wanted = max(wanted, math.ceil(ratio * replicas))
        wanted = min(max(wanted, model.hpa.min_replicas), model.hpa.max_replicas)
        if wanted == replicas:
            break
        replicas = wanted
    return replicas


def run(
    stack: StackInput,
    capacities: dict[str, Capacity],
    profile: Profile,
    options: Options,
) -> Simulation:
    calculator = ReplicaCalculator()
    models: list[_Model] = []
    pods: list[SimPod] = []
    uid = 0

    def new_pod(owner: str, requests: Resources, priority: int, now: float) -> SimPod:
        nonlocal uid
        uid += 1
        pod = SimPod(uid, owner, requests, priority, created=now)
        pods.append(pod)
        return pod

    for model in stack.models:
        capacity = capacities[model.name]
        series = ModelSeries(model, capacity, capacity.throughput_at(options.p99_target_ms))
        replicas = settled_replicas(model, capacity, profile.rate(0.0))
        vpa = VpaModel(model.vpa) if model.vpa is not None else None
        models.append(_Model(series, HorizontalController(), vpa, replicas))
        for _ in range(replicas):
            pod = new_pod(model.name, model.requests, model.priority, START_LONG_AGO)
            pod.started_at = START_LONG_AGO
            pod.ready_at = START_LONG_AGO + capacity.startup_seconds

    cluster: Cluster | None = None
    cluster_series: ClusterSeries | None = None
    if stack.cluster is not None:
        if options.allocatable is None:
            raise ValueError("the node group's allocatable resources are needed")
        cluster = _initial_cluster(stack.cluster, options, pods, new_pod)
        cluster_series = ClusterSeries()
    pdb = {m.name: m.pdb_max_unavailable for m in stack.models}

    steps = int(profile.duration)
    for second in range(steps + 1):
        now = float(second)
        if cluster is not None:
            cluster.schedule(pods, now)  # preempted placeholders are recreated below
            _start_containers(pods, cluster, models, options, now)
        for state in models:
            _serve(state, pods, profile.rate(now), options, now)
        if second % int(options.metric_resolution) == 0:
            for state in models:
                _scrape(state, pods, now, options)
        if stack.cluster is not None and (second - options.hpa_offset) % SYNC_PERIOD_SECONDS == 0:
            for state in models:
                _sync_hpa(state, pods, calculator, now)
        for state in models:
            _vpa(state, pods, now)
        if cluster is not None and cluster_series is not None:
            cluster.autoscale(pods, now, pdb)
            pods[:] = [p for p in pods if not p.deleted]
            _reconcile_owners(stack.cluster, models, pods, new_pod, now)
            cluster_series.t.append(now)
            cluster_series.ready.append(sum(1 for n in cluster.nodes if n.ready(now)))
            cluster_series.provisioning.append(sum(1 for n in cluster.nodes if not n.ready(now)))
    if cluster is not None and cluster_series is not None:
        cluster_series.events = list(cluster.events)
    return Simulation(stack, profile, options, [m.series for m in models], cluster_series)


def _initial_cluster(
    config: ClusterInput, options: Options, pods: list[SimPod], new_pod: NewPod
) -> Cluster:
    assert options.allocatable is not None
    cluster = Cluster(config, options.allocatable, options.provision_seconds)
    for _ in range(config.headroom_replicas):
        pod = new_pod("", config.headroom, config.headroom_priority, START_LONG_AGO)
        pod.started_at = pod.ready_at = START_LONG_AGO
    needed = _nodes_for(pods, options.allocatable)
    cluster.add_nodes(min(max(config.group_min, needed), config.group_max), START_LONG_AGO)
    cluster.schedule(pods, 0.0)
    for node in cluster.nodes:
        node.has_image = {p.owner for p in pods if p.node == node.uid}
    return cluster


def _nodes_for(pods: list[SimPod], allocatable: Resources) -> int:
    """First-fit decreasing: nodes that hold these pods."""
    bins: list[list[int]] = []
    for pod in sorted(pods, key=lambda p: -p.requests.cpu_m):
        r = pod.requests
        for free in bins:
            if r.cpu_m <= free[0] and r.memory <= free[1] and r.gpu <= free[2]:
                free[0] -= r.cpu_m
                free[1] -= r.memory
                free[2] -= r.gpu
                break
        else:
            bins.append([allocatable.cpu_m - r.cpu_m, allocatable.memory - r.memory,
                         allocatable.gpu - r.gpu])  # fmt: skip
    return len(bins)


def _reconcile_owners(
    config: ClusterInput | None,
    models: list[_Model],
    pods: list[SimPod],
    new_pod: NewPod,
    now: float,
) -> None:
    """The Deployment controllers: as many live pods as each wants (a pod evicted, preempted
    or drained is replaced by a new, pending one)."""
    for state in models:
        model = state.series.model
        alive = sum(1 for p in pods if p.owner == model.name)
        for _ in range(state.desired - alive):
            requests = (
                state.vpa.requests_for_new_pod(model.requests) if state.vpa else model.requests
            )
            new_pod(model.name, requests, model.priority, now)
    if config is not None:
        alive = sum(1 for p in pods if p.headroom)
        for _ in range(config.headroom_replicas - alive):
            new_pod("", config.headroom, config.headroom_priority, now)


def _owned(state: _Model, pods: list[SimPod]) -> list[SimPod]:
    return [p for p in pods if p.owner == state.series.model.name and not p.deleted]


def _start_containers(pods: list[SimPod], cluster: Cluster, models: list[_Model],
                      options: Options, now: float) -> None:  # fmt: skip
    startup = {m.series.model.name: m.series.capacity.startup_seconds for m in models}
    nodes = {n.uid: n for n in cluster.nodes}
    for pod in pods:
        if pod.deleted or pod.node is None or pod.started_at is not None:
            continue
        node = nodes[pod.node]
        pull = 0.0 if pod.owner in node.has_image or pod.headroom else options.image_pull_seconds
        node.has_image.add(pod.owner)
        pod.started_at = now + pull
        pod.ready_at = pod.started_at + (0.0 if pod.headroom else startup[pod.owner])


def _serve(state: _Model, pods: list[SimPod], offered: float, options: Options, now: float) -> None:
    series, capacity, model = state.series, state.series.capacity, state.series.model
    mine = _owned(state, pods)
    # Swarm: the fixed replicas, running throughout.
    fixed = model.swarm_replicas or 0
    ready = fixed if model.hpa is None else sum(1 for p in mine if p.ready(now))
    per_pod = offered / ready if ready else math.inf
    served = min(offered, ready * capacity.saturation_rps)
    limit_cores = model.limits.cpu_m / 1000
    for pod in mine:
        if pod.running(now):
            cores = (
                capacity.cores_at(min(per_pod, capacity.saturation_rps))
                if pod.ready(now)
                else capacity.idle_cores
            )
            state.usage.setdefault(pod.uid, deque(maxlen=int(options.metric_resolution))).append(
                min(cores, limit_cores)
            )
    series.t.append(now)
    series.offered.append(offered)
    series.served.append(served)
    series.short.append(max(0.0, offered - ready * series.throughput))
    series.p99.append(capacity.p99_at(per_pod) if ready else math.nan)
    series.desired.append(state.desired if model.hpa is not None else ready)
    series.ready.append(ready)
    series.pending.append(sum(1 for p in mine if p.node is None))
    newest = max(mine, key=lambda p: p.created, default=None)
    series.memory_request.append(newest.requests.memory if newest else model.requests.memory)


def _scrape(state: _Model, pods: list[SimPod], now: float, options: Options) -> None:
    """metrics-server: each running pod's average use over the last window."""
    capacity = state.series.capacity
    live = {p.uid: p for p in _owned(state, pods) if p.running(now)}
    state.scraped, state.scraped_pods = {}, {}
    offered = state.series.offered[-1] if state.series.offered else 0.0
    ready = max(1, state.series.ready[-1] if state.series.ready else 1)
    for uid, samples in state.usage.items():
        if uid in live and samples:
            cores = sum(samples) / len(samples)
            state.scraped[uid] = PodMetric(round(cores * 1000), now, options.metric_resolution)
            per_pod = min(offered / ready, capacity.saturation_rps) if live[uid].ready(now) else 0.0
            in_flight = per_pod * capacity.p99_at(per_pod) / 2 / 1000  # Little's law, ~p50
            state.scraped_pods[uid] = PodMetric(round(in_flight * 1000), now)
    state.usage = {uid: s for uid, s in state.usage.items() if uid in live}


def _sync_hpa(state: _Model, pods: list[SimPod], calculator: ReplicaCalculator, now: float) -> None:
    model, capacity = state.series.model, state.series.capacity
    hpa = model.hpa
    if hpa is None:
        return
    mine = _owned(state, pods)
    view = [
        Pod(
            name=str(p.uid),
            phase="Running" if p.running(now) else "Pending",
            ready=p.ready(now) if p.running(now) else False,
            start_time=p.started_at if p.running(now) else None,
            ready_transition_time=(p.ready_at if p.ready(now) else p.started_at) or 0.0,
            containers=({CPU: p.requests.cpu_m, "memory": p.requests.memory * 1000},),
        )
        for p in mine
    ]
    proposals: list[int | MetricError] = []
    for metric in hpa.metrics:
        try:
            if metric.kind == CPU:
                metrics = {str(u): m for u, m in state.scraped.items()}
                replicas, _, _ = calculator.resource_replicas(
                    state.desired, metric.target, CPU, view, metrics, now
                )
            elif metric.kind == "memory":
                metrics = {str(u): PodMetric(capacity.memory_bytes * 1000, m.timestamp, m.window)
                           for u, m in state.scraped.items()}  # fmt: skip
                replicas, _, _ = calculator.resource_replicas(
                    state.desired, metric.target, "memory", view, metrics, now
                )
            else:
                metrics = {str(u): m for u, m in state.scraped_pods.items()}
                replicas, _ = calculator.metric_replicas(
                    state.desired, metric.target, view, metrics, now
                )
            proposals.append(replicas)
        except MetricError as error:
            proposals.append(error)
    decision = state.hpa.reconcile(
        now, state.desired, hpa.min_replicas, hpa.max_replicas, hpa.behavior, proposals
    )
    if not decision.rescaled:
        return
    state.series.rescales.append((now, state.desired, decision.replicas, decision.scaling_limited))
    previous, state.desired = state.desired, decision.replicas
    if state.desired < previous:
        # ReplicaSet's deletion order: unscheduled, not running, not ready, then the newest.
        order = sorted(
            mine, key=lambda p: (p.node is not None, p.running(now), p.ready(now), -p.created)
        )
        for pod in order[: previous - state.desired]:
            pod.deleted = True
    # New pods are created by _reconcile_owners.


def _vpa(state: _Model, pods: list[SimPod], now: float) -> None:
    vpa = state.vpa
    if vpa is None:
        return
    capacity = state.series.capacity
    running = [p for p in _owned(state, pods) if p.ready(now)]
    memory = float(capacity.memory_bytes)
    usages = [
        ((state.usage.get(p.uid) or deque([capacity.idle_cores]))[-1] * 1000, memory)
        for p in running
    ]
    vpa.observe(now, usages)
    if not vpa.due_update(now):
        return
    budget = vpa.eviction_budget(len(running))
    for pod in [p for p in running if vpa.outside_range(p.requests)][:budget]:
        if vpa.spec.mode == "InPlaceOrRecreate":
            pod.requests = vpa.requests_for_new_pod(pod.requests)
        else:
            pod.deleted = True  # evicted; its Deployment recreates it with the target
