"""Kubernetes resource quantities, parsed once so every orchestrator gets exact numbers.

Kubernetes takes quantities as strings ("500m", "1.5", "512Mi"); Docker Swarm wants nano-CPUs and
bytes. Parsing here (instead of in each component) means a malformed value fails at settings time
and both orchestrators agree on what a size means.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ..go_duration import NANOS_PER_SECOND, DurationError, parse_go_duration

_CPU = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<unit>m?)$")
_BYTES = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?$")
_BYTE_UNITS = {
    "": 1,
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip

CPU_EXAMPLE = "a CPU quantity such as 250m, 1 or 1.5"
BYTES_EXAMPLE = "a byte quantity such as 512Mi, 2Gi or 1G"


def cpu_millis(quantity: str) -> int:
    """CPU quantity -> millicores. Raises ValueError for anything Kubernetes would reject."""
    match = _CPU.match(quantity.strip()) if isinstance(quantity, str) else None
    if match is None:
        raise ValueError(f"expected {CPU_EXAMPLE}")
    number = Decimal(match["number"])
    millis = number if match["unit"] == "m" else number * 1000
    if millis != millis.to_integral_value():
        raise ValueError(f"expected {CPU_EXAMPLE} (at most millicore precision)")
    if millis <= 0:
        raise ValueError(f"expected {CPU_EXAMPLE} greater than zero")
    return int(millis)


def byte_count(quantity: str) -> int:
    """Memory/storage quantity -> bytes. Raises ValueError for anything Kubernetes would reject."""
    match = _BYTES.match(quantity.strip()) if isinstance(quantity, str) else None
    if match is None:
        raise ValueError(f"expected {BYTES_EXAMPLE}")
    try:
        value = Decimal(match["number"]) * _BYTE_UNITS[match["unit"] or ""]
    except InvalidOperation as error:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"expected {BYTES_EXAMPLE}") from error
    if value <= 0 or value != value.to_integral_value():
        raise ValueError(f"expected {BYTES_EXAMPLE} that is a whole number of bytes above zero")
    return int(value)


def nano_cpus(quantity: str) -> int:
    """CPU quantity -> Docker nano-CPUs (1 CPU = 1e9)."""
    return cpu_millis(quantity) * 1_000_000


def duration_seconds(text: str) -> int:
    """Go duration ("90s", "10m", "1h30m"; the cluster-autoscaler reads them with Go's
    time.ParseDuration) -> whole seconds, never negative."""
    example = "expected a duration such as 30s, 10m or 1h"
    try:
        nanos = parse_go_duration(text)
    except DurationError as error:
        raise ValueError(f"{example} ({error})") from None
    seconds, rest = divmod(nanos, NANOS_PER_SECOND)
    if nanos < 0 or rest:
        raise ValueError(f"{example}: a whole number of seconds, not negative")
    return seconds
