"""`mlstack validate`: schema checks and checklist rules on the real stacks, exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.cli_support import copy_project, invoke
from tests.harness import STACKS


@pytest.fixture(autouse=True)
def isolated_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", sys.path.copy())


@pytest.mark.parametrize("environment", STACKS)
def test_every_stack_passes_the_schemas_and_the_checklist(environment: str) -> None:
    result = invoke("validate", environment)
    assert result.exit_code == 0, result.stdout + result.stderr
    if environment == "dev":  # Swarm: no Kubernetes object, so no schema is claimed
        assert result.stdout.startswith("dev: no violations (")
        assert "schema" not in result.stdout
    else:
        assert result.stdout.startswith(
            f"{environment}: no violations (Kubernetes schemas 1.30 and "
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
        "at least 2 outside development"
    ]
    assert result.stderr.startswith("staging: 1 violation (Kubernetes schemas 1.30 and ")


def test_unknown_stack(tmp_path: Path) -> None:
    result = invoke("validate", "qa")
    assert result.exit_code == 2
    assert result.stderr.startswith("unknown stack 'qa': ")
