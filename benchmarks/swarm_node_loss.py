"""Losing a node of a three-node Swarm under load, three ways: how long until full capacity, and
how many requests fail.

    venv/bin/python benchmarks/swarm_node_loss.py [--trials 2] [--modes daemon processes power]

Needs root (network namespaces, a bridge, dockerd per node) and the host's Docker engine. It
builds the cluster of tests/test_swarm_multinode.py (three dockerd nodes, all managers, zones
a, b, b), deploys the dev stack with replicas spread over zones and one a node, and for each
mode and trial sends steady POST /predict load (two keep-alive clients, 10 s timeout, each answer
checked) to the proxy on node 1 while another node holding a model replica is lost:

- daemon:    SIGKILL of its dockerd alone. containerd dies with it; the shims and the containers
             they run do not, so the replica keeps answering until the managers replace it.
- processes: SIGKILL of everything the node runs (dockerd, containerd, shims, containers). The
             kernel closes their connections, so a request in flight is refused, not lost.
- power:     the node's link is cut, then everything is killed: the machine is gone and nothing
             it had open is ever closed (a power cut, a kernel panic).

Per trial it prints when the managers saw the node down, when the model ran two healthy replicas
on the other nodes, and the requests sent and failed with the first failures. Then the node is
rebooted and the model service re-created: Swarm replaces a lost node's task through the restart
policy, which allows `maxAttempts` (3) restarts of a slot per window (384 s), so repeated losses
of the same slot would otherwise stop being replaced. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import engine
from tests.support.images import IMAGE_TYPE, build_image
from tests.support.multinode_stack import (
    MODEL,
    NODE_SPECS,
    PORT,
    Stack,
    deploy_stack,
    model_nodes,
    record,
    replaced,
    restore,
    stack_config,
)
from tests.support.swarm_cluster import (
    Node,
    build_cluster,
    exclusive,
    missing_requirements,
    remove_leftovers,
)
from tests.support.swarm_engine import traffic, wait_for
from tests.support.swarm_spec import plan
from tests.test_swarm_engine import BODY, correct

MODES = ("daemon", "processes", "power")
WAIT_SECONDS = 240


def lose(node: Node, mode: str) -> None:
    if mode == "daemon":
        node.kill_daemon()
        return
    if mode == "power":
        node.cut_link()
    node.crash()


def seen_down(stack: Stack, node: Node) -> bool:
    try:
        return stack.cluster.states().get(node.name, ("",))[0] == "down"
    except (docker.errors.APIError, OSError):
        return False


def trial(stack: Stack, mode: str) -> dict[str, Any]:
    entry = stack.cluster.nodes[0]
    victim = stack.cluster.node(next(n for n in model_nodes(stack) if n != entry.name))
    down = full = None
    with traffic(PORT, BODY, correct, host=entry.address, threads=2) as finish:
        time.sleep(2)
        started = time.monotonic()
        lose(victim, mode)
        deadline = started + WAIT_SECONDS
        while time.monotonic() < deadline and full is None:
            if down is None and seen_down(stack, victim):
                down = time.monotonic() - started
            if replaced(stack, victim):
                full = time.monotonic() - started
            time.sleep(0.2)
        time.sleep(2)
    result = finish()
    return {
        "mode": mode,
        "node": victim.name,
        "down": down,
        "full": full,
        "sent": result.sent,
        "failed": result.failed,
        "failures": sorted({f.split(":")[0] for f in result.failures}),
    }


def fresh_model_service(stack: Stack) -> None:
    """Remove and re-create the model service: a new restart history for its slots."""
    deployment, api = stack.deployment, stack.api
    api.remove_service(deployment.created_services[MODEL])
    wait_for("the old tasks to go", lambda: not model_nodes(stack), 120)
    spec = deployment.resolved(stack.plan.service(MODEL))
    deployment.created_services[MODEL] = api.create_service(**spec.create_kwargs())["ID"]


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args()
    reason = missing_requirements()
    if reason is not None:
        sys.exit(f"cannot build the cluster: {reason}")
    host = docker.from_env(timeout=300)
    recording = record(stack_config(engine.base_image()))
    for resource in recording.of_type(IMAGE_TYPE):
        build_image(resource, host)
    rows = []
    with exclusive():
        remove_leftovers()
        try:
            cluster = build_cluster(NODE_SPECS)
            cluster.load_images(
                [r.inputs["imageName"] for r in recording.of_type(IMAGE_TYPE)], host
            )
            stack = deploy_stack(cluster, plan(recording))
            for mode in args.modes:
                for _ in range(args.trials):
                    row = trial(stack, mode)
                    rows.append(row)
                    print(
                        f"{mode:9} {row['node']}: down after {seconds(row['down'])}, full capacity "
                        f"after {seconds(row['full'])}; {row['sent']} sent, {row['failed']} failed "
                        f"{row['failures'] or ''}",
                        flush=True,
                    )
                    restore(stack)
                    fresh_model_service(stack)
                    restore(stack)
            cluster.close()
        finally:
            remove_leftovers()
    print("\n| node lost by | trial | seen down | full capacity | requests sent / failed |")
    print("|---|---|---|---|---:|")
    for index, row in enumerate(rows):
        kinds = f" ({', '.join(row['failures'])})" if row["failures"] else ""
        print(
            f"| {row['mode']} | {index % args.trials + 1} | {seconds(row['down'])} | "
            f"{seconds(row['full'])} | {row['sent']} / {row['failed']}{kinds} |"
        )


if __name__ == "__main__":
    main()
