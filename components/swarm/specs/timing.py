"""Swarm timing decisions: healthcheck, rolling update and rollback, restarts, stop grace.

The numbers hang together:
- A task joins Swarm DNS only once its healthcheck passes, so a replacement receives traffic
  only when ready; the start period lets a slow model load without counting failures.
- After each updated task turns healthy, the updater watches it for `monitor`. That window must
  outlast the healthcheck's verdict on a task that turns bad (`retries` failures, each up to
  `interval + timeout` apart), or a replacement that dies right after its first success would
  pass as a good update.
- Before SIGTERM Swarm removes a task from DNS (and waits ~2 s for gossip); the server then
  drains and exits within GRACEFUL_TIMEOUT, so the stop grace period covers timeout + drain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ...server_contract import DRAIN_SECONDS, GRACEFUL_TIMEOUT_SECONDS

Order = Literal["start-first", "stop-first"]
FailureAction = Literal["rollback", "pause", "continue"]

# Share of a service's tasks replaced per step (Kubernetes' default maxSurge is 25% too).
UPDATE_SHARE = 0.25
UPDATE_DELAY_SECONDS = 5  # between batches: lets DNS and the proxy settle on the new tasks
MONITOR_MARGIN_SECONDS = 6
STOP_MARGIN_SECONDS = 5
RESTART_DELAY_SECONDS = 5
RESTART_MAX_ATTEMPTS = 3
RESTART_WINDOW_MARGIN_SECONDS = 60


def seconds(value: int) -> str:
    """A whole number of seconds as the Go duration pulumi-docker reads back: Go's
    time.Duration.String with a trailing "0s" after minutes and "0m" after hours cut (the
    provider's shortDur), so "5m", "1m5s", "6m24s", "1h". Written as "300s", the value would
    differ from its read-back form and show as a change on every `pulumi up`."""
    if value < 0:
        raise ValueError(f"a duration cannot be negative, got {value}")
    hours, rest = divmod(value, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours}h{minutes}m{secs}s"
    elif minutes:
        text = f"{minutes}m{secs}s"
    else:
        return f"{secs}s"
    if text.endswith("m0s"):
        text = text[:-2]
    if text.endswith("h0m"):
        text = text[:-2]
    return text


@dataclass(frozen=True)
class HealthcheckTiming:
    interval_seconds: int
    timeout_seconds: int
    retries: int
    start_period_seconds: int

    @property
    def verdict_seconds(self) -> int:
        """Longest time from a healthy task going bad to Docker calling it unhealthy."""
        return self.retries * (self.interval_seconds + self.timeout_seconds)


def model_healthcheck(startup_timeout_seconds: int) -> HealthcheckTiming:
    """/readyz every 5 s; failures during the model's startup timeout do not count (a success
    ends the start period at once, so a fast load is healthy within one interval)."""
    if startup_timeout_seconds < 1:
        raise ValueError(f"startup_timeout_seconds must be positive, got {startup_timeout_seconds}")
    return HealthcheckTiming(
        interval_seconds=5,
        timeout_seconds=3,
        retries=3,
        start_period_seconds=startup_timeout_seconds,
    )


# nginx starts in well under a second; 10 s covers a slow node.
PROXY_HEALTHCHECK = HealthcheckTiming(
    interval_seconds=5, timeout_seconds=3, retries=3, start_period_seconds=10
)


@dataclass(frozen=True)
class RolloutPolicy:
    """One of a service's update_config / rollback_config."""

    parallelism: int
    delay_seconds: int
    order: Order
    failure_action: FailureAction
    monitor_seconds: int
    max_failure_ratio: float


def update_parallelism(replicas: int) -> int:
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    return max(1, math.ceil(replicas * UPDATE_SHARE))


def monitor_seconds(health: HealthcheckTiming) -> int:
    return health.verdict_seconds + MONITOR_MARGIN_SECONDS


def update_policy(replicas: int, health: HealthcheckTiming, order: Order) -> RolloutPolicy:
    """Replace a quarter of the tasks at a time; any failed replacement rolls the service back.

    start-first keeps serving capacity during the update (a replacement runs beside the task it
    replaces). Only a service holding host-mode ports (the proxy with publishMode host) must use
    stop-first: the old task holds the port, so a replacement could never start beside it.
    """
    return RolloutPolicy(
        parallelism=update_parallelism(replicas),
        delay_seconds=UPDATE_DELAY_SECONDS,
        order=order,
        failure_action="rollback",
        monitor_seconds=monitor_seconds(health),
        max_failure_ratio=0.0,
    )


def rollback_policy(replicas: int, health: HealthcheckTiming, order: Order) -> RolloutPolicy:
    """Back to the previous spec at the update's pace, without delay; if the rollback itself
    fails, pause so a person looks (continuing would only cycle between two bad specs)."""
    return RolloutPolicy(
        parallelism=update_parallelism(replicas),
        delay_seconds=0,
        order=order,
        failure_action="pause",
        monitor_seconds=monitor_seconds(health),
        max_failure_ratio=0.0,
    )


@dataclass(frozen=True)
class RestartPolicy:
    condition: Literal["on-failure"]
    delay_seconds: int
    max_attempts: int
    window_seconds: int


def restart_policy(health: HealthcheckTiming) -> RestartPolicy:
    """Restart a failed task at most 3 times per window. The window outlasts a start (start
    period plus a verdict), so a task that can never start stops being restarted instead of
    crash-looping forever; a clean exit (after SIGTERM) is not restarted."""
    return RestartPolicy(
        condition="on-failure",
        delay_seconds=RESTART_DELAY_SECONDS,
        max_attempts=RESTART_MAX_ATTEMPTS,
        window_seconds=health.start_period_seconds
        + health.verdict_seconds
        + RESTART_WINDOW_MARGIN_SECONDS,
    )


def model_stop_grace_seconds(
    graceful_seconds: int = GRACEFUL_TIMEOUT_SECONDS, drain_seconds: int = DRAIN_SECONDS
) -> int:
    """SIGTERM to SIGKILL: the server's GRACEFUL_TIMEOUT, plus its drain and a margin, so even
    a server that counted the drain on top of the timeout exits before it is killed."""
    return graceful_seconds + drain_seconds + STOP_MARGIN_SECONDS


def proxy_stop_grace_seconds(read_timeout_seconds: int) -> int:
    """nginx stops gracefully on SIGQUIT: in-flight requests may take up to the read timeout."""
    return read_timeout_seconds + STOP_MARGIN_SECONDS


def converge_timeout_seconds(
    replicas: int, health: HealthcheckTiming, policy: RolloutPolicy
) -> int:
    """How long `pulumi up` waits for a created or updated service to run every task healthy:
    each batch may take a full start period, then the last one is monitored."""
    batches = math.ceil(replicas / policy.parallelism)
    return (
        batches * (health.start_period_seconds + policy.delay_seconds)
        + policy.monitor_seconds
        + RESTART_WINDOW_MARGIN_SECONDS
    )
