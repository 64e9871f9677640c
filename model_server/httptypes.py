"""What the HTTP layer (model_server.protocol) and the application (model_server.app) exchange:
a parsed request, a route the app resolved it to, and the response to send."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"


class Request:
    """One complete request. `headers` holds only the headers the server reads (lower-case)."""

    __slots__ = (
        "body", "headers", "http10", "keep_alive", "method", "params", "path", "route", "started",
    )  # fmt: skip

    def __init__(
        self,
        method: str,
        path: str,
        route: Route,
        params: tuple[str, ...],
        headers: dict[bytes, bytes],
        keep_alive: bool,
        started: float,
    ) -> None:
        self.method = method
        self.path = path
        self.route = route
        self.params = params
        self.headers = headers
        self.keep_alive = keep_alive
        self.started = started
        self.body = b""
        self.http10 = False


class Response:
    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: bytes = JSON,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


def error(status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Response:
    """The Open Inference Protocol's error body, used for every error the server answers."""
    return Response(status, json.dumps({"error": message}).encode(), JSON, headers)


Handler = Callable[[Request], "Response | Awaitable[Response]"]


@dataclass(frozen=True)
class Route:
    """`name` labels metrics (a fixed set: never a path or a model name from the client)."""

    name: str
    handler: Handler = field(compare=False)
    reads_body: bool = False
