"""Stack config (the `mlstack:` namespace) -> validated StackSettings, or every problem at once.

Nothing here touches Pulumi resources, so a stack with bad settings declares nothing: the program
calls this first, and the CLI calls it to check generated stack files.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import Problem, SettingsError, missing, pattern_text
from .image_rules import artifact_problems, gpu_problems, image_problems
from .invariants import check_size, check_swarm
from .presets import (
    available_sizes,
    deep_merge,
    defines,
    load_preset,
    preset_label,
)
from .secret_advice import STDIN_NOTE, config_stack, set_secret_command
from .server_image import model_image_problems
from .size import Size
from .stack import (
    REFERENCE_HEALTH_PATH,
    REFERENCE_READY_PATH,
    RESERVED_ENV,
    ModelConfig,
    Orchestrator,
    ServedModel,
    StackConfig,
    StackSettings,
)

NAMESPACE = "mlstack"
SECRET_KEYS = frozenset({"secrets", "registryPassword"})
FIRST_PUBLISHED_PORT = 8080

Loc = tuple[str | int, ...]


def stack_file_name(environment: str) -> str:
    return f"Pulumi.{environment}.yaml"


def load_settings(
    raw: Mapping[str, Any], *, environment: str, project_dir: Path, source: str | None = None
) -> StackSettings:
    """Validate the `mlstack:` keys of one stack (namespace stripped) and resolve every size.

    Values may be Python objects or, as the Pulumi engine passes them, JSON text.
    """
    source = source or stack_file_name(environment)
    decoded, problems = _decode(raw, source)
    if problems:
        raise SettingsError(problems)
    try:
        config = StackConfig.model_validate(decoded)
    except ValidationError as error:
        raise SettingsError(
            _translate(error, StackConfig, lambda loc: (source, f"{NAMESPACE}:{_dotted(loc)}"))
        ) from None

    problems = []
    models = []
    sizes = available_sizes()
    stack_size = None
    if config.size not in sizes:
        problems.append(
            Problem(
                source, f"{NAMESPACE}:size",
                "unknown size preset" + did_you_mean(config.size, sizes), ", ".join(sizes),
                config.size,
            )
        )  # fmt: skip
    else:
        stack_size = _resolve_size(config.size, [(config.overrides, "overrides")], source, problems)
    for index, model in enumerate(config.models):
        resolved = _resolve_model(config, index, model, sizes, source, problems)
        if resolved is not None:
            models.append(resolved)
    problems += _check_stack(config, project_dir, source)
    problems += _other_orchestrator_keys(config, source)
    problems += gpu_problems(config, models, source)
    if problems or stack_size is None:
        raise SettingsError(problems)
    return StackSettings(
        environment=environment,
        source=source,
        project_dir=project_dir,
        orchestrator=config.orchestrator,
        size_name=config.size,
        size=stack_size,
        models=tuple(models),
        image=config.image,
        kubernetes=config.kubernetes,
        swarm=config.swarm,
        secrets=config.secrets,
        registry_password=config.registry_password,
        warnings=tuple(_secret_looking_env(config, source)),
    )


def _decode(raw: Mapping[str, Any], source: str) -> tuple[dict[str, Any], list[Problem]]:
    """JSON text for structured keys -> Python values (the engine passes objects as JSON)."""
    structured = {
        field.alias or name
        for name, field in StackConfig.model_fields.items()
        if name not in ("orchestrator", "size", "registry_password")
    }
    decoded: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in raw.items():
        if key in structured and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                problems.append(
                    Problem(
                        source, f"{NAMESPACE}:{key}", "expected structured YAML",
                        "a YAML mapping or list", value, secret=key in SECRET_KEYS,
                    )
                )  # fmt: skip
                continue
        decoded[key] = value
    return decoded, problems


def _resolve_model(
    config: StackConfig,
    index: int,
    model: ModelConfig,
    sizes: Sequence[str],
    source: str,
    problems: list[Problem],
) -> ServedModel | None:
    size_name = model.size or config.size
    if model.size is not None and model.size not in sizes:
        problems.append(
            Problem(
                source, f"{NAMESPACE}:models[{index}].size",
                "unknown size preset" + did_you_mean(model.size, sizes), ", ".join(sizes),
                model.size,
            )
        )  # fmt: skip
        return None
    if size_name not in sizes:
        return None  # already reported against mlstack:size

    size = _resolve_size(
        size_name,
        [(config.overrides, "overrides"), (model.overrides, f"models[{index}].overrides")],
        source,
        problems,
    )
    if size is None:
        return None
    return ServedModel(
        name=model.name,
        framework=model.framework,
        artifact=Path(model.artifact) if model.artifact is not None else None,
        version=model.version,
        size_name=size_name,
        size=size,
        env=dict(model.env),
        port=model.port,
        published_port=model.published_port or FIRST_PUBLISHED_PORT + index,
        startup_timeout_seconds=model.startup_timeout_seconds,
        secret_files=tuple(sorted(config.secrets.get(model.name, {}))),
        image=model.image,
        health_path=model.health_path or REFERENCE_HEALTH_PATH,
        ready_path=model.ready_path or REFERENCE_READY_PATH,
        healthcheck=tuple(model.healthcheck) if model.healthcheck is not None else None,
    )


def _resolve_size(
    size_name: str,
    patches: Sequence[tuple[Mapping[str, Any], str]],
    source: str,
    problems: list[Problem],
) -> Size | None:
    """Preset + overrides (later patches win) -> Size; problems name whoever set the bad value."""

    def origin(loc: Loc) -> tuple[str, str]:
        for patch, key in reversed(patches):
            if defines(patch, loc):
                return source, f"{NAMESPACE}:{key}.{_dotted(loc)}"
        return preset_label(size_name), _dotted(loc)

    merged = load_preset(size_name)
    for patch, _ in patches:
        merged = deep_merge(merged, patch)
    try:
        size = Size.model_validate(merged)
    except ValidationError as error:
        problems += _translate(error, Size, origin)
        return None
    findings = check_size(size)
    for finding in findings:
        file, key = origin(finding.path)
        other = finding.counterpart
        if other is not None and file != source and origin(other.path)[0] == source:
            # The preset's value stands; the user's override of the other key broke the rule.
            file, key = origin(other.path)
            reason = f"{other.reason} (from {preset_label(size_name)})"
            problems.append(Problem(file, key, reason, other.allowed, other.value))
            continue
        problems.append(Problem(file, key, finding.reason, finding.allowed, finding.value))
    return None if findings else size


def _check_stack(config: StackConfig, project_dir: Path, source: str) -> list[Problem]:
    """Rules across models and sections of the stack file."""
    problems: list[Problem] = []
    key = f"{NAMESPACE}:"
    seen: dict[str, int] = {}
    ports: dict[int, int] = {}
    for index, model in enumerate(config.models):
        if model.name in seen:
            problems.append(
                Problem(
                    source, f"{key}models[{index}].name",
                    f"duplicate model name (models[{seen[model.name]}] has it)",
                    "a name no other model uses", model.name,
                )
            )  # fmt: skip
        seen.setdefault(model.name, index)
        for variable in sorted(set(model.env) & set(RESERVED_ENV)):
            problems.append(
                Problem(
                    source, f"{key}models[{index}].env.{variable}",
                    "set by mlstack itself (the model server contract)",
                    f"any name but {', '.join(RESERVED_ENV)}", model.env[variable],
                )
            )  # fmt: skip
        problems += model_image_problems(index, model, config.orchestrator, source)
        problems += artifact_problems(index, model, project_dir, source)
        port = model.published_port or FIRST_PUBLISHED_PORT + index
        if config.orchestrator is Orchestrator.SWARM and port in ports:
            problems.append(
                Problem(
                    source, f"{key}models[{index}].publishedPort",
                    f"host port already published by models[{ports[port]}]",
                    "a port no other model publishes", port,
                )
            )  # fmt: skip
        ports.setdefault(port, index)

    for model_name, files in config.secrets.items():
        if model_name not in seen:
            problems.append(
                Problem(
                    source, f"{key}secrets.{model_name}", "secrets for an unknown model",
                    ", ".join(seen) or "a model name", sorted(files),
                )
            )  # fmt: skip
        for file_name in files:
            if not _is_file_name(file_name):
                problems.append(
                    Problem(
                        source, f"{key}secrets.{model_name}", "invalid secret file name",
                        "letters, digits, '.', '_' and '-' (no '/')", file_name,
                    )
                )  # fmt: skip

    problems += image_problems(config, project_dir, source)
    if config.orchestrator is Orchestrator.SWARM:
        names = [model.name for model in config.models]
        for finding in check_swarm(config.swarm, names):
            problems.append(
                Problem(
                    source, f"{key}{_dotted(finding.path)}", finding.reason, finding.allowed,
                    finding.value,
                )
            )  # fmt: skip
    autoscaler = config.kubernetes.cluster_autoscaler
    if (
        config.orchestrator is Orchestrator.KUBERNETES
        and autoscaler.enabled
        and not autoscaler.node_group
    ):
        problems.append(
            Problem(
                source, f"{key}kubernetes.clusterAutoscaler.nodeGroup",
                "the cluster-autoscaler needs the node group it scales",
                "the cloud node group's name (e.g. an AWS Auto Scaling group)", missing(),
            )
        )  # fmt: skip
    return problems


# Keys that only one orchestrator reads: left in a stack of the other, they would do nothing.
_ORCHESTRATOR_SECTIONS = {Orchestrator.KUBERNETES: "kubernetes", Orchestrator.SWARM: "swarm"}
# Field -> (key, what Kubernetes does instead).
_SWARM_MODEL_KEYS = {
    "published_port": ("publishedPort", "a Kubernetes Service publishes the model"),
    "healthcheck": ("healthcheck", "the kubelet probes healthPath and readyPath over HTTP"),
}


def _other_orchestrator_keys(config: StackConfig, source: str) -> list[Problem]:
    orchestrator = config.orchestrator
    problems = []
    for other, section in _ORCHESTRATOR_SECTIONS.items():
        if other is not orchestrator and section in config.model_fields_set:
            problems.append(
                Problem(
                    source, f"{NAMESPACE}:{section}",
                    f"only a {other.value} stack reads it; this stack's orchestrator is "
                    f"{orchestrator.value}",
                    f"remove it, or set {NAMESPACE}:orchestrator to {other.value}",
                    getattr(config, section).model_dump(by_alias=True, exclude_unset=True),
                )
            )  # fmt: skip
    if orchestrator is not Orchestrator.SWARM:
        for index, model in enumerate(config.models):
            for field, (key, instead) in _SWARM_MODEL_KEYS.items():
                if field in model.model_fields_set:
                    problems.append(
                        Problem(
                            source, f"{NAMESPACE}:models[{index}].{key}",
                            f"only a swarm stack reads it; this stack's orchestrator is "
                            f"{orchestrator.value}",
                            f"remove it ({instead})", getattr(model, field),
                        )
                    )  # fmt: skip
    return problems


# Names of environment variables that usually hold credentials.
_SECRET_NAME = re.compile(
    r"(^|_)(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE_?KEY|ACCESS_?KEY)(_|$)"
    r"|PASSWORD",
    re.IGNORECASE,
)


def _secret_looking_env(config: StackConfig, source: str) -> list[str]:
    """A hint (not an error: the name may mislead) for plain env entries named like secrets,
    which the stack file holds in plain text and the orchestrator shows in the task spec."""
    hints = []
    for index, model in enumerate(config.models):
        for variable in sorted(model.env):
            if _SECRET_NAME.search(variable):
                hints.append(
                    f"{source}: {NAMESPACE}:models[{index}].env.{variable}: the name looks like a "
                    "secret, but env values sit in plain text in the stack file and the "
                    f"deployed spec; make it a file of {NAMESPACE}:secrets instead (mounted at "
                    f"/run/secrets/{variable.lower()}): "
                    + set_secret_command(
                        f"secrets.{model.name}.{variable.lower()}", config_stack(source)
                    )
                    + f" ({STDIN_NOTE})"
                )
    return hints


def _is_file_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and all(c.isalnum() or c in "._-" for c in name)


def _translate(error: ValidationError, root: type[BaseModel], origin: Any) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc: Loc = tuple(item["loc"])
        file, key = origin(loc)
        reason, allowed = _explain(item, root)
        value = missing() if item["type"] == "missing" else item.get("input")
        secret = bool(loc) and loc[0] in SECRET_KEYS
        problems.append(Problem(file, key, reason, allowed, value, secret=secret))
    return problems


_TYPE_NAMES = {
    "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "an integer",
    "float_parsing": "a number", "float_type": "a number",
    "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "text", "dict_type": "a mapping", "list_type": "a list",
    "model_type": "a mapping", "model_attributes_type": "a mapping",
}  # fmt: skip


def _explain(item: Any, root: type[BaseModel]) -> tuple[str, str]:
    kind = item["type"]
    ctx = item.get("ctx", {})
    given = item.get("input")
    loc = tuple(item["loc"])
    if kind == "extra_forbidden":
        keys = _keys_at(root, loc[:-1])
        return "unknown key" + did_you_mean(str(loc[-1]), keys), "keys " + ", ".join(keys)
    if kind == "missing":
        return "required key is missing", "see the config reference in docs/config-reference.md"
    if kind in ("literal_error", "enum"):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = did_you_mean(given, choices) if isinstance(given, str) else ""
        return "value not allowed" + hint, " or ".join([", ".join(choices[:-1]), choices[-1]]
                                                      if len(choices) > 1 else choices)  # fmt: skip
    if kind == "string_type" and isinstance(given, int | float) and not isinstance(given, bool):
        # `version: 1.10` is the number 1.1 to YAML; the text survives only in quotes.
        key = next((step for step in reversed(loc) if isinstance(step, str)), "key")
        return (
            "YAML read this unquoted value as a number",
            f'text: write it in quotes, e.g. {key}: "1.10" (unquoted, YAML reads 1.10 as 1.1)',
        )
    if kind in _TYPE_NAMES:
        return "wrong type", _TYPE_NAMES[kind]
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        limits = [f"{symbols[k]} {v}" for k, v in ctx.items() if k in symbols]
        return "out of range", "a number " + " and ".join(limits)
    if kind == "too_short":
        return "too few items", f"at least {ctx.get('min_length')}"
    if kind == "string_pattern_mismatch":
        return "malformed value", pattern_text(str(ctx.get("pattern", "")))
    if kind == "value_error":
        message = str(ctx.get("error", item["msg"]))
        return "malformed value", message.removeprefix("expected ")
    return "invalid value", item["msg"]


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """` (did you mean X?)` for a near miss: another case, or a close spelling."""
    options = list(choices)
    for option in options:
        if option.lower() == given.lower():
            return f" (did you mean {option}?)"
    close = difflib.get_close_matches(given, options, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _keys_at(root: type[BaseModel], loc: Loc) -> list[str]:
    """The keys a model at `loc` accepts, as users write them."""
    model: Any = root
    for step in loc:
        if isinstance(step, int):
            continue
        field = model.model_fields.get(_field_name(model, step))
        if field is None:
            return []
        model = _model_of(field.annotation)
        if model is None:
            return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _field_name(model: type[BaseModel], alias: str) -> str:
    for name, field in model.model_fields.items():
        if field.alias == alias or name == alias:
            return name
    return alias


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_of(argument)
        if found is not None:
            return found
    return None


def _dotted(loc: Loc) -> str:
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text
