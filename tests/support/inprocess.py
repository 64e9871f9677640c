"""The model server's worker running in a thread of the test process, on a loopback port: the
real HTTP layer and app, with a test's own loader and metrics registry, no subprocess."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry

from mlstack.model_server.app import ModelApp
from mlstack.model_server.config import load_config
from mlstack.model_server.metrics import Metrics
from mlstack.model_server.worker import Worker, bind
from tests.support.server_support import IRIS_JOBLIB


def make_app(env: dict[str, str] | None = None, loader: Any = None) -> ModelApp:
    config = load_config(
        {
            "MODEL_PATH": str(IRIS_JOBLIB),
            "MODEL_NAME": "iris",
            "MODEL_VERSION": "1.0.0",
            "DRAIN_SECONDS": "0",
            **(env or {}),
        }
    )
    return ModelApp(config, Metrics(config.model_name, CollectorRegistry()), loader)


@contextmanager
def serving(app: ModelApp) -> Iterator[tuple[str, Worker]]:
    """Serve `app` until the block ends; yields the base URL and the worker."""
    sock = bind("127.0.0.1", 0, reuse_port=False)
    port = sock.getsockname()[1]
    listening = threading.Event()
    worker = Worker(app.config, sock, app=app, on_listening=listening.set)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(handle_signals=False)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert listening.wait(30), errors
    try:
        yield f"http://127.0.0.1:{port}", worker
    finally:
        worker.stop_threadsafe()
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"
        if errors:
            raise errors[0]
