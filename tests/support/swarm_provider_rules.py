"""What pulumi-docker's Swarm provider refuses in a docker.Service before it calls the engine.

pulumi-docker 5.2.0 bridges kreuzwerker/terraform-provider-docker v4.5.0; its schema
(internal/provider/resource_docker_service.go) validates values with the functions of
internal/provider/validators.go, and parses durations with Go's time.ParseDuration (ported in
components/go_duration.py). The Engine-API translator (tests/support/swarm_spec.py) applies the same
checks, so a spec the provider would refuse never reaches the engine in a test either.
"""

from __future__ import annotations

import re
from typing import Any

from mlstack.components.go_duration import DurationError, parse_go_duration


class ProviderRuleError(ValueError):
    """A value the provider's schema validation refuses."""


def duration_at_least_zero(value: Any, where: str) -> int:
    """validateDurationGeq0: a Go duration, not negative; nanoseconds."""
    try:
        nanos = parse_go_duration(value)
    except DurationError as error:
        raise ProviderRuleError(f"{where}: {value!r} is not a valid duration ({error})") from None
    if nanos < 0:
        raise ProviderRuleError(f"{where}: {value!r} duration must not be negative")
    return nanos


def integer_at_least(value: int, threshold: int, where: str) -> int:
    """validateIntegerGeqThan(threshold)."""
    if value < threshold:
        raise ProviderRuleError(f"{where}: '{value}' cannot be lower than {threshold}")
    return value


def float_ratio(value: Any, where: str) -> float:
    """validateStringIsFloatRatio: a string holding a float from 0.0 to 1.0."""
    try:
        ratio = float(str(value))
    except ValueError:
        raise ProviderRuleError(f"{where}: '{value}' is not a float") from None
    if not 0.0 <= ratio <= 1.0:
        raise ProviderRuleError(f"{where}: '{value}' has to be between 0.0 and 1.0")
    return ratio


def matches(value: str, pattern: str, where: str) -> str:
    """validateStringMatchesPattern: Go's regexp MatchString, which is a search (the schema's
    patterns carry their own anchors, or none: rollback_config's are unanchored)."""
    if not isinstance(value, str) or re.search(pattern, value) is None:
        raise ProviderRuleError(f"{where}: '{value}' doesn't match the pattern '{pattern}'")
    return value


# The schema's patterns (resource_docker_service.go), by field.
RESTART_CONDITION = r"^(none|on-failure|any)$"
UPDATE_FAILURE_ACTION = r"^(pause|continue|rollback)$"
UPDATE_ORDER = r"^(stop-first|start-first)$"
ROLLBACK_FAILURE_ACTION = r"(pause|continue)"
ROLLBACK_ORDER = r"(stop-first|start-first)"
ENDPOINT_MODE = r"^(vip|dnsrr)$"
PORT_PROTOCOL = r"^(tcp|udp|sctp)$"
PUBLISH_MODE = r"^(host|ingress)$"
ISOLATION = r"^(default|process|hyperv)$"
RUNTIME = r"^(container|plugin)$"
MOUNT_TYPE = r"^(bind|volume|tmpfs)$"
BIND_PROPAGATION = r"^(private|rprivate|shared|rshared|slave|rslave)$"
