"""Several worker processes, each listening on its own SO_REUSEPORT socket bound to the port.

Why a socket per worker: with one shared listening socket every idle worker races to accept,
and the kernel wakes the same few; measured with two workers at `wrk -t1 -c32`, 26 or more of
the 32 connections landed on one worker in 6 runs of 10. With SO_REUSEPORT the kernel hashes
each new connection to one of the listening sockets, so connections spread over the workers,
and each worker closes its own socket when its drain ends (new connections are then refused).

The supervisor restarts a worker that dies. One that dies before it listens (during start) is
restarted with a doubling backoff, and after MAX_START_FAILURES such deaths in a row the
supervisor stops everything with exit code 5: a worker that cannot start will not start by
being retried forever. A worker that cannot load the model (exit 3) or bind (exit 4) stops
the supervisor at once with the same code.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType

from .config import ServerConfig
from .exitcodes import ExitCode
from .logs import configure_logging
from .worker import ListenError, bind, run_supervised

log = logging.getLogger("model_server")

MAX_START_FAILURES = 5
BACKOFF_FIRST = 0.5  # seconds before the first restart; doubles per failure in a row
BACKOFF_MAX = 8.0
POLL_SECONDS = 0.1
FATAL: dict[int, str] = {
    ExitCode.MODEL_FAILED: "could not load the model",
    ExitCode.CANNOT_LISTEN: "cannot listen",
}


def _worker_main(
    config: ServerConfig, sock: socket.socket, supervisor: int, started: Connection
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches us through the supervisor
    configure_logging(config.log_level)
    try:
        code = run_supervised(config, sock, supervisor, lambda: started.send_bytes(b"listening"))
    except Exception:  # a bug: logged like every other line, then a distinct exit code
        log.exception("worker failed")
        code = ExitCode.ERROR
    logging.shutdown()
    sys.stdout.flush()
    # Not sys.exit: a prediction thread cut at the graceful timeout would hold up the exit.
    os._exit(code)


@dataclass
class Slot:
    """One worker position: its current process, and how often it failed to start in a row."""

    process: BaseProcess | None = None
    # The worker writes to this pipe once it listens (a pipe, unlike an Event, leaves no
    # semaphore behind when a process exits abruptly).
    started: Connection | None = None
    listening: bool = False
    failures: int = 0
    restart_at: float = 0.0

    def is_listening(self) -> bool:
        if not self.listening and self.started is not None and self.started.poll():
            try:
                self.started.recv_bytes()
                self.listening = True
            except EOFError:  # it exited without ever listening
                self.started.close()
                self.started = None
        return self.listening


def describe(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.context = multiprocessing.get_context("spawn")
        self.slots = [Slot() for _ in range(config.workers)]
        self.stopping_since: float | None = None
        self.forced = False

    def run(self) -> int:
        config = self.config
        try:
            # With SO_REUSEPORT a second server of the same user would silently share the port:
            # a plain bind first fails when anything listens on it.
            bind(config.host, config.port, reuse_port=False).close()
        except ListenError as error:
            log.error("%s", error)
            return ExitCode.CANNOT_LISTEN
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        log.info("serving on %s:%d with %d workers", config.host, config.port, config.workers)
        code = self._supervise()
        self._stop_all()
        return ExitCode.FORCED if self.forced else code

    def _supervise(self) -> int:
        for slot in self.slots:
            code = self._start(slot)
            if code is not None:
                return code
        while self.stopping_since is None:
            time.sleep(POLL_SECONDS)
            for slot in self.slots:
                if self.stopping_since is not None:
                    break
                code = self._check(slot)
                if code is not None:
                    return code
        return ExitCode.OK

    def _start(self, slot: Slot) -> int | None:
        try:
            sock = bind(self.config.host, self.config.port, reuse_port=True)
        except ListenError as error:
            log.error("%s", error)
            return ExitCode.CANNOT_LISTEN
        reader, writer = self.context.Pipe(duplex=False)
        slot.started, slot.listening = reader, False
        slot.process = self.context.Process(
            target=_worker_main,
            args=(self.config, sock, os.getpid(), writer),
            daemon=False,
        )
        slot.process.start()
        writer.close()
        sock.close()  # the worker holds its own copy; only it may ever listen on this socket
        return None

    def _check(self, slot: Slot) -> int | None:
        from prometheus_client import multiprocess

        process = slot.process
        if process is None:
            if time.monotonic() >= slot.restart_at:
                return self._start(slot)
            return None
        code = process.exitcode
        if code is None:
            if slot.failures and slot.is_listening():
                slot.failures = 0  # it started: earlier failures no longer count
            return None
        multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]
        slot.process = None
        if code in FATAL:
            log.error("worker %s %s (exit %d); stopping", process.pid, FATAL[code], code)
            return int(code)
        started = slot.is_listening()
        if slot.started is not None:
            slot.started.close()
            slot.started = None
        slot.failures = 1 if started else slot.failures + 1
        if not started and slot.failures >= MAX_START_FAILURES:
            log.error(
                "worker %s %s while starting, %d times in a row; giving up",
                process.pid, describe(code), slot.failures,
            )  # fmt: skip
            return ExitCode.WORKERS_FAILING
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (slot.failures - 1))
        log.warning(
            "worker %s %s %s; restarting in %.1f s",
            process.pid, describe(code), "while serving" if started else "while starting", delay,
        )  # fmt: skip
        slot.restart_at = time.monotonic() + delay
        return None

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.stopping_since is None:
            self._terminate(f"signal {sig}")
        elif sig == signal.SIGINT and not self.forced:
            log.warning("second interrupt: stopping the workers now")
            self.forced = True
            for process in self._live():
                process.kill()

    def _terminate(self, reason: str) -> None:
        self.stopping_since = time.monotonic()
        live = self._live()
        log.info("%s: stopping %d workers gracefully", reason, len(live))
        for process in live:
            # SIGTERM whatever arrived: workers ignore SIGINT, which Ctrl+C also sends them.
            os.kill(process.pid, signal.SIGTERM)  # type: ignore[arg-type]

    def _live(self) -> list[BaseProcess]:
        return [
            slot.process
            for slot in self.slots
            if slot.process is not None and slot.process.exitcode is None
        ]

    def _stop_all(self) -> None:
        """Stop every worker: SIGTERM (once), then wait until GRACEFUL_TIMEOUT after it."""
        if self.stopping_since is None:
            self._terminate("giving up")
        assert self.stopping_since is not None
        deadline = self.stopping_since + self.config.graceful_timeout - 0.1
        for process in self._live():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                log.error("worker %s did not stop within the graceful timeout; killing it",
                          process.pid)  # fmt: skip
                process.kill()
                process.join()
