"""`mlstack new-stack`: the stack files are generated from the template, validated first."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from mlstack.components.settings import Framework, load_settings
from tests.support.cli_support import invoke
from tests.support.harness import PROJECT_DIR, STACKS

IRIS = "name=iris,framework=sklearn,artifact=examples/iris/iris.joblib,version=1.0.0"


# The CLI (and the program it records) puts project directories on sys.path.
pytestmark = pytest.mark.usefixtures("isolated_sys_path")


def regenerate_command(stack_file: Path) -> list[str]:
    """The command a generated stack file names in its header comment."""
    lines = stack_file.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#   mlstack new-stack "))
    command = []
    for line in lines[start:]:
        text = line.removeprefix("#").strip()
        command.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            break
    words = shlex.split(" ".join(command))
    assert words[:2] == ["mlstack", "new-stack"]
    return words[1:]


@pytest.mark.parametrize("environment", STACKS)
def test_new_stack_reproduces_each_stack_file_byte_for_byte(
    environment: str, project: Path
) -> None:
    committed = (PROJECT_DIR / f"Pulumi.{environment}.yaml").read_bytes()
    (project / f"Pulumi.{environment}.yaml").unlink()
    result = invoke(
        *regenerate_command(PROJECT_DIR / f"Pulumi.{environment}.yaml"), "--project", project
    )
    assert result.exit_code == 0, result.stderr
    assert (project / f"Pulumi.{environment}.yaml").read_bytes() == committed


def test_generated_file_is_commented_yaml_the_settings_model_accepts(project: Path) -> None:
    result = invoke(
        "new-stack", "qa", "--orchestrator", "kubernetes", "--size", "medium",
        "--model", IRIS, "--namespace", "qa-models", "--registry", "ghcr.io/acme/models",
        "--push", "--project", project,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = (project / "Pulumi.qa.yaml").read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert "# Where the models are served: kubernetes or swarm." in text
    config = yaml.safe_load(text)["config"]
    settings = load_settings(
        {key.removeprefix("mlstack:"): value for key, value in config.items()},
        environment="qa",
        project_dir=project,
    )
    assert settings.kubernetes.namespace == "qa-models"
    assert [model.name for model in settings.models] == ["iris"]


def test_values_yaml_would_misread_are_quoted(project: Path) -> None:
    result = invoke(
        "new-stack", "qa", "--orchestrator", "kubernetes", "--size", "small",
        "--model", IRIS.replace("version=1.0.0", "version=1.10"),
        "--override", "verticalAutoscaling.updateMode=Off",
        "--override", "replicas.max=4",
        "--registry", "ghcr.io/acme/models", "--push",
        "--project", project,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = (project / "Pulumi.qa.yaml").read_text(encoding="utf-8")
    assert 'updateMode: "Off"' in text
    assert 'version: "1.10"' in text
    config = yaml.safe_load(text)["config"]
    assert config["mlstack:overrides"] == {
        "verticalAutoscaling": {"updateMode": "Off"},
        "replicas": {"max": 4},
    }
    assert config["mlstack:models"][0]["version"] == "1.10"


def test_existing_stack_file_is_refused_without_force(project: Path) -> None:
    before = (project / "Pulumi.dev.yaml").read_bytes()
    args = ["new-stack", "dev", "--orchestrator", "swarm", "--size", "small", "--model", IRIS]
    result = invoke(*args, "--project", project)
    assert result.exit_code == 2
    assert "Pulumi.dev.yaml already exists; pass --force to replace it" in result.stderr
    assert (project / "Pulumi.dev.yaml").read_bytes() == before
    forced = invoke(*args, "--force", "--yes", "--project", project)
    assert forced.exit_code == 0, forced.stderr
    assert (project / "Pulumi.dev.yaml").read_bytes() != before


def test_force_never_drops_hand_edits_silently(project: Path) -> None:
    stack_file = project / "Pulumi.dev.yaml"
    text = stack_file.read_text(encoding="utf-8")
    text = text.replace("      publishedPort: 8080\n", "      publishedPort: 8080\n      env:\n"
                        "        LOG_LEVEL: debug  # hand edit\n")  # fmt: skip
    text = text.replace("config:\n", "# Owned by the serving team.\nconfig:\n")
    text += "    network:\n      encrypted: true\n"
    stack_file.write_text(text, encoding="utf-8")
    command = regenerate_command(PROJECT_DIR / "Pulumi.dev.yaml")
    refused = invoke(*command, "--force", "--project", project)
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        "Pulumi.dev.yaml: --force would lose what the new file does not hold:",
        "  drop mlstack:models[0].env.LOG_LEVEL: debug",
        "  drop mlstack:swarm.network.encrypted: true",
        "  drop comment: # Owned by the serving team.",
        "Nothing was written. Put these in the command (--set KEY=VALUE, --override, "
        "--description) or pass --yes to replace the file anyway.",
    ]
    assert stack_file.read_text(encoding="utf-8") == text
    # Said in the command, nothing is lost: no confirmation needed.
    same = invoke(*command, "--set", "swarm.network.encrypted=true", "--force", "--project",
                  project)  # fmt: skip
    assert same.exit_code == 2
    assert "drop mlstack:swarm.network.encrypted" not in same.stderr
    replaced = invoke(*command, "--force", "--yes", "--project", project)
    assert replaced.exit_code == 0, replaced.stderr
    assert "  drop mlstack:swarm.network.encrypted: true" in replaced.stderr
    assert stack_file.read_bytes() == (PROJECT_DIR / "Pulumi.dev.yaml").read_bytes()
    # A changed option is shown too: its old value was in the file.
    changed = invoke(*[("medium" if word == "small" else word) for word in command], "--force",
                     "--project", project)  # fmt: skip
    assert changed.exit_code == 2
    assert "  change mlstack:size: small -> medium" in changed.stderr.splitlines()


def test_invalid_config_prints_the_settings_lines_and_writes_nothing(project: Path) -> None:
    framework = invoke(
        "new-stack", "qa", "--orchestrator", "kubernetes", "--size", "medium",
        "--model", IRIS.replace("sklearn", "tensorflow"), "--project", project,
    )  # fmt: skip
    assert framework.exit_code == 2
    assert framework.stderr.splitlines() == [
        "--model iris, framework (mlstack:models[0].framework in Pulumi.qa.yaml): value not "
        "allowed (got tensorflow); allowed: sklearn, onnx, xgboost, lightgbm or mlflow",
        "nothing was written",
    ]
    size = invoke(
        "new-stack", "qa", "--orchestrator", "kubernetes", "--size", "huge",
        "--model", IRIS, "--project", project,
    )  # fmt: skip
    assert size.exit_code == 2
    assert (
        "--size (mlstack:size in Pulumi.qa.yaml): unknown size preset (got huge); "
        "allowed: gpu, large, medium, small"
    ) in size.stderr.splitlines()
    assert not (project / "Pulumi.qa.yaml").exists()


def test_a_kubernetes_stack_without_a_registry_it_pushes_to_is_refused(project: Path) -> None:
    result = invoke(
        "new-stack", "qa", "--orchestrator", "kubernetes", "--size", "medium",
        "--model", IRIS, "--project", project,
    )  # fmt: skip
    assert result.exit_code == 2
    assert (
        "--registry (mlstack:image.registry in Pulumi.qa.yaml): a Kubernetes stack needs a registry"
    ) in result.stderr
    unpushed = invoke(
        "new-stack", "qa", "--orchestrator", "kubernetes", "--size", "medium",
        "--model", IRIS, "--registry", "ghcr.io/acme/models", "--project", project,
    )  # fmt: skip
    assert unpushed.exit_code == 2
    assert (
        "--push (mlstack:image.push in Pulumi.qa.yaml): a Kubernetes stack must push its images"
    ) in unpushed.stderr
    assert not (project / "Pulumi.qa.yaml").exists()


def test_missing_artifact_is_refused(project: Path) -> None:
    result = invoke(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small",
        "--model", IRIS.replace("iris.joblib", "missing.joblib"), "--project", project,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "(mlstack:models[0].artifact in Pulumi.qa.yaml): model file not found" in result.stderr


def test_secrets_never_go_into_a_stack_file(project: Path) -> None:
    result = invoke(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small", "--model", IRIS,
        "--set", "secrets.iris.token=hunter2", "--project", project,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "secrets never go into a stack file" in result.stderr
    assert (
        "pulumi config set --secret --stack qa --path 'mlstack:secrets.iris.token'"
    ) in result.stderr
    assert "(the value is read from stdin: typed at the prompt, or < FILE)" in result.stderr
    assert "Pulumi stores secrets encrypted in the stack file" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert not (project / "Pulumi.qa.yaml").exists()


def test_a_registry_login_is_written_and_its_password_left_to_pulumi(project: Path) -> None:
    result = invoke(
        "new-stack", "qa", "--orchestrator", "kubernetes", "--size", "medium", "--model", IRIS,
        "--registry", "ghcr.io/acme/ml", "--push", "--set", "image.registryUsername=acme-ci",
        "--project", project,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (
        "set its secret: pulumi config set --secret --stack qa mlstack:registryPassword  "
        "(the value is read from stdin: typed at the prompt, or < FILE)"
    ) in result.stdout.splitlines()
    config = yaml.safe_load((project / "Pulumi.qa.yaml").read_text(encoding="utf-8"))["config"]
    assert config["mlstack:image"]["registryUsername"] == "acme-ci"
    assert "mlstack:registryPassword" not in config


def test_force_keeps_the_encrypted_values_pulumi_wrote(project: Path) -> None:
    stack_file = project / "Pulumi.dev.yaml"
    encrypted = {
        "mlstack:registryPassword": {"secure": "v1:AAAA:passwordciphertext"},
        "mlstack:secrets": {"iris": {"api-token": {"secure": "v1:BBBB:tokenciphertext"}}},
    }
    with stack_file.open("a", encoding="utf-8") as file:  # what `pulumi config set --secret` adds
        for key, value in encrypted.items():
            file.write(f"  {key}: {yaml.safe_dump(value, default_flow_style=True).strip()}\n")
        file.write("encryptionsalt: v1:c2FsdA==:v1:salt\n")
        file.write("secretsprovider: awskms://alias/mlstack\nencryptedkey: AQICAHh0ZXN0\n")
    result = invoke(*regenerate_command(stack_file), "--force", "--project", project)
    assert result.exit_code == 0, result.stderr
    assert "set its secret" not in result.stdout
    written = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    assert written["encryptionsalt"] == "v1:c2FsdA==:v1:salt"
    assert written["secretsprovider"] == "awskms://alias/mlstack"
    assert written["encryptedkey"] == "AQICAHh0ZXN0"
    for key, value in encrypted.items():
        assert written["config"][key] == value


def test_options_of_the_other_orchestrator_are_refused(project: Path) -> None:
    result = invoke(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small", "--model", IRIS,
        "--namespace", "models", "--project", project,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--namespace does not apply to --orchestrator swarm" in result.stderr


def test_set_reaches_any_key_and_validation_names_unknown_ones(project: Path) -> None:
    ok = invoke(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small", "--model", IRIS,
        "--set", "swarm.network.encrypted=true",
        "--set", 'swarm.placementConstraints=["node.role==worker"]',
        "--project", project,
    )  # fmt: skip
    assert ok.exit_code == 0, ok.stderr
    config = yaml.safe_load((project / "Pulumi.qa.yaml").read_text())["config"]
    assert config["mlstack:swarm"] == {
        "network": {"encrypted": True},
        "placementConstraints": ["node.role==worker"],
    }
    typo = invoke(
        "new-stack", "qa2", "--orchestrator", "swarm", "--size", "small", "--model", IRIS,
        "--set", "swarm.endpointMod=dnsrr", "--project", project,
    )  # fmt: skip
    assert typo.exit_code == 2
    assert "(mlstack:swarm.endpointMod in Pulumi.qa2.yaml): unknown key" in typo.stderr


def test_bad_stack_name_and_malformed_model_are_refused(project: Path) -> None:
    bad_name = invoke(
        "new-stack", "../escape", "--orchestrator", "swarm", "--size", "small", "--model", IRIS,
        "--project", project,
    )  # fmt: skip
    assert bad_name.exit_code == 2
    assert "invalid stack name '../escape'" in bad_name.stderr
    malformed = invoke(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small", "--model", "iris",
        "--project", project,
    )  # fmt: skip
    assert malformed.exit_code == 2
    assert "--model 'iris': expected KEY=VALUE" in malformed.stderr


def test_outside_a_project_the_error_says_so(tmp_path: Path) -> None:
    result = invoke(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small", "--model", IRIS,
        "--project", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Pulumi.yaml: not found" in result.stderr


def test_new_stack_offers_the_xgboost_lightgbm_and_mlflow_frameworks(project: Path) -> None:
    models = [
        "name=iris-xgb,framework=xgboost,artifact=examples/xgboost/iris.ubj,version=1.0.0",
        "name=iris-lgbm,framework=lightgbm,artifact=examples/lightgbm/iris.txt,version=1.0.0",
        "name=iris-mlflow,framework=mlflow,artifact=examples/mlflow/iris,version=1.0.0",
    ]
    result = invoke(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small",
        *(word for model in models for word in ("--model", model)), "--project", project,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    written = yaml.safe_load((project / "Pulumi.qa.yaml").read_text())["config"]
    assert [m["framework"] for m in written["mlstack:models"]] == ["xgboost", "lightgbm", "mlflow"]
    refused = invoke(
        "new-stack", "qa2", "--orchestrator", "swarm", "--size", "small",
        "--model", "name=m,framework=mlflow,artifact=examples/xgboost,version=1",
        "--project", project,
    )  # fmt: skip
    assert refused.exit_code == 2
    assert (
        "--model m, artifact (mlstack:models[0].artifact in Pulumi.qa2.yaml): wrong file for "
        "framework mlflow: no MLmodel file (an MLflow model directory holds one) "
        "(got examples/xgboost)"
    ) in refused.stderr
    help_text = invoke("new-stack", "--help").stdout
    words = set(re.findall(r"[a-z]+", help_text))
    assert {framework.value for framework in Framework} <= words, help_text
