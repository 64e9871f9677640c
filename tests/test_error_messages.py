"""Errors that say how to fix them (issue 17, item 3): each bullet, through the commands a user
runs (new-stack, validate) on a copy of the project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlstack.components.settings.errors import shown
from tests.support.cli_support import invoke

IRIS = "name=iris,framework=sklearn,artifact=examples/iris/iris.joblib,version=1.0.0"
SWARM_NO_IPVS = ("--endpoint-mode", "dnsrr", "--publish-mode", "host", "--proxy")
MODEL_LINES = """  mlstack:models:
    - name: iris
      framework: sklearn
      artifact: examples/iris/iris.joblib
"""


# The CLI (and the program it records) puts project directories on sys.path.
pytestmark = pytest.mark.usefixtures("isolated_sys_path")


def new_stack(project: Path, *args: str) -> tuple[int, list[str]]:
    result = invoke("new-stack", "qa", "--model", IRIS, *args, "--project", project)
    return result.exit_code, result.stderr.splitlines()


def validate(project: Path, text: str) -> tuple[int, list[str]]:
    (project / "Pulumi.qa.yaml").write_text(text)
    result = invoke("validate", "qa", "--project", project)
    return result.exit_code, result.stderr.splitlines()


def test_an_override_is_named_not_the_preset(project: Path) -> None:
    code, lines = new_stack(
        project, "--orchestrator", "kubernetes", "--size", "large", "--override", "replicas.max=2",
        "--registry", "ghcr.io/acme/models", "--push",
    )  # fmt: skip
    assert code == 2
    assert lines == [
        "--override replicas.max (mlstack:overrides.replicas.max in Pulumi.qa.yaml): "
        "replicas.max is below replicas.min = 3 (from stacks/presets/large.yaml) (got 2); "
        "allowed: an integer from 3 up, or lower replicas.min too",
        "nothing was written",
    ]
    assert not any("stacks/presets/large.yaml:" in line for line in lines)


def test_the_same_in_a_stack_file_names_its_key(project: Path) -> None:
    code, lines = validate(
        project,
        "config:\n  mlstack:orchestrator: kubernetes\n  mlstack:size: large\n"
        + MODEL_LINES
        + '      version: "1"\n  mlstack:overrides:\n    replicas: {max: 2}\n',
    )
    assert code == 2
    assert lines[1].startswith(
        "Pulumi.qa.yaml: mlstack:overrides.replicas.max: replicas.max is below replicas.min = 3"
    )


def test_a_yaml_syntax_error_names_the_file_and_line(project: Path) -> None:
    code, lines = validate(project, "config:\n  mlstack:orchestrator: swarm\n   mlstack:size: x\n")
    assert code == 2
    assert lines == ["Pulumi.qa.yaml:3:16: not valid YAML: mapping values are not allowed here"]
    assert "<unicode string>" not in " ".join(lines)


def test_a_missing_config_wrapper_is_said_once(project: Path) -> None:
    code, lines = validate(
        project, "mlstack:orchestrator: swarm\nmlstack:size: small\nmlstack:models: []\n"
    )
    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith(
        "Pulumi.qa.yaml: mlstack:orchestrator, mlstack:size, mlstack:models are at the top "
        "level, but Pulumi reads a stack's settings only under `config:`"
    )


def test_an_unquoted_version_read_as_a_number_says_to_quote_it(project: Path) -> None:
    code, lines = validate(
        project,
        "config:\n  mlstack:orchestrator: swarm\n  mlstack:size: small\n"
        + MODEL_LINES
        + "      version: 1.10\n",
    )
    assert code == 2
    assert lines[1] == (
        "Pulumi.qa.yaml: mlstack:models[0].version: YAML read this unquoted value as a number "
        '(got 1.1); allowed: text: write it in quotes, e.g. version: "1.10" (unquoted, YAML '
        "reads 1.10 as 1.1)"
    )


def test_values_show_as_written_and_patterns_in_words(project: Path) -> None:
    code, lines = new_stack(
        project, "--orchestrator", "swarm", "--size", "small", *SWARM_NO_IPVS,
        "--set", "image.push=true",
    )  # fmt: skip
    assert code == 2
    assert "pushing needs a registry (got true)" in lines[0]
    assert "True" not in lines[0]
    code, lines = new_stack(
        project, "--orchestrator", "swarm", "--size", "small", *SWARM_NO_IPVS,
        "--set", "swarm.spreadOver=node.hostname",
    )  # fmt: skip
    text = "\n".join(lines)
    assert "True" not in text
    assert "allowed: node.labels.NAME or engine.labels.NAME" in text
    assert not re.search(r"\^|\$|\\\.|\[A-Z", text), text
    assert [shown(v) for v in (True, None, "1.10", "swarm", ["cpu"])] == [
        "true", "null", '"1.10"', "swarm", "[cpu]"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("--override", "resources.memory.limit=1G", "--override",
          "resources.memory.request=1Gi"), "(1G counts in powers of 1000, so it is less than "
         "1Gi; did you mean 1Gi?)"),
        (("--override", "replica.max=3"), "unknown key (did you mean replicas?)"),
        (("--set", "swarm.endpointmode=dnsrr"), "unknown key (did you mean endpointMode?)"),
        (("--set", "image.platform=Linux/amd64"), "malformed value"),
    ],
)  # fmt: skip
def test_near_misses_get_a_hint(project: Path, args: tuple[str, ...], hint: str) -> None:
    code, lines = new_stack(project, "--orchestrator", "swarm", "--size", "small",
                            *SWARM_NO_IPVS, *args)  # fmt: skip
    assert code == 2
    assert hint in lines[0], lines


def test_an_unknown_size_suggests_the_preset(project: Path) -> None:
    code, lines = new_stack(project, "--orchestrator", "swarm", "--size", "smal", *SWARM_NO_IPVS)
    assert code == 2
    assert "unknown size preset (did you mean small?) (got smal)" in lines[0]


def test_the_other_orchestrators_keys_are_reported(project: Path) -> None:
    code, lines = new_stack(
        project, "--orchestrator", "swarm", "--size", "small", *SWARM_NO_IPVS,
        "--set", "kubernetes.namespace=models",
    )  # fmt: skip
    assert code == 2
    assert lines[0] == (
        "--set kubernetes.namespace (mlstack:kubernetes in Pulumi.qa.yaml): only a kubernetes "
        "stack reads it; this stack's orchestrator is swarm (got {namespace: models}); "
        "allowed: remove it, or set mlstack:orchestrator to kubernetes"
    )
    code, lines = validate(
        project,
        "config:\n  mlstack:orchestrator: kubernetes\n  mlstack:size: small\n"
        + MODEL_LINES
        + '      version: "1"\n      publishedPort: 9000\n'
        + "  mlstack:image: {registry: ghcr.io/acme/models, push: true}\n"
        + "  mlstack:swarm:\n    proxy: {enabled: true}\n",
    )
    assert code == 2
    assert sorted(line.split(": only")[0] for line in lines[1:]) == [
        "Pulumi.qa.yaml: mlstack:models[0].publishedPort",
        "Pulumi.qa.yaml: mlstack:swarm",
    ]


@pytest.mark.parametrize("value", ["yes", "on", "1", "True "])
def test_a_boolean_must_be_true_or_false(project: Path, value: str) -> None:
    code, lines = new_stack(
        project, "--orchestrator", "swarm", "--size", "small", "--endpoint-mode", "dnsrr",
        "--publish-mode", "host", "--set", f"swarm.proxy.enabled={value}",
    )  # fmt: skip
    assert code == 2
    assert lines[0].startswith(
        "--set swarm.proxy.enabled (mlstack:swarm.proxy.enabled in Pulumi.qa.yaml): wrong type"
    )
    assert lines[0].endswith("allowed: true or false")


def test_yes_in_a_stack_file_is_text_as_pulumi_reads_it(project: Path) -> None:
    code, lines = validate(
        project,
        "config:\n  mlstack:orchestrator: swarm\n  mlstack:size: small\n"
        + MODEL_LINES
        + '      version: "1"\n  mlstack:swarm:\n    endpointMode: dnsrr\n'
        "    publishMode: host\n    proxy:\n      enabled: yes\n",
    )
    assert code == 2
    assert lines[1] == (
        'Pulumi.qa.yaml: mlstack:swarm.proxy.enabled: wrong type (got "yes"); '
        "allowed: true or false"
    )


def test_a_secret_looking_env_entry_gets_a_hint(project: Path) -> None:
    code, lines = new_stack(
        project, "--orchestrator", "swarm", "--size", "small", *SWARM_NO_IPVS,
        "--model", "name=other,framework=sklearn,artifact=examples/iris/iris.joblib,"
        "version=1,env.DB_PASSWORD=x,env.HF_TOKEN=y,env.LOG_LEVEL=info",
    )  # fmt: skip
    assert code == 0, lines
    warned = [line for line in lines if line.startswith("warning: ")]
    assert [line.split(": ")[2] for line in warned] == [
        "mlstack:models[1].env.DB_PASSWORD",
        "mlstack:models[1].env.HF_TOKEN",
    ]
    assert (
        "pulumi config set --secret --stack qa --path 'mlstack:secrets.other.hf_token' "
        "(the value is read from stdin: typed at the prompt, or < FILE)"
    ) in warned[1]
    result = invoke("validate", "qa", "--project", project)
    assert result.exit_code == 0
    assert result.stderr.count("warning: Pulumi.qa.yaml: mlstack:models[1].env.") == 2
