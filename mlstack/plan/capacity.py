"""Per-replica capacity of each model at each size: the small committed file the planner reads.

`stacks/capacity.yaml` holds, per model and per CPU/memory limit pair, what `mlstack plan ENV
--measure` measured from the real image under those limits: a curve of offered load against
served load, p50/p99 latency and CPU used, the startup time (container start to ready) and the
memory used, with when and how it was measured and a fingerprint of the image's inputs (model
artifact, server code, locked requirements). The planner derives "throughput at a p99 target" from
the curve, and calls a figure stale when the fingerprint no longer matches the stack's image or
the measurement is older than a limit.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mlstack.components.settings.quantities import cpu_millis

CAPACITY_FILE = Path("stacks") / "capacity.yaml"
FORMAT_VERSION = 1
# Build-context files that do not change how the server performs: the Dockerfile names the
# base image (the measuring machine may use an offline-made one), the CA bundle only helps pip.
NOT_FINGERPRINTED = ("Dockerfile", "extra-ca.pem")

HEADER = """\
# Per-replica capacity of each model at each size (CPU and memory limits), measured from the real
# image by `mlstack plan ENV --measure` and read by `mlstack plan`. Do not edit by hand: measure
# again. `inputs` fingerprints the image's model artifact, server code and locked requirements;
# a change to any of them, or an age above `mlstack plan --max-age-days`, makes a figure stale.
"""


class CapacityError(ValueError):
    """The capacity file is unreadable or malformed."""


@dataclass(frozen=True)
class CurvePoint:
    offered: float  # requests/s offered to one replica
    served: float  # requests/s it answered 200
    p50_ms: float
    p99_ms: float
    cores: float  # CPU cores it used


@dataclass(frozen=True)
class Capacity:
    model: str
    framework: str
    size: str
    cpu_limit: str
    memory_limit: str
    inputs: str
    measured: str  # ISO 8601, UTC
    how: str
    request: str
    startup_seconds: float
    memory_bytes: int
    idle_cores: float
    curve: tuple[CurvePoint, ...] = field(default=())

    @property
    def key(self) -> str:
        return limits_key(self.cpu_limit, self.memory_limit)

    @property
    def saturation_rps(self) -> float:
        """The most one replica served at any offered rate."""
        return max((point.served for point in self.curve), default=0.0)

    def throughput_at(self, p99_ms: float) -> float:
        """Highest offered rate it fully served (98%) with p99 within `p99_ms`, interpolated
        towards the next measured rate. The highest such step counts even when a lower one
        missed: on a shared machine noise only ever adds latency, so a step that met the target
        shows the replica can."""
        points = sorted(self.curve, key=lambda p: p.offered)
        meets = [
            i for i, p in enumerate(points) if p.p99_ms <= p99_ms and p.served >= 0.98 * p.offered
        ]
        if not meets:
            return 0.0
        best = points[meets[-1]]
        if meets[-1] + 1 == len(points):
            return best.offered
        above = points[meets[-1] + 1]
        if above.p99_ms <= best.p99_ms:
            return best.offered
        share = (p99_ms - best.p99_ms) / (above.p99_ms - best.p99_ms)
        reach = min(above.offered, max(above.served, best.offered))
        return best.offered + max(0.0, min(1.0, share)) * (reach - best.offered)

    def _latency_envelope(self) -> list[tuple[float, float]]:
        """(offered, p99) with each p99 the lowest seen at that rate or above: noise on a shared
        machine only ever adds latency, and a replica is never faster under more load."""
        points = sorted(self.curve, key=lambda p: p.offered)
        envelope: list[tuple[float, float]] = []
        lowest = math.inf
        for point in reversed(points):
            lowest = min(lowest, point.p99_ms)
            envelope.append((point.offered, lowest))
        return envelope[::-1]

    def p99_at(self, rps: float) -> float:
        """p99 latency one replica gives at `rps` offered, interpolated on the latency envelope;
        beyond the last point, the last point's (an overloaded replica's queue is bounded by its
        clients' timeouts, not by the server)."""
        envelope = self._latency_envelope()
        if not envelope:
            return 0.0
        rates = [rate for rate, _ in envelope]
        index = bisect.bisect_left(rates, rps)
        if index == 0:
            return envelope[0][1]
        if index >= len(envelope):
            return envelope[-1][1]
        (low_rate, low), (high_rate, high) = envelope[index - 1], envelope[index]
        return low + (rps - low_rate) / (high_rate - low_rate) * (high - low)

    def cores_at(self, rps: float) -> float:
        """CPU one replica uses serving `rps`: linear between measured points, never less than
        at a lower rate (a dip is the measuring machine's noise), its most beyond saturation."""
        points = sorted(self.curve, key=lambda p: p.served)
        if not points:
            return self.idle_cores
        served, cores, most = [], [], 0.0
        for point in points:
            most = max(most, point.cores)
            served.append(point.served)
            cores.append(most)
        if rps <= served[0]:
            share = rps / served[0] if served[0] else 0.0
            return self.idle_cores + share * (cores[0] - self.idle_cores)
        index = bisect.bisect_left(served, rps)
        if index >= len(points):
            return cores[-1]
        if served[index] == served[index - 1]:
            return cores[index]
        share = (rps - served[index - 1]) / (served[index] - served[index - 1])
        return cores[index - 1] + share * (cores[index] - cores[index - 1])

    def age_days(self, now: datetime) -> float:
        return (now - datetime.fromisoformat(self.measured)).total_seconds() / 86400


def limits_key(cpu_limit: str, memory_limit: str) -> str:
    return f"cpu={cpu_limit},memory={memory_limit}"


def inputs_fingerprint(context: Path) -> str:
    """sha256 over the build context's files that change how the server performs."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        relative = path.relative_to(context).as_posix()
        if relative in NOT_FINGERPRINTED:
            continue
        data = path.read_bytes()
        digest.update(f"{relative}\0{len(data)}\0".encode())
        digest.update(data)
    return f"sha256:{digest.hexdigest()[:16]}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


_POINT_KEYS = {"offered": "offered", "served": "served", "p50Ms": "p50_ms", "p99Ms": "p99_ms",
               "cores": "cores"}  # fmt: skip
_ENTRY_KEYS = {_camel(name): name for name in Capacity.__dataclass_fields__ if name != "model"}


def _entry(model: str, key: str, data: Any, source: Path) -> Capacity:
    where = f"{source}: models.{model}.{key}"
    if not isinstance(data, Mapping):
        raise CapacityError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_ENTRY_KEYS))
    missing = sorted(set(_ENTRY_KEYS) - set(data))
    if unknown or missing:
        raise CapacityError(
            f"{where}: unknown keys {unknown}, missing keys {missing}; measure again with "
            "`mlstack plan ENV --measure`"
        )
    values = {_ENTRY_KEYS[k]: v for k, v in data.items()}
    try:
        curve = tuple(
            CurvePoint(**{_POINT_KEYS[k]: float(v) for k, v in point.items()})
            for point in values.pop("curve")
        )
        entry = Capacity(model=model, curve=curve, **values)
        datetime.fromisoformat(entry.measured)
    except (TypeError, KeyError, ValueError, AttributeError) as error:
        raise CapacityError(f"{where}: {error}") from None
    if entry.key != key:
        raise CapacityError(f"{where}: its limits say {entry.key}, its key says {key}")
    return entry


def load(path: Path) -> dict[tuple[str, str], Capacity]:
    """(model, limits key) -> Capacity; empty when the file does not exist."""
    if not path.is_file():
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise CapacityError(f"{path}: not YAML: {error}") from None
    if document.get("version") != FORMAT_VERSION:
        raise CapacityError(
            f"{path}: version is {document.get('version')!r}; this mlstack reads "
            f"version {FORMAT_VERSION}"
        )
    found: dict[tuple[str, str], Capacity] = {}
    for model, sizes in (document.get("models") or {}).items():
        for key, data in (sizes or {}).items():
            found[(model, key)] = _entry(model, key, data, path)
    return found


def _document(entries: Mapping[tuple[str, str], Capacity]) -> dict[str, Any]:
    models: dict[str, dict[str, Any]] = {}
    for (model, key), entry in sorted(entries.items()):
        data = {_camel(k): v for k, v in asdict(entry).items() if k not in ("model", "curve")}
        data["curve"] = [
            {"offered": round(p.offered, 1), "served": round(p.served, 1),
             "p50Ms": round(p.p50_ms, 2), "p99Ms": round(p.p99_ms, 2),
             "cores": round(p.cores, 3)}
            for p in entry.curve
        ]  # fmt: skip
        models.setdefault(model, {})[key] = data
    return {"version": FORMAT_VERSION, "models": models}


def save(path: Path, entry: Capacity) -> None:
    """Add or replace one model's figure for one size; keep the others."""
    entries = load(path)
    entries[(entry.model, entry.key)] = entry
    text = HEADER + yaml.safe_dump(_document(entries), sort_keys=False, width=100)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Lookup:
    """The figure for one model and size, or why there is none (or why it may be wrong)."""

    capacity: Capacity | None
    problems: tuple[str, ...]  # missing: the planner cannot run without a figure
    warnings: tuple[str, ...]  # stale: the planner runs and says so


def find(
    entries: Mapping[tuple[str, str], Capacity],
    *,
    model: str,
    cpu_limit: str,
    memory_limit: str,
    inputs: str,
    max_age_days: float,
    now: datetime,
    measure_command: str,
    source: Path,
) -> Lookup:
    key = limits_key(cpu_limit, memory_limit)
    entry = entries.get((model, key))
    if entry is None:
        known = sorted(k for m, k in entries if m == model)
        return Lookup(
            None,
            (
                f"{source}: no capacity measured for model {model} at {key} "
                f"(measured: {', '.join(known) or 'none'}); run `{measure_command}`",
            ),
            (),
        )
    warnings = []
    if entry.inputs != inputs:
        warnings.append(
            f"capacity of {model} at {key} is stale: measured for image inputs {entry.inputs}, "
            f"the stack builds {inputs}; run `{measure_command}`"
        )
    busiest = max((point.cores for point in entry.curve), default=0.0)
    limit = cpu_millis(entry.cpu_limit) / 1000
    if 0 < busiest < 0.5 * limit:
        warnings.append(
            f"capacity of {model} at {key}: at saturation the replica used at most "
            f"{busiest:.2f} of its {limit:g} CPU limit: the measuring machine starved it, or "
            "the server is bound by something other than CPU (an HPA on CPU then sees it less "
            f"busy than it is); measure on an idle machine: `{measure_command}`"
        )
    age = entry.age_days(now)
    if age > max_age_days:
        warnings.append(
            f"capacity of {model} at {key} is stale: measured {age:.0f} days ago "
            f"({entry.measured}), more than {max_age_days:g}; run `{measure_command}`"
        )
    return Lookup(entry, (), tuple(warnings))
