"""The HTTP side: routing, auth, rate limits, faults, latency, request log, and the server classes.

:class:`Emulator` is the programmatic entry point::

    with Emulator.start() as emu:            # default seed, 127.0.0.1, ephemeral port
        requests.get(emu.url + "/api/v2/org_connections", headers=...)
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .api import Caller, OrgConnectionsApi
from .control import PREFIX as CONTROL_PREFIX
from .control import ControlApi
from .failures import MSG_FORBIDDEN, MSG_NOT_FOUND, ApiFailure
from .faults import Fault, FaultConfig
from .ratelimit import RateLimitConfig
from .runtime import SECRET_PARAMS, Runtime, sanitize_query
from .seed import Seed, User, load_seed, parse_seed
from .store import Authentication, Store

CONNECTIONS_PATH = "/api/v2/org_connections"
ORGS_PATH = "/api/v2/org"
CURRENT_USER_PATH = "/api/v2/current_user"
LEGACY_ORGS_PATH = "/api/v1/org"

MSG_TOO_MANY = "Too many requests"
MSG_METHOD = "Method not allowed"
HTML_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDLE_TIMEOUT_SECONDS = 300.0

SeedLike = Seed | str | Path | Mapping[str, Any] | None


@dataclass(frozen=True)
class Route:
    """A resolved API route: rate-limit name, operation, path parameter, allowed methods."""

    name: str
    operation: str | None
    conn_id: str | None = None
    allowed: tuple[str, ...] = ()


def resolve_route(method: str, path: str) -> Route | None:
    """The route of an API request; ``None`` for an unknown path; ``operation None``: bad method."""
    clean = path.rstrip("/") if path != "/" else path
    if clean == CONNECTIONS_PATH:
        ops = {"GET": "list", "POST": "create"}
        return Route(f"org_connections_{ops.get(method, 'other')}", ops.get(method), None, ("GET", "POST"))
    if clean.startswith(CONNECTIONS_PATH + "/") and "/" not in clean[len(CONNECTIONS_PATH) + 1 :]:
        ops = {"PATCH": "update", "DELETE": "delete"}
        conn_id = clean[len(CONNECTIONS_PATH) + 1 :]
        return Route(
            f"org_connections_{ops.get(method, 'other')}", ops.get(method), conn_id, ("PATCH", "DELETE")
        )
    if clean == ORGS_PATH:
        return Route("orgs_list", "list_orgs" if method == "GET" else None, None, ("GET",))
    if clean == CURRENT_USER_PATH:
        return Route("current_user", "current_user" if method == "GET" else None, None, ("GET",))
    if clean == LEGACY_ORGS_PATH:
        return Route("orgs_list_v1", "list_orgs_v1" if method == "GET" else None, None, ("GET",))
    return None


class _Aborted(Exception):
    """The connection was closed without an answer (fault ``reset`` / ``lost_response``)."""


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection (keep-alive) to the emulator."""

    protocol_version = "HTTP/1.1"
    server_version = "dd-org-connections-emulator/1"
    timeout = IDLE_TIMEOUT_SECONDS
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: EmulatorServer

    # ------------------------------------------------------------------- connection set

    def setup(self) -> None:
        """Register the connection so :meth:`EmulatorServer.close_connections` can end it."""
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    # --------------------------------------------------------------------- dispatching

    def do_GET(self) -> None:
        """Dispatch a GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Dispatch a POST."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Dispatch a PATCH."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Dispatch a DELETE."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Dispatch a PUT (always 405 on the API)."""
        self._dispatch()

    def do_HEAD(self) -> None:
        """Dispatch a HEAD (405 on the API, no body)."""
        self._dispatch()

    def do_OPTIONS(self) -> None:
        """Dispatch an OPTIONS (405 on the API)."""
        self._dispatch()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Disabled: requests are logged by :meth:`_log_line` without their keys."""

    def log_message(self, format: str, *args: Any) -> None:
        """Server errors go to stderr only when request logging is on (keys are never in them)."""
        if self.server.log_requests:
            sys.stderr.write(f"emulator: {format % args}\n")

    @property
    def runtime(self) -> Runtime:
        """The shared runtime."""
        return self.server.runtime

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        started = time.time()
        clock = time.perf_counter()
        generation = self.runtime.log.generation
        method = self.command.upper()
        parts = urlsplit(self.path)
        path = parts.path or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send_json(400, {"errors": ["malformed request body framing"]}, {})
            return
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            status, payload = self.server.control.handle(method, path, body)
            self._send_json(status, payload, {})
            self._log_line(method, path, query, status, clock, None, None)
            return
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": sanitize_query(query),
            "status": None,
            "time": started,
            "duration_ms": 0.0,
            "org_id": None,
            "fault": None,
        }
        try:
            self._handle_api(method, path, query, body, entry)
        except _Aborted:
            pass
        finally:
            entry["duration_ms"] = round((time.perf_counter() - clock) * 1000.0, 3)
            self.runtime.log.append(entry, generation)
            self._log_line(method, path, query, entry["status"], clock, entry["org_id"], entry["fault"])

    def _key(self, header: str, param: str, query: Mapping[str, list[str]]) -> str | None:
        value = self.headers.get(header)
        if value:
            return value.strip()
        values = query.get(param)
        return values[0] if values else None

    def _handle_api(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, entry: dict[str, Any]
    ) -> None:
        runtime = self.runtime
        auth = runtime.store.authenticate(
            self._key("DD-API-KEY", "api_key", query),
            self._key("DD-APPLICATION-KEY", "application_key", query),
        )
        if auth.valid_keys and auth.org is not None:
            entry["org_id"] = auth.org.id
        bucket = auth.org.id if auth.org is not None else "anonymous"
        route = resolve_route(method, path)
        name = route.name if route is not None else "unknown"

        if runtime.sleep(runtime.latency_ms / 1000.0):
            self._abort(entry)
        fault = runtime.faults.draw(method, path)
        lost = False
        if fault is not None:
            entry["fault"] = fault.label()
            lost = self._pre_fault(fault, method, bucket, name, entry)

        decision = runtime.limiter.hit(bucket, name)
        headers = decision.headers
        if not decision.allowed:
            status, payload = 429, {"errors": [MSG_TOO_MANY]}
        elif route is None:
            status, payload = 404, {"errors": [MSG_NOT_FOUND]}
        elif route.operation is None:
            headers = {**headers, "Allow": ", ".join(route.allowed)}
            status, payload = 405, {"errors": [MSG_METHOD]}
        else:
            status, payload = self._operate(route, auth_org_user(auth), query, body)

        if lost:
            entry["unsent_status"] = status
            self._abort(entry)
        entry["status"] = status
        self._send_json(status, payload, headers)

    def _pre_fault(self, fault: Fault, method: str, bucket: str, name: str, entry: dict[str, Any]) -> bool:
        """Act on a fault before processing; ``True`` means: process, then drop the answer."""
        runtime = self.runtime
        if fault.kind == "rate_limit":
            entry["status"] = 429
            self._send_json(429, {"errors": [MSG_TOO_MANY]}, runtime.limiter.exhausted_headers(bucket, name))
            raise _Aborted
        if fault.kind == "server_error":
            headers = runtime.limiter.hit(bucket, name).headers
            entry["status"] = fault.status
            if fault.status == 502:
                self._send(502, HTML_502, "text/html; charset=utf-8", headers)
            elif fault.status == 503:
                self._send(503, b"", None, headers)
            else:
                self._send_json(500, {"errors": ["Internal Server Error"]}, headers)
            raise _Aborted
        if fault.kind == "timeout":
            if runtime.sleep(fault.timeout_seconds):
                self._abort(entry)
            return False
        if fault.kind == "reset" or method in READ_ONLY_METHODS:
            self._abort(entry)
        return True  # lost_response on a mutating method

    def _operate(
        self, route: Route, identity: Caller | None, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        api: OrgConnectionsApi = self.server.api
        try:
            if identity is None or not permitted(route.operation, identity.user):
                raise ApiFailure(403, MSG_FORBIDDEN)
            if route.operation == "list_orgs":
                return api.list_orgs(identity.org, query)
            if route.operation == "current_user":
                return api.current_user(identity)
            if route.operation == "list_orgs_v1":
                return api.list_orgs_v1(identity.org)
            if route.operation == "list":
                return api.list(identity, query)
            if route.operation == "create":
                return api.create(identity, body)
            if route.operation == "update":
                return api.update(identity, route.conn_id or "", body)
            if route.operation == "delete":
                return api.delete(identity, route.conn_id or "")
            raise ApiFailure(405, MSG_METHOD)
        except ApiFailure as exc:
            return exc.status, exc.body()
        except Exception:  # a bug in the emulator: answer 500 rather than drop the connection
            traceback.print_exc(file=sys.stderr)
            return 500, {"errors": ["Internal Server Error"]}

    # ------------------------------------------------------------------------ answering

    def _abort(self, entry: dict[str, Any]) -> None:
        """Close the connection without writing any answer."""
        entry["status"] = None
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Aborted

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str]) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str | None, headers: Mapping[str, str]) -> None:
        try:
            self.send_response(status)
            if content_type is not None:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client went away (e.g. it timed out first)
            self.close_connection = True

    def _log_line(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        status: int | None,
        clock: float,
        org_id: str | None,
        fault: str | None,
    ) -> None:
        if not self.server.log_requests:
            return
        safe = {k: v for k, v in query.items() if k not in SECRET_PARAMS}
        target = path + ("?" + urlencode(safe, doseq=True) if safe else "")
        elapsed = (time.perf_counter() - clock) * 1000.0
        extra = (f" org={org_id}" if org_id else "") + (f" fault={fault}" if fault else "")
        status_text = str(status) if status is not None else "no-answer"
        sys.stderr.write(f"{self.client_address[0]} {method} {target} {status_text} {elapsed:.1f}ms{extra}\n")


def auth_org_user(auth: Authentication) -> Caller | None:
    """The caller when both keys are valid and belong to one org, else ``None`` (403)."""
    if auth.org is None or auth.user is None:
        return None
    return Caller(org=auth.org, user=auth.user)


def permitted(operation: str | None, user: User) -> bool:
    """Whether ``user`` holds a permission the operation needs (Datadog's API reference).

    List connections: ``org_connections_read``; create, update, delete: ``org_connections_write``;
    ``GET /api/v2/org``: ``org_management`` or ``org_connections_write``; ``GET /api/v1/org``:
    ``org_management``. ``org_management`` grants all of them. ``GET /api/v2/current_user`` needs
    none beyond valid keys of an active user.
    """
    if operation == "list":
        return user.can_read_connections
    if operation in ("create", "update", "delete", "list_orgs"):
        return user.can_write_connections
    if operation == "list_orgs_v1":
        return user.can_manage_orgs
    return True


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server bound to a :class:`~.runtime.Runtime`; one daemon thread per connection."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], runtime: Runtime, *, log_requests: bool = False) -> None:
        self.runtime = runtime
        self.api = OrgConnectionsApi(runtime.store)
        self.control = ControlApi(runtime)
        self.log_requests = log_requests
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, EmulatorRequestHandler)

    def track(self, sock: socket.socket) -> None:
        """Remember an open client connection."""
        with self._connections_lock:
            self._connections.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        """Forget a closed client connection."""
        with self._connections_lock:
            self._connections.discard(sock)

    @property
    def open_connection_count(self) -> int:
        """How many client connections are open right now."""
        with self._connections_lock:
            return len(self._connections)

    def close_connections(self) -> None:
        """Shut down every open client connection (keep-alive ones included)."""
        with self._connections_lock:
            sockets = list(self._connections)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _coerce_seed(seed: SeedLike) -> Seed:
    if isinstance(seed, Seed):
        return seed
    if seed is None or isinstance(seed, (str, Path)):
        return load_seed(seed)
    return parse_seed(dict(seed), source="<seed dict>")


class Emulator:
    """An emulator instance: runtime + HTTP server, served from a daemon thread.

    ``seed`` is a :class:`~.seed.Seed`, a path to a seed file, a seed dict, or ``None`` for the
    default seed. ``port=0`` picks a free port; :attr:`url` tells which.
    """

    def __init__(
        self,
        seed: SeedLike = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: str | Path | None = None,
        rate_limit: RateLimitConfig | tuple[int, float] | str | None = None,
        latency_ms: float = 0.0,
        log_requests: bool = False,
    ) -> None:
        if isinstance(rate_limit, str):
            rate_limit = RateLimitConfig.parse(rate_limit)
        elif isinstance(rate_limit, tuple):
            rate_limit = RateLimitConfig(limit=rate_limit[0], period=rate_limit[1])
        self.seed = _coerce_seed(seed)
        self.runtime = Runtime(
            self.seed,
            state_path=str(state_path) if state_path is not None else None,
            rate_limit=rate_limit,
            latency_ms=latency_ms,
        )
        self.server = EmulatorServer((host, port), self.runtime, log_requests=log_requests)
        self.host = host
        self.port: int = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        seed: SeedLike = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: str | Path | None = None,
        rate_limit: RateLimitConfig | tuple[int, float] | str | None = None,
        latency_ms: float = 0.0,
        log_requests: bool = False,
    ) -> Emulator:
        """Create an emulator and serve it from a daemon thread; use as a context manager or call stop()."""
        emulator = cls(
            seed,
            host=host,
            port=port,
            state_path=state_path,
            rate_limit=rate_limit,
            latency_ms=latency_ms,
            log_requests=log_requests,
        )
        emulator.serve_in_thread()
        return emulator

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def store(self) -> Store:
        """The connection store."""
        return self.runtime.store

    def serve_in_thread(self) -> None:
        """Start serving from a daemon thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, name="emulator", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve from the calling thread until :meth:`stop` is called from another one."""
        self.server.serve_forever(poll_interval=0.01)

    def stop(self) -> None:
        """Stop serving, end open connections and close the listening socket (idempotent)."""
        if self.runtime.stopping.is_set():
            return
        self.runtime.stopping.set()
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.close_connections()
        self.server.server_close()

    def __enter__(self) -> Emulator:
        self.serve_in_thread()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------- in-process control helpers

    def reset(self) -> None:
        """Like ``POST /_emulator/reset``."""
        self.runtime.reset()

    def set_faults(self, config: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Like ``POST /_emulator/faults``: ``set_faults(kinds=["reset"], count=1)``; no argument: off."""
        data = dict(config or {}, **fields)
        self.runtime.faults.configure(FaultConfig.from_json(data))

    def set_latency(self, ms: float) -> None:
        """Like ``POST /_emulator/latency``."""
        self.runtime.set_latency_ms(ms)

    def set_rate_limit(self, limit: int | None = None, period: float | None = None) -> None:
        """Like ``POST /_emulator/rate_limit``; no argument restores the default."""
        if limit is None:
            self.runtime.limiter.configure(self.runtime.default_rate_limit)
        else:
            self.runtime.limiter.configure(RateLimitConfig(limit=limit, period=period or 60.0))

    def deactivate_user(self, user: str) -> list[str]:
        """Like ``POST /_emulator/users/{user}/deactivate``; returns the ids of the deleted connections."""
        return [c.id for c in self.runtime.store.deactivate(user).deleted]

    def requests_log(self) -> list[dict[str, Any]]:
        """Like ``GET /_emulator/requests``."""
        return self.runtime.log.entries()

    def connections(self) -> list[dict[str, Any]]:
        """Every connection, rendered as the API renders them."""
        store = self.runtime.store
        return store.render_many(store.all())
