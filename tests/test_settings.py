"""Settings: presets + overrides resolve to typed values; bad input fails early and clearly.

Bad configs run through the real program (the offline harness) so the tests also show that a
stack with invalid settings declares nothing at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlstack.components.settings import Orchestrator, SettingsError, load_settings
from mlstack.components.settings.quantities import (
    byte_count,
    cpu_millis,
    duration_seconds,
    nano_cpus,
)
from tests.support.harness import PROJECT_DIR, settings_error

# Kubernetes stacks push their images (the nodes pull them from the registry).
PUSHED = {"registry": "registry.example.com/ml", "push": True}
IRIS = {
    "name": "iris",
    "framework": "sklearn",
    "artifact": "examples/iris/iris.joblib",
    "version": "1.0.0",
}


def load(**config: object):
    raw = {
        "orchestrator": "kubernetes",
        "size": "medium",
        "models": [IRIS],
        "image": PUSHED,
        **config,
    }
    return load_settings(raw, environment="staging", project_dir=PROJECT_DIR)


def problems(**config: object) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load(**config)
    return info.value.problems


# --- resolution ---------------------------------------------------------------------------------


def test_preset_values_reach_the_model() -> None:
    settings = load()
    size = settings.models[0].size
    assert settings.orchestrator is Orchestrator.KUBERNETES
    assert (size.replicas.min, size.replicas.max) == (2, 6)
    assert size.resources.memory.limit == "1Gi"
    assert settings.models[0].size_name == "medium"


def test_stack_overrides_patch_only_the_keys_they_name() -> None:
    size = load(overrides={"replicas": {"max": 9}}).models[0].size
    assert (size.replicas.min, size.replicas.max) == (2, 9)
    assert size.autoscaling.cpu_utilization == 70  # untouched preset value


def test_model_size_and_overrides_win_over_the_stack() -> None:
    model = {**IRIS, "size": "large", "overrides": {"replicas": {"min": 4}}}
    settings = load(models=[model], overrides={"replicas": {"min": 3, "max": 12}})
    size = settings.models[0].size
    assert settings.models[0].size_name == "large"
    assert (size.replicas.min, size.replicas.max) == (4, 12)
    assert settings.size.replicas.min == 3  # the stack's own size keeps the stack override


def test_lists_in_overrides_replace_the_preset_list() -> None:
    policy = {"type": "Pods", "value": 9, "periodSeconds": 30}
    size = load(overrides={"autoscaling": {"scaleUp": {"policies": [policy]}}}).models[0].size
    assert [p.value for p in size.autoscaling.scale_up.policies] == [9]


def test_values_arrive_as_json_text_from_the_engine() -> None:
    settings = load(models=json.dumps([IRIS]), image=json.dumps(PUSHED))
    assert settings.models[0].name == "iris"
    assert settings.image.push is True


def test_swarm_models_get_distinct_host_ports_in_order() -> None:
    second = {**IRIS, "name": "iris-2"}
    raw = {"orchestrator": "swarm", "size": "small", "models": [IRIS, second]}
    settings = load_settings(raw, environment="dev", project_dir=PROJECT_DIR)
    assert [m.published_port for m in settings.models] == [8080, 8081]


def test_quantities_convert_exactly() -> None:
    assert cpu_millis("250m") == 250
    assert cpu_millis("1.5") == 1500
    assert nano_cpus("500m") == 500_000_000
    assert byte_count("512Mi") == 512 * 2**20
    assert byte_count("1G") == 10**9
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("1.5h") == 5400  # as Go's time.ParseDuration reads it
    for bad in ("-1m", "500ms", "10", " 10m", ""):
        with pytest.raises(ValueError, match="duration such as 30s"):
            duration_seconds(bad)
    for bad in ("1.0005", "-1", "0", "one", ""):
        with pytest.raises(ValueError, match="CPU quantity"):
            cpu_millis(bad)
    for bad in ("1.5Ki5", "12Qb", "0Mi", "0.5"):
        with pytest.raises(ValueError, match="byte quantity"):
            byte_count(bad)


# --- bad input: each case fails with one line naming file, key, value and what is allowed -------

BAD_CONFIGS = [
    pytest.param(
        {"orchestrator": "nomad"},
        "Pulumi.staging.yaml: mlstack:orchestrator: value not allowed (got nomad); "
        "allowed: kubernetes or swarm",
        id="unknown-orchestrator",
    ),
    pytest.param(
        {"size": "huge"},
        "Pulumi.staging.yaml: mlstack:size: unknown size preset (got huge); "
        "allowed: gpu, large, medium, small",
        id="unknown-size",
    ),
    pytest.param(
        {"models": [{**IRIS, "size": "xl"}]},
        "Pulumi.staging.yaml: mlstack:models[0].size: unknown size preset (got xl); "
        "allowed: gpu, large, medium, small",
        id="unknown-model-size",
    ),
    pytest.param(
        {"overrides": {"replicas": {"min": 0}}},
        "Pulumi.staging.yaml: mlstack:overrides.replicas.min: out of range (got 0); "
        "allowed: a number >= 1",
        id="zero-replicas",
    ),
    pytest.param(
        {"overrides": {"swarm": {"replicas": -2}}},
        "Pulumi.staging.yaml: mlstack:overrides.swarm.replicas: out of range (got -2); "
        "allowed: a number >= 1",
        id="negative-replicas",
    ),
    pytest.param(
        {"overrides": {"replicas": {"min": 8}}},
        "Pulumi.staging.yaml: mlstack:overrides.replicas.min: replicas.min exceeds replicas.max "
        "(got 8); allowed: an integer from 1 to replicas.max = 6",
        id="min-above-max",
    ),
    pytest.param(
        {"overrides": {"clusterAutoscaling": {"nodeGroup": {"min": 11}}}},
        "Pulumi.staging.yaml: mlstack:overrides.clusterAutoscaling.nodeGroup.min: "
        "clusterAutoscaling.nodeGroup.min exceeds clusterAutoscaling.nodeGroup.max (got 11); "
        "allowed: an integer from 0 to 10",
        id="node-group-min-above-max",
    ),
    pytest.param(
        {"overrides": {"resources": {"cpu": {"request": "2 cores"}}}},
        "Pulumi.staging.yaml: mlstack:overrides.resources.cpu.request: malformed value "
        "(got 2 cores); allowed: a CPU quantity such as 250m, 1 or 1.5",
        id="malformed-cpu",
    ),
    pytest.param(
        {"overrides": {"resources": {"memory": {"limit": "1GB"}}}},
        "Pulumi.staging.yaml: mlstack:overrides.resources.memory.limit: malformed value "
        "(got 1GB); allowed: a byte quantity such as 512Mi, 2Gi or 1G",
        id="malformed-memory",
    ),
    pytest.param(
        {"models": [{**IRIS, "overrides": {"resources": {"memory": {"request": "4Gi"}}}}]},
        "Pulumi.staging.yaml: mlstack:models[0].overrides.resources.memory.request: the memory "
        "request exceeds resources.memory.limit (got 4Gi); "
        "allowed: at most resources.memory.limit = 1Gi",
        id="request-above-limit",
    ),
    pytest.param(
        {"replicas": 3},
        'Pulumi.staging.yaml: mlstack:replicas: unknown key (got "3"); '
        "allowed: keys orchestrator, size, models, overrides, image, kubernetes, swarm, "
        "secrets, registryPassword",
        id="unknown-top-level-key",
    ),
    pytest.param(
        {"overrides": {"autoscaling": {"cpuTarget": 50}}},
        "Pulumi.staging.yaml: mlstack:overrides.autoscaling.cpuTarget: unknown key (got 50); "
        "allowed: keys cpuUtilization, memoryUtilization, podsMetric, scaleUp, scaleDown",
        id="unknown-nested-key",
    ),
    pytest.param(
        {"models": [IRIS, {**IRIS, "framework": "onnx"}]},
        "Pulumi.staging.yaml: mlstack:models[1].name: duplicate model name (models[0] has it) "
        "(got iris); allowed: a name no other model uses",
        id="duplicate-model-name",
    ),
    pytest.param(
        {"models": [{**IRIS, "name": "Iris_Classifier"}]},
        "Pulumi.staging.yaml: mlstack:models[0].name: malformed value (got Iris_Classifier); "
        "allowed: a DNS label: lowercase letters, digits and '-', starting with a letter, "
        "ending with a letter or digit, at most 40 characters",
        id="model-name-not-dns",
    ),
    pytest.param(
        {"models": [{**IRIS, "framework": "pytorch"}]},
        "Pulumi.staging.yaml: mlstack:models[0].framework: value not allowed (got pytorch); "
        "allowed: sklearn, onnx, xgboost, lightgbm or mlflow",
        id="unknown-framework",
    ),
    pytest.param(
        {"models": [{**IRIS, "artifact": "examples/iris/missing.joblib"}]},
        "Pulumi.staging.yaml: mlstack:models[0].artifact: model file not found "
        "(got examples/iris/missing.joblib)",
        id="missing-artifact",
    ),
    pytest.param(
        {"models": []},
        "Pulumi.staging.yaml: mlstack:models: too few items (got []); allowed: at least 1",
        id="no-models",
    ),
    pytest.param(
        {"overrides": {"verticalAutoscaling": {"controlledResources": ["cpu", "memory"]}}},
        "Pulumi.staging.yaml: mlstack:overrides.verticalAutoscaling.controlledResources: the VPA "
        "would control cpu, which the HPA scales on (HPA and VPA must never act on the same "
        "resource) (got [cpu, memory]); allowed: controlledResources [memory], or "
        "verticalAutoscaling.updateMode 'Off' (recommendations only)",
        id="vpa-and-hpa-on-cpu",
    ),
    pytest.param(
        {"image": {"baseImage": "python:latest"}},
        "Pulumi.staging.yaml: mlstack:image.baseImage: malformed value (got python:latest); "
        "allowed: a pinned image: a tag other than 'latest', or a @sha256 digest",
        id="unpinned-base-image",
    ),
    pytest.param(
        {"image": {"push": True}},
        "Pulumi.staging.yaml: mlstack:image.push: pushing needs a registry (got true); "
        "allowed: false, or set mlstack:image.registry",
        id="push-without-registry",
    ),
    pytest.param(
        {"kubernetes": {"clusterAutoscaler": {"enabled": True}}},
        "Pulumi.staging.yaml: mlstack:kubernetes.clusterAutoscaler.nodeGroup: the "
        "cluster-autoscaler needs the node group it scales (not set)",
        id="autoscaler-without-node-group",
    ),
    pytest.param(
        {"models": [{**IRIS, "env": {"PORT": "9000", "LOG_LEVEL": "info"}}]},
        "Pulumi.staging.yaml: mlstack:models[0].env.PORT: set by mlstack itself (the model "
        'server contract) (got "9000"); allowed: any name but MODEL_NAME, MODEL_VERSION, '
        "MODEL_PATH, PORT, GRACEFUL_TIMEOUT",
        id="reserved-env",
    ),
    pytest.param(
        {"models": "[{name: iris"},
        'Pulumi.staging.yaml: mlstack:models: expected structured YAML (got "[{name: iris"); '
        "allowed: a YAML mapping or list",
        id="models-not-structured",
    ),
]


@pytest.mark.parametrize(("config", "expected"), BAD_CONFIGS)
def test_bad_config_fails_with_a_clear_line_and_declares_nothing(
    config: dict[str, object], expected: str
) -> None:
    message, declared = settings_error("staging", **config)
    assert expected in message.splitlines()[1:] or any(
        line.startswith(expected) for line in message.splitlines()
    ), message
    assert declared == (), f"declared {[r.name for r in declared]} despite invalid settings"


def test_all_problems_are_reported_at_once() -> None:
    found = problems(orchestrator="nomad", models=[{**IRIS, "framework": "pytorch"}])
    assert [line.split(": ")[1] for line in found] == [
        "mlstack:orchestrator",
        "mlstack:models[0].framework",
    ]


def test_a_bad_preset_value_names_the_preset_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlstack import stacks
    from mlstack.components.settings import presets

    medium = presets.load_preset("medium")
    medium["autoscaling"]["cpuUtilization"] = 150
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(medium))
    monkeypatch.setattr(stacks, "PRESETS_DIR", tmp_path)
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    presets._load.cache_clear()
    try:
        found = problems(size="tiny")
    finally:
        presets._load.cache_clear()
    assert (
        "stacks/presets/tiny.yaml: autoscaling.cpuUtilization: out of range (got 150); "
        "allowed: a number <= 100" in found
    )


def test_secret_values_never_appear_in_errors() -> None:
    found = problems(secrets={"iris": {"token": 12345}}, registryPassword=["hunter2"])
    joined = "\n".join(found)
    assert "12345" not in joined
    assert "hunter2" not in joined
    assert any(
        line.startswith(
            "Pulumi.staging.yaml: mlstack:secrets.iris.token: YAML read this unquoted value as a "
            "number (got [secret]); allowed: text: write it in quotes"
        )
        for line in found
    ), found
