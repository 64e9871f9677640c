"""A fixed offered rate of POST requests over keep-alive connections (an open-loop client).

Requests are scheduled at `rate` per second regardless of how fast answers come back, the way
independent users arrive; each waits for a free connection in the client's queue, and its
latency is measured from its scheduled time (so a slow server is not hidden by a client that
waits for it: no coordinated omission). A request that cannot start within `max_wait` seconds,
or that is still waiting when the run ends, is dropped and counted as unserved: that is the load
the server could not take. Pure Python (asyncio; uvloop when installed), so it needs nothing the
project does not install; it is meant for loopback rates of a few thousand requests a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 65536


@dataclass(frozen=True)
class LoadResult:
    offered_rps: float
    seconds: float  # the scheduling window
    scheduled: int
    ok: int  # answered 200
    failed: int  # answered otherwise, or the connection failed
    dropped: int  # never sent: no connection free within max_wait, or still queued at the end
    latencies_ms: Sequence[float] = field(repr=False, default=())  # of the 200 answers, sorted

    @property
    def served_rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def unserved_share(self) -> float:
        return (self.failed + self.dropped) / self.scheduled if self.scheduled else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile of the successful requests' latencies (0 with none)."""
        if not self.latencies_ms:
            return 0.0
        index = min(len(self.latencies_ms) - 1, max(0, int(len(self.latencies_ms) * fraction)))
        return self.latencies_ms[index]

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(0.50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(0.99)

    def line(self) -> str:
        return (
            f"offered {self.offered_rps:.0f}/s: served {self.served_rps:.0f}/s, "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, failed {self.failed}, "
            f"dropped {self.dropped} of {self.scheduled}"
        )


class _Connection:
    def __init__(self, host: str, port: int, request: bytes, timeout: float) -> None:
        self.host, self.port, self.request, self.timeout = host, port, request, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self.writer.wait_closed(), 1)
        self.reader = self.writer = None

    async def exchange(self) -> int:
        """Send the request, read the whole answer; return its status code."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status


async def _offer(
    host: str,
    port: int,
    request: bytes,
    rate: float,
    seconds: float,
    connections: int,
    max_wait: float,
    timeout: float,
) -> LoadResult:
    queue: asyncio.Queue[float] = asyncio.Queue()
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0, "dropped": 0}
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def worker() -> None:
        connection = _Connection(host, port, request, timeout)
        try:
            while True:
                scheduled = await queue.get()
                if time.perf_counter() - scheduled > max_wait:
                    counts["dropped"] += 1
                    continue
                try:
                    status = await asyncio.wait_for(connection.exchange(), timeout)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                    counts["failed"] += 1
                    await connection.close()
                    continue
                if status == 200:
                    counts["ok"] += 1
                    latencies.append((time.perf_counter() - scheduled) * 1000)
                else:
                    counts["failed"] += 1
        finally:
            await connection.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    sent = 0
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - start) * rate) + 1) if now >= start else 0
        while sent < due:
            queue.put_nowait(start + sent / rate)
            sent += 1
        await asyncio.sleep(max(0.0005, min(0.005, start + sent / rate - time.perf_counter())))
    # Let the last requests finish; whatever still waits for a connection then is unserved.
    deadline = time.perf_counter() + max_wait + timeout
    while not queue.empty() and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    counts["dropped"] += queue.qsize()
    while not queue.empty():
        queue.get_nowait()
    await asyncio.sleep(0)
    finish = time.perf_counter() + timeout
    while sum(counts.values()) < total and time.perf_counter() < finish:
        await asyncio.sleep(0.01)
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    counts["failed"] += total - sum(counts.values())  # cut off in flight by the deadline
    return LoadResult(
        offered_rps=rate,
        seconds=seconds,
        scheduled=total,
        ok=counts["ok"],
        failed=counts["failed"],
        dropped=counts["dropped"],
        latencies_ms=sorted(latencies),
    )


def post_request(host: str, port: int, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode("latin-1") + body


def offer(
    port: int,
    body: bytes,
    *,
    rate: float,
    seconds: float,
    host: str = "127.0.0.1",
    path: str = "/predict",
    connections: int = 32,
    max_wait: float = 1.0,
    timeout: float = 10.0,
) -> LoadResult:
    """Offer `rate` POST requests a second for `seconds` to host:port (loopback only)."""
    if not host.startswith("127.") and host not in ("localhost", "::1"):
        raise ValueError(f"load is only sent to this machine's loopback, not to {host}")
    if rate <= 0 or seconds <= 0:
        raise ValueError(f"rate and seconds must be positive (got {rate}, {seconds})")
    request = post_request(host, port, path, body)
    runner = _new_loop()
    try:
        return runner.run_until_complete(
            _offer(host, port, request, rate, seconds, connections, max_wait, timeout)
        )
    finally:
        runner.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    return loop
