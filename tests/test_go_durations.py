"""Every duration and ratio a stack sends to pulumi-docker is in the form the provider reads
back, so a second `pulumi up` sees no change.

The provider records durations with shortDur (terraform-provider-docker v4.5.0
internal/provider/resource_docker_service_structures.go): Go's time.Duration.String with a
trailing "0s" after minutes and "0m" after hours cut ("5m", "1m5s", "6m24s", "1h"); and
failure ratios with strconv.FormatFloat(v, 'f', 1, 64) ("0.0"). tests/support/provider_read.py ports
both; these tests check the port against Go's own examples and then everything mlstack sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mlstack.components.go_duration import parse_go_duration
from mlstack.components.swarm.specs.task import ratio
from mlstack.components.swarm.specs.timing import seconds
from tests.support.provider_read import format_ratio, go_duration_string, short_dur
from tests.support.stack_variants import all_recordings

SECOND = 10**9
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
MILLISECOND = 10**6


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        # Go's src/time/time_test.go durationTests.
        (0, "0s"),
        (1, "1ns"),
        (1100, "1.1µs"),
        (2200 * 1000, "2.2ms"),
        (3300 * MILLISECOND, "3.3s"),
        (4 * MINUTE + 5 * SECOND, "4m5s"),
        (4 * MINUTE + 5001 * MILLISECOND, "4m5.001s"),
        (5 * HOUR + 6 * MINUTE + 7001 * MILLISECOND, "5h6m7.001s"),
        (8 * MINUTE + 1, "8m0.000000001s"),
        ((1 << 63) - 1, "2562047h47m16.854775807s"),
        (-(1 << 63), "-2562047h47m16.854775808s"),
    ],
)
def test_the_port_formats_durations_as_go_does(nanos: int, text: str) -> None:
    assert go_duration_string(nanos) == text
    if nanos > 0:
        assert go_duration_string(-nanos) == "-" + text


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        # The provider's own acceptance tests (resource_docker_service_test.go) expect these.
        (10 * SECOND, "10s"),
        (5 * MILLISECOND, "5ms"),
        (10 * HOUR, "10h"),
        (3 * SECOND, "3s"),
        # What the issue saw: "300s", "65s" and "384s" come back as these.
        (300 * SECOND, "5m"),
        (65 * SECOND, "1m5s"),
        (384 * SECOND, "6m24s"),
        (HOUR + 5 * SECOND, "1h0m5s"),
        (HOUR + MINUTE, "1h1m"),
    ],
)
def test_short_dur_cuts_trailing_zero_units(nanos: int, text: str) -> None:
    assert short_dur(nanos) == text


@pytest.mark.parametrize(("value", "text"), [(0.0, "0.0"), (0.1, "0.1"), (1.0, "1.0"),
                                              (0.25, "0.2"), (0.35, "0.3")])  # fmt: skip
def test_ratios_keep_one_decimal_rounded_from_the_float32(value: float, text: str) -> None:
    assert format_ratio(value) == text


@pytest.mark.parametrize("value", [*range(0, 400), 599, 600, 601, 3599, 3600, 3605, 3660, 7200,
                                   86400, 90061])  # fmt: skip
def test_mlstack_writes_every_duration_as_the_provider_reads_it(value: int) -> None:
    assert seconds(value) == short_dur(value * SECOND)


def test_mlstack_writes_ratios_as_the_provider_reads_them() -> None:
    for value in (0.0, 0.1, 0.5, 1.0):
        assert ratio(value) == format_ratio(value)
    with pytest.raises(ValueError, match="one decimal"):
        ratio(0.25)  # read back as "0.2": a change on every up


# Duration fields of docker.Service (validateDurationGeq0 in resource_docker_service.go).
DURATION_FIELDS = {
    "interval", "timeout", "startPeriod", "stopGracePeriod", "delay", "window", "monitor",
}  # fmt: skip
RATIO_FIELDS = {"maxFailureRatio"}


def _fields(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _fields(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _fields(item, f"{path}[{index}]")
    else:
        yield path, value


def test_every_duration_and_ratio_a_stack_sends_is_already_in_read_back_form() -> None:
    checked = 0
    for variant, recording in all_recordings().items():
        for service in recording.of_type("docker:index/service:Service"):
            for path, value in _fields(service.inputs):
                field = path.rsplit(".", 1)[-1]
                if path.startswith("convergeConfig"):
                    continue  # never read back (the provider keeps the program's value)
                if field in DURATION_FIELDS:
                    assert value == short_dur(parse_go_duration(value)), (variant, path, value)
                    checked += 1
                elif field in RATIO_FIELDS:
                    assert value == format_ratio(float(value)), (variant, path, value)
                    checked += 1
    assert checked >= 40
