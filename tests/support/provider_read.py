"""What pulumi-docker records after reading a Swarm network, secret or service back from the
engine: terraform-provider-docker's Read functions, ported from Go, and a comparison of that
state with the inputs a stack declares.

pulumi-docker 5.2.0 bridges kreuzwerker/terraform-provider-docker v4.5.0 (its `upstream`
submodule, commit 5074970c). After every create or update the provider reads the object back and
records what it read; the next `pulumi up` diffs the program's inputs against that record. A value
the program sends in another form than the Read produces ("300s" where Read records "5m") is a
change on every `up`; for a replace-only field it is a replacement on every `up`.

Ported faithfully (same fields, same conditions, same formatting), from that commit:
- internal/provider/resource_docker_service_funcs.go: resourceDockerServiceReadRefreshFunc
- internal/provider/resource_docker_service_structures.go: flattenTaskSpec, flattenServiceMode,
  flattenReplicated, flattenServiceUpdateOrRollbackConfig, flattenServiceEndpoint(Spec),
  supportsServiceContainerInit, flattenContainerSpec, flattenPrivileges, flattenServiceMounts,
  flattenServiceHealthcheck, flattenServiceHosts, flattenServiceDNSConfig, flattenServiceSecrets,
  flattenServiceConfigs, flattenTaskResources, flattenResourceLimits,
  flattenResourceReservations, flattenResourceGenericResource, flattenTaskRestartPolicy,
  flattenTaskPlacement, flattenPlacementPrefs, flattenPlacementPlatforms,
  flattenTaskNetworksAdvanced, flattenTaskLogDriver, flattenServicePorts, shortDur,
  mapStringSliceToMap
- internal/provider/resource_docker_network_funcs.go: resourceDockerNetworkReadRefreshFunc;
  resource_docker_network_structures.go: flattenIpamConfigSpec
- internal/provider/resource_docker_secret.go: resourceDockerSecretRead
- internal/provider/helpers.go: mapToLabelSet
and from Go itself: time.Duration.String (src/time/time.go) and strconv.FormatFloat(v, 'f', 1, 64).

Terraform sets (schema.NewSet) are `TfSet`s here: equal regardless of order.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

Json = dict[str, Any]

_NANOSECOND, _MICROSECOND, _MILLISECOND, _SECOND = 1, 10**3, 10**6, 10**9


class TfSet(list[Any]):
    """A Terraform set: compares equal to another set with the same elements, in any order."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list):
            return NotImplemented
        rest = list(other)
        for item in self:
            for index, candidate in enumerate(rest):
                if candidate == item:
                    del rest[index]
                    break
            else:
                return False
        return not rest

    __hash__ = None


# --- Go's formatting -----------------------------------------------------------------------------


def _fmt_frac(value: int, precision: int) -> tuple[str, int]:
    """Go fmtFrac: the fraction of value/10**precision without trailing zeros ("" for none)."""
    digits = ""
    printing = False
    for _ in range(precision):
        digit = value % 10
        printing = printing or digit != 0
        if printing:
            digits = str(digit) + digits
        value //= 10
    return ("." + digits if printing else ""), value


def go_duration_string(nanos: int) -> str:
    """Go's time.Duration.String: "1h2m3.5s", "1.5ms", "0s"."""
    negative = nanos < 0
    u = -nanos if negative else nanos
    if u < _SECOND:
        if u == 0:
            return "0s"
        if u < _MICROSECOND:
            precision, unit = 0, "ns"
        elif u < _MILLISECOND:
            precision, unit = 3, "µs"
        else:
            precision, unit = 6, "ms"
        fraction, whole = _fmt_frac(u, precision)
        text = f"{whole}{fraction}{unit}"
    else:
        fraction, u = _fmt_frac(u, 9)
        text = f"{u % 60}{fraction}s"
        u //= 60
        if u > 0:
            text = f"{u % 60}m{text}"
            u //= 60
            if u > 0:
                text = f"{u}h{text}"
    return "-" + text if negative else text


def short_dur(nanos: int) -> str:
    """shortDur: Duration.String without a trailing "0s" after minutes or "0m" after hours."""
    text = go_duration_string(nanos)
    if text.endswith("m0s"):
        text = text[:-2]
    if text.endswith("h0m"):
        text = text[:-2]
    return text


def format_ratio(value: float) -> str:
    """strconv.FormatFloat(float64(float32 ratio), 'f', 1, 64): one decimal, rounded from the
    exact binary value, halves to even."""
    single = struct.unpack("f", struct.pack("f", value))[0]
    return str(Decimal(single).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


# --- services ------------------------------------------------------------------------------------


def _label_set(labels: Mapping[str, str] | None) -> TfSet:
    """mapToLabelSet."""
    return TfSet({"label": k, "value": v} for k, v in (labels or {}).items())


def _string_slice_to_map(values: Iterable[str]) -> dict[str, str]:
    """mapStringSliceToMap: 'k=v' entries; the value keeps any further '='."""
    mapped = {}
    for entry in values:
        if entry:
            key, _, value = entry.partition("=")
            mapped[key] = value
    return mapped


def _privileges(given: Json | None) -> list[Any]:
    if given is None:
        return []
    out: Json = {}
    credential = given.get("CredentialSpec")
    if credential is not None:
        out["credential_spec"] = [
            {"file": credential.get("File", ""), "registry": credential.get("Registry", "")}
        ]
    selinux = given.get("SELinuxContext")
    if selinux is not None:
        out["se_linux_context"] = [
            {
                "disable": selinux.get("Disable", False),
                "user": selinux.get("User", ""),
                "role": selinux.get("Role", ""),
                "type": selinux.get("Type", ""),
                "level": selinux.get("Level", ""),
            }
        ]
    return [out]


def _mounts(given: list[Json]) -> TfSet:
    out = TfSet()
    for mount in given:
        item: Json = {
            "target": mount.get("Target", ""),
            "source": mount.get("Source", ""),
            "type": mount.get("Type", ""),
            "read_only": mount.get("ReadOnly", False),
        }
        bind = mount.get("BindOptions")
        if bind is not None:
            options: Json = {}
            if bind.get("Propagation"):
                options["propagation"] = bind["Propagation"]
            item["bind_options"] = [options]
        volume = mount.get("VolumeOptions")
        if volume is not None:
            options = {
                "no_copy": volume.get("NoCopy", False),
                "labels": _label_set(volume.get("Labels")),
            }
            driver = volume.get("DriverConfig")
            if driver is not None:
                if driver.get("Name"):
                    options["driver_name"] = driver["Name"]
                options["driver_options"] = dict(driver.get("Options") or {})
            item["volume_options"] = [options]
        tmpfs = mount.get("TmpfsOptions")
        if tmpfs is not None:
            # int(v.TmpfsOptions.Mode.Perm()): the permission bits only.
            item["tmpfs_options"] = [
                {"size_bytes": tmpfs.get("SizeBytes", 0), "mode": tmpfs.get("Mode", 0) & 0o777}
            ]
        out.append(item)
    return out


def _healthcheck(given: Json | None) -> list[Any]:
    if given is None:
        return []
    check: Json = {}
    if given.get("Test"):
        check["test"] = list(given["Test"])
    check["interval"] = short_dur(given.get("Interval", 0))
    check["timeout"] = short_dur(given.get("Timeout", 0))
    check["start_period"] = short_dur(given.get("StartPeriod", 0))
    check["retries"] = given.get("Retries", 0)
    return [check]


def _hosts(given: list[str]) -> TfSet:
    out = TfSet()
    for entry in given:
        ip, host = entry.split(" ")[:2]
        out.append({"ip": ip, "host": host})
    return out


def _dns_config(given: Json | None) -> list[Any]:
    if given is None:
        return []
    config: Json = {}
    for source, target in (("Nameservers", "nameservers"), ("Search", "search"),
                           ("Options", "options")):  # fmt: skip
        if given.get(source):
            config[target] = list(given[source])
    return [config]


def _file_references(given: list[Json], kind: str) -> TfSet:
    out = TfSet()
    prefix = kind.lower()
    for reference in given:
        item: Json = {f"{prefix}_id": reference.get(f"{kind}ID", "")}
        if reference.get(f"{kind}Name"):
            item[f"{prefix}_name"] = reference[f"{kind}Name"]
        file = reference.get("File")
        if file is not None:
            item["file_name"] = file.get("Name", "")
            if file.get("UID"):
                item["file_uid"] = file["UID"]
            if file.get("GID"):
                item["file_gid"] = file["GID"]
            item["file_mode"] = file.get("Mode", 0)
        out.append(item)
    return out


def supports_service_container_init(api_version: str) -> bool:
    """client.ClientVersion() >= "1.37": a string comparison in Go too."""
    return api_version >= "1.37"


def _container_spec(given: Json, api_version: str) -> list[Any]:
    m: Json = {}
    if given.get("Image"):
        m["image"] = given["Image"]
    if given.get("Labels"):
        m["labels"] = _label_set(given["Labels"])
    for source, target in (("Command", "command"), ("Args", "args"), ("Hostname", "hostname")):
        if given.get(source):
            m[target] = given[source]
    if given.get("Env"):
        m["env"] = _string_slice_to_map(given["Env"])
    for source, target in (("User", "user"), ("Dir", "dir"), ("Groups", "groups")):
        if given.get(source):
            m[target] = given[source]
    if given.get("Privileges") is not None:
        m["privileges"] = _privileges(given["Privileges"])
    if given.get("ReadOnly"):
        m["read_only"] = True
    if given.get("Mounts"):
        m["mounts"] = _mounts(given["Mounts"])
    if given.get("StopSignal"):
        m["stop_signal"] = given["StopSignal"]
    if given.get("StopGracePeriod") is not None:
        m["stop_grace_period"] = short_dur(given["StopGracePeriod"])
    if given.get("Healthcheck") is not None:
        m["healthcheck"] = _healthcheck(given["Healthcheck"])
    if given.get("Hosts"):
        m["hosts"] = _hosts(given["Hosts"])
    if given.get("DNSConfig") is not None:
        m["dns_config"] = _dns_config(given["DNSConfig"])
    if given.get("Secrets"):
        m["secrets"] = _file_references(given["Secrets"], "Secret")
    if given.get("Configs"):
        m["configs"] = _file_references(given["Configs"], "Config")
    if given.get("Isolation"):
        m["isolation"] = given["Isolation"]
    if given.get("Sysctls"):
        m["sysctl"] = given["Sysctls"]
    if given.get("CapabilityAdd"):
        m["cap_add"] = given["CapabilityAdd"]
    if given.get("CapabilityDrop"):
        m["cap_drop"] = given["CapabilityDrop"]
    if supports_service_container_init(api_version) and given.get("Init") is not None:
        m["init"] = given["Init"]
    return [m]


def _generic_resources(given: list[Json] | None) -> list[Any]:
    if not given:
        return []
    named = TfSet()
    discrete = TfSet()
    for resource in given:
        if resource.get("NamedResourceSpec") is not None:
            spec = resource["NamedResourceSpec"]
            named.append(f"{spec['Kind']}={spec['Value']}")
        if resource.get("DiscreteResourceSpec") is not None:
            spec = resource["DiscreteResourceSpec"]
            discrete.append(f"{spec['Kind']}={int(spec['Value'])}")
    return [{"named_resources_spec": named, "discrete_resources_spec": discrete}]


def _resources(given: Json | None) -> list[Any]:
    if given is None:
        return []
    limits = given.get("Limits")
    reservations = given.get("Reservations")
    return [
        {
            "limits": []
            if limits is None
            else [
                {
                    "nano_cpus": limits.get("NanoCPUs", 0),
                    "memory_bytes": limits.get("MemoryBytes", 0),
                }
            ],
            "reservation": []
            if reservations is None
            else [
                {
                    "nano_cpus": reservations.get("NanoCPUs", 0),
                    "memory_bytes": reservations.get("MemoryBytes", 0),
                    "generic_resources": _generic_resources(reservations.get("GenericResources")),
                }
            ],
        }
    ]


def _restart_policy(given: Json | None) -> list[Any]:
    if given is None:
        return []
    policy: Json = {}
    if given.get("Condition"):
        policy["condition"] = given["Condition"]
    if given.get("Delay") is not None:
        policy["delay"] = short_dur(given["Delay"])
    if given.get("MaxAttempts") is not None:
        policy["max_attempts"] = given["MaxAttempts"]
    if given.get("Window") is not None:
        policy["window"] = short_dur(given["Window"])
    return [policy]


def _placement(given: Json | None) -> list[Any]:
    if given is None:
        return []
    placement: Json = {}
    if given.get("Constraints"):
        placement["constraints"] = TfSet(given["Constraints"])
    if given.get("Preferences"):
        placement["prefs"] = TfSet(p["Spread"]["SpreadDescriptor"] for p in given["Preferences"])
    if given.get("Platforms"):
        placement["platforms"] = TfSet(
            {"architecture": p.get("Architecture", ""), "os": p.get("OS", "")}
            for p in given["Platforms"]
        )
    placement["max_replicas"] = given.get("MaxReplicas", 0)
    return [placement]


def _networks_advanced(given: list[Json]) -> TfSet:
    out = TfSet()
    for network in given:
        item: Json = {
            "id": network.get("Target", ""),
            "driver_opts": TfSet(f"{k}={v}" for k, v in (network.get("DriverOpts") or {}).items()),
        }
        if network.get("Aliases"):
            item["aliases"] = TfSet(network["Aliases"])
        out.append(item)
    return out


def _task_spec(given: Json, api_version: str) -> list[Any]:
    m: Json = {}
    if given.get("ContainerSpec") is not None:
        m["container_spec"] = _container_spec(given["ContainerSpec"], api_version)
    if given.get("Resources") is not None:
        m["resources"] = _resources(given["Resources"])
    if given.get("RestartPolicy") is not None:
        m["restart_policy"] = _restart_policy(given["RestartPolicy"])
    if given.get("Placement") is not None:
        m["placement"] = _placement(given["Placement"])
    m["force_update"] = given.get("ForceUpdate", 0)
    if given.get("Runtime"):
        m["runtime"] = given["Runtime"]
    if given.get("Networks"):
        m["networks_advanced"] = _networks_advanced(given["Networks"])
    if given.get("LogDriver") is not None:
        driver = given["LogDriver"]
        log: Json = {"name": driver.get("Name", "")}
        if driver.get("Options"):
            log["options"] = driver["Options"]
        m["log_driver"] = [log]
    return [m]


def _mode(given: Json) -> list[Any]:
    m: Json = {}
    if given.get("Replicated") is not None:
        replicated: Json = {}
        if given["Replicated"].get("Replicas") is not None:
            replicated["replicas"] = given["Replicated"]["Replicas"]
        m["replicated"] = [replicated]
    m["global"] = given.get("Global") is not None
    return [m]


def _rollout(given: Json | None) -> list[Any]:
    if given is None:
        return []
    return [
        {
            "parallelism": given.get("Parallelism", 0),
            "delay": short_dur(given.get("Delay", 0)),
            "failure_action": given.get("FailureAction", ""),
            "monitor": short_dur(given.get("Monitor", 0)),
            "max_failure_ratio": format_ratio(given.get("MaxFailureRatio", 0.0)),
            "order": given.get("Order", ""),
        }
    ]


def _ports(given: list[Json] | None) -> list[Any]:
    return [
        {
            "name": port.get("Name", ""),
            "protocol": port.get("Protocol", ""),
            "target_port": port.get("TargetPort", 0),
            "published_port": port.get("PublishedPort", 0),
            "publish_mode": port.get("PublishMode", ""),
        }
        for port in given or []
    ]


class NotReadyError(AssertionError):
    """The Read would keep polling ("pending"): the engine does not expose every field yet."""


def read_service(inspect: Json, api_version: str) -> Json:
    """resourceDockerServiceReadRefreshFunc: the state recorded from GET /services/{id}."""
    spec = inspect["Spec"]
    endpoint = inspect.get("Endpoint") or {}
    endpoint_mode = (endpoint.get("Spec") or {}).get("Mode", "")
    spec_endpoint = spec.get("EndpointSpec") or {}
    if not endpoint_mode and not spec_endpoint.get("Mode"):
        raise NotReadyError(f"service {spec['Name']} does not expose its endpoint spec yet")
    state: Json = {
        "name": spec["Name"],
        "labels": _label_set(spec.get("Labels")),
        "task_spec": _task_spec(spec["TaskTemplate"], api_version),
        "mode": _mode(spec.get("Mode") or {}),
        "update_config": _rollout(spec.get("UpdateConfig")),
        "rollback_config": _rollout(spec.get("RollbackConfig")),
    }
    if endpoint_mode:  # flattenServiceEndpoint: the engine's endpoint, ports as allocated
        state["endpoint_spec"] = [{"mode": endpoint_mode, "ports": _ports(endpoint.get("Ports"))}]
    else:
        state["endpoint_spec"] = [
            {"mode": spec_endpoint["Mode"], "ports": _ports(spec_endpoint.get("Ports"))}
        ]
    return state


# --- networks and secrets -----------------------------------------------------------------------

# networkReadRefreshDelay: the Read's first look comes 2 s after the create.
NETWORK_READ_DELAY_SECONDS = 2.0


def read_network(inspect: Json) -> Json:
    """resourceDockerNetworkReadRefreshFunc: the state recorded from GET /networks/{id}. (Its
    wait for options applies to Scope "overlay", which the engine never reports: a Swarm
    network's scope is "swarm".)"""
    ipam = inspect.get("IPAM") or {}
    if inspect.get("Scope") == "overlay" and not inspect.get("Options"):
        raise NotReadyError(f"network {inspect['Name']} does not expose its options yet")
    ipam_configs = TfSet()
    for config in ipam.get("Config") or []:
        item: Json = {}
        for source, target in (("Subnet", "subnet"), ("IPRange", "ip_range"),
                               ("Gateway", "gateway")):  # fmt: skip
            if config.get(source):
                item[target] = config[source]
        if config.get("AuxiliaryAddresses"):
            item["aux_address"] = dict(config["AuxiliaryAddresses"])
        ipam_configs.append(item)
    return {
        "name": inspect["Name"],
        "labels": _label_set(inspect.get("Labels")),
        "driver": inspect.get("Driver", ""),
        "internal": inspect.get("Internal", False),
        "attachable": inspect.get("Attachable", False),
        "ingress": inspect.get("Ingress", False),
        "ipv6": inspect.get("EnableIPv6", False),
        "ipam_driver": ipam.get("Driver", ""),
        "ipam_options": dict(ipam.get("Options") or {}),
        "scope": inspect.get("Scope", ""),
        "options": dict(inspect.get("Options") or {}),
        "ipam_config": ipam_configs,
    }


def read_secret(inspect: Json) -> Json:
    """resourceDockerSecretRead: only the name; data and labels stay as the program set them
    ("secret data is not exposed via the API")."""
    return {"name": inspect["Spec"]["Name"]}
