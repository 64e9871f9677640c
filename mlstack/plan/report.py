"""The plan a reviewer reads: per model, what the peak needs, how fast it scales, what is lost.

The target holds when, for every model, the replicas the peak needs (at the p99 target) are
within the replica maximum (Swarm: the fixed replicas), the nodes are within the node group's
maximum, and the requests short of the target over the whole profile (unserved, or served by
replicas loaded beyond their p99-target throughput) stay within the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlstack.plan.cluster import pods_per_node
from mlstack.plan.inputs import MetricTarget
from mlstack.plan.simulate import ModelSeries, Simulation


@dataclass(frozen=True)
class ModelVerdict:
    name: str
    lines: tuple[str, ...]
    holds: bool
    short_share: float
    needed: int


@dataclass(frozen=True)
class Report:
    title: str
    notes: tuple[str, ...]
    models: tuple[ModelVerdict, ...]
    cluster_lines: tuple[str, ...]
    holds: bool
    reasons: tuple[str, ...]

    def text(self) -> str:
        out = [self.title, *(f"note: {n}" for n in self.notes)]
        for model in self.models:
            out.append("")
            out.extend(model.lines)
        if self.cluster_lines:
            out.append("")
            out.extend(self.cluster_lines)
        out.append("")
        if self.holds:
            out.append("verdict: the target holds")
        else:
            out.append("verdict: the target does NOT hold: " + "; ".join(self.reasons))
        return "\n".join(out) + "\n"


def _rate(value: float) -> str:
    return f"{value:,.0f} req/s"


def _memory(value: int) -> str:
    for unit, size in (("Gi", 2**30), ("Mi", 2**20)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value}B"


def _policies(series: ModelSeries) -> str:
    hpa = series.model.hpa
    if hpa is None or hpa.behavior.scale_up is None or not hpa.behavior.scale_up.policies:
        return "policy: defaults"
    parts = [
        f"{p.value}{'%' if p.type == 'Percent' else ' pods'}/{p.period_seconds}s"
        for p in hpa.behavior.scale_up.policies
    ]
    return f"policy {' or '.join(parts)} ({hpa.behavior.scale_up.select_policy or 'Max'})"


def _scale_up_story(series: ModelSeries, sim: Simulation) -> str | None:
    """From the first second the ready replicas fall short of the target throughput to the
    first second they catch up again."""
    start = next(
        (i for i, short in enumerate(series.short) if short > 0 and series.offered[i] > 0), None
    )
    if start is None:
        return None
    end = next((i for i in range(start, len(series.t)) if series.short[i] == 0), None)
    t0 = series.t[start]
    chain = [
        r for r in series.rescales if r[0] >= t0 - 1 and (end is None or r[0] <= series.t[end])
    ]
    ups = [r for r in chain if r[2] > r[1]]
    before = series.ready[start]
    if end is None:
        tail = f"never catches up within the profile ({series.ready[-1]} ready at the end)"
    else:
        tail = f"takes {series.t[end] - t0:.0f} s"
    steps = "→".join([str(before)] + [str(r[2]) for r in ups]) if ups else str(before)
    parts = []
    if ups:
        parts.append(f"first rescale after {ups[0][0] - t0:.0f} s (metrics every "
                     f"{sim.options.metric_resolution:.0f} s, HPA sync every 15 s)")  # fmt: skip
        parts.append(_policies(series))
        limited = {r[3] for r in ups if r[3] not in ("DesiredWithinRange", "")}
        if limited:
            parts.append(f"limited by {', '.join(sorted(limited))}")
    parts.append(f"{series.capacity.startup_seconds:.0f} s startup")
    if sim.cluster is not None:
        ups_nodes = [e for e in sim.cluster.events if e[0] >= t0 and "scale-up" in e[1]]
        if ups_nodes:
            parts.append(
                f"nodes: {', '.join(e[1] for e in ups_nodes)} "
                f"(+{sim.options.provision_seconds:.0f} s provisioning each)"
            )
    return f"  {steps} replicas at t={t0:.0f} s {tail}: " + ", ".join(parts)


def _model(series: ModelSeries, sim: Simulation, budget: float) -> ModelVerdict:
    model, capacity = series.model, series.capacity
    target = sim.options.p99_target_ms
    peak = max(series.offered) if series.offered else 0.0
    per_replica = series.throughput
    needed = math.ceil(peak / per_replica) if per_replica > 0 else 10**9
    total = sum(series.offered)
    short_share = sum(series.short) / total if total else 0.0
    unserved = sum(o - s for o, s in zip(series.offered, series.served, strict=True))
    lines = [
        f"{model.name} ({model.size}: CPU {model.requests.cpu_m}m request / {model.cpu_limit} "
        f"limit, memory {model.memory_limit}): one replica serves {_rate(per_replica)} at p99 "
        f"<= {target:g} ms ({_rate(capacity.saturation_rps)} saturated), starts in "
        f"{capacity.startup_seconds:.1f} s (measured {capacity.measured[:10]})"
    ]
    holds = True
    if model.hpa is not None:
        bound, label = model.hpa.max_replicas, "replicas.max"
    else:
        bound, label = model.swarm_replicas or 0, "swarm.replicas (fixed, no autoscaler)"
    if needed <= bound:
        lines.append(f"  peak {_rate(peak)} needs {needed} replicas; {label} is {bound}: fits")
    else:
        lost = max(0.0, peak - bound * per_replica) / peak if peak else 0.0
        lines.append(
            f"  peak {_rate(peak)} needs {needed} replicas; {label} is {bound}: "
            f"{lost:.0%} of the peak unserved or over the p99 target"
        )
        holds = False
    if model.hpa is not None:
        peak_index = series.offered.index(peak) if series.offered else 0
        settled = max(series.ready[peak_index:] or [0])
        lines.append(
            f"  the HPA ({', '.join(_metric(m) for m in model.hpa.metrics)}) runs up to "
            f"{settled} ready replicas at peak; min {model.hpa.min_replicas}, max {bound}"
        )
        busiest = capacity.cores_at(capacity.saturation_rps) * 1000
        for metric in model.hpa.metrics:
            wanted = metric.target / 100 * model.requests.cpu_m
            if metric.kind == "cpu" and busiest < wanted * (1 + 0.1):
                lines.append(
                    f"  the HPA cannot scale out on CPU: a saturated replica used "
                    f"{busiest:.0f}m, and scaling out needs more than {wanted * 1.1:.0f}m "
                    f"({metric.target}% of the {model.requests.cpu_m}m request, plus the 10% "
                    f"tolerance); set autoscaling.cpuUtilization below "
                    f"{busiest / model.requests.cpu_m * 100 / 1.1:.0f}, or measure again"
                )
        story = _scale_up_story(series, sim)
        if story:
            lines.append(story)
    finite = [p for p in series.p99 if not math.isnan(p)]
    worst = max(finite) if finite else math.nan
    lines.append(
        f"  over the profile: {short_share:.1%} of requests short of the target "
        f"(unserved: {unserved / total if total else 0:.1%}); estimated p99 at worst "
        f"{worst:.0f} ms"
    )
    if short_share > budget:
        holds = False
    if model.vpa is not None:
        first, last = series.memory_request[0], series.memory_request[-1]
        applied = "applies to new pods" if model.vpa.mode == "Initial" else (
            "only recommends" if model.vpa.mode == "Off" else "evicts or resizes pods")  # fmt: skip
        lines.append(
            f"  VPA ({model.vpa.mode}, {', '.join(model.vpa.controlled)}; {applied}): "
            f"newest pod's memory request {_memory(first)} → {_memory(last)} (measured use "
            f"{_memory(capacity.memory_bytes)})"
        )
    return ModelVerdict(model.name, tuple(lines), holds, short_share, needed)


def _metric(metric: MetricTarget) -> str:
    if metric.kind in ("cpu", "memory"):
        return f"{metric.kind} {metric.target}% of request"
    return f"{metric.name} {metric.target / 1000:g} per pod"


def build(sim: Simulation, *, budget: float, notes: tuple[str, ...] = ()) -> Report:
    stack = sim.stack
    title = (
        f"{stack.environment} ({stack.orchestrator}): plan for --load {sim.profile.text} "
        f"({sim.profile.duration / 60:.0f} min, p99 target {sim.options.p99_target_ms:g} ms)"
    )
    verdicts = tuple(_model(series, sim, budget) for series in sim.models)
    reasons = [
        f"{v.name}: " + ("more replicas needed than allowed" if v.needed > _bound(sim, v.name)
                         else f"{v.short_share:.1%} of requests short (budget {budget:.1%})")
        for v in verdicts if not v.holds
    ]  # fmt: skip
    cluster_lines: list[str] = []
    if stack.cluster is not None and sim.cluster is not None and sim.options.allocatable:
        alloc = sim.options.allocatable
        config = stack.cluster
        peak_nodes = max(
            r + p for r, p in zip(sim.cluster.ready, sim.cluster.provisioning, strict=True)
        )
        shape = f"{alloc.cpu_m}m CPU / {_memory(alloc.memory)}"
        fit = ", ".join(
            f"{config.group_max} nodes of {shape} fit "
            f"{config.group_max * pods_per_node(alloc, m.model.requests)} {m.model.name} replicas "
            f"({pods_per_node(alloc, m.model.requests)} per node)"
            for m in sim.models
        )
        cluster_lines.append(
            f"nodes (group {config.node_group}, {config.group_min}..{config.group_max}; "
            f"cluster-autoscaler {'deployed by the stack' if config.deployed else 'assumed'}): "
            f"{fit}"
        )
        cluster_lines.append(
            f"  {sim.cluster.ready[0]} nodes at the start, at most {peak_nodes} (ready or "
            f"provisioning); headroom {config.headroom_replicas} x "
            f"{config.headroom.cpu_m}m/{_memory(config.headroom.memory)}; scale-up after a "
            f"{config.scan_interval:.0f} s scan + {sim.options.provision_seconds:.0f} s "
            f"provisioning; scale-down after {config.unneeded_time / 60:.0f} min unneeded "
            f"below {config.utilization_threshold:.0%}"
        )
        node_need = _nodes_needed(sim)
        if node_need > config.group_max:
            reasons.append(
                f"the peak needs {node_need} nodes; the node group's max is {config.group_max}"
            )
    return Report(title, notes, verdicts, tuple(cluster_lines), not reasons, tuple(reasons))


def _bound(sim: Simulation, name: str) -> int:
    for series in sim.models:
        if series.model.name == name:
            if series.model.hpa is not None:
                return series.model.hpa.max_replicas
            return series.model.swarm_replicas or 0
    return 0


def _nodes_needed(sim: Simulation) -> int:
    """Nodes that hold every model's peak need (within its max) plus the headroom."""
    assert sim.options.allocatable is not None
    assert sim.stack.cluster is not None
    alloc = sim.options.allocatable
    cpu = memory = 0
    for series in sim.models:
        peak = max(series.offered) if series.offered else 0.0
        needed = math.ceil(peak / series.throughput) if series.throughput > 0 else 0
        count = min(needed, _bound(sim, series.model.name))
        cpu += count * series.model.requests.cpu_m
        memory += count * series.model.requests.memory
    config = sim.stack.cluster
    cpu += config.headroom_replicas * config.headroom.cpu_m
    memory += config.headroom_replicas * config.headroom.memory
    return max(math.ceil(cpu / alloc.cpu_m), math.ceil(memory / alloc.memory))
