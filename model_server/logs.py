"""Logging: every line (tracebacks included) starts with a UTC timestamp, the level, the logger
and the process id, so lines from several workers interleaved in one stream stay attributable;
and a rate limit for messages a client can trigger at will, so a bad client cannot flood the log.
"""

from __future__ import annotations

import logging
import sys
import time

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s"


class LineFormatter(logging.Formatter):
    """ISO 8601 UTC timestamps with milliseconds; continuation lines (a traceback, a multi-line
    message) repeat the line's prefix instead of starting bare."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if "\n" not in text:
            return text
        first, *rest = text.split("\n")
        prefix = first[: len(first) - len(record.getMessage().split("\n", 1)[0])]
        return "\n".join([first, *(prefix + "| " + line for line in rest)])


def configure_logging(level: str = "info") -> None:
    """Log to stderr in LOG_FORMAT (replacing any handler set before), Python warnings included."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)


class RateLimit:
    """At most `burst` messages of one kind per `period` seconds; the next message after a quiet
    spell reports how many were suppressed."""

    def __init__(self, burst: int = 5, period: float = 60.0) -> None:
        self.burst = burst
        self.period = period
        self._windows: dict[str, tuple[float, int, int]] = {}  # kind -> (start, logged, dropped)

    def allow(self, kind: str) -> tuple[bool, int]:
        """(whether to log this message, how many of this kind were dropped before it)."""
        now = time.monotonic()
        start, logged, dropped = self._windows.get(kind, (now, 0, 0))
        if now - start >= self.period:
            start, logged = now, 0
        if logged < self.burst:
            self._windows[kind] = (start, logged + 1, 0)
            return True, dropped
        self._windows[kind] = (start, logged, dropped + 1)
        return False, 0


def log_limited(
    logger: logging.Logger, limit: RateLimit, kind: str, level: int, message: str, *args: object
) -> None:
    allowed, dropped = limit.allow(kind)
    if not allowed:
        return
    if dropped:
        message += f" ({dropped} more like this suppressed)"
    logger.log(level, message, *args)
