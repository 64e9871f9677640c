"""Swarm settings rules: combinations Docker refuses or that cannot update without downtime are
refused up front, naming the stack file, the key, the value and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from mlstack.components.settings import SettingsError, load_settings
from tests.support.harness import PROJECT_DIR, settings_error

IRIS = {
    "name": "iris",
    "framework": "sklearn",
    "artifact": "examples/iris/iris.joblib",
    "version": "1.0.0",
}


def problems(swarm: dict[str, Any], models: list[Any] | None = None) -> list[str]:
    raw = {"orchestrator": "swarm", "size": "small", "models": models or [IRIS], "swarm": swarm}
    with pytest.raises(SettingsError) as info:
        load_settings(raw, environment="dev", project_dir=PROJECT_DIR)
    return info.value.problems


def test_host_publishing_needs_the_proxy() -> None:
    assert problems({"publishMode": "host", "endpointMode": "dnsrr"}) == [
        "Pulumi.dev.yaml: mlstack:swarm.publishMode: without the proxy each model task binds the "
        "host port itself; two tasks on one node cannot, so a start-first rolling update could "
        "never start a replacement beside the running task (got host); allowed: ingress (needs "
        "IPVS on every node), or swarm.proxy.enabled true (the proxy holds the host ports and the "
        "models update behind it)"
    ]


def test_dnsrr_cannot_publish_on_the_routing_mesh() -> None:
    assert problems({"endpointMode": "dnsrr"}) == [
        "Pulumi.dev.yaml: mlstack:swarm.endpointMode: Docker refuses ports published in ingress "
        "mode on a dnsrr service (the routing mesh needs a virtual IP) (got dnsrr); allowed: "
        "vip, or swarm.proxy.enabled true (only the proxy publishes ports)"
    ]


def test_no_model_may_take_the_proxys_name() -> None:
    second = {**IRIS, "name": "proxy"}
    assert problems({"proxy": {"enabled": True}}, [IRIS, second]) == [
        "Pulumi.dev.yaml: mlstack:models[1].name: 'proxy' names the reverse proxy's service and "
        "image (got proxy); allowed: any name but 'proxy', or swarm.proxy.enabled false"
    ]


def test_spread_is_over_a_node_or_engine_label() -> None:
    (problem,) = problems({"spreadOver": "node.hostname"})
    assert problem == (
        "Pulumi.dev.yaml: mlstack:swarm.spreadOver: malformed value (got node.hostname); "
        "allowed: node.labels.NAME or engine.labels.NAME"
    )


def test_proxy_settings_are_range_checked() -> None:
    assert problems({"proxy": {"enabled": True, "nextUpstreamTries": 1}}) == [
        "Pulumi.dev.yaml: mlstack:swarm.proxy.nextUpstreamTries: out of range (got 1); "
        "allowed: a number >= 2"
    ]
    (problem,) = problems({"proxy": {"resources": {"memory": {"limit": "lots"}}}})
    assert problem.startswith(
        "Pulumi.dev.yaml: mlstack:swarm.proxy.resources.memory.limit: malformed value (got lots)"
    )


def test_the_rules_apply_to_swarm_stacks_only() -> None:
    raw = {
        "orchestrator": "kubernetes",
        "size": "small",
        "models": [{**IRIS, "name": "proxy"}],
        "image": {"registry": "registry.example.com/ml", "push": True},
        "swarm": {"publishMode": "host"},
    }
    # The Swarm rules (host publishing needs the proxy, no model named proxy) are not applied;
    # the section itself is reported, since a Kubernetes stack never reads it.
    with pytest.raises(SettingsError) as raised:
        load_settings(raw, environment="dev", project_dir=PROJECT_DIR)
    assert raised.value.problems == [
        "Pulumi.dev.yaml: mlstack:swarm: only a swarm stack reads it; this stack's orchestrator "
        "is kubernetes (got {publishMode: host}); allowed: remove it, or set "
        "mlstack:orchestrator to swarm"
    ]
    del raw["swarm"]
    assert load_settings(raw, environment="dev", project_dir=PROJECT_DIR).models[0].name == "proxy"


def test_a_bad_swarm_setting_in_the_dev_stack_declares_nothing() -> None:
    error, declared = settings_error(
        "dev", **{"mlstack:swarm": {"publishMode": "host", "proxy": {"enabled": False}}}
    )
    assert "mlstack:swarm.publishMode" in error
    assert declared == ()
