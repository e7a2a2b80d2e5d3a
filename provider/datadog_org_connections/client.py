"""HTTP client for Datadog's org connections API (``/api/v2/org_connections``), on ``requests``.

Usage::

    from datadog_org_connections.client import OrgConnectionsClient
    from datadog_org_connections.settings import resolve_credentials

    with OrgConnectionsClient(resolve_credentials()) as client:
        conn = client.create_connection(sink_org_id, ["logs", "metrics"])
        client.update_connection(conn.id, ["logs"])
        client.delete_connection(conn.id, missing_ok=True)

Every call acts as the org that owns the keys (the "current org"). The keys travel only in the
``DD-API-KEY`` / ``DD-APPLICATION-KEY`` headers, never in a URL; redirects are not followed (a
redirect would carry the key headers to another host); no message or log line contains a key.

Retries
    * 429: the request was not applied, so every method waits ``X-RateLimit-Reset`` seconds
      (exponential backoff with jitter when the header is absent or unreadable; one wait is capped
      at :attr:`OrgConnectionsClient.max_single_wait`) and tries again.
    * 5xx, dropped or reset connections, read timeouts: GET, PATCH and DELETE are idempotent and
      are retried with exponential backoff and jitter.
    * Failures to connect (connection refused, connect timeout, DNS failure): the request never
      left, so every method, POST included, is retried.
    * Everything is bounded by ``max_attempts`` (HTTP attempts per request; the look-ups a
      create makes count separately but share its time) and ``max_retry_seconds`` (wall time per
      call, sleeps included): a wait that would end past the budget is not started; the last
      error is raised instead. 4xx answers other than 429 are never retried.

Create safety
    A POST is never blindly repeated once it may have reached the server (read timeout,
    connection dropped or reset after sending, 5xx, a 2xx whose body is cut off). A connection is
    unique per (source, sink) pair and the current org is the source, so after such an ambiguous
    failure the client lists ``GET /api/v2/org_connections?sink_org_id=<sink>``: if that pair's
    connection exists with the requested types, the create took effect and it is returned;
    otherwise the POST is sent again. If a POST answers 409 after an earlier ambiguous attempt,
    the pair is looked up again and returned (our own earlier attempt made it). A 409 on the
    *first* attempt is a real conflict and raises :class:`~.errors.ConflictError`: adopting an
    existing connection is the caller's decision. A pair connection found with *other* types
    than requested was not made by this call: ConflictError too. When the attempts or the time
    run out after an ambiguous failure, one last look-up is made; if it finds nothing, the error
    raised has ``maybe_applied=True``.

Delete safety
    After an ambiguous DELETE failure, a retried DELETE answering 404 means the earlier attempt
    deleted it: the call succeeds (returns ``True``).

Thread safety
    One ``requests.Session`` per client (connection pool of 32), no per-call state on the client,
    cookies disabled: one client can be shared by many threads.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import Any, TypeVar

import requests
import requests.adapters
import requests.utils
import urllib3.exceptions as u3

from . import __version__
from .errors import (
    ApiError,
    ConfigurationError,
    ConflictError,
    DatadogError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    TransportError,
    one_line,
)
from .models import (
    Connection,
    ConnectionPage,
    ManagedOrgs,
    parse_connection_document,
    parse_connection_page,
    parse_json,
    parse_managed_orgs,
)
from .settings import Credentials

__all__ = ["CONNECTIONS_PATH", "MANAGED_ORGS_PATH", "USER_AGENT", "OrgConnectionsClient"]

log = logging.getLogger("datadog_org_connections.client")

CONNECTIONS_PATH = "/api/v2/org_connections"
MANAGED_ORGS_PATH = "/api/v2/org"

USER_AGENT = f"datadog-org-connections/{__version__}"

Timeout = float | tuple[float, float]

_T = TypeVar("_T")

_NOT_RETRIED_5XX = frozenset({501, 505})

#: The permission Datadog's API reference names per kind of call, for 403 messages
#: (``org_management``, the older permission, grants all of them).
READ_PERMISSION = "org_connections_read"
WRITE_PERMISSION = "org_connections_write"


def _forbidden_hint(permission: str) -> str:
    return (
        "the Datadog API key or application key is wrong, or the application key's user lacks the "
        f"{permission} permission (the older org_management permission grants it too)"
    )


# --------------------------------------------------------------------------------------------
# Transport failures


@dataclass(frozen=True)
class _Failure:
    """A request that got no HTTP answer."""

    summary: str
    sent: bool  # the request may have reached the server
    retryable: bool
    config: bool = False  # a local configuration problem (bad URL, bad header)


def _chain(exc: BaseException) -> list[object]:
    """``exc`` and everything it wraps (args, urllib3 ``reason``, causes), breadth first."""
    seen: set[int] = set()
    out: list[object] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if id(item) in seen or len(out) > 50:
            continue
        seen.add(id(item))
        out.append(item)
        if isinstance(item, BaseException):
            todo.extend(a for a in item.args if isinstance(a, BaseException))
            todo.extend(x for x in (getattr(item, "reason", None), item.__cause__, item.__context__) if x)
    return out


def _classify(exc: requests.RequestException, timeout: Timeout) -> _Failure:
    """Describe a ``requests`` exception and say whether the request may have been sent."""
    connect_t, read_t = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    chain = _chain(exc)

    def has(kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
        return any(isinstance(x, kind) for x in chain)

    if isinstance(
        exc,
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidHeader,
            requests.exceptions.URLRequired,
        ),
    ):
        return _Failure(
            f"request could not be built ({type(exc).__name__})", sent=False, retryable=False, config=True
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _Failure(f"timed out connecting (connect timeout {connect_t:g}s)", sent=False, retryable=True)
    if isinstance(exc, requests.exceptions.SSLError):
        return _Failure(f"TLS failure: {_short(exc)}", sent=False, retryable=False)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return _Failure(f"no answer within the read timeout of {read_t:g}s", sent=True, retryable=True)
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return _Failure(
            "the connection broke while the answer was being read (body cut off)", sent=True, retryable=True
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return _Failure(f"proxy failure: {_short(exc)}", sent=True, retryable=True)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if has(u3.NameResolutionError):
            return _Failure("could not resolve the API host (DNS failure)", sent=False, retryable=True)
        if has(u3.NewConnectionError):
            why = "connection refused" if has(ConnectionRefusedError) else "could not connect"
            return _Failure(why, sent=False, retryable=True)
        if has(u3.ConnectTimeoutError):
            return _Failure(
                f"timed out connecting (connect timeout {connect_t:g}s)", sent=False, retryable=True
            )
        if has(ConnectionResetError):
            return _Failure(
                "connection reset by the server before an answer arrived", sent=True, retryable=True
            )
        return _Failure("connection closed by the server before an answer arrived", sent=True, retryable=True)
    if isinstance(exc, requests.exceptions.Timeout):
        return _Failure("timed out", sent=True, retryable=True)
    return _Failure(f"request failed: {_short(exc)}", sent=True, retryable=False)


def _short(exc: BaseException) -> str:
    return one_line(f"{type(exc).__name__}: {exc}", 240)


# --------------------------------------------------------------------------------------------
# Answers


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _content_type(resp: requests.Response) -> str:
    return (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _api_error_texts(body: Any) -> list[str]:
    """The ``errors`` of a Datadog error body (strings, or JSON:API error objects)."""
    if not isinstance(body, Mapping):
        return []
    errors = body.get("errors")
    if isinstance(errors, str):
        errors = [errors]
    if not isinstance(errors, list):
        return []
    texts = []
    for item in errors:
        if isinstance(item, Mapping):
            text = item.get("detail") or item.get("title") or json.dumps(item, sort_keys=True)
            texts.append(str(text))
        else:
            texts.append(str(item))
    return texts


def _describe_error_body(resp: requests.Response) -> tuple[str, list[str]]:
    """Summarise an error answer as ``(detail, api_errors)``; never raises."""
    status = resp.status_code
    content = resp.content or b""
    ctype = _content_type(resp) or "no content type"
    if not content.strip():
        return f"HTTP {status} with an empty body", []
    try:
        body = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        what = "an unparsable JSON" if "json" in ctype else f"a non-JSON ({ctype})"
        detail = f"HTTP {status} with {what} body"
        title = _TITLE.search(content[:4096])
        if title:
            text = one_line(title.group(1).decode("utf-8", "replace"), 120)
            if text:
                detail += f": {text}"
        return detail, []
    texts = _api_error_texts(body)
    if texts:
        return "; ".join(texts), texts
    return f"HTTP {status} with body {one_line(json.dumps(body, sort_keys=True), 200)}", []


def _error_class(status: int) -> type[ApiError]:
    if status == 400:
        return InvalidInputError
    if status in (401, 403):
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    return ApiError


def _rate_limit_reset(resp: requests.Response) -> float | None:
    """``X-RateLimit-Reset`` in seconds, or ``None`` when absent or not a sane number."""
    raw = resp.headers.get("X-RateLimit-Reset")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


@dataclass(frozen=True)
class _Op:
    """What a call is doing, for messages."""

    text: str
    org_ids: tuple[str, ...] = ()
    mutation: bool = False
    permission: str = READ_PERMISSION  # what a 403 says the key's user needs


class _MaybeApplied(Exception):
    """Internal: a non-idempotent request may have reached the server; ``error`` says how."""

    def __init__(self, error: DatadogError) -> None:
        super().__init__(str(error))
        self.error = error


class _Attempts:
    """Attempt counter and time budget of one logical request (internal)."""

    def __init__(self, client: OrgConnectionsClient, deadline: float | None = None) -> None:
        self.client = client
        self.count = 0
        self.deadline = client._clock() + client._max_retry_seconds if deadline is None else deadline
        self.ambiguous = False  # an attempt may have reached the server without a clear answer

    def begin(self) -> int:
        self.count += 1
        return self.count

    def wait_or_raise(self, error: DatadogError, delay: float | None) -> None:
        """After a failed attempt, sleep before the next one, or raise ``error`` if out of budget."""
        client = self.client
        if self.count >= client._max_attempts:
            raise error
        wait = client._backoff(self.count) if delay is None else delay
        wait = max(0.0, min(wait, client.max_single_wait))
        if client._clock() + wait > self.deadline:
            raise error
        log.debug("retrying in %.3fs after: %s", wait, error)
        client._sleep(wait)


# --------------------------------------------------------------------------------------------
# The client


class OrgConnectionsClient:
    """Client of the org connections API for the org that owns ``credentials``.

    Args:
        credentials: keys and base URL (see :func:`~.settings.resolve_credentials`).
        timeout: seconds, or ``(connect, read)`` seconds, for each HTTP attempt.
        max_attempts: HTTP attempts per request (1 disables retries).
        max_retry_seconds: wall-time budget of one call, waits included.
        session: a ``requests.Session`` to use instead of the client's own (it is used as is, and
            not closed by :meth:`close`).
        sleep: how to wait between attempts (tests pass a recorder).
        clock: a monotonic clock in seconds, for the time budget.

    All methods raise :class:`~.errors.DatadogError` subclasses only (plus ``ValueError`` /
    ``TypeError`` for arguments that cannot be sent at all).
    """

    #: The longest one wait between attempts may be, whatever ``X-RateLimit-Reset`` says.
    max_single_wait: float = 60.0
    #: First backoff step in seconds (doubled per attempt, with jitter, capped at 30 s).
    backoff_base: float = 0.5
    backoff_cap: float = 30.0

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: Timeout = (5.0, 30.0),
        max_attempts: int = 6,
        max_retry_seconds: float = 120.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise TypeError("credentials must be a datadog_org_connections.settings.Credentials")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if max_retry_seconds < 0:
            raise ValueError("max_retry_seconds must not be negative")
        self._credentials = credentials
        self._base_url = credentials.base_url.rstrip("/")
        self._secrets = (credentials.api_key, credentials.app_key)
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._max_retry_seconds = max_retry_seconds
        self._sleep = sleep
        self._clock = clock
        self._random = random.Random()
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            # Read the environment once, not on every request (requests' trust_env re-reads it per
            # call, ~0.1 ms): proxies for this host (HTTPS_PROXY, NO_PROXY...) and a custom CA bundle.
            # .netrc is deliberately ignored: authentication is the key headers only.
            session.trust_env = False
            session.proxies.update(requests.utils.get_environ_proxies(credentials.base_url))
            ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if ca_bundle:
                session.verify = ca_bundle
        self._session = session
        self._headers = {
            "DD-API-KEY": credentials.api_key,
            "DD-APPLICATION-KEY": credentials.app_key,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def __repr__(self) -> str:
        return f"OrgConnectionsClient(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``https://api.datadoghq.com``."""
        return self._base_url

    def close(self) -> None:
        """Close the client's own HTTP session (a session passed in is left open)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> OrgConnectionsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---------------------------------------------------------------------------------- reads

    def list_page(
        self,
        *,
        sink_org_id: str | None = None,
        source_org_id: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> ConnectionPage:
        """Fetch one page of the connections the current org takes part in.

        ``sink_org_id`` / ``source_org_id`` filter server-side; ``limit`` / ``offset`` page.
        """
        return self._list_page(
            _list_op("list org connections", sink_org_id, source_org_id),
            sink_org_id=sink_org_id,
            source_org_id=source_org_id,
            limit=limit,
            offset=offset,
        )

    def iter_connections(
        self,
        *,
        sink_org_id: str | None = None,
        source_org_id: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[Connection]:
        """Yield every matching connection, fetching pages lazily (``limit``/``offset``).

        Paging stops at a short or empty page, or once ``total_filtered_count`` connections were
        seen; a page holding only connections already yielded (an API ignoring ``offset``) stops
        it too, so no connection is yielded twice.
        """
        _check_page_size(page_size)
        op = _list_op("list org connections", sink_org_id, source_org_id)
        return self._iter(op, sink_org_id=sink_org_id, source_org_id=source_org_id, page_size=page_size)

    def list_connections(
        self,
        *,
        sink_org_id: str | None = None,
        source_org_id: str | None = None,
        page_size: int = 1000,
    ) -> list[Connection]:
        """Every matching connection, all pages (see :meth:`iter_connections`)."""
        return list(
            self.iter_connections(sink_org_id=sink_org_id, source_org_id=source_org_id, page_size=page_size)
        )

    def find_connection(
        self,
        connection_id: str,
        *,
        sink_org_id: str | None = None,
        source_org_id: str | None = None,
        page_size: int = 1000,
    ) -> Connection | None:
        """Find one connection by id, or ``None`` if the current org has no such connection.

        There is no GET by id: this lists, filtered server-side by the org ids given (one
        request when both are known), matches by id and pages only until the id turns up.
        """
        _require_id(connection_id, "connection_id")
        _check_page_size(page_size)
        op = _list_op(f"find org connection {connection_id}", sink_org_id, source_org_id)
        for conn in self._iter(op, sink_org_id=sink_org_id, source_org_id=source_org_id, page_size=page_size):
            if conn.id == connection_id:
                return conn
        return None

    def list_managed_orgs(self) -> ManagedOrgs:
        """The current org and the orgs it manages (``GET /api/v2/org``).

        ``current_id`` is the org the keys belong to (``data.id``). A parent org's keys also list
        its child orgs; a child org's keys list only the child. Needs ``org_management`` or
        ``org_connections_write``: a read-only key gets :class:`~.errors.ForbiddenError`.
        """
        op = _Op("list managed orgs", permission=WRITE_PERMISSION)
        resp = self._call("GET", MANAGED_ORGS_PATH, op)
        return self._parse(resp, op, parse_managed_orgs)

    # ------------------------------------------------------------------------------ mutations

    def create_connection(self, sink_org_id: str, connection_types: Iterable[str]) -> Connection:
        """Create the connection from the current org to ``sink_org_id`` (``POST``).

        ``connection_types`` is sent as given (in order, duplicates included): validating it is
        the caller's job, and the API answers 400 to a bad list. See the module docstring for
        how an interrupted create is resolved without creating twice.

        Raises:
            ConflictError: the pair already had a connection before this call.
            NotFoundError: the sink org does not exist or is outside the account.
            InvalidInputError: the API rejected the types or the pair.
        """
        _require_id(sink_org_id, "sink_org_id")
        types = _types_list(connection_types)
        op = _Op(
            f"create org connection to sink org {sink_org_id}",
            (sink_org_id,),
            mutation=True,
            permission=WRITE_PERMISSION,
        )
        body = {
            "data": {
                "type": "org_connection",
                "attributes": {"connection_types": types},
                "relationships": {"sink_org": {"data": {"type": "orgs", "id": sink_org_id}}},
            }
        }
        tries = _Attempts(self)
        while True:
            if tries.ambiguous:
                found = self._created_by_earlier_attempt(op, sink_org_id, types, tries)
                if found is not None:
                    return found
            try:
                resp = self._call("POST", CONNECTIONS_PATH, op, body=body, tries=tries, retry_sent=False)
            except _MaybeApplied as maybe:
                tries.ambiguous = True
                try:
                    tries.wait_or_raise(maybe.error, None)
                except DatadogError:
                    # Out of attempts or time: one last look, since the create may have worked.
                    try:
                        found = self._created_by_earlier_attempt(op, sink_org_id, types, tries)
                    except DatadogError:
                        found = None
                    if found is not None:
                        return found
                    raise maybe.error from None
                continue
            except ConflictError:
                if not tries.ambiguous:
                    raise
                found = self._created_by_earlier_attempt(op, sink_org_id, types, tries)
                if found is not None:
                    return found
                raise
            try:
                return self._parse(resp, op, parse_connection_document, attempts=tries.count)
            except ResponseFormatError:
                # The 2xx says it was created; the body just cannot be read. Read it back.
                found = self._created_by_earlier_attempt(op, sink_org_id, types, tries)
                if found is not None:
                    return found
                raise

    def update_connection(self, connection_id: str, connection_types: Iterable[str]) -> Connection:
        """Replace the types of a connection (``PATCH``); returns the updated connection.

        ``connection_types`` is sent as given. Only the types can change: to change the sink,
        delete and create.

        Raises:
            NotFoundError: no such connection for the current org.
            InvalidInputError: the API rejected the types.
        """
        _require_id(connection_id, "connection_id")
        types = _types_list(connection_types)
        op = _Op(f"update org connection {connection_id}", mutation=True, permission=WRITE_PERMISSION)
        body = {
            "data": {"type": "org_connection", "id": connection_id, "attributes": {"connection_types": types}}
        }
        resp = self._call("PATCH", _connection_path(connection_id), op, body=body)
        return self._parse(resp, op, parse_connection_document)

    def delete_connection(self, connection_id: str, *, missing_ok: bool = False) -> bool:
        """Delete a connection (allowed from its source or its sink org).

        Returns ``True`` when this call deleted it (including when an interrupted attempt did and
        the retry answered 404), ``False`` when it was already gone and ``missing_ok``.

        Raises:
            NotFoundError: no such connection for the current org and not ``missing_ok``.
            InvalidInputError: the id is not a valid UUID.
        """
        _require_id(connection_id, "connection_id")
        op = _Op(f"delete org connection {connection_id}", mutation=True, permission=WRITE_PERMISSION)
        tries = _Attempts(self)
        resp = self._call("DELETE", _connection_path(connection_id), op, ok_statuses=(404,), tries=tries)
        if resp.status_code != 404:
            return True
        if tries.ambiguous:
            log.debug(
                "delete %s: 404 after an interrupted attempt: the earlier attempt deleted it", connection_id
            )
            return True
        if missing_ok:
            return False
        raise self._api_error(resp, op, attempts=tries.count, maybe_applied=False)

    # ------------------------------------------------------------------------------- internals

    def _iter(
        self,
        op: _Op,
        *,
        sink_org_id: str | None,
        source_org_id: str | None,
        page_size: int,
    ) -> Iterator[Connection]:
        seen: set[str] = set()
        offset = 0
        while True:
            page = self._list_page(
                op, sink_org_id=sink_org_id, source_org_id=source_org_id, limit=page_size, offset=offset
            )
            fresh = [c for c in page.connections if c.id not in seen]
            if page.connections and not fresh:
                log.warning(
                    "%s: page at offset %d repeats earlier connections (the API seems to "
                    "ignore offset); stopping",
                    op.text,
                    offset,
                )
                return
            for conn in fresh:
                seen.add(conn.id)
                yield conn
            offset += len(page.connections)
            if len(page.connections) < page_size:
                return
            if page.total_filtered_count is not None and offset >= page.total_filtered_count:
                return

    def _list_page(
        self,
        op: _Op,
        *,
        sink_org_id: str | None,
        source_org_id: str | None,
        limit: int,
        offset: int,
        deadline: float | None = None,
    ) -> ConnectionPage:
        for name, value in (("limit", limit), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        params: dict[str, str | int] = {}
        if sink_org_id is not None:
            params["sink_org_id"] = sink_org_id
        if source_org_id is not None:
            params["source_org_id"] = source_org_id
        params["limit"] = limit
        params["offset"] = offset
        tries = _Attempts(self, deadline)
        resp = self._call("GET", CONNECTIONS_PATH, op, params=params, tries=tries)
        return self._parse(resp, op, parse_connection_page, attempts=tries.count)

    def _created_by_earlier_attempt(
        self, op: _Op, sink_org_id: str, types: list[str], tries: _Attempts
    ) -> Connection | None:
        """After an ambiguous create: the pair's connection if our create took effect, else None.

        Raises ConflictError when the pair has a connection with other types (someone else's).
        """
        check = _Op(f"{op.text} (checking whether an interrupted attempt took effect)", op.org_ids)
        try:
            page = self._list_page(
                check,
                sink_org_id=sink_org_id,
                source_org_id=None,
                limit=1000,
                offset=0,
                deadline=tries.deadline,
            )
        except DatadogError as err:
            raise _with_maybe_applied(err, self._secrets) from None
        candidates = [c for c in page.connections if c.sink_org_id == sink_org_id]
        if len(candidates) != 1:
            log.debug("%s: %d candidate(s) after an interrupted attempt", op.text, len(candidates))
            return None
        conn = candidates[0]
        if set(conn.connection_types) != set(types):
            raise ConflictError(
                f"the pair already has connection {conn.id} with types {list(conn.connection_types)}, "
                f"not the requested {types}: it was not made by this call",
                operation=op.text,
                status=409,
                org_ids=(conn.source_org_id, sink_org_id),
                attempts=tries.count,
                secrets=self._secrets,
            )
        log.debug("%s: an interrupted attempt did create %s", op.text, conn.id)
        return conn

    def _call(
        self,
        method: str,
        path: str,
        op: _Op,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        ok_statuses: Sequence[int] = (),
        tries: _Attempts | None = None,
        retry_sent: bool = True,
    ) -> requests.Response:
        """Send with retries; return the answer if it is 2xx or in ``ok_statuses``.

        With ``retry_sent=False`` (POST), a failure after which the request may have been applied
        raises :class:`_MaybeApplied` instead of retrying. ``tries.ambiguous`` tells the caller
        whether some attempt may have been applied without a clear answer.
        """
        tries = tries or _Attempts(self)
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        while True:
            attempt = tries.begin()
            out = self._send(method, path, params, data, attempt)
            if isinstance(out, _Failure):
                ambiguous = out.sent
                terr: DatadogError
                if out.config:
                    terr = ConfigurationError(
                        f"{out.summary}: check the API URL and keys",
                        operation=op.text,
                        org_ids=op.org_ids,
                        attempts=attempt,
                        secrets=self._secrets,
                    )
                else:
                    terr = TransportError(
                        f"{out.summary} ({self._base_url})",
                        operation=op.text,
                        org_ids=op.org_ids,
                        attempts=attempt,
                        maybe_applied=op.mutation and (tries.ambiguous or ambiguous),
                        secrets=self._secrets,
                    )
                if not out.retryable:
                    raise terr
                if ambiguous and not retry_sent:
                    raise _MaybeApplied(terr)
                tries.ambiguous = tries.ambiguous or ambiguous
                tries.wait_or_raise(terr, None)
                continue

            status = out.status_code
            if 200 <= status < 300 or status in ok_statuses:
                return out
            retry_5xx = status >= 500 and status not in _NOT_RETRIED_5XX
            err = self._api_error(
                out, op, attempts=attempt, maybe_applied=op.mutation and (tries.ambiguous or retry_5xx)
            )
            if status == 429:
                tries.wait_or_raise(err, _rate_limit_reset(out))
            elif retry_5xx:
                if not retry_sent:
                    raise _MaybeApplied(err)
                tries.ambiguous = True
                tries.wait_or_raise(err, None)
            else:
                raise err

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        data: bytes | None,
        attempt: int,
    ) -> requests.Response | _Failure:
        """One HTTP attempt; transport failures come back as :class:`_Failure`, never raised."""
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        shown = path + ("?" + urllib.parse.urlencode(params) if params else "")
        started = self._clock()
        try:
            resp = self._session.request(
                method,
                self._base_url + path,
                params=params,
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            failure = _classify(exc, self._timeout)
            log.debug(
                "%s %s -> %s (attempt %d, %.3fs)",
                method,
                shown,
                failure.summary,
                attempt,
                self._clock() - started,
            )
            return failure
        log.debug(
            "%s %s -> %d (attempt %d, %.3fs)",
            method,
            shown,
            resp.status_code,
            attempt,
            self._clock() - started,
        )
        return resp

    def _api_error(self, resp: requests.Response, op: _Op, *, attempts: int, maybe_applied: bool) -> ApiError:
        status = resp.status_code
        if 300 <= status < 400:
            target = urllib.parse.urlsplit(resp.headers.get("Location") or "").hostname or "?"
            return ApiError(
                f"HTTP {status}: unexpected redirect to host {target}, not followed (it would carry "
                "the keys elsewhere): check the API URL / site",
                operation=op.text,
                status=status,
                org_ids=op.org_ids,
                attempts=attempts,
                maybe_applied=maybe_applied,
                secrets=self._secrets,
            )
        detail, texts = _describe_error_body(resp)
        cls = _error_class(status)
        if cls is ForbiddenError:
            detail = f"{detail}: {_forbidden_hint(op.permission)}"
        err = cls(
            detail,
            operation=op.text,
            status=status,
            api_errors=texts,
            org_ids=op.org_ids,
            attempts=attempts,
            maybe_applied=maybe_applied,
            secrets=self._secrets,
        )
        if isinstance(err, RateLimitedError):
            err.retry_after = _rate_limit_reset(resp)
        return err

    def _parse(
        self,
        resp: requests.Response,
        op: _Op,
        parser: Callable[[Any], _T],
        *,
        attempts: int = 1,
    ) -> _T:
        ctype = _content_type(resp)
        try:
            return parser(parse_json(resp.content))
        except ResponseFormatError as exc:
            if ctype and "json" not in ctype:
                detail = f"HTTP {resp.status_code} with a non-JSON ({ctype}) body"
            else:
                detail = f"HTTP {resp.status_code} with an unexpected body: {exc.detail}"
            raise ResponseFormatError(
                detail,
                operation=op.text,
                status=resp.status_code,
                org_ids=op.org_ids,
                attempts=attempts,
                secrets=self._secrets,
            ) from None

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: a random wait in [d/2, d], d = base * 2^(attempt-1)."""
        step = min(self.backoff_cap, self.backoff_base * (2.0 ** min(attempt - 1, 30)))
        return step / 2 + self._random.uniform(0, step / 2)


def _with_maybe_applied(err: DatadogError, secrets: Sequence[str]) -> DatadogError:
    """A copy of ``err`` that says the change may have been applied."""
    copy = type(err)(
        err.detail,
        operation=err.operation,
        status=err.status,
        api_errors=err.api_errors,
        org_ids=err.org_ids,
        attempts=err.attempts,
        maybe_applied=True,
        secrets=secrets,
    )
    if isinstance(err, RateLimitedError) and isinstance(copy, RateLimitedError):
        copy.retry_after = err.retry_after
    return copy


def _list_op(text: str, sink_org_id: str | None, source_org_id: str | None) -> _Op:
    filters = []
    if sink_org_id is not None:
        filters.append(f"sink org {sink_org_id}")
    if source_org_id is not None:
        filters.append(f"source org {source_org_id}")
    if filters:
        text = f"{text} with {' and '.join(filters)}"
    return _Op(text, tuple(o for o in (source_org_id, sink_org_id) if o))


def _check_page_size(page_size: object) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError("page_size must be a positive integer")


def _connection_path(connection_id: str) -> str:
    return f"{CONNECTIONS_PATH}/{urllib.parse.quote(connection_id, safe='')}"


def _require_id(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")


def _types_list(connection_types: Iterable[str]) -> list[str]:
    if isinstance(connection_types, (str, bytes)):
        raise TypeError("connection_types must be a list of strings, not a single string")
    types = list(connection_types)
    if not all(isinstance(t, str) for t in types):
        raise TypeError("connection_types must hold strings only")
    return types
