"""Server settings from the environment, validated once at start with messages that name the
variable, the value and what is allowed."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .cpus import default_workers

DEFAULT_PORT = 8080
DEFAULT_GRACEFUL_TIMEOUT = 20.0
# Kubernetes and Swarm stop routing to a terminating replica a moment after they send SIGTERM;
# serving on (while /readyz says 503) for this long lets those late requests still succeed.
DEFAULT_DRAIN_SECONDS = 3.0
DEFAULT_MAX_BODY_BYTES = 1 << 20  # 1 MiB of JSON is ~25k rows of iris features
DEFAULT_MAX_ROWS = 10_000
# Bad clients: a request line or head beyond these sizes is refused (414/431) before it is kept in
# memory, a head must arrive within HEADER_TIMEOUT and a body within BODY_TIMEOUT (else 408),
# an idle keep-alive connection closes after KEEPALIVE_TIMEOUT, and a worker holds at most
# MAX_CONNECTIONS connections (the oldest idle one is closed for a new one; else 503).
DEFAULT_MAX_REQUEST_LINE_BYTES = 8192
DEFAULT_MAX_HEADER_BYTES = 16384
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
# Longer than the idle timeout of the load balancers in front (ALB: 60 s), so they close an idle
# connection first and never send a request on one the server is closing.
DEFAULT_KEEPALIVE_TIMEOUT = 75.0
DEFAULT_MAX_CONNECTIONS = 1000
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Plain decimal digits only: Python's int()/float() also take "2_0", "1e3", "inf" and " 8 ".
_INTEGER = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


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
    max_request_line_bytes: int = DEFAULT_MAX_REQUEST_LINE_BYTES
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @property
    def exit_margin(self) -> float:
        """Seconds kept back at the end of GRACEFUL_TIMEOUT to close connections and exit."""
        return min(0.5, self.graceful_timeout / 10)


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not _NUMBER.fullmatch(raw) or not low <= float(raw) <= high:
        raise ConfigError(
            f"{name}={raw!r}: expected a number from {low:g} to {high:g} in plain digits "
            "(like 2 or 2.5)"
        )
    return float(raw)


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise ConfigError(
            f"{name}={raw!r}: expected a whole number from {low} to {high} in plain digits"
        )
    return int(raw)


def _log_level(env: Mapping[str, str]) -> str:
    raw = env.get("LOG_LEVEL") or "info"
    if raw.lower() not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={raw!r}: expected one of {', '.join(LOG_LEVELS)}")
    return raw.lower()


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
        log_level=_log_level(env),
        max_request_line_bytes=_integer(
            env, "MAX_REQUEST_LINE_BYTES", DEFAULT_MAX_REQUEST_LINE_BYTES, 256, 1 << 20
        ),
        max_header_bytes=_integer(env, "MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, 1024, 1 << 20),
        header_timeout=_number(env, "HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT, 0.1, 3600),
        body_timeout=_number(env, "BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT, 0.1, 3600),
        keepalive_timeout=_number(env, "KEEPALIVE_TIMEOUT", DEFAULT_KEEPALIVE_TIMEOUT, 0.1, 3600),
        max_connections=_integer(env, "MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, 1, 1_000_000),
    )
