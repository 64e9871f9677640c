"""The pull-request workflows: valid GitHub workflow files, safe for forks, and the diff script
they run works on a real repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli_support import git, git_project
from tests.support.harness import PROJECT_DIR

WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((PROJECT_DIR / ".github" / "workflows" / name).read_text())
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true


def test_there_are_workflows() -> None:
    assert [path.name for path in WORKFLOWS] == ["stack-diff-comment.yml", "stack-diff.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_matches_the_github_workflow_schema(workflow: Path) -> None:
    done = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(workflow),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_diff_runs_pull_request_code_without_secrets() -> None:
    workflow = load("stack-diff.yml")
    assert set(triggers(workflow)) == {"pull_request"}
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["offline-diff"]
    assert "secrets." not in yaml.safe_dump(job)
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["persist-credentials"] is False
    upload = job["steps"][-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["if"] == "always()"


def test_preview_only_runs_where_secrets_exist() -> None:
    jobs = load("stack-diff.yml")["jobs"]
    listing, job = jobs["kubernetes-stacks"], jobs["preview"]
    assert listing["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert job["needs"] == "kubernetes-stacks"
    assert job["if"] == "needs.kubernetes-stacks.outputs.stacks != '[]'"
    assert job["strategy"]["matrix"]["stack"] == (
        "${{ fromJSON(needs.kubernetes-stacks.outputs.stacks) }}"
    )
    preview = job["steps"][-1]
    assert preview["uses"].startswith("pulumi/actions@")
    assert preview["with"]["command"] == "preview"
    assert preview["with"]["diff"] is True
    assert preview["if"] == "steps.credentials.outputs.available == 'true'"


def test_the_comment_workflow_never_runs_pull_request_code() -> None:
    workflow = load("stack-diff-comment.yml")
    assert triggers(workflow)["workflow_run"]["workflows"] == [load("stack-diff.yml")["name"]]
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    uses = [step.get("uses", "") for step in job["steps"]]
    assert not any(use.startswith("actions/checkout@") for use in uses)
    assert not any("run" in step for step in job["steps"])
    script = job["steps"][-1]["with"]["script"]
    assert "pull.head.sha !== process.env.HEAD_SHA" in script  # the artifact is this PR's


@pytest.mark.slow
def test_the_diff_script_comments_on_every_stack(tmp_path: Path) -> None:
    repo = git_project(tmp_path / "repo")
    base = git(repo, "rev-parse", "HEAD")
    stack = repo / "Pulumi.dev.yaml"
    data = yaml.safe_load(stack.read_text())
    data["config"]["mlstack:models"][0]["overrides"] = {"swarm": {"replicas": 3}}
    stack.write_text(yaml.safe_dump(data, sort_keys=False))
    git(repo, "commit", "-qam", "three dev replicas")
    (repo / "venv").symlink_to(PROJECT_DIR / "venv")
    (step,) = [
        step
        for step in load("stack-diff.yml")["jobs"]["offline-diff"]["steps"]
        if step.get("name") == "Diff every stack against the base branch"
    ]
    summary = tmp_path / "summary.md"
    done = subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=repo,
        env={**os.environ, "BASE_SHA": base, "PR_NUMBER": "7", "GITHUB_STEP_SUMMARY": str(summary)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    body = (repo / "stack-diff" / "body.md").read_text()
    assert (repo / "stack-diff" / "pr-number").read_text() == "7\n"
    assert body.startswith("<!-- mlstack-stack-diff -->\n")
    assert "### `dev`: 0 to replace, 1 to update, 0 to add, 0 to remove; 10 unchanged" in body
    assert "### `staging`: no changes" in body
    assert "### `prod`: no changes" in body
    assert summary.read_text() == body


def test_the_preview_matrix_lists_the_kubernetes_stacks(tmp_path: Path) -> None:
    (step,) = load("stack-diff.yml")["jobs"]["kubernetes-stacks"]["steps"][1:]
    for name in ("dev", "staging", "prod"):
        shutil.copy(PROJECT_DIR / f"Pulumi.{name}.yaml", tmp_path)
    (tmp_path / "Pulumi.qa.yaml").write_text('config:\n  mlstack:orchestrator: "kubernetes"\n')
    uat = "config:\n  mlstack:orchestrator: 'kubernetes'  # EKS\n"
    (tmp_path / "Pulumi.uat.yaml").write_text(uat)

    def listed() -> list[str]:
        output = tmp_path / "output"
        output.write_text("")
        subprocess.run(
            ["bash", "-c", step["run"]],
            cwd=tmp_path,
            env={**os.environ, "GITHUB_OUTPUT": str(output)},
            check=True,
        )
        (line,) = output.read_text().splitlines()
        key, value = line.split("=", 1)
        assert key == "stacks"
        return sorted(json.loads(value))

    assert listed() == ["prod", "qa", "staging", "uat"]
    for name in ("prod", "qa", "staging", "uat"):
        (tmp_path / f"Pulumi.{name}.yaml").unlink()
    assert listed() == []  # only Swarm stacks: the preview job is skipped, not failed
