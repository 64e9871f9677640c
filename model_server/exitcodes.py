"""The server's exit codes: each failure an operator must tell apart has its own
(docs/model-server.md lists them)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # stopped on SIGTERM/SIGINT after draining
    ERROR = 1  # an unexpected error (a bug): the traceback is in the log
    BAD_ENVIRONMENT = 2  # an environment variable is invalid: the log names it
    MODEL_FAILED = 3  # the model artifact could not be loaded
    CANNOT_LISTEN = 4  # the port is in use, or the address cannot be bound
    WORKERS_FAILING = 5  # a worker kept dying while starting; the supervisor gave up
    FORCED = 130  # a second Ctrl+C: stopped at once, in-flight requests were cut
