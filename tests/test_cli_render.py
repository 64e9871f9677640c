"""`mlstack render`: one deterministic document per resource, complete manifests, masked secrets."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from mlstack import render as rendering
from mlstack.offline import RecordedResource, Recording, Secret
from tests.support.cli_support import copy_project, invoke
from tests.support.harness import PROJECT_DIR, STACKS, recorded_in, run_stack

CLUSTER_SCOPED = {"Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding"}


# The CLI (and the program it records) puts project directories on sys.path; the stacks are the
# checked-in ones, in a copy of the project (conftest.in_checkout).
pytestmark = pytest.mark.usefixtures("isolated_sys_path", "in_checkout")


def render_tree(environment: str, out: Path, project: Path | None = None) -> dict[str, bytes]:
    """`mlstack render` of `project` (default: the working directory, a copy of this one)."""
    result = invoke("render", environment, "--out", out, "--project", project or Path.cwd())
    assert result.exit_code == 0, result.stderr
    assert f"to {out}" in result.stdout
    return {
        path.relative_to(out).as_posix(): path.read_bytes()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_kubernetes_manifests_are_complete_and_valid(environment: str, tmp_path: Path) -> None:
    tree = render_tree(environment, tmp_path / "out")
    manifests = {path: data for path, data in tree.items() if path.startswith("kubernetes/")}
    assert manifests
    for path, data in manifests.items():
        documents = list(yaml.safe_load_all(data))
        assert len(documents) == 1, path
        manifest = documents[0]
        assert manifest["apiVersion"], path
        assert manifest["kind"], path
        assert manifest["metadata"]["name"], path
        if manifest["kind"] not in CLUSTER_SCOPED:
            assert manifest["metadata"]["namespace"], path
        for version in ("1.30", latest_version()):
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                assert "." in manifest["apiVersion"].split("/")[0], path  # only custom resources
    # kubectl applies a directory in file-name order: the namespace before what lives in it
    assert sorted(manifests)[0].startswith("kubernetes/00-namespace.")


def test_swarm_and_image_files_of_the_dev_stack(tmp_path: Path) -> None:
    tree = render_tree("dev", tmp_path / "out")
    assert any(re.fullmatch(r"swarm/network\.mlstack-dev-[0-9a-f]{8}\.yaml", p) for p in tree)
    assert any(path.startswith("swarm/service.") for path in tree)
    build = yaml.safe_load(tree["image/iris/build.yaml"])
    assert build["imageName"].split(":")[0].endswith("/iris")
    # the Dockerfile the build uses, read from the recorded build settings
    assert build["build"]["dockerfile"] == ".mlstack/build/dev/iris/Dockerfile"
    assert tree["image/iris/Dockerfile"] == (Path.cwd() / build["build"]["dockerfile"]).read_bytes()
    assert b"\nFROM " in tree["image/iris/Dockerfile"]
    assert not any(path.startswith("kubernetes/") for path in tree)
    assert b"# resource: docker:index/service:Service" in next(
        data for path, data in tree.items() if path.startswith("swarm/service.")
    )


@pytest.mark.parametrize("environment", STACKS)
def test_render_is_deterministic_and_independent_of_the_checkout(
    environment: str, tmp_path: Path
) -> None:
    first = render_tree(environment, tmp_path / "first")
    second = render_tree(environment, tmp_path / "second")
    elsewhere = render_tree(environment, tmp_path / "third", copy_project(tmp_path / "copy"))
    assert first == second == elsewhere
    assert b"/tmp/" not in b"".join(elsewhere.values())  # no absolute path of the checkout


def test_rendering_again_replaces_the_earlier_render(tmp_path: Path) -> None:
    out = tmp_path / "out"
    render_tree("staging", out)
    stale = out / "kubernetes" / "99-stale.yaml"
    stale.write_text("kind: Stale\n")
    render_tree("staging", out)
    assert not stale.exists()


def test_a_directory_that_is_not_a_render_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    result = invoke("render", "staging", "--out", out)
    assert result.exit_code == 2
    assert "directory is not empty and holds no earlier render" in result.stderr
    assert (out / "notes.txt").read_text() == "keep me\n"


def test_secrets_are_masked_in_rendered_files() -> None:
    recording = run_stack(
        "staging",
        secret_config={
            "mlstack:secrets": {"iris": {"api-token": "s3cr3t-token-value"}},
            "mlstack:registryPassword": "s3cr3t-registry-password",
        },
    )
    files = rendering.render(recording, recorded_in(recording)).files
    text = "".join(files.values())
    assert "s3cr3t" not in text
    secret = next(
        yaml.safe_load(t) for p, t in files.items() if p.startswith("kubernetes/21-secret")
    )
    assert secret["stringData"] == {"api-token": "[secret]"}  # the file name shows, not the value


def test_masking_covers_every_secret_input() -> None:
    resource = RecordedResource(
        type="kubernetes:core/v1:Secret",
        name="mlstack-iris-secret",
        urn="urn:pulumi:qa::mlstack::kubernetes:core/v1:Secret::mlstack-iris-secret",
        parent=None,
        custom=True,
        provider=None,
        inputs={
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "iris", "namespace": "ml"},
            "stringData": Secret({"token": "s3cr3t"}),
            "data": {"other": Secret("czNjcjN0")},
        },
    )
    files = rendering.render(Recording("mlstack", "qa", (resource,), {}), PROJECT_DIR).files
    secret = yaml.safe_load(files["kubernetes/21-secret.ml.iris.yaml"])
    assert secret["stringData"] == {"token": "[secret]"}
    assert secret["data"] == {"other": "[secret]"}


def test_encrypted_stack_values_never_show(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    stack = project / "Pulumi.staging.yaml"
    stack.write_text(
        stack.read_text()
        + "  mlstack:secrets:\n    iris:\n      api-token:\n        secure: AAABAJ3ciphertext\n"
    )
    tree = render_tree("staging", tmp_path / "out", project)
    text = b"".join(tree.values())
    assert b"AAABAJ3ciphertext" not in text
    assert b"not decrypted offline" not in text


def test_unknown_stack_lists_the_known_ones(tmp_path: Path) -> None:
    result = invoke("render", "qa", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"unknown stack 'qa': no Pulumi.qa.yaml in {Path.cwd()}; known: dev, prod, staging"
    )
    assert not (tmp_path / "out").exists()


def test_invalid_stack_config_prints_each_problem(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    stack = project / "Pulumi.staging.yaml"
    stack.write_text(
        stack.read_text().replace("mlstack:size: medium", "mlstack:size: huge")
        + "  mlstack:overrides:\n    replicas:\n      max: 0\n"
    )
    result = invoke("render", "staging", "--out", tmp_path / "out", "--project", project)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "mlstack: 2 invalid settings; nothing was declared:"
    assert lines[1].startswith("Pulumi.staging.yaml: mlstack:size: unknown size preset (got huge)")
    assert lines[2].startswith("Pulumi.staging.yaml: mlstack:overrides.replicas.max: ")
    assert "Traceback" not in result.stderr


def test_reference_prints_checks_and_writes_the_generated_blocks(tmp_path: Path) -> None:
    from mlstack.reference import BEGIN, reference_markdown
    from mlstack.sizes import BEGIN as SIZES_BEGIN

    printed = invoke("reference")
    assert printed.exit_code == 0
    assert printed.stdout == reference_markdown() + "\n"
    assert invoke("reference", "--check").exit_code == 0
    project = copy_project(tmp_path / "project")
    reference = project / "docs" / "config-reference.md"
    readme = project / "README.md"
    reference.write_text(reference.read_text().replace("| `mlstack:size` |", "| `mlstack:sise` |"))
    readme.write_text(readme.read_text().replace("| `small` |", "| `smol` |"))
    stale = invoke("reference", "--check", "--project", project)
    assert stale.exit_code == 1
    assert f"{reference}: generated block is out of date" in stale.stdout
    assert f"{readme}: generated block is out of date" in stale.stdout
    written = invoke("reference", "--write", "--project", project)
    assert written.exit_code == 0
    assert f"{reference}: updated" in written.stdout
    assert f"{readme}: updated" in written.stdout
    assert reference.read_text() == (PROJECT_DIR / "docs" / "config-reference.md").read_text()
    assert readme.read_text() == (PROJECT_DIR / "README.md").read_text()
    assert BEGIN in reference.read_text()
    assert SIZES_BEGIN in readme.read_text()
    readme.write_text("# no generated block here\n")
    missing = invoke("reference", "--check", "--project", project)
    assert missing.exit_code == 2
    assert f"{readme}: no generated block" in missing.stderr
