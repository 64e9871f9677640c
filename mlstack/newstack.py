"""`mlstack new-stack`: options -> a commented Pulumi.<env>.yaml, validated before it is written.

The file comes from the Jinja2 template stacks/templates/stack.yaml.j2. What it says is checked
twice before anything touches the disk: the written YAML must read back as exactly the config
the options asked for, and that config must pass the settings model the program uses
(components.settings.load_settings), so a generated stack never fails later on a typo.
"""

from __future__ import annotations

import json
import re
import shlex
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from mlstack.errors import CliError
from mlstack.project import check_stack_name
from mlstack.stackfile import StackFileError, load_yaml, stack_path
from mlstack.yamltext import block, quote

TEMPLATE = "stack.yaml.j2"
NAMESPACE = "mlstack"
# Secret keys never go into a stack file in plain text.
SECRET_KEYS = ("secrets", "registryPassword")
# The order sections appear in; anything else (rejected by validation) is written after them.
SECTIONS = ("orchestrator", "size", "models", "overrides", "image", "kubernetes", "swarm")
_INTEGER = re.compile(r"^-?[0-9]+$")
_FLOAT = re.compile(r"^-?[0-9]*\.[0-9]+([eE][-+]?[0-9]+)?$")


@dataclass(frozen=True)
class NewStackOptions:
    """What `mlstack new-stack` was asked for, as given on the command line."""

    environment: str
    orchestrator: str
    size: str
    models: list[str]
    description: list[str] = field(default_factory=list)
    registry: str | None = None
    push: bool = False
    namespace: str | None = None
    context: str | None = None
    cluster_autoscaler: str | None = None
    cloud_provider: str | None = None
    docker_host: str | None = None
    endpoint_mode: str | None = None
    publish_mode: str | None = None
    proxy: bool | None = None
    overrides: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)


KUBERNETES_OPTIONS = {
    "namespace": "--namespace",
    "context": "--context",
    "cluster_autoscaler": "--cluster-autoscaler",
    "cloud_provider": "--cloud-provider",
}
SWARM_OPTIONS = {
    "docker_host": "--docker-host",
    "endpoint_mode": "--endpoint-mode",
    "publish_mode": "--publish-mode",
    "proxy": "--proxy/--no-proxy",
}


@dataclass(frozen=True)
class WrittenStack:
    path: Path
    secrets_to_set: list[str]
    """`pulumi config set --secret` commands the stack still needs: the file cannot hold them in
    plain text, so validation assumed them."""
    warnings: list[str] = field(default_factory=list)
    """What will not work as written where the stack deploys (a Swarm engine without IPVS)."""


SECRET_CONFIG_KEYS = frozenset(f"{NAMESPACE}:{name}" for name in SECRET_KEYS)


def new_stack(
    options: NewStackOptions,
    project: Path,
    *,
    force: bool = False,
    confirm: Callable[[list[str]], bool] | None = None,
) -> WrittenStack:
    """Write Pulumi.<env>.yaml into `project`; CliError when it exists (without `force`), when an
    option does not fit, or when the settings model refuses the result. Replacing a file whose
    config or comments the new one would not hold (hand edits) needs `confirm(edits)` to say
    yes; without `confirm` such a file is never replaced."""
    check_stack_name(options.environment)
    target = stack_path(project, options.environment)
    if target.exists() and not force:
        raise CliError(f"{target} already exists; pass --force to replace it")
    config = stack_config(options)
    text = render_stack_file(options, config, project)
    kept: set[str] = set()
    if target.exists():
        previous = target.read_text(encoding="utf-8")
        try:
            text, kept = keep_encrypted(text, previous, target.name)
            edits = hand_edits(previous, text, target.name)
        except StackFileError as error:
            raise CliError(str(error), "fix it, or delete the file, before --force") from None
        if edits and (confirm is None or not confirm(edits)):
            raise CliError(
                f"{target.name}: --force would lose what the new file does not hold:",
                *(f"  {edit}" for edit in edits),
                "Nothing was written. Put these in the command (--set KEY=VALUE, --override, "
                "--description) or pass --yes to replace the file anyway.",
            )
    target.write_text(text, encoding="utf-8")
    secrets_to_set = []
    if _needs_registry_password(config) and f"{NAMESPACE}:registryPassword" not in kept:
        from mlstack.components.settings.secret_advice import STDIN_NOTE, set_secret_command

        command = set_secret_command("registryPassword", options.environment)
        secrets_to_set.append(f"{command}  ({STDIN_NOTE})")
    warnings = _validate(config, options.environment, project, options)
    return WrittenStack(target, secrets_to_set, warnings + _engine_warnings(config, target.name))


def _engine_warnings(config: dict[str, Any], stack_file: str) -> list[str]:
    """mlstack up's engine check, told now: new-stack's Swarm defaults (vip, ingress) need IPVS."""
    if config.get("orchestrator") != "swarm":
        return []
    from mlstack.components.settings.swarm import SwarmSettings
    from mlstack.engine_check import check_swarm_engine

    errors, warnings = check_swarm_engine(
        SwarmSettings.model_validate(config.get("swarm") or {}), stack_file
    )
    return [*errors, *warnings]


# Top-level keys only Pulumi writes: how the stack's secrets are encrypted (passphrase salt, or a
# cloud KMS provider and its encrypted data key). Without them every secure value is unreadable.
PULUMI_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt")


def keep_encrypted(text: str, previous: str, file: str = "stack file") -> tuple[str, set[str]]:
    """`text` plus what only Pulumi writes into a stack file and `--force` must not lose: how
    the stack encrypts (PULUMI_KEYS) and the secure (encrypted) `mlstack:` secret values. Also
    returns the config keys kept."""
    old = _mapping(load_yaml(previous, file))
    kept = {
        key: value for key, value in (old.get("config") or {}).items() if key in SECRET_CONFIG_KEYS
    }
    if kept:
        dumped = yaml.safe_dump(kept, sort_keys=True, default_flow_style=False)
        text = text.rstrip("\n") + "\n" + "".join(f"  {line}\n" for line in dumped.splitlines())
    encryption = {key: old[key] for key in PULUMI_KEYS if old.get(key)}
    for key in reversed(PULUMI_KEYS):
        if key in encryption:
            text = f"{key}: {quote(str(encryption[key]))}\n" + text
    new = _mapping(load_yaml(text, file))
    new_config = new.get("config") or {}
    lost = any(new_config.get(key) != value for key, value in kept.items())
    if lost or any(new.get(key) != value for key, value in encryption.items()):
        # The kept values did not land where Pulumi reads them: a bug, never the user's.
        raise CliError("internal error: --force could not keep the stack's encrypted values")
    return text, set(kept)


def hand_edits(previous: str, text: str, file: str) -> list[str]:
    """What `previous` (the stack file being replaced) holds that `text` (its replacement) does
    not: config values dropped or changed, other top-level keys, and comment lines (except the
    header's command, which the new file writes anew)."""
    from mlstack.components.settings.errors import shown

    old, new = _mapping(load_yaml(previous, file)), _mapping(load_yaml(text, file))
    old_values = _leaves(old.get("config") or {})
    new_values = _leaves(new.get("config") or {})
    edits = []
    for path, value in old_values.items():
        if path not in new_values:
            edits.append(f"drop {path}: {shown(value)}")
        elif new_values[path] != value:
            edits.append(f"change {path}: {shown(value)} -> {shown(new_values[path])}")
    for key, value in old.items():
        if key not in ("config", *PULUMI_KEYS) and new.get(key) != value:
            edits.append(f"drop {key}: {shown(value)}")
    comments = set(_comments(text))
    edits += [f"drop comment: {line}" for line in _comments(previous) if line not in comments]
    return edits


def _mapping(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config -> {dotted path: scalar} (lists by index), as people name keys."""
    if isinstance(value, dict) and value:
        found: dict[str, Any] = {}
        for key, item in value.items():
            found.update(_leaves(item, f"{prefix}.{key}" if prefix else str(key)))
        return found
    if isinstance(value, list) and value:
        found = {}
        for index, item in enumerate(value):
            found.update(_leaves(item, f"{prefix}[{index}]"))
        return found
    return {prefix: value}


def _comments(text: str) -> list[str]:
    """A file's comment lines, without the header's `mlstack new-stack ...` command block."""
    lines = []
    in_command = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("#"):
            in_command = False
            continue
        if line.startswith("#   mlstack new-stack"):
            in_command = True
        if not in_command:
            lines.append(line)
        if in_command and not line.endswith("\\"):
            in_command = False
    return lines


def render_stack_file(options: NewStackOptions, config: dict[str, Any], project: Path) -> str:
    """The stack file's text for `config` (stack_config(options)), validated; nothing written."""
    from mlstack.components.settings.secret_advice import ENCRYPTED_NOTE, set_secret_command

    text = _template().render(
        environment=options.environment,
        description=options.description,
        command=command_lines(options),
        sections=[key for key in SECTIONS if key in config],
        extra=[key for key in config if key not in SECTIONS],
        config=config,
        orchestrators=_orchestrators(),
        sizes=_sizes(),
        secret_file_command=set_secret_command("secrets.<model>.<file>", options.environment),
        encrypted_note=ENCRYPTED_NOTE,
    )
    written = (yaml.safe_load(text) or {}).get("config", {})
    expected = {f"{NAMESPACE}:{key}": value for key, value in config.items()}
    if written != expected:  # the template lost or changed a value: a bug, never the user's
        raise CliError(f"internal error: {TEMPLATE} wrote {written!r}, expected {expected!r}")
    _validate(config, options.environment, project, options)
    return text


def stack_config(options: NewStackOptions) -> dict[str, Any]:
    """The `mlstack:` keys (namespace stripped) the options ask for, in the order written."""
    _check_orchestrator_options(options)
    if not options.models:
        raise CliError(
            "--model is required (one per model), e.g. --model "
            "name=iris,framework=sklearn,artifact=examples/iris/iris.joblib,version=1.0.0"
        )
    config: dict[str, Any] = {
        "orchestrator": options.orchestrator,
        "size": options.size,
        "models": [parse_model(spec) for spec in options.models],
    }
    overrides: dict[str, Any] = {}
    for assignment in options.overrides:
        key, value = _assignment(assignment, "--override")
        _set_path(overrides, key, scalar(value), "--override")
    if overrides:
        config["overrides"] = overrides
    image: dict[str, Any] = {}
    if options.registry is not None:
        image["registry"] = options.registry
    if options.push:
        image["push"] = True
    if image:
        config["image"] = image
    if options.orchestrator == "kubernetes":
        kubernetes = _kubernetes_section(options)
        if kubernetes:
            config["kubernetes"] = kubernetes
    if options.orchestrator == "swarm":
        swarm = _swarm_section(options)
        if swarm:
            config["swarm"] = swarm
    for assignment in options.settings:
        key, value = _assignment(assignment, "--set")
        if key.split(".", 1)[0] in SECRET_KEYS:
            from mlstack.components.settings.secret_advice import ENCRYPTED_NOTE, STDIN_NOTE

            raise CliError(
                f"--set {key}: secrets never go into a stack file in plain text; after "
                f"new-stack run `{_secret_command(key, options.environment)}` ({STDIN_NOTE}). "
                f"{ENCRYPTED_NOTE}."
            )
        _set_path(config, key, scalar(value), "--set")
    return config


def parse_model(spec: str) -> dict[str, Any]:
    """`name=iris,framework=sklearn,...,env.KEY=V,overrides.replicas.max=4` -> a models entry.
    Keys are the stack file's (camelCase); integer keys become integers, the rest stay text."""
    model: dict[str, Any] = {}
    for part in spec.split(","):
        key, value = _assignment(part.strip(), "--model")
        top = key.split(".", 1)[0]
        parsed: Any = value
        if "." in key and top == "overrides":
            parsed = scalar(value)
        elif "." not in key and top in _integer_model_keys() and _INTEGER.match(value):
            parsed = int(value)
        _set_path(model, key, parsed, "--model")
    order = [*_model_keys(), *model]
    return {key: model[key] for key in dict.fromkeys(order) if key in model}


def scalar(text: str) -> Any:
    """A command-line value: JSON for lists and mappings, integers, decimals and true/false as
    such, anything else (`Off`, `1.0.0`) as text. YAML's own rules would turn `Off` into false."""
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise CliError(f"{text}: not valid JSON ({error})") from None
    if _INTEGER.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def command_lines(options: NewStackOptions) -> list[str]:
    """The new-stack command that writes this file again, one option group per line."""
    groups: list[list[str]] = [
        [
            "mlstack new-stack",
            shlex.quote(options.environment),
            "--orchestrator",
            shlex.quote(options.orchestrator),
            "--size",
            shlex.quote(options.size),
        ]
    ]
    groups += [["--description", shlex.quote(line)] for line in options.description]
    groups += [["--model", shlex.quote(_model_spec(parse_model(spec)))] for spec in options.models]
    image = [["--registry", shlex.quote(options.registry)]] if options.registry else []
    image += [["--push"]] if options.push else []
    if image:
        groups.append([word for group in image for word in group])
    platform: list[str] = []
    for name, flag in {**KUBERNETES_OPTIONS, **SWARM_OPTIONS}.items():
        value = getattr(options, name)
        if isinstance(value, bool):
            platform.append(flag.split("/")[0 if value else 1])
        elif value is not None:
            platform += [flag, shlex.quote(value)]
    if platform:
        groups.append(platform)
    groups += [["--override", shlex.quote(item)] for item in options.overrides]
    groups += [["--set", shlex.quote(item)] for item in options.settings]
    lines = [" ".join(group) for group in groups]
    lines = lines[:1] + ["  " + line for line in lines[1:]]
    return [line + " \\" for line in lines[:-1]] + lines[-1:]


def _model_spec(model: dict[str, Any]) -> str:
    return ",".join(f"{key}={_spec_value(value)}" for key, value in _flatten(model))


def _spec_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, item in value.items():
        if isinstance(item, dict) and item:
            pairs += _flatten(item, f"{prefix}{key}.")
        else:
            pairs.append((f"{prefix}{key}", item))
    return pairs


def _check_orchestrator_options(options: NewStackOptions) -> None:
    other = {"kubernetes": SWARM_OPTIONS, "swarm": KUBERNETES_OPTIONS}.get(options.orchestrator)
    for name, flag in (other or {}).items():
        if getattr(options, name) is not None:
            raise CliError(
                f"{flag} does not apply to --orchestrator {options.orchestrator}: only a "
                f"{'kubernetes' if options.orchestrator == 'swarm' else 'swarm'} stack reads it"
            )
    if options.cloud_provider is not None and options.cluster_autoscaler is None:
        raise CliError("--cloud-provider needs --cluster-autoscaler NODE_GROUP")


def _kubernetes_section(options: NewStackOptions) -> dict[str, Any]:
    section: dict[str, Any] = {}
    if options.context is not None:
        section["context"] = options.context
    if options.namespace is not None:
        section["namespace"] = options.namespace
    if options.cluster_autoscaler is not None:
        autoscaler: dict[str, Any] = {"enabled": True}
        if options.cloud_provider is not None:
            autoscaler["cloudProvider"] = options.cloud_provider
        autoscaler["nodeGroup"] = options.cluster_autoscaler
        section["clusterAutoscaler"] = autoscaler
    return section


def _swarm_section(options: NewStackOptions) -> dict[str, Any]:
    section: dict[str, Any] = {}
    if options.docker_host is not None:
        section["dockerHost"] = options.docker_host
    if options.endpoint_mode is not None:
        section["endpointMode"] = options.endpoint_mode
    if options.publish_mode is not None:
        section["publishMode"] = options.publish_mode
    if options.proxy is not None:
        section["proxy"] = {"enabled": options.proxy}
    return section


def _assignment(text: str, option: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key or any(not part for part in key.split(".")):
        raise CliError(f"{option} {text!r}: expected KEY=VALUE (KEY may be dotted: a.b.c)")
    return key, value


def _set_path(target: dict[str, Any], dotted: str, value: Any, option: str) -> None:
    *parents, last = dotted.split(".")
    node = target
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise CliError(f"{option} {dotted}: {part} is already a value, not a mapping")
        node = child
    node[last] = value


def _secret_command(key: str, environment: str) -> str:
    from mlstack.components.settings.secret_advice import set_secret_command

    if key.split(".", 1)[0] == "secrets":
        parts = key.split(".")
        model = parts[1] if len(parts) > 1 else "<model>"
        file = ".".join(parts[2:]) or "<file>"
        return set_secret_command(f"secrets.{model}.{file}", environment)
    return set_secret_command("registryPassword", environment)


def _needs_registry_password(config: dict[str, Any]) -> bool:
    image = config.get("image") or {}
    return bool(image.get("push") and image.get("registryUsername"))


def _validate(
    config: dict[str, Any], environment: str, project: Path, options: NewStackOptions
) -> list[str]:
    """The settings model's verdict on `config`: CliError naming the option behind each problem,
    or the model's warnings."""
    from mlstack.components.settings import NAMESPACE, SettingsError, load_settings

    if _needs_registry_password(config):
        # Set after new-stack with `pulumi config set --secret`; the CLI prints the command.
        config = {**config, "registryPassword": "set-after-new-stack"}
    source = stack_path(project, environment).name
    try:
        settings = load_settings(config, environment=environment, project_dir=project)
    except SettingsError as error:
        lines = []
        for problem in error.details:
            if problem.file == source and problem.key.startswith(f"{NAMESPACE}:"):
                key = problem.key.removeprefix(f"{NAMESPACE}:")
                option = _option_for(key, config, options)
                lines.append(problem.line(f"{option} ({problem.key} in {source})"))
            else:  # a preset's own value
                lines.append(str(problem))
        raise CliError(*lines, "nothing was written") from None
    return list(settings.warnings)


# The options of new-stack that write a key (anything else came from --set).
_OPTION_KEYS = {
    "orchestrator": "--orchestrator", "size": "--size", "image.registry": "--registry",
    "image.push": "--push", "kubernetes.namespace": "--namespace",
    "kubernetes.context": "--context", "kubernetes.clusterAutoscaler.nodeGroup":
    "--cluster-autoscaler", "kubernetes.clusterAutoscaler.cloudProvider": "--cloud-provider",
    "swarm.dockerHost": "--docker-host", "swarm.endpointMode": "--endpoint-mode",
    "swarm.publishMode": "--publish-mode", "swarm.proxy.enabled": "--proxy",
}  # fmt: skip
_MODEL_KEY = re.compile(r"^models\[(?P<index>[0-9]+)\]\.?(?P<rest>.*)$")


def _option_for(key: str, config: dict[str, Any], options: NewStackOptions) -> str:
    """The new-stack option that set `key` (below `mlstack:`), as the user typed it."""
    for assignment in options.settings:
        given = assignment.partition("=")[0]
        if key == given or key.startswith(f"{given}.") or given.startswith(f"{key}."):
            return f"--set {given}"
    if key.startswith("overrides."):
        return f"--override {key.removeprefix('overrides.')}"
    model = _MODEL_KEY.match(key)
    if model:
        index = int(model["index"])
        models = config.get("models") or []
        name = models[index].get("name") if index < len(models) else None
        which = f"--model {name}" if isinstance(name, str) else f"--model #{index + 1}"
        return f"{which}, {model['rest']}" if model["rest"] else which
    return _OPTION_KEYS.get(key, f"--set {key}")


def _model_keys() -> list[str]:
    from mlstack.components.settings.stack import ModelConfig

    return [field.alias or name for name, field in ModelConfig.model_fields.items()]


def _integer_model_keys() -> set[str]:
    from mlstack.components.settings.stack import ModelConfig

    return {
        field.alias or name
        for name, field in ModelConfig.model_fields.items()
        if field.annotation is int or int in typing.get_args(field.annotation)
    }


def _orchestrators() -> list[str]:
    from mlstack.components.settings import Orchestrator

    return [member.value for member in Orchestrator]


def _sizes() -> list[str]:
    from mlstack.stacks import preset_names

    return preset_names()


def _template() -> jinja2.Template:
    from mlstack.stacks import TEMPLATES_DIR

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML, not HTML; every scalar goes through `q`
    )
    environment.filters["q"] = quote
    environment.filters["block"] = block
    return environment.get_template(TEMPLATE)
