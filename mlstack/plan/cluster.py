"""Nodes, the scheduler's bin-packing and preemption, and the cluster-autoscaler's decisions.

Pods fit on a node by their requests against the node's allocatable (kube-scheduler's
NodeResourcesFit), placed on the least-allocated node that fits (its default scoring). A pod that
fits nowhere may preempt pods of lower priority (the headroom placeholders) on one node. The
cluster-autoscaler, every scan interval: adds the nodes the unschedulable, non-expendable pods
need (first-fit decreasing into empty nodes, counting nodes still being provisioned, within the
group's max), ready after the provisioning delay; and removes a node once it has been unneeded
(requests below the utilization threshold, its pods movable to other nodes, disruption budgets
allowing) for the unneeded time, not within delay-after-add of a scale-up, never below the
group's min: empty nodes in bulk, one non-empty node per scan (as its FAQ describes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mlstack.plan.inputs import ClusterInput, Resources


@dataclass
class SimPod:
    uid: int
    owner: str  # model name, or "" for a headroom placeholder
    requests: Resources
    priority: int
    created: float
    node: int | None = None
    bound_at: float | None = None
    started_at: float | None = None  # container running (Running phase)
    ready_at: float | None = None  # readiness probe passes
    deleted: bool = False

    @property
    def headroom(self) -> bool:
        return self.owner == ""

    def ready(self, now: float) -> bool:
        return self.ready_at is not None and self.ready_at <= now and not self.deleted

    def running(self, now: float) -> bool:
        return self.started_at is not None and self.started_at <= now and not self.deleted


@dataclass
class SimNode:
    uid: int
    allocatable: Resources
    ready_at: float
    unneeded_since: float | None = None
    has_image: set[str] = field(default_factory=set)

    def ready(self, now: float) -> bool:
        return self.ready_at <= now


def used(pods: Iterable[SimPod], node: SimNode) -> Resources:
    cpu = memory = gpu = 0
    for pod in pods:
        if pod.node == node.uid and not pod.deleted:
            cpu += pod.requests.cpu_m
            memory += pod.requests.memory
            gpu += pod.requests.gpu
    return Resources(cpu, memory, gpu)


def fits(request: Resources, free: Resources) -> bool:
    return request.cpu_m <= free.cpu_m and request.memory <= free.memory and request.gpu <= free.gpu


def free_of(node: SimNode, taken: Resources) -> Resources:
    return Resources(
        node.allocatable.cpu_m - taken.cpu_m,
        node.allocatable.memory - taken.memory,
        node.allocatable.gpu - taken.gpu,
    )


def utilization(node: SimNode, taken: Resources) -> float:
    """cluster-autoscaler's node utilization: the larger of CPU and memory requested."""
    shares = [taken.cpu_m / node.allocatable.cpu_m, taken.memory / node.allocatable.memory]
    if node.allocatable.gpu:
        shares.append(taken.gpu / node.allocatable.gpu)
    return max(shares)


def pods_per_node(allocatable: Resources, request: Resources) -> int:
    counts = [
        allocatable.cpu_m // max(1, request.cpu_m),
        allocatable.memory // max(1, request.memory),
    ]
    if request.gpu:
        counts.append(allocatable.gpu // request.gpu)
    return int(min(counts))


@dataclass
class Cluster:
    config: ClusterInput
    allocatable: Resources
    provision_seconds: float
    nodes: list[SimNode] = field(default_factory=list)
    last_scale_up: float = -1e18
    next_scan: float = 0.0
    _next_uid: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)

    def add_nodes(self, count: int, ready_at: float) -> None:
        for _ in range(count):
            self.nodes.append(SimNode(self._next_uid, self.allocatable, ready_at))
            self._next_uid += 1

    # ---- the scheduler -----------------------------------------------------------------------

    def schedule(self, pods: list[SimPod], now: float) -> list[SimPod]:
        """Bind pending pods, highest priority first; return the pods preempted."""
        live = [p for p in pods if not p.deleted]
        taken = {node.uid: used(live, node) for node in self.nodes}
        preempted: list[SimPod] = []
        pending = sorted(
            (p for p in live if p.node is None), key=lambda p: (-p.priority, p.created, p.uid)
        )
        for pod in pending:
            candidates = [
                n for n in self.nodes
                if n.ready(now) and fits(pod.requests, free_of(n, taken[n.uid]))
            ]  # fmt: skip
            if not candidates:
                victims_node = self._preemption(pod, live, taken, now)
                if victims_node is None:
                    continue
                node, victims = victims_node
                for victim in victims:
                    victim.deleted = True
                    preempted.append(victim)
                    v = taken[node.uid]
                    taken[node.uid] = Resources(
                        v.cpu_m - victim.requests.cpu_m,
                        v.memory - victim.requests.memory,
                        v.gpu - victim.requests.gpu,
                    )
                candidates = [node]
            node = max(
                candidates,
                key=lambda n: (
                    free_of(n, taken[n.uid]).cpu_m / n.allocatable.cpu_m
                    + free_of(n, taken[n.uid]).memory / n.allocatable.memory,
                    -n.uid,
                ),
            )
            pod.node, pod.bound_at = node.uid, now
            t = taken[node.uid]
            taken[node.uid] = Resources(
                t.cpu_m + pod.requests.cpu_m,
                t.memory + pod.requests.memory,
                t.gpu + pod.requests.gpu,
            )
        return preempted

    def _preemption(
        self, pod: SimPod, live: Sequence[SimPod], taken: dict[int, Resources], now: float
    ) -> tuple[SimNode, list[SimPod]] | None:
        """The node where evicting the fewest lower-priority pods makes room."""
        best: tuple[SimNode, list[SimPod]] | None = None
        for node in self.nodes:
            if not node.ready(now):
                continue
            lower = sorted(
                (p for p in live if p.node == node.uid and p.priority < pod.priority),
                key=lambda p: (p.priority, -p.created),
            )
            free = free_of(node, taken[node.uid])
            victims: list[SimPod] = []
            for victim in lower:
                if fits(pod.requests, free):
                    break
                victims.append(victim)
                free = Resources(
                    free.cpu_m + victim.requests.cpu_m,
                    free.memory + victim.requests.memory,
                    free.gpu + victim.requests.gpu,
                )
            if (
                victims
                and fits(pod.requests, free)
                and (best is None or len(victims) < len(best[1]))
            ):
                best = (node, victims)
        return best

    # ---- the cluster-autoscaler ---------------------------------------------------------------

    def autoscale(self, pods: list[SimPod], now: float, pdb: dict[str, int]) -> None:
        if now < self.next_scan:
            return
        self.next_scan = now + self.config.scan_interval
        live = [p for p in pods if not p.deleted]
        unschedulable = [
            p for p in live
            if p.node is None and p.priority >= self.config.expendable_cutoff
            and now - p.created >= 1.0  # the scheduler has tried it
        ]  # fmt: skip
        if unschedulable:
            self._scale_up(unschedulable, live, now)
            return  # no scale-down in a loop that had unschedulable pods
        if now - self.last_scale_up < self.config.delay_after_add:
            return
        self._scale_down(live, now, pdb)

    def _scale_up(self, pending: list[SimPod], live: list[SimPod], now: float) -> None:
        # Room on nodes still being provisioned counts: their pods will land there.
        bins = [free_of(n, used(live, n)) for n in self.nodes if not n.ready(now)]
        new = 0
        for pod in sorted(pending, key=lambda p: (-p.requests.cpu_m, -p.requests.memory)):
            if not fits(pod.requests, self.allocatable):
                continue  # no node of this group can ever hold it
            for index, free in enumerate(bins):
                if fits(pod.requests, free):
                    bins[index] = Resources(free.cpu_m - pod.requests.cpu_m,
                                            free.memory - pod.requests.memory,
                                            free.gpu - pod.requests.gpu)  # fmt: skip
                    break
            else:
                new += 1
                a = self.allocatable
                bins.append(Resources(a.cpu_m - pod.requests.cpu_m, a.memory - pod.requests.memory,
                                      a.gpu - pod.requests.gpu))  # fmt: skip
        room = self.config.group_max - len(self.nodes)
        new = min(new, room)
        if new > 0:
            self.add_nodes(new, now + self.provision_seconds)
            self.last_scale_up = now
            self.events.append((now, f"scale-up +{new} node{'s' if new > 1 else ''}"))

    def _scale_down(self, live: list[SimPod], now: float, pdb: dict[str, int]) -> None:
        ready = [n for n in self.nodes if n.ready(now)]
        removable: list[SimNode] = []
        for node in ready:
            taken = used(live, node)
            if utilization(node, taken) >= self.config.utilization_threshold:
                node.unneeded_since = None
                continue
            if not self._movable(node, live, ready, pdb, now):
                node.unneeded_since = None
                continue
            if node.unneeded_since is None:
                node.unneeded_since = now
            if now - node.unneeded_since >= self.config.unneeded_time:
                removable.append(node)
        spare = len(self.nodes) - self.config.group_min
        empty = [n for n in removable if not any(p.node == n.uid for p in live)]
        busy = [n for n in removable if n not in empty]
        chosen = empty[: min(spare, self.config.max_empty_bulk_delete)]
        if not chosen and busy and spare > 0:
            chosen = busy[:1]
        for node in chosen:
            for pod in live:
                if pod.node == node.uid:
                    pod.deleted = True  # drained; its owner recreates it
            self.nodes.remove(node)
            self.events.append((now, "scale-down -1 node"))

    def _movable(
        self, node: SimNode, live: list[SimPod], ready: list[SimNode], pdb: dict[str, int],
        now: float,
    ) -> bool:  # fmt: skip
        on_node = [p for p in live if p.node == node.uid]
        per_owner: dict[str, int] = {}
        for pod in on_node:
            if pod.priority < self.config.expendable_cutoff:
                continue
            per_owner[pod.owner] = per_owner.get(pod.owner, 0) + 1
        for owner, count in per_owner.items():
            if owner and count > pdb.get(owner, 1):
                return False
        others = [n for n in ready if n.uid != node.uid]
        free = {n.uid: free_of(n, used(live, n)) for n in others}
        for pod in sorted(on_node, key=lambda p: -p.requests.cpu_m):
            if pod.priority < self.config.expendable_cutoff:
                continue
            target = next((n for n in others if fits(pod.requests, free[n.uid])), None)
            if target is None:
                return False
            f = free[target.uid]
            free[target.uid] = Resources(f.cpu_m - pod.requests.cpu_m,
                                         f.memory - pod.requests.memory,
                                         f.gpu - pod.requests.gpu)  # fmt: skip
        return True
