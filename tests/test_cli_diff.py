"""`mlstack diff`: the base revision rendered from its own checkout, compared with the working
tree resource by resource (by URN), as `pulumi preview --diff` would plan the change.

Each replacement-table entry a stack setting can reach is driven here by a real edit of a
stack file; tests/test_diff_table.py covers every entry on recorded resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlstack import diff as diffing
from mlstack.revision import render_checkout
from tests.support.cli_support import git, git_project, invoke

# The CLI (and the program it records) puts project directories on sys.path.
# Slow: every test clones the project into a git repository and renders it twice (base, head).
pytestmark = [pytest.mark.usefixtures("isolated_sys_path"), pytest.mark.slow]


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return git_project(tmp_path_factory.mktemp("diff") / "repo")


@pytest.fixture
def repo(base_repo: Path, tmp_path: Path) -> Path:
    """A fresh clone of the module's repository, so each test changes its own working tree."""
    clone = tmp_path / "clone"
    git(base_repo, "clone", "-q", str(base_repo), str(clone))
    return clone


def edit_config(repo: Path, environment: str, settings: dict[str, Any]) -> None:
    """Merge `settings` (keys without the mlstack: namespace) into the stack file's config."""
    path = repo / f"Pulumi.{environment}.yaml"
    data = yaml.safe_load(path.read_text())
    config = data["config"]
    for key, value in settings.items():
        name = f"mlstack:{key}"
        config[name] = _merged(config.get(name), value)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _merged(current: Any, value: Any) -> Any:
    if isinstance(current, dict) and isinstance(value, dict) and "secure" not in value:
        return {**current, **{k: _merged(current.get(k), v) for k, v in value.items()}}
    return value


def edit_model(repo: Path, environment: str, model: str, **changes: Any) -> None:
    path = repo / f"Pulumi.{environment}.yaml"
    data = yaml.safe_load(path.read_text())
    (entry,) = [m for m in data["config"]["mlstack:models"] if m["name"] == model]
    entry.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def report(output: str) -> str:
    """The text report without the unified diff."""
    return output.split("\n--- ", 1)[0]


def entries(output: str) -> dict[str, list[str]]:
    """'<symbol> <type> <name>: <action>' header -> its indented lines."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in report(output).splitlines():
        if line[:1] in "+-~=" and " " in line and ": " in line and not line.startswith("---"):
            current = found.setdefault(line, [])
        elif line.startswith("  ") and current is not None:
            current.append(line)
        else:
            current = []
    return found


def test_no_change_reports_none_and_exits_zero(repo: Path) -> None:
    result = invoke("diff", "staging", "--base", "main", "--exit-code", "--project", repo)
    assert result.exit_code == 0, result.stderr
    commit = git(repo, "rev-parse", "main")
    assert result.stdout == (
        f"mlstack diff staging: base main ({commit[:12]}) -> working tree\nno changes\n"
    )


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_the_same_commit_from_two_checkouts_is_no_change(
    environment: str, base_repo: Path, tmp_path: Path
) -> None:
    """Nothing of where the project is checked out reaches the plan: not the build context,
    not the Dockerfile path, not a URN. Both checkouts render in fresh interpreters."""
    first, second = tmp_path / "one", tmp_path / "elsewhere" / "two"
    git(base_repo, "worktree", "add", "-q", "--detach", str(first), "main")
    git(base_repo, "clone", "-q", str(base_repo), str(second))
    try:
        one = render_checkout(first, environment, "one")
        two = render_checkout(second, environment, "two")
    finally:
        git(base_repo, "worktree", "remove", "--force", str(first))
    result = diffing.compare(environment, "one", one, two)
    assert result.unified == "", result.unified[:2000]
    assert not result.has_changes, [c.title for c in result.changes]
    assert one.files == two.files
    assert str(tmp_path) not in "".join(one.files.values()) + "".join(two.files.values())


@dataclass(frozen=True)
class Case:
    id: str
    environment: str
    change: dict[str, Any]  # mlstack: settings merged into the stack file
    expected: dict[str, tuple[str, str]]  # resource name -> (action, first forcing field)
    base: dict[str, Any] = field(default_factory=dict)  # committed before the change


REGISTRY = {
    "image": {"registry": "registry.example.com/ml", "push": True, "registryUsername": "ci"}
}
PASSWORD = {"registryPassword": {"secure": "v1:cipher-one"}}
SECRET = {"secrets": {"iris": {"token": {"secure": "v1:token-one"}}}}

# Every entry of components/replacements.py a stack setting reaches (type: path).
REACHED = [
    Case(
        "Namespace metadata.name, namespaced metadata.namespace",
        "staging",
        {"kubernetes": {"namespace": "ml-other"}},
        {
            "mlstack-kubernetes-namespace": ("replace", "metadata.name"),
            "mlstack-iris-deployment": ("replace", "metadata.namespace"),
            "mlstack-iris-service": ("replace", "metadata.namespace"),
            "mlstack-iris-hpa": ("replace", "metadata.namespace"),
            "mlstack-iris-pdb": ("replace", "metadata.namespace"),
            "mlstack-iris-vpa": ("replace", "metadata.namespace"),
            "mlstack-iris-service-account": ("replace", "metadata.namespace"),
            "mlstack-iris-network-policy": ("replace", "metadata.namespace"),
        },
    ),
    Case(
        "PriorityClass value",
        "staging",
        {"kubernetes": {"priorityClass": {"value": 200000}}},
        {"mlstack-kubernetes-priority-class": ("replace", "value")},
    ),
    Case(
        "PriorityClass metadata.name",
        "staging",
        {"kubernetes": {"priorityClass": {"name": "ml-serving-high"}}},
        {
            "mlstack-kubernetes-priority-class": ("replace", "metadata.name"),
            "mlstack-iris-deployment": ("update", ""),  # its pods name the new class
        },
    ),
    Case(
        "Kubernetes provider context",
        "staging",
        {"kubernetes": {"context": "other-cluster"}},
        {
            "mlstack-kubernetes-provider": ("replace", "context"),
            "mlstack-iris-deployment": ("replace", ""),  # every resource of the provider
        },
    ),
    Case(
        "Kubernetes provider kubeconfig",
        "staging",
        {"kubernetes": {"kubeconfig": "/etc/kubeconfig-other"}},
        {"mlstack-kubernetes-provider": ("replace", "kubeconfig")},
    ),
    Case(
        "cluster-autoscaler metadata.namespace (ServiceAccount, Role, RoleBinding, Deployment)",
        "prod",
        {"kubernetes": {"clusterAutoscaler": {"namespace": "autoscaling"}}},
        {
            "mlstack-kubernetes-cluster-autoscaler-service-account": (
                "replace",
                "metadata.namespace",
            ),
            "mlstack-kubernetes-cluster-autoscaler-role": ("replace", "metadata.namespace"),
            "mlstack-kubernetes-cluster-autoscaler-role-binding": (
                "replace",
                "metadata.namespace",
            ),
            "mlstack-kubernetes-cluster-autoscaler-deployment": (
                "replace",
                "metadata.namespace",
            ),
        },
    ),
    Case(
        "Kubernetes Secret stringData (a rotated registry password)",
        "staging",
        {"registryPassword": {"secure": "v1:cipher-two"}},
        {"mlstack-kubernetes-registry-secret": ("replace", 'stringData[".dockerconfigjson"]')},
        base={**REGISTRY, **PASSWORD},
    ),
    Case(
        "Kubernetes Secret stringData (a rotated model secret)",
        "staging",
        {"secrets": {"iris": {"token": {"secure": "v1:token-two"}}}},
        {"mlstack-iris-secrets": ("replace", "stringData.token")},
        base=SECRET,
    ),
    Case(
        "Swarm Network options",
        "dev",
        {"swarm": {"network": {"encrypted": True}}},
        {
            # a new name (a hash of its settings), so it is created beside the old one
            "mlstack-swarm-network": ("replace", "name"),
            "mlstack-iris-service": ("replace", "taskSpec.networksAdvanceds[0].id"),
        },
    ),
    Case(
        "Swarm Network name",
        "dev",
        {"swarm": {"network": {"name": "serving"}}},
        {
            "mlstack-swarm-network": ("replace", "name"),
            "mlstack-proxy-service": ("replace", "taskSpec.networksAdvanceds[0].id"),
        },
    ),
    Case(
        "Swarm Service mode.global (proxy: host to ingress publishing)",
        "dev",
        {"swarm": {"publishMode": "ingress"}},
        {"mlstack-proxy-service": ("replace", "mode.global")},
    ),
    Case(
        "Swarm Service auth (registry user)",
        "dev",
        {"image": {"registryUsername": "deployer"}},
        {"mlstack-iris-service": ("replace", "auth.username")},
        base={**REGISTRY, **PASSWORD},
    ),
    Case(
        "Swarm Service auth (a rotated registry password)",
        "dev",
        {"registryPassword": {"secure": "v1:cipher-two"}},
        {
            "mlstack-iris-service": ("replace", "auth.password"),
            "mlstack-proxy-service": ("replace", "auth.password"),
        },
        base={**REGISTRY, **PASSWORD},
    ),
    Case(
        "Swarm Secret name and data (a rotated model secret)",
        "dev",
        {"secrets": {"iris": {"token": {"secure": "v1:token-two"}}}},
        {
            "mlstack-iris-secret-token": ("replace", "data"),
            "mlstack-iris-service": ("update", ""),  # mounts the new secret: a rolling update
        },
        base=SECRET,
    ),
]


@pytest.mark.parametrize("case", REACHED, ids=[case.id for case in REACHED])
def test_a_setting_that_reaches_a_replace_field_shows_a_replacement(case: Case, repo: Path) -> None:
    if case.base:
        edit_config(repo, case.environment, case.base)
        git(repo, "commit", "-qam", "base settings")
    edit_config(repo, case.environment, case.change)
    result = invoke("diff", case.environment, "--base", "HEAD", "--exit-code", "--project", repo)
    assert result.exit_code == 1, result.stderr
    found = entries(result.stdout)
    for name, (action, forcing) in case.expected.items():
        (header,) = [h for h in found if h.split(": ")[0].endswith(f" {name}")]
        assert header.split(": ", 1)[1].startswith(action), (name, header)
        if forcing:
            forcing_lines = [line for line in found[header] if "[forces replacement" in line]
            assert forcing_lines, (name, found[header])
            assert forcing_lines[0].strip().startswith(f"{forcing}: "), (name, forcing_lines)
    summary = result.stdout.splitlines()[1]
    assert summary.endswith(" 0 to add, 0 to remove; " + summary.rsplit("; ", 1)[1])


def test_a_namespace_change_replaces_and_adds_or_removes_nothing(repo: Path) -> None:
    edit_config(repo, "staging", {"kubernetes": {"namespace": "ml-other"}})
    result = invoke("diff", "staging", "--base", "main", "--project", repo)
    assert result.exit_code == 0, result.stderr
    summary = result.stdout.splitlines()[1]
    assert summary.startswith("17 to replace, 1 to update, 0 to add, 0 to remove; ")
    assert "\n+ " not in report(result.stdout)
    assert "\n- " not in report(result.stdout)
    # Created in the new namespace before the old objects go: no outage, and nothing collides.
    assert "Replaced, created before the old one is deleted (17):" in result.stdout
    assert "Replaced, deleted first" not in result.stdout
    # The unified diff pairs each resource's files across the path change.
    assert (
        "--- a/kubernetes/51-deployment.ml-serving.iris.yaml\n"
        "+++ b/kubernetes/51-deployment.ml-other.iris.yaml\n"
    ) in result.stdout


MUTABLE = [
    ("HPA maxReplicas", "staging", "iris", {"overrides": {"replicas": {"max": 9}}}),
    ("Swarm replicas", "dev", "iris", {"overrides": {"swarm": {"replicas": 3}}}),
    (
        "Deployment memory",
        "staging",
        "iris",
        {"overrides": {"resources": {"memory": {"limit": "2Gi"}}}},
    ),
    ("Swarm memory", "dev", "iris", {"overrides": {"resources": {"memory": {"limit": "1Gi"}}}}),
]


@pytest.mark.parametrize(
    ("environment", "model", "change"),
    [case[1:] for case in MUTABLE],
    ids=[case[0] for case in MUTABLE],
)
def test_a_change_to_mutable_fields_only_is_an_update(
    environment: str, model: str, change: dict[str, Any], repo: Path
) -> None:
    edit_model(repo, environment, model, **change)
    result = invoke("diff", environment, "--base", "main", "--exit-code", "--project", repo)
    assert result.exit_code == 1, result.stderr
    summary = result.stdout.splitlines()[1]
    assert summary.startswith("0 to replace, "), summary
    assert "[forces replacement" not in result.stdout


def test_hpa_maximum_change_is_that_field_of_that_resource(repo: Path) -> None:
    edit_model(repo, "staging", "iris", overrides={"replicas": {"max": 9}})
    result = invoke("diff", "staging", "--base", "main", "--project", repo)
    assert entries(result.stdout) == {
        "~ kubernetes:autoscaling/v2:HorizontalPodAutoscaler mlstack-iris-hpa: update": [
            "  kubernetes/61-horizontalpodautoscaler.ml-serving.iris.yaml",
            "    spec.maxReplicas: 6 -> 9",
        ]
    }
    assert result.stdout.splitlines()[1] == (
        "0 to replace, 1 to update, 0 to add, 0 to remove; 28 unchanged"
    )
    assert "-  maxReplicas: 6\n+  maxReplicas: 9\n" in result.stdout


def test_swarm_memory_rolls_out_and_reads_in_units(repo: Path) -> None:
    edit_model(repo, "dev", "iris", overrides={"resources": {"memory": {"limit": "1Gi"}}})
    result = invoke("diff", "dev", "--base", "main", "--project", repo)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2] == "Rolls out (1): Swarm service dev-iris (task template changed)"
    assert "    taskSpec.resources.limits.memoryBytes: 512Mi -> 1Gi" in lines


def test_base_is_rendered_with_its_own_components(repo: Path) -> None:
    labels = repo / "components" / "labels.py"
    original = labels.read_text()
    labels.write_text(original.replace('PART_OF = "mlstack"', 'PART_OF = "mlstack-before"'))
    git(repo, "commit", "-qam", "older label")
    labels.write_text(original)
    git(repo, "commit", "-qam", "current label")
    result = invoke("diff", "staging", "--base", "HEAD~1", "--project", repo)
    assert result.exit_code == 0, result.stderr
    # PART_OF labels every object mlstack declares (components/labels.ownership_labels), so the
    # headroom placeholders roll out too.
    rolls_out = next(line for line in result.stdout.splitlines() if line.startswith("Rolls out"))
    assert rolls_out.startswith("Rolls out (3): Deployment ml-serving/iris-onnx (pod template")
    assert "Deployment ml-serving/mlstack-headroom (pod template changed)" in rolls_out
    field = (
        '    spec.template.metadata.labels["app.kubernetes.io/part-of"]: mlstack-before -> mlstack'
    )
    assert field in report(result.stdout).splitlines()
    # Resources whose own labels are all that changed fold into one line per model.
    assert "Labels only, iris (" in result.stdout
    assert "app.kubernetes.io/part-of: mlstack-before -> mlstack" in result.stdout


def test_a_committed_link_out_of_the_repository_does_not_stop_the_diff(repo: Path) -> None:
    """A link such as a committed `venv -> /opt/venvs/ml` cannot be extracted safely into the
    base checkout (tarfile's data filter refuses it): it is left out, not a traceback."""
    (repo / "venv-link").symlink_to("/usr")
    (repo / "escaping-link").symlink_to("../../outside")
    git(repo, "add", "venv-link", "escaping-link")
    git(repo, "commit", "-qm", "links out of the repository")
    edit_config(repo, "dev", {"swarm": {"network": {"encrypted": True}}})
    result = invoke("diff", "dev", "--base", "HEAD", "--project", repo)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("3 to replace"), result.stdout


def test_markdown_fits_a_pull_request_comment(repo: Path) -> None:
    edit_config(repo, "dev", {"swarm": {"network": {"encrypted": True}}})
    result = invoke("diff", "dev", "--base", "main", "--format", "markdown", "--project", repo)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("<!-- mlstack-diff:dev -->\n### `dev`: 3 to replace")
    assert "- **Rolls out (2):** Swarm service dev-iris (replaced)" in text
    assert re.search(r"\| \+- \| <code>Swarm network mlstack-dev-[0-9a-f]{8}</code>", text)
    assert "Replaced, created before the old one is deleted (1)" in text  # the network
    assert "<code>options.encrypted</code>: <code>(absent)</code> → <code>&#x27;true&#x27;</code>"
    assert "**forces replacement**" in text
    assert "<details><summary>Unified diff (" in text
    assert re.search(r"```diff\n--- a/swarm/network\.mlstack-dev-[0-9a-f]{8}\.yaml", text)
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
    assert summary.startswith("0 to replace, 0 to update, ")
    assert summary.endswith(" to add, 0 to remove; 0 unchanged")
    assert all(header.startswith("+ ") for header in entries(result.stdout))


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
