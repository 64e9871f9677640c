"""`mlstack validate`: schema checks and checklist rules on the real stacks, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlstack.checks.rules import rules
from mlstack.project import DEVELOPMENT_STACKS
from tests.support.cli_support import copy_project, invoke
from tests.support.harness import STACKS

# The CLI (and the program it records) puts project directories on sys.path; the stacks are the
# checked-in ones, in a copy of the project (conftest.in_checkout).
pytestmark = pytest.mark.usefixtures("isolated_sys_path", "in_checkout")


@pytest.mark.parametrize("environment", STACKS)
def test_every_stack_passes_the_schemas_and_the_checklist(environment: str) -> None:
    result = invoke("validate", environment)
    assert result.exit_code == 0, result.stdout + result.stderr
    if environment == "dev":  # Swarm: no Kubernetes object, so no schema is claimed
        # Only the Swarm rules are counted, and the stack is said to be a development one.
        swarm_rules = len(rules("swarm"))
        assert result.stdout == (
            f"dev: no violations ({swarm_rules} Swarm checklist rules; dev is a development "
            "stack (dev, local, dev-*, local-*): one replica is allowed)\n"
        )
    else:
        assert result.stdout.startswith(
            f"{environment}: no violations (Kubernetes schemas 1.30 and "
        )
        assert result.stdout.endswith(
            f" and {len(rules('kubernetes'))} Kubernetes checklist rules)\n"
        )


def test_a_violation_names_rule_and_resource_and_exits_one(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    stack = project / "Pulumi.staging.yaml"
    data = yaml.safe_load(stack.read_text())
    data["config"]["mlstack:models"][0]["overrides"] = {"replicas": {"min": 1}}
    stack.write_text(yaml.safe_dump(data, sort_keys=False))
    result = invoke("validate", "staging", "--project", project)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "K8S-HPA: HorizontalPodAutoscaler ml-serving/iris: minReplicas is 1; "
        "at least 2 outside development",
        "  fix: set replicas.min to 2 or more (now 1): mlstack:overrides.replicas.min for every "
        "model, or models[].overrides.replicas.min for one; or deploy it as a development stack "
        "(dev, local, dev-*, local-*), where one replica is allowed",
    ]
    assert result.stderr.startswith("staging: 1 violation (Kubernetes schemas 1.30 and ")


def test_unknown_stack(tmp_path: Path) -> None:
    result = invoke("validate", "qa")
    assert result.exit_code == 2
    assert result.stderr.startswith("unknown stack 'qa': ")


def test_every_rule_says_how_to_fix_it_and_belongs_to_one_orchestrator() -> None:
    every = rules()
    assert {rule.orchestrator for rule in every} == {"kubernetes", "swarm"}
    assert len(rules("kubernetes")) + len(rules("swarm")) == len(every)
    for rule in every:
        assert rule.fix, rule.id
    development = ", ".join([*DEVELOPMENT_STACKS, *(f"{name}-*" for name in DEVELOPMENT_STACKS)])
    for rule_id in ("K8S-REPLICAS", "K8S-HPA", "SWARM-REPLICAS"):
        assert f"({development})" in next(r.fix for r in every if r.id == rule_id)
