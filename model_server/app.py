"""The ASGI application: four routes, no framework (every microsecond counts at ~1 ms/request).

The model loads in a background thread after the server starts listening, so /healthz answers
at once and /readyz turns 200 only when predictions can be served (workers sharing a socket
load before they accept instead: see model_server.server._worker). A prediction small enough
to finish within INLINE_BUDGET runs on the event loop (a thread hop costs more than the model);
bigger batches run in a thread so probes keep answering.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_server.config import ServerConfig
from model_server.metrics import CONTENT_TYPE, Metrics
from model_server.models import LoadedModel, load_model
from model_server.validation import BadRequestError, parse_instances

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Loader = Callable[[ServerConfig], LoadedModel]

log = logging.getLogger("model_server")

INLINE_BUDGET = 0.002  # seconds a prediction may hold the event loop

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"
ROUTES = {
    "/predict": ("POST", "predict"),
    "/healthz": ("GET", "healthz"),
    "/readyz": ("GET", "readyz"),
    "/metrics": ("GET", "metrics"),
}


@dataclass
class ServingState:
    """What the probes report; the server flips `draining` on SIGTERM."""

    model: LoadedModel | None = None
    inline_rows: int = 0
    draining: bool = False
    failure: BaseException | None = None
    loader_task: asyncio.Task[None] | None = field(default=None, repr=False)


def inline_rows(model: LoadedModel, budget: float = INLINE_BUDGET) -> int:
    """How many rows one prediction may have and still run on the event loop within `budget`.

    Timed on zeros after a warm-up call: cost(rows) ~= fixed + rows * per_row.
    """
    width = model.n_features or 1

    def timed(rows: int) -> float:
        matrix = np.zeros((rows, width))
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            model.predict(matrix)
            best = min(best, time.perf_counter() - start)
        return best

    timed(1)  # warm-up: first calls pay for lazy imports and allocations
    fixed = timed(1)
    if fixed >= budget:
        return 0
    per_row = max((timed(4097) - fixed) / 4096, 1e-9)
    return max(1, min(1_000_000, int((budget - fixed) / per_row)))


class ModelApp:
    def __init__(
        self, config: ServerConfig, metrics: Metrics, loader: Loader | None = None
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.state = ServingState()
        self._loader: Loader = loader or (lambda c: load_model(c.framework, c.model_path))
        tail = {"model": config.model_name, "version": config.model_version}
        self._tail = b"," + json.dumps(tail, separators=(",", ":")).encode()[1:]
        self._handlers = {
            "predict": self._predict,
            "healthz": self._healthz,
            "readyz": self._readyz,
            "metrics": self._metrics,
        }

    @property
    def ready(self) -> bool:
        return self.state.model is not None and not self.state.draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # Lifespan: start loading (unless done), report startup complete at once (then it listens).
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.state.model is None:
                    loading = self._load()
                    self.state.loader_task = asyncio.get_running_loop().create_task(loading)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def load(self) -> None:
        """Load the model now, blocking; raises what loading raised."""
        started = time.perf_counter()
        model = self._loader(self.config)
        self._loaded(model, inline_rows(model), started)

    async def _load(self) -> None:
        started = time.perf_counter()
        try:
            model = await asyncio.to_thread(self._loader, self.config)
            rows = await asyncio.to_thread(inline_rows, model)
        except Exception as error:  # any load failure stops the server (exit code 3)
            log.exception("loading %s failed", self.config.model_path)
            self.state.failure = error
            return
        self._loaded(model, rows, started)

    def _loaded(self, model: LoadedModel, rows: int, started: float) -> None:
        config = self.config
        self.state.inline_rows = rows
        # The model and libraries live for the whole process: move them out of the collector's
        # generations so a gen-2 collection during a request does not scan them.
        gc.freeze()
        self.state.model = model
        log.info(
            "model %s %s (%s, %s features) loaded from %s in %.2f s; inline up to %d rows",
            config.model_name, config.model_version, model.framework.value,
            model.n_features if model.n_features is not None else "any",
            config.model_path, time.perf_counter() - started, rows,
        )  # fmt: skip

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path = scope["path"]
        found = ROUTES.get(path)
        if found is None:
            route = "other"
            status, body, content_type = 404, b"not found: " + path.encode()[:200], TEXT
        elif scope["method"] != found[0]:
            route = found[1]
            status, body, content_type = 405, f"use {found[0]} {path}".encode(), TEXT
        else:
            route = found[1]
            in_flight = self.metrics.in_flight
            in_flight.inc()
            try:
                status, body, content_type = await self._handlers[route](receive)
            finally:
                in_flight.dec()
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if status == 405:
            headers.append((b"allow", found[0].encode() if found else b"GET"))
        if self.state.draining:
            # Ask keep-alive clients to reconnect, so they reach a replica that is not stopping.
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe(route, status, time.perf_counter() - started)

    async def _predict(self, receive: Receive) -> tuple[int, bytes, bytes]:
        body = await self._body(receive)
        if body is None:
            return 413, f"body larger than {self.config.max_body_bytes} bytes".encode(), TEXT
        model = self.state.model
        if model is None:
            return 503, b"model not loaded yet", TEXT
        try:
            rows = parse_instances(body, model.n_features, self.config.max_rows)
        except BadRequestError as error:
            return 400, _error(str(error)), JSON
        try:
            if len(rows) <= self.state.inline_rows:
                predictions = model.predict(rows)
            else:
                predictions = await asyncio.to_thread(model.predict, rows)
        except ValueError as error:  # the model refused these values (e.g. NaN in features)
            return 400, _error(f"the model cannot predict these instances: {error}"), JSON
        payload = json.dumps(predictions, separators=(",", ":")).encode()
        return 200, b'{"predictions":' + payload + self._tail, JSON

    async def _body(self, receive: Receive) -> bytes | None:
        """The request body, or None once it exceeds max_body_bytes."""
        limit = self.config.max_body_bytes
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return body if len(body) <= limit else None
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _healthz(self, receive: Receive) -> tuple[int, bytes, bytes]:
        return 200, b"ok", TEXT

    async def _readyz(self, receive: Receive) -> tuple[int, bytes, bytes]:
        if self.state.draining:
            return 503, b"draining", TEXT
        if self.state.model is None:
            return 503, b"loading model", TEXT
        return 200, b"ready", TEXT

    async def _metrics(self, receive: Receive) -> tuple[int, bytes, bytes]:
        return 200, self.metrics.render(), CONTENT_TYPE.encode()


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
