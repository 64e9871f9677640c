"""The dev stack as a multi-node stack file would declare it, on a three-node test cluster.

Shared by tests/test_swarm_multinode.py and benchmarks/swarm_node_loss.py: the cluster's nodes
(tests/support/swarm_cluster.py), the stack's config (the dev stack file with replicas spread over
`node.labels.zone`, at most `max_per_node` a node), deploying it from its recording, and what
the managers say about it (running tasks, convergence) while nodes come and go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker
import yaml

from mlstack.offline import Recording
from tests.support.harness import PROJECT_DIR, run_stack
from tests.support.swarm_cluster import Cluster, Node, NodeSpec
from tests.support.swarm_engine import SwarmDeployment, wait_for
from tests.support.swarm_spec import SwarmPlan

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
NODE_SPECS = [
    NodeSpec(labels={"zone": "a"}),
    NodeSpec(labels={"zone": "b"}),
    NodeSpec(labels={"zone": "b"}, generic_resources=("NVIDIA-GPU=1",)),
]
GPU_NODE = "mlstk-n3"
MODEL = "dev-iris"
PROXY = "dev-proxy"
GPU_MODEL = "dev-iris-gpu"
PORT = 8080
REPLICAS = 2
TOKEN = "multinode-api-token"  # the api-token secret
CONVERGE_SECONDS = 180


def stack_config(base_image: str, *, max_per_node: int = 1, **swarm: Any) -> dict[str, Any]:
    """The dev stack file's config, with replicas spread over zones, `max_per_node` a node."""
    dev = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())["config"]
    return {
        "mlstack:image": {"baseImage": base_image, "caBundle": SYSTEM_CA_BUNDLE},
        "mlstack:swarm": {**dev["mlstack:swarm"], "spreadOver": "node.labels.zone", **swarm},
        "mlstack:overrides": {"swarm": {"maxReplicasPerNode": max_per_node}},
    }


def record(config: dict[str, Any]) -> Recording:
    return run_stack(
        "dev", config=config, secret_config={"mlstack:secrets": {"iris": {"api-token": TOKEN}}}
    )


@dataclass
class Stack:
    cluster: Cluster
    plan: SwarmPlan
    deployment: SwarmDeployment

    @property
    def api(self) -> docker.APIClient:
        return self.deployment.api

    def model_image(self) -> str:
        spec = self.deployment.inspect(MODEL)["Spec"]["TaskTemplate"]["ContainerSpec"]
        return str(spec["Image"])


def deploy_stack(cluster: Cluster, swarm_plan: SwarmPlan) -> Stack:
    """Create the recorded network, secret and services through a manager; wait until they
    converge. Nothing removes them one by one: removing the cluster does."""
    deployment = SwarmDeployment(cluster.client(), swarm_plan, host_ports=())
    deployment.create()
    stack = Stack(cluster, swarm_plan, deployment)
    wait_for("the stack to converge", lambda: stack_converged(stack), CONVERGE_SECONDS)
    return stack


def restore(stack: Stack) -> None:
    """Back to three ready, active nodes and a converged stack: crashed nodes rebooted,
    drained ones made active."""
    cluster = stack.cluster
    for node in cluster.nodes:
        if not node.running:
            node.reboot()
    wait_for("3 ready nodes", lambda: len(_states(cluster)) == 3, CONVERGE_SECONDS)
    for name, (_, availability) in _states(cluster).items():
        if availability != "active":
            cluster.set_availability(cluster.node(name), "active")
    wait_for("3 ready, active nodes", cluster.all_ready, CONVERGE_SECONDS)
    stack.deployment.client = cluster.client()
    wait_for("the stack to converge", lambda: stack_converged(stack), CONVERGE_SECONDS)


def _states(cluster: Cluster) -> dict[str, tuple[str, str]]:
    try:
        return {k: v for k, v in cluster.states().items() if v[0] == "ready"}
    except Exception:  # noqa: BLE001 - managers answer errors while they elect a leader
        return {}


# --- what the engine says ------------------------------------------------------------------------


def running_tasks(stack: Stack, service: str) -> list[dict[str, Any]]:
    """Running tasks on nodes the managers see as ready."""
    names = stack.cluster.node_names(stack.deployment.client)
    ready = {i for i, n in stack.cluster.swarm_nodes(stack.deployment.client).items()
             if n["Status"]["State"] == "ready"}  # fmt: skip
    try:
        tasks = stack.api.tasks(filters={"service": service, "desired-state": "running"})
    except docker.errors.NotFound:
        return []  # the service is gone
    return [
        {**task, "node": names[task["NodeID"]]}
        for task in tasks
        if task["Status"]["State"] == "running" and task["NodeID"] in ready
    ]


def stack_converged(stack: Stack, replicas: int = REPLICAS) -> bool:
    """The model runs `replicas` healthy tasks (one image, no update in progress) on ready
    nodes, and the proxy one task on every ready, active node."""
    try:
        service = stack.deployment.inspect(MODEL)
        if (service.get("UpdateStatus") or {}).get("State") in ("updating", "rollback_started"):
            return False
        model = running_tasks(stack, MODEL)
        images = {t["Spec"]["ContainerSpec"]["Image"] for t in model}
        active = [s for s in stack.cluster.states().values() if s == ("ready", "active")]
        return (
            len(model) == replicas
            and images == {service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]}
            and len(running_tasks(stack, PROXY)) == len(active)
        )
    except (docker.errors.APIError, OSError):
        return False  # a manager mid-election


def model_nodes(stack: Stack) -> list[str]:
    return sorted(t["node"] for t in running_tasks(stack, MODEL))


def replaced(stack: Stack, lost: Node) -> bool:
    """The stack converged again with no task on `lost` (False while managers elect)."""
    try:
        return lost.name not in model_nodes(stack) and stack_converged(stack)
    except (docker.errors.APIError, OSError):
        return False


def overlay_address(task: dict[str, Any]) -> str:
    (attachment,) = task["NetworksAttachments"]
    return str(attachment["Addresses"][0].split("/")[0])


def away_from(stack: Stack, *avoid: Node) -> Node:
    """A node to send load to that is none of `avoid`."""
    names = {n.name for n in avoid}
    return next(n for n in stack.cluster.nodes if n.name not in names)
