"""A tiny scripted HTTP server for the client's tests (not a test module).

It answers from a queue of canned responses (or, when the queue is empty, from an optional
handler function), records every request, and can misbehave the ways networks do: drop the
connection after reading a request, reset it, answer late, cut a body short.

    with FakeServer() as server:
        server.enqueue(Canned(200, {"data": []}), Canned(drop=True))
        ... client pointed at server.url ...
        assert server.requests[0].method == "GET"
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: ``Canned.date`` default: a ``Date`` header from the fake server's own clock.
AUTO_DATE = "auto"


@dataclass
class Canned:
    """One scripted answer.

    ``body`` may be bytes/str (sent as is) or anything JSON-serialisable. ``drop`` closes the
    connection without answering (after reading the request); ``reset`` does so with a TCP RST;
    ``delay`` waits before answering (to trip read timeouts); ``truncate_to`` announces the full
    Content-Length but sends only that many bytes, then closes. ``date`` is the ``Date`` header:
    :data:`AUTO_DATE` (the server's clock, as any HTTP server sends), a given text, or ``None``
    for no ``Date`` header at all.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"
    drop: bool = False
    reset: bool = False
    delay: float = 0.0
    truncate_to: int | None = None
    date: str | None = AUTO_DATE

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Recorded:
    """A request as the server received it."""

    method: str
    target: str  # path and query, exactly as sent
    headers: dict[str, str]
    body: bytes
    client_port: int = 0

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


Handler = Callable[[Recorded], Canned]


class _RequestHandler(BaseHTTPRequestHandler):
    """Answers each request with what the FakeServer's handler or queue says (`Canned`)."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and
        # delayed ACKs add 40 ms to some answers.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = Recorded(self.command, self.path, dict(self.headers.items()), body, self.client_address[1])
        canned = self.server.fake._next(rec)
        if canned.delay:
            time.sleep(canned.delay)
        if canned.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if canned.drop:
            self.close_connection = True
            return
        try:
            self._answer(canned)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _answer(self, canned: Canned) -> None:
        payload = canned.payload()
        self.send_response_only(canned.status)
        self.send_header("Server", self.version_string())
        if canned.date is not None:
            self.send_header("Date", self.date_time_string() if canned.date == AUTO_DATE else canned.date)
        if canned.content_type and payload:
            self.send_header("Content-Type", canned.content_type)
        for key, value in canned.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        if canned.truncate_to is not None:
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload[: canned.truncate_to])
            self.wfile.flush()
            self.close_connection = True
            return
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: FakeServer


class FakeServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 answering scripted responses."""

    def __init__(self, port: int = 0, handler: Handler | None = None) -> None:
        self.requests: list[Recorded] = []
        self.handler = handler
        self._queue: deque[Canned] = deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _RequestHandler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def _next(self, rec: Recorded) -> Canned:
        with self._lock:
            self.requests.append(rec)
            if self._queue:
                return self._queue.popleft()
        if self.handler is not None:
            return self.handler(rec)
        return Canned(418, {"errors": ["fake server: no canned response left"]})

    def enqueue(self, *responses: Canned) -> FakeServer:
        """Add answers to the queue, served in order."""
        with self._lock:
            self._queue.extend(responses)
        return self

    @property
    def pending(self) -> int:
        """Canned answers not served yet."""
        with self._lock:
            return len(self._queue)

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SleepRecorder:
    """Stands in for ``time.sleep``: records the waits, sleeps for none of them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class FakeClock:
    """A monotonic clock that moves only when ``sleep`` is called: exact, instant budget tests."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def free_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
