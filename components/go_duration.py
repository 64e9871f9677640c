"""Go durations ("30s", "1m30s", "500ms"), parsed as Go's time.ParseDuration parses them.

Every duration mlstack meets is read by a Go program in the end (the cluster-autoscaler's flags,
pulumi-docker's Swarm service fields, Docker's healthcheck), so one port of Go's parser is the
only reading of them: settings, checks and the tests' Engine-API translator all use this one.
"""

from __future__ import annotations

import re

NANOS_PER_SECOND = 10**9

# Go's time.ParseDuration units (src/time/format.go unitMap), in nanoseconds.
_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,  # U+00B5 micro sign
    "μs": 10**3,  # U+03BC Greek mu
    "ms": 10**6,
    "s": NANOS_PER_SECOND,
    "m": 60 * NANOS_PER_SECOND,
    "h": 3600 * NANOS_PER_SECOND,
}
_NUMBER = re.compile(r"([0-9]*)(?:\.([0-9]*))?")
_UNIT = re.compile(r"[^0-9.]*")


class DurationError(ValueError):
    """Text Go's time.ParseDuration refuses; the message is Go's."""


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: an optional sign, then numbers with an optional
    fraction, each followed by a unit ("300ms", "1.5h", "2h45m"); "0" alone is zero."""
    if not isinstance(text, str):
        raise DurationError(f"{text!r} is not a duration string")
    rest, negative = text, False
    if rest[:1] in ("-", "+"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise DurationError(f"time: invalid duration {text!r}")
    total = 0
    while rest:
        number = _NUMBER.match(rest)
        assert number is not None  # the pattern matches the empty string
        whole, fraction = number.group(1), number.group(2)
        if not whole and not fraction:
            raise DurationError(f"time: invalid duration {text!r}")
        rest = rest[number.end() :]
        unit_text = _UNIT.match(rest)
        assert unit_text is not None
        unit = unit_text.group(0)
        if not unit:
            raise DurationError(f"time: missing unit in duration {text!r}")
        if unit not in _UNITS:
            raise DurationError(f"time: unknown unit {unit!r} in duration {text!r}")
        rest = rest[len(unit) :]
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if fraction and int(fraction):
            # Go: v += uint64(float64(f) * (float64(unit) / scale)), in float64 like Go.
            value += int(float(int(fraction)) * (float(scale) / 10 ** len(fraction)))
        total += value
    return -total if negative else total
