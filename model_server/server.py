"""Serve: one process when WORKERS=1, else a supervisor of WORKERS processes (each with its own
listening socket: model_server.supervisor). The HTTP layer is model_server.protocol; one
process's event loop, signals and graceful shutdown are model_server.worker."""

from __future__ import annotations

import os
import shutil
import tempfile

from .config import ServerConfig
from .metrics import MULTIPROC_ENV


def serve(config: ServerConfig) -> int:
    """Serve with config.workers processes; returns the process exit code."""
    if config.workers == 1:
        from .worker import run_alone

        return run_alone(config)
    from .supervisor import Supervisor

    # Worker metric files live under /tmp (the one writable path) and start empty every run.
    directory = tempfile.mkdtemp(prefix="mlstack-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        return Supervisor(config).run()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
