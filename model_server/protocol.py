"""HTTP/1.1 for the model server: llhttp parsing (httptools) on an asyncio protocol (uvloop).

Why not uvicorn: it gives no bound on a request head (a 100 MiB header was buffered whole), no
read timeout for a head or a body, answers `Expect: 100-continue` before the app can refuse the
size, and serves every request through ASGI messages. Here a request is parsed, checked and
answered in a few Python calls, and bad clients meet limits:

- a request line over MAX_REQUEST_LINE_BYTES gets 414, a head over MAX_HEADER_BYTES (or more than
  MAX_HEADERS headers) 431, as soon as the bytes arrive; nothing beyond the limit is kept;
- a head must arrive within HEADER_TIMEOUT and a body within BODY_TIMEOUT (else 408 and close);
  an idle keep-alive connection closes after KEEPALIVE_TIMEOUT;
- a declared body over MAX_BODY_BYTES gets 413 at once, before any `100 Continue`;
- a body cut short (the client closes its side early) is refused, never handled as complete;
- at most MAX_CONNECTIONS connections: a new one closes the oldest idle keep-alive connection,
  or, when none is idle, gets 503;
- `Upgrade` headers are ignored (the request is served as plain HTTP), without logging;
- metrics count what was answered: a client that hangs up or times out mid-request counts in
  mlstack_incomplete_requests_total, not as a request, and never in the latency histogram.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol, cast

import httptools

from .httptypes import Request, Response, Route, error
from .logs import RateLimit, log_limited
from .metrics import Metrics

log = logging.getLogger("model_server")

STATUS_LINES = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in HTTPStatus
}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# The headers the server reads; every other header only counts towards the size limit.
KNOWN_HEADERS = frozenset(
    (b"content-length", b"transfer-encoding", b"expect", b"inference-header-content-length")
)
MAX_HEADERS = 100
LINGER_SECONDS = 2.0  # reading (and dropping) a refused request's rest before closing
TICK_SECONDS = 0.25  # how often deadlines are checked and the Date header refreshed

# What a connection is waiting for, when its deadline passes.
FRESH, IDLE, HEAD, BODY, LINGER = range(5)


@dataclass(frozen=True)
class Limits:
    max_request_line_bytes: int
    max_header_bytes: int
    max_body_bytes: int
    header_timeout: float
    body_timeout: float
    keepalive_timeout: float
    max_connections: int
    max_headers: int = MAX_HEADERS


class Resolver(Protocol):
    def resolve(self, method: str, path: str) -> tuple[Route, tuple[str, ...]]: ...


class _Refused(Exception):  # noqa: N818 - control flow out of a parser callback, not an error
    pass


class Connections:
    """What one worker's connections share: limits, metrics, the idle set, the drain state, and
    the ticker that enforces deadlines (one timer per worker, not one per request)."""

    def __init__(self, app: Resolver, metrics: Metrics, limits: Limits) -> None:
        self.app = app
        self.metrics = metrics
        self.limits = limits
        self.open: set[HttpConnection] = set()
        self.idle: dict[HttpConnection, None] = {}  # insertion order: the oldest idle first
        self.tasks: set[asyncio.Task[None]] = set()
        self.draining = False  # responses ask keep-alive clients to reconnect elsewhere
        self.closing = False  # drain is over: connections close once they have answered
        self.log_limit = RateLimit()
        self.date = b""
        self._ticker: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._tick()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _tick(self) -> None:
        self.date = b"date: " + formatdate(usegmt=True).encode() + b"\r\n"
        now = time.monotonic()
        for connection in list(self.open):
            if 0 < connection.deadline <= now:
                connection.deadline_passed()
        self._ticker = asyncio.get_running_loop().call_later(TICK_SECONDS, self._tick)

    def factory(self) -> HttpConnection:
        return HttpConnection(self)

    def close_when_answered(self) -> None:
        """The drain is over: close idle connections now and the others after their response."""
        self.closing = True
        for connection in list(self.open):
            connection.close_when_answered()

    def abort(self) -> None:
        for connection in list(self.open):
            connection.abort()

    @property
    def answering(self) -> bool:
        """Whether any connection has a request in progress (or a response to finish)."""
        return any(not connection.is_idle for connection in self.open)


class HttpConnection(asyncio.Protocol):
    """One client connection: parse, check, queue complete requests, answer them in order."""

    def __init__(self, shared: Connections) -> None:
        self.shared = shared
        self.limits = shared.limits
        self.metrics = shared.metrics
        self.app = shared.app
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.deadline = 0.0
        self.waiting_for = FRESH
        self.queue: collections.deque[Request] = collections.deque()
        self.busy = False  # a response is being computed off the event loop
        self.started = False  # a request has begun and is not complete yet
        self.closed = False
        self.lingering = False
        self.close_after = False
        self.in_head = True
        self.head_bytes = 0  # bytes received while the head is incomplete (memory bound)
        self._url: list[bytes] = []
        self._url_bytes = 0
        self._header_bytes = 0
        self._header_count = 0
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._expected = 0
        self._request: Request | None = None
        self._refusal: tuple[int, str, str] | None = None

    # ---- connection events --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        shared = self.shared
        if len(shared.open) >= self.limits.max_connections:
            if shared.idle:
                oldest = next(iter(shared.idle))
                oldest.close()
            else:
                self.closed = True
                log_limited(
                    log, shared.log_limit, "connections", logging.WARNING,
                    "connection limit (%d) reached and none idle: refusing a connection with 503",
                    self.limits.max_connections,
                )  # fmt: skip
                self.metrics.count("other", 503)
                self.transport.write(self._head(503, b"", b"close") + b"\r\n")
                self.transport.close()
                return
        shared.open.add(self)
        shared.idle[self] = None
        self.metrics.connections.inc()
        self.deadline = time.monotonic() + self.limits.header_timeout
        self.waiting_for = FRESH

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed and self not in self.shared.open:
            return
        self.closed = True
        self.deadline = 0.0
        self.shared.open.discard(self)
        self.shared.idle.pop(self, None)
        self.metrics.connections.dec()

    def eof_received(self) -> bool:
        if self.lingering or self.closed:
            return False
        if self.queue or self.busy:
            self.close_after = True  # answer what was asked, then close
            return True
        if self.started:
            # The client closed its side mid-request: never handle a partial request as whole.
            self.metrics.incomplete("eof")
            if self._request is not None:
                message = (
                    f"the request body ended after {self._body_bytes} of "
                    f"{self._expected or 'its chunked'} bytes"
                )
            else:
                message = "the request ended inside its head"
            self._write_now(error(400, message), close=True)
        return False

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return
        if self.in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._after_upgrade(data, upgrade.args[0])
        except httptools.HttpParserError as exc:
            refusal = self._refusal or (400, "other", f"malformed request: {exc}")
            self._refuse(*refusal)
            return
        if self.lingering or self.closed:
            return
        if self.in_head and self.head_bytes > self.limits.max_header_bytes:
            # An unfinished head already over the limit: refuse before buffering more of it.
            if self._header_count == 0 and self._url_bytes >= self.limits.max_request_line_bytes:
                self._refuse(414, "other", "request line too long")
            else:
                self._refuse(431, "other", "request head too large")
            return
        if self.queue and not self.busy:
            self._process()

    def _after_upgrade(self, data: bytes, offset: int) -> None:
        # llhttp stops at an `Upgrade` request's end and treats what follows as another protocol.
        # The server speaks only HTTP: it answered the request (queued already) as plain HTTP,
        # and parses on. A body on such a request was not parsed: refuse rather than misparse.
        last = self.queue[-1] if self.queue else None
        if self._expected or (last is not None and b"transfer-encoding" in last.headers):
            self.queue.clear()
            self._refuse(400, "other", "an Upgrade request with a body is not supported")
            return
        self.head_bytes = 0
        rest = data[offset:]
        if rest:
            self.data_received(rest)

    # ---- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.started = True
        self.in_head = True
        self.shared.idle.pop(self, None)
        self.deadline = time.monotonic() + self.limits.header_timeout
        self.waiting_for = HEAD
        self._url = []
        self._url_bytes = 0
        self._header_bytes = 0
        self._header_count = 0
        self._headers = {}
        self._body = []
        self._body_bytes = 0
        self._expected = 0
        self._request = None

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_request_line_bytes:
            self._refusal = (414, "other", "request line too long")
            raise _Refused
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        self._header_count += 1
        if (
            self._header_bytes + self._url_bytes > self.limits.max_header_bytes
            or self._header_count > self.limits.max_headers
        ):
            self._refusal = (431, "other", "request head too large")
            raise _Refused
        name = name.lower()
        if name in KNOWN_HEADERS:
            self._headers[name] = value

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_bytes = 0
        parser = self.parser
        url = self._url[0] if len(self._url) == 1 else b"".join(self._url)
        if url[:1] != b"/" and url != b"*":
            url = httptools.parse_url(url).path or b"/"  # absolute form: http://host/path
        path = url.partition(b"?")[0].decode("latin-1")
        method = parser.get_method().decode("ascii")
        route, params = self.app.resolve(method, path)
        headers = self._headers
        request = Request(
            method, path, route, params, headers, parser.should_keep_alive(), time.perf_counter()
        )
        request.http10 = parser.get_http_version() == "1.0"
        self._request = request
        length = headers.get(b"content-length")
        chunked = b"transfer-encoding" in headers
        if length is not None:
            self._expected = int(length)
            if self._expected > self.limits.max_body_bytes:
                self._refusal = (
                    413, route.name,
                    f"request body of {self._expected} bytes is larger than "
                    f"MAX_BODY_BYTES={self.limits.max_body_bytes}",
                )  # fmt: skip
                raise _Refused
        if self._expected or chunked:
            self.deadline = time.monotonic() + self.limits.body_timeout
            self.waiting_for = BODY
            expect = headers.get(b"expect")
            if expect is not None and expect.lower() == b"100-continue" and self.transport:
                self.transport.write(CONTINUE)
        else:
            self.deadline = 0.0

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            name = self._request.route.name if self._request else "other"
            self._refusal = (
                413, name,
                f"request body larger than MAX_BODY_BYTES={self.limits.max_body_bytes}",
            )  # fmt: skip
            raise _Refused
        self._body.append(body)

    def on_message_complete(self) -> None:
        request = self._request
        if request is None:  # an Upgrade request without a head? never: llhttp calls in order
            return
        body = self._body
        request.body = body[0] if len(body) == 1 else b"".join(body)
        self._request = None
        self._body = []
        self.started = False
        self.in_head = True
        self.deadline = 0.0
        self.queue.append(request)

    # ---- answering ----------------------------------------------------------------------------

    def _process(self) -> None:
        while self.queue and not self.busy and not self.closed:
            self._dispatch(self.queue.popleft())
        self._maybe_idle()

    def _dispatch(self, request: Request) -> None:
        in_flight = self.metrics.in_flight
        in_flight.inc()
        try:
            result = request.route.handler(request)
        except Exception:  # a bug in a handler: answer 500 and keep serving
            log.exception("%s %s failed", request.method, request.path)
            result = error(500, "internal server error")
        if isinstance(result, Response):
            in_flight.dec()
            self._respond(request, result)
            return
        self.busy = True
        if self.transport is not None:
            self.transport.pause_reading()  # pipelined requests wait in the kernel's buffer
        task = asyncio.get_running_loop().create_task(self._finish(request, result))
        self.shared.tasks.add(task)
        task.add_done_callback(self.shared.tasks.discard)

    async def _finish(self, request: Request, pending: Awaitable[Response]) -> None:
        try:
            response = await pending
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            response = error(500, "internal server error")
        finally:
            self.metrics.in_flight.dec()
        self.busy = False
        if self.closed:
            return  # the client left: nothing was answered, nothing is counted
        self._respond(request, response)
        if not self.closed and self.transport is not None:
            self.transport.resume_reading()
            self._process()

    def _respond(self, request: Request, response: Response) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        keep_alive = request.keep_alive and not (
            self.close_after or self.shared.draining or self.shared.closing
        )
        body = response.body
        connection = (b"keep-alive" if request.http10 else None) if keep_alive else b"close"
        head = self._head(response.status, body, connection, response)
        transport.write(head + b"\r\n" if request.method == "HEAD" else head + b"\r\n" + body)
        self.metrics.observe(
            request.route.name, response.status, time.perf_counter() - request.started
        )
        if not keep_alive:
            self.close()

    def _head(
        self,
        status: int,
        body: bytes,
        connection: bytes | None,
        response: Response | None = None,
    ) -> bytes:
        parts = [STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n".encode()]
        if response is not None:
            parts += [b"content-type: ", response.content_type, b"\r\n"]
            for name, value in response.headers:
                parts += [name, b": ", value, b"\r\n"]
        parts += [b"content-length: ", str(len(body)).encode(), b"\r\n", self.shared.date]
        if connection is not None:
            parts += [b"connection: ", connection, b"\r\n"]
        return b"".join(parts)

    def _maybe_idle(self) -> None:
        if self.is_idle and not self.closed:
            if self.shared.closing or self.close_after:
                self.close()
                return
            self.shared.idle[self] = None
            self.deadline = time.monotonic() + self.limits.keepalive_timeout
            self.waiting_for = IDLE

    @property
    def is_idle(self) -> bool:
        return not (self.started or self.queue or self.busy)

    # ---- refusing and closing -----------------------------------------------------------------

    def _refuse(self, status: int, route: str, message: str) -> None:
        """Answer an error before the request was read whole, then stop reading it: the rest
        is dropped for up to LINGER_SECONDS (closing with unread data would reset the
        connection, and the client could lose the answer)."""
        self.metrics.count(route, status)
        log_limited(log, self.shared.log_limit, f"refused {status}", logging.INFO,
                    "refused a request with %d: %s", status, message)  # fmt: skip
        self._write_now(error(status, message), close=False)
        transport = self.transport
        if transport is None or self.closed:
            return
        self.lingering = True
        self.queue.clear()
        self.deadline = time.monotonic() + LINGER_SECONDS
        self.waiting_for = LINGER
        if transport.can_write_eof():
            transport.write_eof()
        else:
            self.close()

    def _write_now(self, response: Response, *, close: bool) -> None:
        if self.transport is None or self.closed:
            return
        head = self._head(response.status, response.body, b"close", response)
        self.transport.write(head + b"\r\n" + response.body)
        if close:
            self.close()

    def deadline_passed(self) -> None:
        waiting_for = self.waiting_for
        self.deadline = 0.0
        if waiting_for in (HEAD, BODY) and (self.busy or self.queue):
            # The next pipelined request waits for this one's answer: its clock starts again.
            self.deadline = time.monotonic() + self.limits.header_timeout
        elif waiting_for in (HEAD, BODY):
            self.metrics.incomplete("timeout")
            what = "head" if waiting_for == HEAD else "body"
            self._write_now(error(408, f"the request {what} did not arrive in time"), close=True)
        elif waiting_for in (FRESH, IDLE, LINGER):
            self.close()

    def close_when_answered(self) -> None:
        if self.is_idle:
            self.close()
        else:
            self.close_after = True

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.connection_lost(None)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.connection_lost(None)


def limits_from(config: Any) -> Limits:
    return Limits(
        max_request_line_bytes=config.max_request_line_bytes,
        max_header_bytes=config.max_header_bytes,
        max_body_bytes=config.max_body_bytes,
        header_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
        keepalive_timeout=config.keepalive_timeout,
        max_connections=config.max_connections,
    )
