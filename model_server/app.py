"""The application: routes, the probes, /predict, /metrics and the Open Inference Protocol (/v2).

The model loads in a background thread after the server starts listening when one process
serves, so /healthz answers at once and /readyz turns 200 only when predictions can be served
(workers of a supervisor load before they listen instead: see model_server.worker). A
prediction small enough to finish within INLINE_BUDGET runs on the event loop (a thread hop
costs more than the model); bigger batches run in a thread so probes keep answering.
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
from urllib.parse import unquote

import numpy as np

from . import v2
from .config import ServerConfig
from .httptypes import TEXT, Handler, Request, Response, Route, error
from .metrics import CONTENT_TYPE, Metrics
from .models import LoadedModel, Matrix, load_model
from .tensors import TensorError, check_fits
from .validation import BadRequestError, parse_instances

Loader = Callable[[ServerConfig], LoadedModel]

log = logging.getLogger("model_server")

INLINE_BUDGET = 0.002  # seconds a prediction may hold the event loop
V2_MODELS = "/v2/models/"
_dumps = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call
MODEL_ROUTES_CACHED = 64  # bounded: clients choose the paths


@dataclass
class ServingState:
    """What the probes report; the server flips `draining` on SIGTERM."""

    model: LoadedModel | None = None
    inline_rows: int = 0
    draining: bool = False
    failure: BaseException | None = None
    encoder: v2.Encoder | None = None
    metadata: bytes = b""
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
        get, post = ("GET",), ("POST",)
        # path -> {method: route}; a path's other methods get 405 with Allow (HEAD = GET).
        self._paths: dict[str, dict[str, Route]] = {
            "/predict": self._methods("predict", self._predict, post),
            "/healthz": self._methods("healthz", self._healthz, get),
            "/readyz": self._methods("readyz", self._readyz, get),
            "/metrics": self._methods("metrics", self._metrics, get),
            "/v2": self._methods("v2_server", self._v2_server, get),
            "/v2/health/live": self._methods("v2_live", self._v2_live, get),
            "/v2/health/ready": self._methods("v2_ready", self._v2_ready, get),
        }
        self._model_paths = {
            "": self._methods("v2_model", self._v2_model, get),
            "ready": self._methods("v2_model_ready", self._v2_model_ready, get),
            "infer": self._methods("v2_infer", self._v2_infer, post),
        }
        self._not_found = Route("other", self._missing)
        self._model_routes: dict[str, tuple[dict[str, Route], tuple[str, ...]]] = {}

    @staticmethod
    def _methods(name: str, handler: Handler, methods: tuple[str, ...]) -> dict[str, Route]:
        route = Route(name, handler, reads_body="POST" in methods)
        found = dict.fromkeys(methods, route)
        if "GET" in methods:
            found["HEAD"] = route
        allow = ", ".join(found).encode()
        found[""] = Route(name, lambda request: error(
            405, f"{request.method} is not allowed here; use {allow.decode()}", ((b"allow", allow),)
        ))  # fmt: skip
        return found

    @property
    def ready(self) -> bool:
        return self.state.model is not None and not self.state.draining

    # ---- routing ------------------------------------------------------------------------------

    def resolve(self, method: str, path: str) -> tuple[Route, tuple[str, ...]]:
        methods = self._paths.get(path)
        params: tuple[str, ...] = ()
        if methods is None:
            found = self._model_routes.get(path)
            if found is not None:
                return found[0].get(method) or found[0][""], found[1]
            if not path.startswith(V2_MODELS):
                return self._not_found, ()
            # {name}[/versions/{version}][/ready|/infer]
            parts = path[len(V2_MODELS) :].split("/")
            action = parts[-1] if len(parts) in (2, 4) else ""
            if action:
                parts = parts[:-1]
            if len(parts) == 3 and parts[1] == "versions":
                params = (unquote(parts[0]), unquote(parts[2]))
            elif len(parts) == 1:
                params = (unquote(parts[0]), "")
            else:
                return self._not_found, ()
            known = self._model_paths.get(action)
            if known is None:
                return self._not_found, ()
            methods = known
            if len(self._model_routes) < MODEL_ROUTES_CACHED:  # parsed once per distinct path
                self._model_routes[path] = (methods, params)
        return methods.get(method) or methods[""], params

    def _missing(self, request: Request) -> Response:
        return error(404, f"no route {request.path[:200]!r}")

    # ---- loading ------------------------------------------------------------------------------

    def start_loading(self) -> None:
        """Load the model in a thread; the server answers probes meanwhile."""
        self.state.loader_task = asyncio.get_running_loop().create_task(self._load())

    def load(self) -> None:
        """Load the model now, blocking; raises what loading raised."""
        started = time.perf_counter()
        model = self._loader(self.config)
        self._loaded(model, inline_rows(model), v2.signature(model), started)

    async def _load(self) -> None:
        started = time.perf_counter()
        try:
            model = await asyncio.to_thread(self._loader, self.config)
            rows = await asyncio.to_thread(inline_rows, model)
            sig = await asyncio.to_thread(v2.signature, model)
        except Exception as error:  # any load failure stops the server (exit code 3)
            log.exception("loading %s failed", self.config.model_path)
            self.state.failure = error
            return
        self._loaded(model, rows, sig, started)

    def _loaded(self, model: LoadedModel, rows: int, sig: v2.Signature, started: float) -> None:
        config = self.config
        state = self.state
        state.inline_rows = rows
        state.encoder = v2.Encoder(config.model_name, config.model_version, model.output_name, sig)
        state.metadata = v2.model_metadata(
            config.model_name, config.model_version, model.framework.value, model, sig
        )
        # The model and libraries live for the whole process: move them out of the collector's
        # generations so a gen-2 collection during a request does not scan them.
        gc.freeze()
        state.model = model
        log.info(
            "model %s %s (%s, %s features) loaded from %s in %.2f s; inline up to %d rows",
            config.model_name, config.model_version, model.framework.value,
            model.n_features if model.n_features is not None else "any",
            config.model_path, time.perf_counter() - started, rows,
        )  # fmt: skip

    # ---- predicting ---------------------------------------------------------------------------

    def _run(
        self, model: LoadedModel, rows: Matrix, answer: Callable[[list[Any]], Response]
    ) -> Response | Awaitable[Response]:
        if len(rows) <= self.state.inline_rows:
            try:
                return answer(model.predict(rows))
            except ValueError as problem:  # the model refused these values
                return error(400, f"the model cannot predict these inputs: {problem}")
        return self._run_in_thread(model, rows, answer)

    async def _run_in_thread(
        self, model: LoadedModel, rows: Matrix, answer: Callable[[list[Any]], Response]
    ) -> Response:
        try:
            predictions = await asyncio.to_thread(model.predict, rows)
        except ValueError as problem:
            return error(400, f"the model cannot predict these inputs: {problem}")
        return answer(predictions)

    def _predict(self, request: Request) -> Response | Awaitable[Response]:
        model = self.state.model
        if model is None:
            return error(503, "model not loaded yet")
        try:
            rows = parse_instances(request.body, model.n_features, self.config.max_rows)
            check_fits(rows, model.input_dtype, "instances")
        except (BadRequestError, TensorError) as problem:
            return error(400, str(problem))
        return self._run(model, rows, self._predictions)

    def _predictions(self, predictions: list[Any]) -> Response:
        payload = _dumps(predictions).encode()
        return Response(200, b'{"predictions":' + payload + self._tail)

    # ---- probes and metrics -------------------------------------------------------------------

    def _healthz(self, request: Request) -> Response:
        return Response(200, b"ok", TEXT)

    def _readyz(self, request: Request) -> Response:
        if self.state.draining:
            return Response(503, b"draining", TEXT)
        if self.state.model is None:
            return Response(503, b"loading model", TEXT)
        return Response(200, b"ready", TEXT)

    def _metrics(self, request: Request) -> Response:
        return Response(200, self.metrics.render(), CONTENT_TYPE.encode())

    # ---- Open Inference Protocol --------------------------------------------------------------

    def _v2_server(self, request: Request) -> Response:
        return Response(200, v2.server_metadata())

    def _v2_live(self, request: Request) -> Response:
        return Response(200, b"", TEXT)

    def _v2_ready(self, request: Request) -> Response:
        # The protocol: 200 means true, a 4xx means false, and the body is empty.
        return Response(200 if self.ready else 400, b"", TEXT)

    def _unknown_model(self, request: Request) -> Response | None:
        name, version = request.params
        config = self.config
        if name != config.model_name:
            return error(404, f"model {name[:100]!r} is not served here ({config.model_name!r} is)")
        if version and version != config.model_version:
            return error(
                404,
                f"model {name!r} has no version {version[:100]!r} (it serves "
                f"{config.model_version!r})",
            )
        return None

    def _v2_model(self, request: Request) -> Response:
        unknown = self._unknown_model(request)
        if unknown is not None:
            return unknown
        if self.state.model is None:
            return error(503, f"model {self.config.model_name!r} is not loaded yet")
        return Response(200, self.state.metadata)

    def _v2_model_ready(self, request: Request) -> Response:
        unknown = self._unknown_model(request)
        if unknown is not None:
            return unknown
        return Response(200 if self.ready else 400, b"", TEXT)

    def _v2_infer(self, request: Request) -> Response | Awaitable[Response]:
        unknown = self._unknown_model(request)
        if unknown is not None:
            return unknown
        model, encoder = self.state.model, self.state.encoder
        if model is None or encoder is None:
            return error(503, f"model {self.config.model_name!r} is not loaded yet")
        try:
            parsed = v2.parse_infer(
                request.body,
                request.headers.get(b"inference-header-content-length"),
                model,
                self.config.max_rows,
            )
        except TensorError as problem:
            return error(400, str(problem))
        return self._run(model, parsed.rows, lambda found: encoder.response(found, parsed))
