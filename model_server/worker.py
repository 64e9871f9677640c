"""One serving process: the event loop (uvloop), its listening socket, signals and shutdown.

Shutdown (the contract; t = the first SIGTERM or SIGINT):
- t: /readyz turns 503 and every response asks its client to reconnect (Connection: close);
  serving goes on, so requests routed during the orchestrator's endpoint removal succeed;
- t + DRAIN_SECONDS: the listening socket closes (new connections are refused), idle
  connections close, busy ones close once they have answered;
- in-flight requests finish until t + GRACEFUL_TIMEOUT - a short exit margin; then whatever
  is left is cut and the process exits, within GRACEFUL_TIMEOUT.

A worker of a supervisor ignores SIGINT: Ctrl+C in a terminal signals the whole process group,
and the supervisor relays it as one SIGTERM, so each worker drains once. Alone, the process
treats a second SIGINT as "stop now".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable

import uvloop

from .app import ModelApp
from .config import ServerConfig
from .exitcodes import ExitCode
from .metrics import Metrics
from .protocol import Connections, limits_from

log = logging.getLogger("model_server")

BACKLOG = 2048
ORPHAN_CHECK_SECONDS = 1.0


class ListenError(OSError):
    """The address cannot be bound; the message says which and why."""


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket, not yet listening. With reuse_port several sockets share the port and
    the kernel spreads new connections over them (one per worker: balanced load)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ListenError(f"cannot listen on HOST={host!r}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as error:
        sock.close()
        hint = " (another process holds it)" if error.errno == 98 else ""
        raise ListenError(f"cannot listen on {host}:{port}: {error.strerror}{hint}") from None
    sock.setblocking(False)
    return sock


class Worker:
    def __init__(
        self,
        config: ServerConfig,
        sock: socket.socket,
        *,
        supervisor_pid: int | None = None,
        app: ModelApp | None = None,
        on_listening: Callable[[], object] = lambda: None,
    ) -> None:
        self.config = config
        self.sock = sock
        self.supervisor_pid = supervisor_pid
        self.app = app or ModelApp(config, Metrics(config.model_name))
        self.connections = Connections(self.app, self.app.metrics, limits_from(config))
        self.exit_code = ExitCode.OK
        self._stop_signalled: float | None = None
        self._done: asyncio.Event | None = None
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_listening = on_listening
        self._watcher: asyncio.Task[None] | None = None

    # ---- running ------------------------------------------------------------------------------

    def run(self, *, handle_signals: bool = True) -> int:
        loop = uvloop.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.serve(handle_signals=handle_signals))
        finally:
            self._finish(loop)
        return int(self.exit_code)

    async def serve(self, *, handle_signals: bool = True) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._done = asyncio.Event()
        if handle_signals:
            loop.add_signal_handler(signal.SIGTERM, self.stop, signal.SIGTERM)
            if self.supervisor_pid is None:
                loop.add_signal_handler(signal.SIGINT, self.stop, signal.SIGINT)
            else:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.connections.start()
        self._server = await loop.create_server(
            self.connections.factory, sock=self.sock, backlog=BACKLOG
        )
        if self.supervisor_pid is None:
            log.info("serving on %s:%d (one process)", self.config.host, self.config.port)
        self._on_listening()
        if self.app.state.model is None:
            self.app.start_loading()
            self._watcher = loop.create_task(self._watch_loading())
        if self.supervisor_pid is not None:
            loop.call_later(ORPHAN_CHECK_SECONDS, self._check_orphaned)
        await self._done.wait()
        self.connections.stop()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Start the graceful shutdown (idempotent); a second SIGINT stops at once."""
        loop = self._loop
        if loop is None:
            return
        if self._stop_signalled is not None:
            if sig == signal.SIGINT and self.supervisor_pid is None:
                log.warning("second interrupt: stopping now, cutting in-flight requests")
                self.exit_code = ExitCode.FORCED
                self._end()
            return
        self._stop_signalled = time.monotonic()
        self.app.state.draining = True
        self.connections.draining = True
        log.info(
            "signal %d: draining for %.1f s, then finishing in-flight requests",
            sig, self.config.drain_seconds,
        )  # fmt: skip
        loop.call_later(self.config.drain_seconds, self._close_listener)
        deadline = self.config.graceful_timeout - self.config.exit_margin
        loop.call_later(deadline, self._deadline_passed)

    def stop_threadsafe(self) -> None:
        """stop() from another thread; nothing to do once the worker has ended."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                self._loop.call_soon_threadsafe(self.stop, signal.SIGTERM)

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()  # new connections are refused from now on
        self.connections.close_when_answered()
        self._wait_for_answers()

    def _wait_for_answers(self) -> None:
        if self.connections.answering or self.connections.open or self.connections.tasks:
            assert self._loop is not None
            self._loop.call_later(0.02, self._wait_for_answers)
            return
        log.info("drained: every request answered")
        self._end()

    def _deadline_passed(self) -> None:
        if self._done is None or self._done.is_set():
            return
        left = len(self.connections.open)
        log.warning(
            "graceful timeout (%g s): closing %d connections with requests still unanswered",
            self.config.graceful_timeout, left,
        )  # fmt: skip
        self._end()

    def _end(self) -> None:
        if self._server is not None:
            self._server.close()
        self.connections.abort()
        for task in list(self.connections.tasks):
            task.cancel()
        if self._done is not None:
            self._done.set()

    async def _watch_loading(self) -> None:
        task = self.app.state.loader_task
        if task is not None:
            await task
        if self.app.state.failure is not None:
            self.exit_code = ExitCode.MODEL_FAILED
            self._end()

    def _check_orphaned(self) -> None:
        if self.supervisor_pid is not None and os.getppid() != self.supervisor_pid:
            # The supervisor died without stopping us (SIGKILL, crash): nobody would ever stop
            # this worker, and it would keep the port and its pipes open. Drain, then exit.
            log.warning("supervisor %d is gone: stopping", self.supervisor_pid)
            self.supervisor_pid = None
            self.stop(signal.SIGTERM)
            return
        assert self._loop is not None
        self._loop.call_later(ORPHAN_CHECK_SECONDS, self._check_orphaned)

    def _finish(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


def run_alone(config: ServerConfig, app: ModelApp | None = None) -> int:
    """Serve in this process only: listen at once, load the model while answering probes."""
    try:
        sock = bind(config.host, config.port, reuse_port=False)
    except ListenError as error:
        log.error("%s", error)
        return ExitCode.CANNOT_LISTEN
    return Worker(config, sock, app=app).run()


def run_supervised(
    config: ServerConfig,
    sock: socket.socket,
    supervisor_pid: int,
    on_listening: Callable[[], object],
) -> int:
    """A supervisor's worker: load the model first, then listen on this worker's own socket,
    so no connection ever reaches a worker that cannot predict yet."""
    app = ModelApp(config, Metrics(config.model_name))
    try:
        app.load()
    except Exception:
        log.exception("loading %s failed", config.model_path)
        return ExitCode.MODEL_FAILED
    worker = Worker(config, sock, supervisor_pid=supervisor_pid, app=app, on_listening=on_listening)
    return worker.run()
