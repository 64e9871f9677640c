"""`mlstack diff`: the base revision rendered from its own checkout, compared with the tree."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_support import git, git_project, invoke


@pytest.fixture(autouse=True)
def isolated_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", sys.path.copy())


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return git_project(tmp_path_factory.mktemp("diff") / "repo")


@pytest.fixture
def repo(base_repo: Path, tmp_path: Path) -> Path:
    """A fresh clone of the module's repository, so each test changes its own working tree."""
    clone = tmp_path / "clone"
    git(base_repo, "clone", "-q", str(base_repo), str(clone))
    return clone


def edit_model(repo: Path, environment: str, model: str, **changes: Any) -> None:
    path = repo / f"Pulumi.{environment}.yaml"
    data = yaml.safe_load(path.read_text())
    (entry,) = [m for m in data["config"]["mlstack:models"] if m["name"] == model]
    entry.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def change_lines(output: str) -> list[str]:
    """The report part of a text diff: change headers and their field lines."""
    report = output.split("\n--- ", 1)[0]
    return [line for line in report.splitlines()[2:] if line.strip()]


def test_no_change_reports_none_and_exits_zero(repo: Path) -> None:
    result = invoke("diff", "staging", "--base", "main", "--exit-code", "--project", repo)
    assert result.exit_code == 0, result.stderr
    commit = git(repo, "rev-parse", "main")
    assert result.stdout == (
        f"mlstack diff staging: base main ({commit[:12]}) -> working tree\nno changes\n"
    )


def test_hpa_maximum_change_is_reported_as_that_field_of_that_resource(repo: Path) -> None:
    edit_model(repo, "staging", "iris", overrides={"replicas": {"max": 9}})
    result = invoke("diff", "staging", "--base", "main", "--exit-code", "--project", repo)
    assert result.exit_code == 1, result.stderr
    assert change_lines(result.stdout) == [
        "~ kubernetes:autoscaling/v2:HorizontalPodAutoscaler mlstack-iris-hpa",
        "  kubernetes/61-horizontalpodautoscaler.ml-serving.iris.yaml",
        "    spec.maxReplicas: 6 -> 9",
    ]
    assert "-  maxReplicas: 6\n+  maxReplicas: 9\n" in result.stdout


def test_swarm_replica_change_is_reported_as_that_field_of_that_service(repo: Path) -> None:
    edit_model(repo, "dev", "iris", overrides={"swarm": {"replicas": 3}})
    result = invoke("diff", "dev", "--base", "main", "--project", repo)
    assert result.exit_code == 0, result.stderr  # differences only fail with --exit-code
    lines = change_lines(result.stdout)
    assert lines[0].startswith("~ docker:index/service:Service ")
    assert lines[1].startswith("  swarm/service.")
    # The convergence wait grows with the replicas a rolling update has to replace.
    assert lines[2:] == [
        "    convergeConfig.timeout: 11m40s -> 16m45s",
        "    mode.replicated.replicas: 2 -> 3",
    ]
    assert result.stdout.splitlines()[1] == "1 changed, 0 added, 0 removed"


def test_base_is_rendered_with_its_own_components(repo: Path) -> None:
    labels = repo / "components" / "labels.py"
    original = labels.read_text()
    labels.write_text(original.replace('PART_OF = "mlstack"', 'PART_OF = "mlstack-before"'))
    git(repo, "commit", "-qam", "older label")
    labels.write_text(original)
    git(repo, "commit", "-qam", "current label")
    result = invoke("diff", "staging", "--base", "HEAD~1", "--project", repo)
    assert result.exit_code == 0, result.stderr
    field = '    metadata.labels["app.kubernetes.io/part-of"]: mlstack-before -> mlstack'
    assert field in change_lines(result.stdout)
    assert "~ kubernetes:apps/v1:Deployment mlstack-iris-deployment" in result.stdout


def test_markdown_fits_a_pull_request_comment(repo: Path) -> None:
    edit_model(repo, "dev", "iris", overrides={"swarm": {"replicas": 3}})
    result = invoke("diff", "dev", "--base", "main", "--format", "markdown", "--project", repo)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("<!-- mlstack-diff:dev -->\n### `dev`: 1 changed, 0 added, 0 removed\n")
    assert "| ~ | <code>docker:index/service:Service " in text
    assert "<code>mode.replicated.replicas</code>: <code>2</code> → <code>3</code>" in text
    assert "<details><summary>Unified diff (" in text
    assert "```diff\n--- a/swarm/service." in text
    assert text.rstrip().endswith("</details>")


def test_a_stack_the_change_adds_is_all_added(repo: Path) -> None:
    created = invoke(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small",
        "--model", "name=iris,framework=sklearn,artifact=examples/iris/iris.joblib,version=1.0.0",
        "--project", repo,
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    result = invoke("diff", "qa", "--base", "main", "--project", repo)
    assert result.exit_code == 0, result.stderr
    summary = result.stdout.splitlines()[1]
    assert summary.startswith("0 changed, ")
    assert summary.endswith(" added, 0 removed")
    assert all(line[0] in "+ " for line in change_lines(result.stdout))


def test_unknown_stack_in_both_revisions(repo: Path) -> None:
    result = invoke("diff", "qa", "--base", "main", "--project", repo)
    assert result.exit_code == 2
    assert "unknown stack 'qa'" in result.stderr
    assert "known: dev, prod, staging" in result.stderr


def test_bad_git_ref_is_one_clear_error(repo: Path) -> None:
    result = invoke("diff", "staging", "--base", "no-such-branch", "--project", repo)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"--base no-such-branch: no such commit in the repository of {repo}"
    )


def test_outside_a_git_repository(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml"):
        (plain / name).write_text((repo / name).read_text())
    result = invoke("diff", "staging", "--base", "main", "--project", plain)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"--base main: {plain} is no git repo")


def test_a_base_that_fails_to_render_says_which_revision(repo: Path) -> None:
    stack = repo / "Pulumi.staging.yaml"
    good = stack.read_text()
    stack.write_text(good.replace("mlstack:size: medium", "mlstack:size: huge"))
    git(repo, "commit", "-qam", "broken size")
    stack.write_text(good)
    result = invoke("diff", "staging", "--base", "HEAD", "--project", repo)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("rendering staging at HEAD (")
    assert lines[0].endswith(") failed:")
    assert any("mlstack:size: unknown size preset (got huge)" in line for line in lines)
