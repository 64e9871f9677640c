"""Server settings from the environment, validated once at start with messages that name the
variable, the value and what is allowed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from model_server.cpus import default_workers

DEFAULT_PORT = 8080
DEFAULT_GRACEFUL_TIMEOUT = 20.0
# Kubernetes and Swarm stop routing to a terminating replica a moment after they send SIGTERM;
# serving on (while /readyz says 503) for this long lets those late requests still succeed.
DEFAULT_DRAIN_SECONDS = 3.0
DEFAULT_MAX_BODY_BYTES = 1 << 20  # 1 MiB of JSON is ~25k rows of iris features
DEFAULT_MAX_ROWS = 10_000


class Framework(StrEnum):
    SKLEARN = "sklearn"
    ONNX = "onnx"
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"
    MLFLOW = "mlflow"


# Only unambiguous suffixes (.json or .txt could be anything); images set MODEL_FRAMEWORK.
_SUFFIXES = {
    ".joblib": Framework.SKLEARN,
    ".pkl": Framework.SKLEARN,
    ".onnx": Framework.ONNX,
    ".ubj": Framework.XGBOOST,
}


class ConfigError(ValueError):
    """A bad environment variable; the message says which, what it was and what is allowed."""


@dataclass(frozen=True)
class ServerConfig:
    model_name: str
    model_version: str
    model_path: Path
    framework: Framework
    host: str
    port: int
    workers: int
    graceful_timeout: float
    drain_seconds: float
    max_body_bytes: int
    max_rows: int
    log_level: str

    @property
    def shutdown_budget(self) -> float:
        """Seconds in-flight requests get after draining, leaving 1 s to exit within the timeout."""
        return max(0.5, self.graceful_timeout - self.drain_seconds - 1.0)


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number from {low:g} to {high:g}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r}: expected a number from {low:g} to {high:g}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _number(env, name, default, low, high)
    if value != int(value):
        raise ConfigError(f"{name}={env[name]!r}: expected a whole number from {low} to {high}")
    return int(value)


def _framework(env: Mapping[str, str], path: Path) -> Framework:
    raw = env.get("MODEL_FRAMEWORK")
    allowed = ", ".join(f.value for f in Framework)
    if raw:
        try:
            return Framework(raw)
        except ValueError:
            raise ConfigError(f"MODEL_FRAMEWORK={raw!r}: expected one of {allowed}") from None
    if path.suffix in _SUFFIXES:
        return _SUFFIXES[path.suffix]
    raise ConfigError(
        f"MODEL_PATH={str(path)!r}: cannot tell the framework from the suffix "
        f"(known: {', '.join(_SUFFIXES)}); set MODEL_FRAMEWORK to one of {allowed}"
    )


def load_config(env: Mapping[str, str] | None = None) -> ServerConfig:
    env = os.environ if env is None else env
    raw_path = env.get("MODEL_PATH", "")
    if not raw_path:
        raise ConfigError("MODEL_PATH is not set: expected the path of the model artifact")
    path = Path(raw_path)
    graceful = _number(env, "GRACEFUL_TIMEOUT", DEFAULT_GRACEFUL_TIMEOUT, 1, 3600)
    drain = _number(env, "DRAIN_SECONDS", min(DEFAULT_DRAIN_SECONDS, graceful / 2), 0, 3600)
    if drain >= graceful:
        raise ConfigError(
            f"DRAIN_SECONDS={drain:g}: expected less than GRACEFUL_TIMEOUT={graceful:g}, "
            "so in-flight requests still have time to finish"
        )
    workers_default = default_workers()
    return ServerConfig(
        model_name=env.get("MODEL_NAME") or path.stem,
        model_version=env.get("MODEL_VERSION") or "unversioned",
        model_path=path,
        framework=_framework(env, path),
        host=env.get("HOST") or "0.0.0.0",  # noqa: S104 - a container serves on all interfaces
        port=_integer(env, "PORT", DEFAULT_PORT, 1, 65535),
        workers=_integer(env, "WORKERS", workers_default, 1, 256),
        graceful_timeout=graceful,
        drain_seconds=drain,
        max_body_bytes=_integer(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024, 1 << 30),
        max_rows=_integer(env, "MAX_ROWS", DEFAULT_MAX_ROWS, 1, 10_000_000),
        log_level=(env.get("LOG_LEVEL") or "info").lower(),
    )
