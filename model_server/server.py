"""Run the app under uvicorn (httptools parser, uvloop event loop), in one process or several.

Why uvicorn + httptools + uvloop and a bare ASGI app: the request path is C parsing plus a few
Python calls, so a ~1 ms prediction dominates; a framework's routing, validation models and
middleware would add more than the model costs for small models.

Graceful shutdown (the contract): on SIGTERM /readyz turns 503 at once; the server keeps
serving for DRAIN_SECONDS (orchestrators route to a terminating replica for a moment), then
stops accepting, lets in-flight requests finish, and exits 0 within GRACEFUL_TIMEOUT.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from types import FrameType

import uvicorn

from model_server.app import ModelApp
from model_server.config import ServerConfig
from model_server.metrics import MULTIPROC_ENV, Metrics

log = logging.getLogger("model_server")

EXIT_MODEL_FAILED = 3


class DrainingServer(uvicorn.Server):
    """uvicorn.Server that drains before it stops, and exits 0 after a graceful stop."""

    def __init__(self, app: ModelApp, config: ServerConfig) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                host=config.host,
                port=config.port,
                loop="uvloop",
                http="httptools",
                lifespan="on",
                access_log=False,
                log_level=config.log_level,
                timeout_graceful_shutdown=round(config.shutdown_budget),
                server_header=False,
            )
        )
        self.app = app
        self.drain_seconds = config.drain_seconds
        self.drain_until: float | None = None
        self.model_failed = False
        # A worker's supervisor; None when this process serves alone.
        self.supervisor_pid: int | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in _captured_signals: uvicorn re-raises those after shutdown, which would
        # turn a clean drain into exit code 143.
        if self.drain_until is None:
            self.app.state.draining = True
            self.drain_until = time.monotonic() + self.drain_seconds
            log.info(
                "signal %d: draining for %.1f s, then finishing in-flight requests",
                sig, self.drain_seconds,
            )  # fmt: skip
        elif sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl+C: stop now

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        if self.app.state.failure is not None:
            self.model_failed = True
            return True
        if self.supervisor_pid is not None and os.getppid() != self.supervisor_pid:
            # Orphaned: the supervisor died without stopping us (SIGKILL, crash). Nobody would
            # ever stop this worker, and it would keep the port and its pipes open: drain, exit.
            self.handle_exit(signal.SIGTERM, None)
            self.supervisor_pid = None
        return self.drain_until is not None and time.monotonic() >= self.drain_until


def serve_one(
    config: ServerConfig,
    sockets: list[socket.socket] | None = None,
    supervisor_pid: int | None = None,
    *,
    load_first: bool = False,
) -> int:
    """Serve in this process; the exit code to use. With `load_first` the model is loaded before
    the server starts (a worker sharing a socket); otherwise while it already answers probes."""
    app = ModelApp(config, Metrics(config.model_name))
    if load_first:
        try:
            app.load()
        except Exception:
            log.exception("loading %s failed", config.model_path)
            return EXIT_MODEL_FAILED
    server = DrainingServer(app, config)
    server.supervisor_pid = supervisor_pid
    server.run(sockets=sockets)
    return EXIT_MODEL_FAILED if server.model_failed else 0


def _worker(config: ServerConfig, sock: socket.socket, supervisor_pid: int) -> None:
    logging.basicConfig(level=config.log_level.upper(), format=LOG_FORMAT)
    # Workers share one listening socket: a worker that accepted connections while still loading
    # would answer 503 to requests the pod took as ready (another worker answered /readyz), and a
    # restarted worker would fail requests under traffic. So a worker loads first, then accepts;
    # meanwhile connections wait in the socket's backlog for a worker that can predict.
    sys.exit(serve_one(config, [sock], supervisor_pid, load_first=True))


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s"


class Supervisor:
    """Starts `workers` processes on one shared listening socket, restarts a worker that dies,
    and on SIGTERM forwards it and waits (up to GRACEFUL_TIMEOUT) for every worker to drain."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.stopping = False
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def _bind(self) -> socket.socket:
        sock = socket.create_server(
            (self.config.host, self.config.port), reuse_port=False, backlog=2048
        )
        sock.set_inheritable(True)
        return sock

    def _start(self, sock: socket.socket) -> multiprocessing.process.BaseProcess:
        process = self.context.Process(
            target=_worker, args=(self.config, sock, os.getpid()), daemon=False
        )
        process.start()
        return process

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("signal %d: stopping %d workers gracefully", sig, len(self.processes))
        self.stopping = True
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, sig)

    def run(self) -> int:
        from prometheus_client import multiprocess

        sock = self._bind()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.processes = [self._start(sock) for _ in range(self.config.workers)]
        log.info(
            "serving on %s:%d with %d workers", self.config.host, self.config.port,
            self.config.workers,
        )  # fmt: skip
        while not self.stopping:
            time.sleep(0.2)
            for index, process in enumerate(self.processes):
                if process.exitcode is None or self.stopping:
                    continue
                multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]
                if process.exitcode == EXIT_MODEL_FAILED:
                    log.error("worker %s could not load the model; stopping", process.pid)
                    self._on_signal(signal.SIGTERM, None)
                    self._join()
                    return EXIT_MODEL_FAILED
                log.warning("worker %s exited with %s; restarting", process.pid, process.exitcode)
                self.processes[index] = self._start(sock)
        self._join()
        return 0

    def _join(self) -> None:
        deadline = time.monotonic() + self.config.graceful_timeout - 0.5
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                log.error(
                    "worker %s did not stop within the graceful timeout; killing it", process.pid
                )
                process.kill()
                process.join()


def serve(config: ServerConfig) -> int:
    """Serve with config.workers processes; returns the process exit code."""
    if config.workers == 1:
        return serve_one(config)
    # Worker metric files live under /tmp (the one writable path) and start empty every run.
    directory = tempfile.mkdtemp(prefix="mlstack-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        return Supervisor(config).run()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
