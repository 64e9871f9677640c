"""Recorded pulumi-docker inputs -> Docker Engine API specs for Swarm networks, secrets, services.

The offline recorder (mlstack/offline.py) keeps every `docker.Network`, `docker.Secret` and
`docker.Service` a stack declares with its inputs in pulumi-docker's wire format (camelCase,
numbers as floats, durations as Go strings, labels as {label, value} lists). This module turns
them into exactly what the Docker Engine API takes (POST /networks/create, /secrets/create,
/services/create: PascalCase, nanosecond durations, label maps), the way the pulumi-docker
provider (terraform-provider-docker) does, so the real engine can be handed the very spec a
stack declares (the engine tests do; `mlstack render` shows the pulumi-docker inputs as
declared, not this translation).

It sends what the provider sends (terraform-provider-docker v4.5.0, the upstream of pulumi-docker
5.2.0): the schema's defaults for fields a stack leaves out (a given restart policy without a delay
has Delay 0, an omitted init is false, an omitted stop grace period is 0), registry credentials only
when both user and password are set, and it refuses what the provider's validation refuses
(tests/support/swarm_provider_rules.py). What the provider's create then asks the registry for (the
image digest and platforms of a pushed image) is `ServiceSpec.registry_pinned`, applied by whoever
can reach the registry (tests/support/swarm_engine.py).

Translation is strict: an input this module does not know raises TranslationError naming the
resource and the field, so nothing a stack declares is silently dropped. Two inputs are the
provider's own, not the engine's: `convergeConfig` (how long `pulumi up` waits) is left out, and
`auth` (registry credentials) is returned apart from the spec, as the X-Registry-Auth header.

References between resources are recorded as the mocks' IDs ("<resource name>-id"); `resolve`
replaces them with the IDs the engine gave the networks and secrets it created.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mlstack.offline import RecordedResource, Recording, mock_id, reveal
from tests.support import swarm_provider_rules as rules

NETWORK_TYPE = "docker:index/network:Network"
SECRET_TYPE = "docker:index/secret:Secret"
SERVICE_TYPE = "docker:index/service:Service"

# Inputs that belong to the provider, not to the engine's ServiceSpec.
PROVIDER_ONLY = frozenset({"convergeConfig"})

Json = dict[str, Any]


class TranslationError(ValueError):
    """A recorded input the translator cannot turn into an Engine API field."""


def go_duration_nanos(text: str, where: str = "duration") -> int:
    """A Go duration ("30s", "1m30s", "500ms") in nanoseconds, as the Engine API wants them;
    parsed as Go's time.ParseDuration does, and refused when negative, as the provider does."""
    try:
        return rules.duration_at_least_zero(text, where)
    except rules.ProviderRuleError as error:
        raise TranslationError(
            f"{where}: {text!r} is not a Go duration such as 30s or 1m30s ({error})"
        ) from None


def _int(value: Any, where: str) -> int:
    """Wire numbers arrive as floats; the engine's counts and sizes are integers."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise TranslationError(f"{where}: expected a whole number, got {value!r}")
    return int(value)


def _labels(value: Any, where: str) -> dict[str, str]:
    pairs = value or []
    if not isinstance(pairs, list):
        raise TranslationError(f"{where}: expected a list of {{label, value}}, got {value!r}")
    labels: dict[str, str] = {}
    for pair in pairs:
        if not isinstance(pair, dict) or set(pair) != {"label", "value"}:
            raise TranslationError(f"{where}: expected {{label, value}}, got {pair!r}")
        labels[str(pair["label"])] = str(pair["value"])
    return labels


class _Fields:
    """One recorded object being translated: every key must be taken exactly once."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise TranslationError(f"{where}: expected a mapping, got {value!r}")
        self.values: dict[str, Any] = dict(value)
        self.where = where

    def take(self, key: str, default: Any = None) -> Any:
        return self.values.pop(key, default)

    def at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def done(self) -> None:
        if self.values:
            unknown = ", ".join(sorted(self.values))
            raise TranslationError(f"{self.where}: no Engine API translation for {unknown}")


def _put(target: Json, key: str, value: Any) -> None:
    if value is not None and value != [] and value != {}:
        target[key] = value


def _map(items: Any, where: str, translate: Callable[[Any, str], Any]) -> list[Any] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise TranslationError(f"{where}: expected a list, got {items!r}")
    return [translate(item, f"{where}[{index}]") for index, item in enumerate(items)]


# --- networks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkSpec:
    resource: str
    name: str
    driver: str | None
    attachable: bool
    internal: bool
    ipv6: bool
    ingress: bool
    options: dict[str, str]
    labels: dict[str, str]
    ipam: Json | None = None

    def create_kwargs(self) -> Json:
        """Keyword arguments of docker's APIClient.create_network, as resourceDockerNetworkCreate
        fills network.CreateOptions: flags only when true, no duplicate check."""
        kwargs: Json = {
            "name": self.name,
            "driver": self.driver,
            "options": self.options or None,
            "labels": self.labels or None,
            "attachable": self.attachable or None,
            "internal": self.internal,
            "enable_ipv6": self.ipv6 or None,
            "ingress": self.ingress or None,
        }
        if self.ipam is not None:
            kwargs["ipam"] = self.ipam
        return kwargs


def _ipam_config(value: Any, where: str) -> Json:
    fields = _Fields(value, where)
    config: Json = {}
    _put(config, "Subnet", fields.take("subnet"))
    _put(config, "IPRange", fields.take("ipRange"))
    _put(config, "Gateway", fields.take("gateway"))
    _put(config, "AuxiliaryAddresses", fields.take("auxAddress"))
    fields.done()
    return config


def translate_network(resource: RecordedResource) -> NetworkSpec:
    _expect(resource, NETWORK_TYPE)
    fields = _Fields(reveal(resource.inputs), f"{resource.name} ({NETWORK_TYPE})")
    name = fields.take("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{fields.at('name')}: a network needs a name")
    ipam_configs = _map(fields.take("ipamConfigs"), fields.at("ipamConfigs"), _ipam_config)
    ipam_driver = fields.take("ipamDriver")
    ipam_options = fields.take("ipamOptions")
    # ipam_driver defaults to "default", so the provider always sends an IPAM block.
    ipam: Json = {"Driver": ipam_driver or "default", "Config": ipam_configs or []}
    _put(ipam, "Options", ipam_options)
    spec = NetworkSpec(
        resource=resource.name,
        name=name,
        driver=fields.take("driver"),
        attachable=bool(fields.take("attachable", False)),
        internal=bool(fields.take("internal", False)),
        ipv6=bool(fields.take("ipv6", False)),
        ingress=bool(fields.take("ingress", False)),
        options={str(k): str(v) for k, v in (fields.take("options") or {}).items()},
        labels=_labels(fields.take("labels"), fields.at("labels")),
        ipam=ipam,
    )
    fields.done()
    return spec


# --- secrets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretSpec:
    resource: str
    name: str
    data: bytes = field(repr=False)
    labels: dict[str, str]

    def create_kwargs(self) -> Json:
        """Keyword arguments of docker's APIClient.create_secret (it base64-encodes `data`)."""
        return {"name": self.name, "data": self.data, "labels": self.labels or None}


def translate_secret(resource: RecordedResource) -> SecretSpec:
    _expect(resource, SECRET_TYPE)
    fields = _Fields(reveal(resource.inputs), f"{resource.name} ({SECRET_TYPE})")
    name = fields.take("name")
    encoded = fields.take("data")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{fields.at('name')}: a secret needs a name")
    try:
        # The provider decodes `data` with the standard base64 alphabet.
        data = base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError) as error:
        raise TranslationError(f"{fields.at('data')}: not base64 ({error})") from None
    spec = SecretSpec(
        resource=resource.name,
        name=name,
        data=data,
        labels=_labels(fields.take("labels"), fields.at("labels")),
    )
    fields.done()
    return spec


# --- services -----------------------------------------------------------------------------------
#
# What follows mirrors terraform-provider-docker v4.5.0's expanders (createServiceSpec and the
# create* functions of internal/provider/resource_docker_service_structures.go). The provider reads
# nested blocks through the SDK, which fills every field the program left out with its schema
# default or zero value, so it sends those too: a restart policy without a delay has Delay 0 (not
# the engine's 5 s), an omitted stop grace period is 0 (not 10 s), an omitted init is false (not
# the daemon's --init). Each default below names the schema field it comes from.


@dataclass(frozen=True)
class ServiceSpec:
    """A Swarm service as the Engine API takes it, plus where it came from."""

    resource: str
    name: str
    labels: dict[str, str]
    task_template: Json
    mode: Json
    update_config: Json | None
    rollback_config: Json | None
    endpoint_spec: Json | None
    registry_auth: Json | None = field(default=None, repr=False)

    def engine_spec(self) -> Json:
        """The body of POST /services/create."""
        spec: Json = {
            "Name": self.name,
            "Labels": self.labels,
            "TaskTemplate": self.task_template,
            "Mode": self.mode,
        }
        _put(spec, "UpdateConfig", self.update_config)
        _put(spec, "RollbackConfig", self.rollback_config)
        if self.endpoint_spec is not None:
            spec["EndpointSpec"] = self.endpoint_spec
        return spec

    def create_kwargs(self) -> Json:
        """Keyword arguments of docker's APIClient.create_service (and update_service)."""
        return {
            "task_template": self.task_template,
            "name": self.name,
            "labels": self.labels,
            "mode": self.mode,
            "update_config": self.update_config,
            "rollback_config": self.rollback_config,
            "endpoint_spec": self.endpoint_spec,
        }

    @property
    def image(self) -> str:
        return str(self.task_template["ContainerSpec"]["Image"])

    def with_image(self, image: str) -> ServiceSpec:
        """The same spec running another image (what a new image tag changes)."""
        template = {**self.task_template}
        template["ContainerSpec"] = {**template["ContainerSpec"], "Image": image}
        return replace(self, task_template=template)

    def registry_pinned(self, digest: str, platforms: Iterable[Mapping[str, str]]) -> ServiceSpec:
        """The spec as the provider's create leaves it once the registry has answered for its
        image (ServiceCreateOptions.QueryRegistry, docker/docker client service_create.go
        resolveContainerSpecImage): the image gains the digest unless it names one already,
        and the image's platforms become the placement's. `platforms` are the registry's
        {architecture, os} pairs; "arm" loses its architecture, as the client does."""
        template = {**self.task_template}
        template["ContainerSpec"] = {
            **template["ContainerSpec"],
            "Image": image_with_digest(self.image, digest),
        }
        pinned = [
            {
                "Architecture": "" if p["architecture"].lower() == "arm" else p["architecture"],
                "OS": p["os"],
            }
            for p in platforms
        ]
        if pinned:
            template["Placement"] = {**template.get("Placement", {}), "Platforms": pinned}
        return replace(self, task_template=template)

    def references(self) -> set[str]:
        """The network and secret IDs the spec refers to."""
        found = {str(n["Target"]) for n in self.task_template.get("Networks", [])}
        secrets = self.task_template["ContainerSpec"].get("Secrets", [])
        return found | {str(s["SecretID"]) for s in secrets}

    def resolve(self, ids: Mapping[str, str]) -> ServiceSpec:
        """Replace recorded network and secret IDs with the engine's; an unknown one raises."""

        def engine_id(recorded: str) -> str:
            if recorded not in ids:
                raise TranslationError(
                    f"{self.resource}: refers to {recorded!r}, which was not created "
                    f"(known: {', '.join(sorted(ids)) or 'none'})"
                )
            return ids[recorded]

        template = {**self.task_template}
        template["Networks"] = [
            {**n, "Target": engine_id(str(n["Target"]))} for n in template.get("Networks", [])
        ]
        container = {**template["ContainerSpec"]}
        if "Secrets" in container:
            container["Secrets"] = [
                {**s, "SecretID": engine_id(str(s["SecretID"]))} for s in container["Secrets"]
            ]
        template["ContainerSpec"] = container
        if not template["Networks"]:
            del template["Networks"]
        return replace(self, task_template=template)


_DIGEST = re.compile(r"@[A-Za-z0-9_+.-]+:[0-9a-fA-F]{32,}$")


def image_with_digest(image: str, digest: str) -> str:
    """docker/docker client imageWithDigestString: a reference without a digest gains it (a tag
    stays); one with a digest is left as it is. References are kept in the short form the
    client prints (reference.FamiliarString: no docker.io/library/ prefix)."""
    if _DIGEST.search(image):
        return image
    familiar = image
    for prefix in ("docker.io/library/", "index.docker.io/library/"):
        if familiar.startswith(prefix):
            familiar = familiar[len(prefix) :]
    for prefix in ("docker.io/", "index.docker.io/"):
        if familiar.startswith(prefix):
            familiar = familiar[len(prefix) :]
    return f"{familiar}@{digest}"


def registry_host(image: str) -> str | None:
    """The registry an image reference names, or None for a Docker Hub short name (the first
    path component is a host only with a dot, a port or as localhost: docker/distribution
    reference.splitDockerDomain)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def _rule(check: Callable[..., Any], *args: Any) -> Any:
    """Run one of the provider's validators, reporting a refusal as a TranslationError."""
    try:
        return check(*args)
    except rules.ProviderRuleError as error:
        raise TranslationError(str(error)) from None


def _duration(fields: _Fields, key: str, default: str | None = None) -> int | None:
    value = fields.take(key, default)
    return None if value is None else go_duration_nanos(value, fields.at(key))


def _count(fields: _Fields, key: str, default: int | None = None, minimum: int = 0) -> int | None:
    """An integer the schema bounds below (validateIntegerGeqThan)."""
    value = fields.take(key)
    if value is None:
        return default
    return int(_rule(rules.integer_at_least, _int(value, fields.at(key)), minimum, fields.at(key)))


def _pattern(fields: _Fields, key: str, pattern: str, default: str | None = None) -> str | None:
    value = fields.take(key, default)
    return None if value is None else str(_rule(rules.matches, value, pattern, fields.at(key)))


def _healthcheck(value: Any, where: str) -> Json:
    """healthcheck: interval, timeout and start_period default to "0s", retries to 0."""
    fields = _Fields(value, where)
    check: Json = {}
    _put(check, "Test", fields.take("tests"))
    check["Interval"] = _duration(fields, "interval", "0s")
    check["Timeout"] = _duration(fields, "timeout", "0s")
    check["StartPeriod"] = _duration(fields, "startPeriod", "0s")
    check["Retries"] = _count(fields, "retries", 0)
    fields.done()
    return check


def _mount(value: Any, where: str) -> Json:
    """mounts[]: type must be bind, volume or tmpfs; a bind's propagation defaults to rprivate;
    a tmpfs's size and mode are sent as given, or 0 (the engine's defaults)."""
    fields = _Fields(value, where)
    mount: Json = {
        "Target": fields.take("target"),
        "Type": _pattern(fields, "type", rules.MOUNT_TYPE),
    }
    if not mount["Target"] or mount["Type"] is None:
        raise TranslationError(f"{where}: a mount needs a target and a type")
    _put(mount, "Source", fields.take("source"))
    if fields.take("readOnly"):
        mount["ReadOnly"] = True
    tmpfs = fields.take("tmpfsOptions")
    if tmpfs is not None:
        options = _Fields(tmpfs, fields.at("tmpfsOptions"))
        mount["TmpfsOptions"] = {
            "SizeBytes": _int(options.take("sizeBytes", 0), options.at("sizeBytes")),
            "Mode": _int(options.take("mode", 0), options.at("mode")),
        }
        options.done()
    bind = fields.take("bindOptions")
    if bind is not None:
        options = _Fields(bind, fields.at("bindOptions"))
        propagation = _pattern(options, "propagation", rules.BIND_PROPAGATION, "rprivate")
        mount["BindOptions"] = {"Propagation": propagation}
        options.done()
    volume = fields.take("volumeOptions")
    if volume is not None:
        options = _Fields(volume, fields.at("volumeOptions"))
        translated: Json = {}
        if options.take("noCopy"):
            translated["NoCopy"] = True
        _put(translated, "Labels", _labels(options.take("labels"), options.at("labels")))
        # The provider always makes a DriverConfig for volume options (driver_name and
        # driver_options are read from the block even when empty).
        translated["DriverConfig"] = {"Name": options.take("driverName") or ""}
        _put(translated["DriverConfig"], "Options", options.take("driverOptions"))
        options.done()
        mount["VolumeOptions"] = translated
    fields.done()
    return mount


def _file_reference(kind: str) -> Callable[[Any, str], Json]:
    """A secret or config mounted as a file (same shape, different ID/name keys): uid and gid
    default to "0", the mode to 0o444."""

    def translate(value: Any, where: str) -> Json:
        fields = _Fields(value, where)
        file: Json = {"Name": fields.take("fileName")}
        file["UID"] = str(fields.take("fileUid", "0"))
        file["GID"] = str(fields.take("fileGid", "0"))
        file["Mode"] = _count(fields, "fileMode", 0o444)
        reference: Json = {"File": file, f"{kind}ID": fields.take(f"{kind.lower()}Id")}
        _put(reference, f"{kind}Name", fields.take(f"{kind.lower()}Name"))
        fields.done()
        return reference

    return translate


def _privileges(value: Any, where: str) -> Json:
    fields = _Fields(value, where)
    privileges: Json = {}
    credential = fields.take("credentialSpec")
    if credential is not None:
        spec = _Fields(credential, fields.at("credentialSpec"))
        privileges["CredentialSpec"] = {}
        _put(privileges["CredentialSpec"], "File", spec.take("file"))
        # createContainerSpec writes `registry` into File too (a provider bug, sent as is).
        _put(privileges["CredentialSpec"], "File", spec.take("registry"))
        spec.done()
    selinux = fields.take("seLinuxContext")
    if selinux is not None:
        context = _Fields(selinux, fields.at("seLinuxContext"))
        translated: Json = {"Disable": bool(context.take("disable", False))}
        for key in ("user", "role", "type", "level"):
            _put(translated, key.capitalize(), context.take(key))
        context.done()
        privileges["SELinuxContext"] = translated
    fields.done()
    return privileges


def _host(value: Any, where: str) -> str:
    fields = _Fields(value, where)
    entry = f"{fields.take('ip')} {fields.take('host')}"  # the engine's "IP hostname" form
    fields.done()
    return entry


def _container_spec(value: Any, where: str) -> Json:
    fields = _Fields(value, where)
    spec: Json = {"Image": fields.take("image")}
    if not spec["Image"]:
        raise TranslationError(f"{fields.at('image')}: a service needs an image")
    _put(spec, "Labels", _labels(fields.take("labels"), fields.at("labels")))
    _put(spec, "Command", fields.take("commands"))
    _put(spec, "Args", fields.take("args"))
    _put(spec, "Hostname", fields.take("hostname"))
    env = fields.take("env") or {}
    _put(spec, "Env", [f"{key}={env[key]}" for key in sorted(env)])
    _put(spec, "Dir", fields.take("dir"))
    _put(spec, "User", fields.take("user"))
    _put(spec, "Groups", fields.take("groups"))
    privileges = fields.take("privileges")
    if privileges is not None:
        spec["Privileges"] = _privileges(privileges, fields.at("privileges"))
    if fields.take("readOnly"):
        spec["ReadOnly"] = True
    _put(spec, "Mounts", _map(fields.take("mounts"), fields.at("mounts"), _mount))
    _put(spec, "StopSignal", fields.take("stopSignal"))
    # stop_grace_period: parsed even when empty, so an omitted one is 0 (the engine's own
    # default would be 10 s).
    spec["StopGracePeriod"] = _duration(fields, "stopGracePeriod") or 0
    health = fields.take("healthcheck")
    # healthcheck: always a HealthConfig, empty when omitted (the image's own check then runs).
    spec["Healthcheck"] = {} if health is None else _healthcheck(health, fields.at("healthcheck"))
    _put(spec, "Hosts", _map(fields.take("hosts"), fields.at("hosts"), _host))
    dns = fields.take("dnsConfig")
    spec["DNSConfig"] = {}  # always made, empty when omitted
    if dns is not None:
        config = _Fields(dns, fields.at("dnsConfig"))
        _put(spec["DNSConfig"], "Nameservers", config.take("nameservers"))
        _put(spec["DNSConfig"], "Search", config.take("searches"))
        _put(spec["DNSConfig"], "Options", config.take("options"))
        config.done()
    secrets = _map(fields.take("secrets"), fields.at("secrets"), _file_reference("Secret"))
    _put(spec, "Secrets", secrets)
    configs = _map(fields.take("configs"), fields.at("configs"), _file_reference("Config"))
    _put(spec, "Configs", configs)
    spec["Isolation"] = _pattern(fields, "isolation", rules.ISOLATION, "default")
    _put(spec, "Sysctls", fields.take("sysctl"))
    _put(spec, "CapabilityAdd", fields.take("capAdds"))
    _put(spec, "CapabilityDrop", fields.take("capDrops"))
    # init: read from the block even when omitted (false), for engine API >= 1.37.
    spec["Init"] = bool(fields.take("init", False))
    fields.done()
    return spec


def _amounts(value: Any, where: str, *, generic: bool) -> Json:
    given = _Fields(value, where)
    translated: Json = {}
    for source, target in (("nanoCpus", "NanoCPUs"), ("memoryBytes", "MemoryBytes")):
        amount = given.take(source)
        if amount is not None:
            translated[target] = _int(amount, given.at(source))
    if generic:
        resources = given.take("genericResources")
        if resources is not None:
            _put(
                translated,
                "GenericResources",
                _generic_resources(resources, given.at("genericResources")),
            )
    given.done()
    return translated


def _resources(value: Any, where: str) -> Json:
    """resources: limits and reservation as given; an omitted block is sent empty."""
    fields = _Fields(value, where)
    resources: Json = {}
    limits = fields.take("limits")
    if limits is not None:
        resources["Limits"] = _amounts(limits, fields.at("limits"), generic=False)
    reservation = fields.take("reservation")
    if reservation is not None:
        resources["Reservations"] = _amounts(reservation, fields.at("reservation"), generic=True)
    fields.done()
    return resources


def _generic_resources(value: Any, where: str) -> list[Json]:
    """ "KIND=VALUE" strings: discrete ones count (NVIDIA-GPU=1), named ones pick (GPU=uuid)."""
    fields = _Fields(value, where)
    found: list[Json] = []
    for key, spec_key in (
        ("namedResourcesSpecs", "NamedResourceSpec"),
        ("discreteResourcesSpecs", "DiscreteResourceSpec"),
    ):
        for entry in fields.take(key) or []:
            kind, separator, amount = str(entry).partition("=")
            if not separator or not kind:
                raise TranslationError(f"{fields.at(key)}: {entry!r} is not KIND=VALUE")
            if spec_key == "DiscreteResourceSpec":
                if not amount.isdigit():
                    raise TranslationError(f"{fields.at(key)}: {entry!r} needs a whole count")
                found.append({spec_key: {"Kind": kind, "Value": int(amount)}})
            else:
                found.append({spec_key: {"Kind": kind, "Value": amount}})
    fields.done()
    return found


def _restart_policy(value: Any, where: str) -> Json:
    """restart_policy: delay, max_attempts and window are always sent, 0 when omitted (the
    engine's own default delay would be 5 s); condition only when given."""
    fields = _Fields(value, where)
    policy: Json = {}
    _put(policy, "Condition", _pattern(fields, "condition", rules.RESTART_CONDITION))
    policy["Delay"] = _duration(fields, "delay") or 0
    policy["MaxAttempts"] = _count(fields, "maxAttempts", 0)
    policy["Window"] = _duration(fields, "window") or 0
    fields.done()
    return policy


def _platform(value: Any, where: str) -> Json:
    fields = _Fields(value, where)
    platform = {"Architecture": fields.take("architecture"), "OS": fields.take("os")}
    fields.done()
    return platform


def _placement(value: Any, where: str) -> Json:
    fields = _Fields(value, where)
    placement: Json = {}
    _put(placement, "Constraints", fields.take("constraints"))
    # pulumi-docker takes bare spread descriptors (node.labels.zone), as the provider sends them.
    prefs = fields.take("prefs") or []
    _put(placement, "Preferences", [{"Spread": {"SpreadDescriptor": p}} for p in prefs])
    maximum = _count(fields, "maxReplicas", 0)
    if maximum:
        placement["MaxReplicas"] = maximum
    _put(placement, "Platforms", _map(fields.take("platforms"), fields.at("platforms"), _platform))
    fields.done()
    return placement


def _network_attachment(value: Any, where: str) -> Json:
    fields = _Fields(value, where)
    identifier, name = fields.take("id"), fields.take("name")  # `name`: the deprecated form
    target = identifier or name
    if not target:
        raise TranslationError(f"{where}: network 'name' or 'id' must be specified")
    attachment: Json = {"Target": target}
    _put(attachment, "Aliases", fields.take("aliases"))
    options = {}
    for entry in fields.take("driverOpts") or []:
        key, _, option = str(entry).partition("=")
        options[key] = option
    _put(attachment, "DriverOpts", options)
    fields.done()
    return attachment


def _log_driver(value: Any, where: str) -> Json:
    fields = _Fields(value, where)
    driver: Json = {"Name": fields.take("name")}
    _put(driver, "Options", fields.take("options"))
    fields.done()
    return driver


def _task_template(value: Any, where: str) -> Json:
    fields = _Fields(value, where)
    template: Json = {
        "ContainerSpec": _container_spec(fields.take("containerSpec"), fields.at("containerSpec"))
    }
    # resources, restart_policy and placement are read even when omitted: sent empty.
    for key, target, translate in (
        ("resources", "Resources", _resources),
        ("restartPolicy", "RestartPolicy", _restart_policy),
        ("placement", "Placement", _placement),
    ):
        given = fields.take(key)
        template[target] = {} if given is None else translate(given, fields.at(key))
    log_driver = fields.take("logDriver")
    if log_driver is not None:
        template["LogDriver"] = _log_driver(log_driver, fields.at("logDriver"))
    networks = fields.take("networksAdvanceds")
    _put(template, "Networks", _map(networks, fields.at("networksAdvanceds"), _network_attachment))
    force = _count(fields, "forceUpdate", 0)
    if force:
        template["ForceUpdate"] = force
    _put(template, "Runtime", _pattern(fields, "runtime", rules.RUNTIME))
    fields.done()
    return template


def _rollout(value: Any, where: str, *, rollback: bool) -> Json:
    """update_config and rollback_config share the Engine API's UpdateConfig shape; a given
    block has every field, with the schema's defaults: parallelism 1, delay 0s, failure action
    pause, monitor 5s, max failure ratio 0.0 (a float from 0 to 1), order stop-first."""
    fields = _Fields(value, where)
    failure_pattern = rules.ROLLBACK_FAILURE_ACTION if rollback else rules.UPDATE_FAILURE_ACTION
    order_pattern = rules.ROLLBACK_ORDER if rollback else rules.UPDATE_ORDER
    ratio = _rule(
        rules.float_ratio, fields.take("maxFailureRatio", "0.0"), fields.at("maxFailureRatio")
    )
    config: Json = {
        "Parallelism": _count(fields, "parallelism", 1),
        "Delay": _duration(fields, "delay", "0s"),
        "FailureAction": _pattern(fields, "failureAction", failure_pattern, "pause"),
        "Monitor": _duration(fields, "monitor", "5s"),
        "MaxFailureRatio": ratio,
        "Order": _pattern(fields, "order", order_pattern, "stop-first"),
    }
    fields.done()
    return config


def _port(value: Any, where: str) -> Json:
    fields = _Fields(value, where)
    target = fields.take("targetPort")
    if target is None:
        raise TranslationError(f"{fields.at('targetPort')}: a port needs a target port")
    port: Json = {
        "Protocol": _pattern(fields, "protocol", rules.PORT_PROTOCOL, "tcp"),
        "TargetPort": _int(target, fields.at("targetPort")),
    }
    _put(port, "Name", fields.take("name"))
    published = fields.take("publishedPort")
    if published is not None:
        port["PublishedPort"] = _int(published, fields.at("publishedPort"))
    port["PublishMode"] = _pattern(fields, "publishMode", rules.PUBLISH_MODE, "ingress")
    fields.done()
    return port


def _endpoint_spec(value: Any, where: str) -> Json:
    """endpoint_spec: always sent; its mode only when given (the engine then uses vip)."""
    fields = _Fields(value, where)
    spec: Json = {}
    _put(spec, "Mode", _pattern(fields, "mode", rules.ENDPOINT_MODE))
    _put(spec, "Ports", _map(fields.take("ports"), fields.at("ports"), _port))
    fields.done()
    return spec


def _mode(value: Any, where: str) -> Json:
    """mode: replicated (replicas default 1, at least 0) or global; omitted, the provider sends
    an empty mode and the engine runs one replica."""
    if value is None:
        return {}
    fields = _Fields(value, where)
    replicated = fields.take("replicated")
    is_global = bool(fields.take("global", False))
    fields.done()
    mode: Json = {}
    if replicated is not None:
        given = _Fields(replicated, f"{where}.replicated")
        mode["Replicated"] = {"Replicas": _count(given, "replicas", 1)}
        given.done()
    if is_global:
        if replicated is not None:
            raise TranslationError(f"{where}: both global and replicated")
        mode["Global"] = {}
    return mode


def _registry_auth(value: Any, where: str) -> Json | None:
    """auth: sent only with both a username and a password (authToServiceAuth); anything less
    and the provider sends no credentials at all."""
    fields = _Fields(value, where)
    server = fields.take("serverAddress")
    username, password = fields.take("username"), fields.take("password")
    fields.done()
    if not server:
        raise TranslationError(f"{where}.serverAddress: required with auth")
    if not username or not password:
        return None
    return {"serveraddress": server, "username": username, "password": password}


def translate_service(resource: RecordedResource) -> ServiceSpec:
    _expect(resource, SERVICE_TYPE)
    where = f"{resource.name} ({SERVICE_TYPE})"
    fields = _Fields(reveal(resource.inputs), where)
    for key in PROVIDER_ONLY:
        fields.take(key)
    name = fields.take("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{fields.at('name')}: a service needs a name")
    update = fields.take("updateConfig")
    rollback = fields.take("rollbackConfig")
    endpoint = fields.take("endpointSpec")
    auth = fields.take("auth")
    spec = ServiceSpec(
        resource=resource.name,
        name=name,
        labels=_labels(fields.take("labels"), fields.at("labels")),
        task_template=_task_template(fields.take("taskSpec"), fields.at("taskSpec")),
        mode=_mode(fields.take("mode"), fields.at("mode")),
        update_config=(
            None if update is None else _rollout(update, fields.at("updateConfig"), rollback=False)
        ),
        rollback_config=(
            None
            if rollback is None
            else _rollout(rollback, fields.at("rollbackConfig"), rollback=True)
        ),
        endpoint_spec=(
            {} if endpoint is None else _endpoint_spec(endpoint, fields.at("endpointSpec"))
        ),
        registry_auth=None if auth is None else _registry_auth(auth, fields.at("auth")),
    )
    fields.done()
    return spec


# --- a whole stack ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwarmPlan:
    """Everything Swarm-side a recording declares, in creation order (networks and secrets
    before the services that refer to them). `recorded_ids` maps each network's and secret's
    recorded ID to its resource name, for `ServiceSpec.resolve`."""

    networks: tuple[NetworkSpec, ...]
    secrets: tuple[SecretSpec, ...]
    services: tuple[ServiceSpec, ...]
    recorded_ids: dict[str, str]

    def service(self, name: str) -> ServiceSpec:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"no service {name!r}; declared: {[s.name for s in self.services]}")


def plan(recording: Recording) -> SwarmPlan:
    """Translate every Swarm resource of a recording; anything untranslatable raises."""
    networks = tuple(translate_network(r) for r in recording.of_type(NETWORK_TYPE))
    secrets = tuple(translate_secret(r) for r in recording.of_type(SECRET_TYPE))
    services = tuple(translate_service(r) for r in recording.of_type(SERVICE_TYPE))
    declared = [spec.resource for spec in networks] + [spec.resource for spec in secrets]
    recorded_ids = {mock_id(resource): resource for resource in declared}
    unknown = {
        (service.name, reference)
        for service in services
        for reference in service.references()
        if reference not in recorded_ids
    }
    if unknown:
        raise TranslationError(
            "services refer to networks or secrets the recording does not declare: "
            + ", ".join(f"{name} -> {reference}" for name, reference in sorted(unknown))
        )
    return SwarmPlan(networks, secrets, services, recorded_ids)


def _expect(resource: RecordedResource, type_token: str) -> None:
    if resource.type != type_token:
        raise TranslationError(f"{resource.name} is a {resource.type}, not a {type_token}")


def engine_ids(
    plan_: SwarmPlan, created: Mapping[str, str], names: Iterable[str] = ()
) -> dict[str, str]:
    """Recorded ID -> engine ID, from `created` (resource name -> engine ID). `names` may list
    extra recorded references that are already engine names (e.g. an existing network)."""
    ids = {recorded: created[resource] for recorded, resource in plan_.recorded_ids.items()}
    ids.update({name: name for name in names})
    return ids
