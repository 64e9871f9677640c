"""Offered load over time: step, ramp, spike, diurnal, or a CSV of requests per second.

Written on the command line as KIND:key=value,... (durations as 90s, 10m, 2h; rates in
requests per second), e.g.

    step:from=200,to=2400,at=2m,duration=20m
    ramp:from=200,to=2400,over=10m,hold=10m
    spike:base=200,peak=2400,at=5m,for=1m,duration=20m
    diurnal:min=100,max=2400,period=24h,duration=24h
    csv:load.csv            (two columns: seconds since start, requests per second; a header
                             row is allowed; the rate holds until the next row)
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlstack.components.settings.quantities import duration_seconds

KINDS = ("step", "ramp", "spike", "diurnal", "csv")
EXAMPLES = {
    "step": "step:from=200,to=2400,at=2m,duration=20m",
    "ramp": "ramp:from=200,to=2400,over=10m,hold=10m",
    "spike": "spike:base=200,peak=2400,at=5m,for=1m,duration=20m",
    "diurnal": "diurnal:min=100,max=2400,period=24h,duration=24h",
    "csv": "csv:load.csv",
}


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class Profile:
    text: str
    duration: float  # seconds
    rate: Callable[[float], float]  # requests per second at t seconds

    @property
    def peak(self) -> float:
        return max(self.rate(t) for t in range(int(self.duration) + 1))


def _fields(kind: str, body: str, allowed: Mapping[str, str], text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for part in filter(None, body.split(",")):
        key, sep, value = part.partition("=")
        if not sep or key not in allowed:
            raise ProfileError(
                f"--load {text!r}: {part!r} is not one of {kind}'s keys "
                f"({', '.join(f'{k}=<{v}>' for k, v in allowed.items())}); e.g. {EXAMPLES[kind]}"
            )
        values[key] = value
    return values


def _rate(text: str, key: str, value: str | None, default: float | None = None) -> float:
    if value is None:
        if default is None:
            raise ProfileError(f"--load {text!r}: {key} is required")
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0 or math.isnan(number) or math.isinf(number):
        raise ProfileError(f"--load {text!r}: {key}={value!r} is not a rate >= 0 (requests/s)")
    return number


def _seconds(text: str, key: str, value: str | None, default: float | None = None) -> float:
    if value is None:
        if default is None:
            raise ProfileError(f"--load {text!r}: {key} is required")
        return default
    try:
        return float(duration_seconds(value))
    except ValueError:
        raise ProfileError(
            f"--load {text!r}: {key}={value!r} is not a duration such as 90s, 10m or 2h"
        ) from None


def parse(text: str, base_dir: Path) -> Profile:
    kind, sep, body = text.partition(":")
    if not sep or kind not in KINDS:
        raise ProfileError(
            f"--load {text!r}: expected KIND:..., KIND one of {', '.join(KINDS)}; e.g. "
            + "; ".join(EXAMPLES.values())
        )
    if kind == "csv":
        return _csv(text, base_dir / body if not Path(body).is_absolute() else Path(body))
    if kind == "step":
        f = _fields(kind, body, {"from": "req/s", "to": "req/s", "at": "time",
                                 "duration": "time"}, text)  # fmt: skip
        low, high = _rate(text, "from", f.get("from")), _rate(text, "to", f.get("to"))
        at = _seconds(text, "at", f.get("at"), 120)
        duration = _seconds(text, "duration", f.get("duration"), at + 1200)
        return Profile(text, duration, lambda t: high if t >= at else low)
    if kind == "ramp":
        f = _fields(kind, body, {"from": "req/s", "to": "req/s", "over": "time",
                                 "hold": "time", "start": "time"}, text)  # fmt: skip
        low, high = _rate(text, "from", f.get("from")), _rate(text, "to", f.get("to"))
        start = _seconds(text, "start", f.get("start"), 60)
        over = _seconds(text, "over", f.get("over"))
        hold = _seconds(text, "hold", f.get("hold"), 600)

        def ramp(t: float) -> float:
            if t < start:
                return low
            return low + (high - low) * min(1.0, (t - start) / over) if over else high

        return Profile(text, start + over + hold, ramp)
    if kind == "spike":
        f = _fields(kind, body, {"base": "req/s", "peak": "req/s", "at": "time", "for": "time",
                                 "duration": "time"}, text)  # fmt: skip
        base, peak = _rate(text, "base", f.get("base")), _rate(text, "peak", f.get("peak"))
        at = _seconds(text, "at", f.get("at"), 120)
        length = _seconds(text, "for", f.get("for"), 60)
        duration = _seconds(text, "duration", f.get("duration"), at + length + 900)
        return Profile(text, duration, lambda t: peak if at <= t < at + length else base)
    f = _fields(kind, body, {"min": "req/s", "max": "req/s", "period": "time",
                             "duration": "time"}, text)  # fmt: skip
    low, high = _rate(text, "min", f.get("min")), _rate(text, "max", f.get("max"))
    period = _seconds(text, "period", f.get("period"), 86400)
    duration = _seconds(text, "duration", f.get("duration"), period)
    if period <= 0:
        raise ProfileError(f"--load {text!r}: period must be longer than 0 s")
    # Lowest at t=0, highest half a period later.
    return Profile(
        text,
        duration,
        lambda t: low + (high - low) * (1 - math.cos(2 * math.pi * t / period)) / 2,
    )


def _csv(text: str, path: Path) -> Profile:
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except OSError as error:
        raise ProfileError(f"--load {text!r}: cannot read {path}: {error.strerror}") from None
    times: list[float] = []
    rates: list[float] = []
    for number, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        try:
            second, rate = float(row[0]), float(row[1])
        except (ValueError, IndexError):
            if number == 1:
                continue  # a header
            raise ProfileError(
                f"{path}:{number}: expected two numbers (seconds since start, requests per "
                f"second), got {','.join(row)!r}"
            ) from None
        if rate < 0 or (times and second <= times[-1]) or second < 0:
            raise ProfileError(
                f"{path}:{number}: times must start at >= 0 and increase, rates be >= 0 "
                f"(got {second:g}, {rate:g})"
            )
        times.append(second)
        rates.append(rate)
    if not times:
        raise ProfileError(f"{path}: no rows of seconds,requests-per-second")
    step = times[-1] - times[-2] if len(times) > 1 else 60.0

    def rate_at(t: float) -> float:
        index = bisect.bisect_right(times, t) - 1
        return rates[max(0, index)]

    return Profile(text, times[-1] + step, rate_at)
