"""Client of Datadog's org connections API (``/api/v2/org_connections``), managed orgs (``/api/v2/org``)
and the user behind the keys (``/api/v2/current_user``).

Usage::

    from datadog_org_connections.client import OrgConnectionsClient
    from datadog_org_connections.settings import resolve_credentials

    with OrgConnectionsClient(resolve_credentials()) as client:
        conn = client.create_connection(sink_org_id, ["logs", "metrics"])
        client.update_connection(conn.id, ["logs"])
        client.delete_connection(conn.id, missing_ok=True)

Every call acts as the org that owns the keys (the "current org"). Sending, retries, waits,
error building and redaction are the transport's (:mod:`.transport`): the keys travel only in
headers, redirects are not followed, no message or log line contains a key. This module holds the
API calls and the rules that keep mutations safe when an answer is lost.

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

``maybe_applied``
    Every error a mutation raises says whether it may have taken effect (``err.maybe_applied``):
    ``True`` after a timeout or reset once sent, a retried 5xx, a 2xx whose body could not be
    read, or a failed check of an interrupted attempt. Callers can rely on that attribute alone,
    whatever the error class.

Server clock
    :meth:`OrgConnectionsClient.server_time` converts a local wall-clock time to the server's
    clock, measured from the ``Date`` header of every answer (see
    :data:`~.transport.SERVER_TIME_RESOLUTION`).

Thread safety
    One ``requests.Session`` per client (connection pool of 32), no per-call state on the client,
    cookies disabled: one client can be shared by many threads.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType

import requests

from .errors import ConflictError, DatadogError, ResponseFormatError
from .models import (
    Connection,
    ConnectionPage,
    CurrentUser,
    ManagedOrgs,
    parse_connection_document,
    parse_connection_page,
    parse_current_user,
    parse_managed_orgs,
)
from .settings import Credentials
from .transport import (
    SERVER_TIME_RESOLUTION,
    USER_AGENT,
    WRITE_PERMISSION,
    Call,
    MaybeApplied,
    Operation,
    RetryPolicy,
    Timeout,
    Transport,
)

__all__ = [
    "CONNECTIONS_PATH",
    "CURRENT_USER_PATH",
    "MANAGED_ORGS_PATH",
    "SERVER_TIME_RESOLUTION",
    "USER_AGENT",
    "CreatedConnection",
    "OrgConnectionsClient",
]

log = logging.getLogger("datadog_org_connections.client")

CONNECTIONS_PATH = "/api/v2/org_connections"
MANAGED_ORGS_PATH = "/api/v2/org"
CURRENT_USER_PATH = "/api/v2/current_user"


@dataclass(frozen=True)
class CreatedConnection:
    """A created connection and the server's time of the answer that settled the create."""

    connection: Connection
    #: Epoch seconds from the ``Date`` header (whole seconds, :data:`SERVER_TIME_RESOLUTION`) of
    #: the POST's own answer, or of the look-up that found what an interrupted attempt created;
    #: ``None`` when that answer had no ``Date`` header.
    server_time: float | None


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
        wall_clock: the local wall clock in epoch seconds, that :meth:`server_time` converts from.

    All methods raise :class:`~.errors.DatadogError` subclasses only (plus ``ValueError`` /
    ``TypeError`` for arguments that cannot be sent at all).
    """

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
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise TypeError("credentials must be a datadog_org_connections.settings.Credentials")
        policy = RetryPolicy(max_attempts=max_attempts, max_retry_seconds=max_retry_seconds)
        self._transport = Transport(
            credentials,
            timeout=timeout,
            policy=policy,
            session=session,
            sleep=sleep,
            clock=clock,
            wall_clock=wall_clock,
        )

    def __repr__(self) -> str:
        return f"OrgConnectionsClient(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``https://api.datadoghq.com``."""
        return self._transport.base_url

    def server_time(self, local_epoch: float) -> float | None:
        """The server's time (epoch seconds) when the local wall clock read ``local_epoch``.

        Measured from the ``Date`` header of the latest answer (any call, any status); ``None``
        until an answer with a ``Date`` header arrived. Never later than the server's true time,
        and earlier by less than :data:`SERVER_TIME_RESOLUTION` plus that answer's latency.
        """
        return self._transport.server_clock.server_time(local_epoch)

    def close(self) -> None:
        """Close the client's own HTTP session (a session passed in is left open)."""
        self._transport.close()

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
        policy: RetryPolicy | None = None,
    ) -> ConnectionPage:
        """Fetch one page of the connections the current org takes part in.

        ``sink_org_id`` / ``source_org_id`` filter server-side; ``limit`` / ``offset`` page.
        ``policy`` replaces the client's retries for this call (e.g. fail fast at preview).
        """
        op = _list_op("list org connections", sink_org_id, source_org_id)
        return self._list_page(
            self._transport.call(op, policy=policy),
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

    def list_managed_orgs(self, *, policy: RetryPolicy | None = None) -> ManagedOrgs:
        """The current org and the orgs it manages (``GET /api/v2/org``).

        ``current_id`` is the org the keys belong to (``data.id``). A parent org's keys also list
        its child orgs; a child org's keys list only the child. Needs ``org_connections_write``
        or ``org_management``: a read-only key gets :class:`~.errors.ForbiddenError`. ``policy``
        replaces the client's retries for this call (e.g. fail fast at preview).
        """
        op = Operation("list managed orgs", permission=WRITE_PERMISSION)
        call = self._transport.call(op, policy=policy)
        resp = self._transport.request(call, "GET", MANAGED_ORGS_PATH)
        return self._transport.parse(call, resp, parse_managed_orgs)

    def get_current_user(self, *, policy: RetryPolicy | None = None) -> CurrentUser:
        """The user behind the keys (``GET /api/v2/current_user``): one GET.

        Needs no permission beyond valid keys, so a 403 (:class:`~.errors.ForbiddenError`) says
        the keys were refused, not that a permission is missing. Only ``data.id`` is required of
        the answer; see :class:`~.models.CurrentUser` for what is unknown when absent. ``policy``
        replaces the client's retries for this call (e.g. fail fast at preview).
        """
        op = Operation("get the user of the application key", permission=None)
        call = self._transport.call(op, policy=policy)
        resp = self._transport.request(call, "GET", CURRENT_USER_PATH)
        return self._transport.parse(call, resp, parse_current_user)

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
        return self.create_connection_timed(sink_org_id, connection_types).connection

    def create_connection_timed(self, sink_org_id: str, connection_types: Iterable[str]) -> CreatedConnection:
        """:meth:`create_connection`, also returning the server's time of the settling answer."""
        _require_id(sink_org_id, "sink_org_id")
        types = _types_list(connection_types)
        op = Operation(
            f"create org connection to sink org {sink_org_id}",
            (sink_org_id,),
            mutation=True,
            permission=WRITE_PERMISSION,
        )
        call = self._transport.call(op)
        conn = self._create(call, sink_org_id, types)
        return CreatedConnection(conn, call.answered_at)

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
        op = Operation(f"update org connection {connection_id}", mutation=True, permission=WRITE_PERMISSION)
        body = {
            "data": {"type": "org_connection", "id": connection_id, "attributes": {"connection_types": types}}
        }
        call = self._transport.call(op)
        resp = self._transport.request(call, "PATCH", _connection_path(connection_id), body=body)
        return self._transport.parse(call, resp, parse_connection_document)

    def delete_connection(self, connection_id: str, *, missing_ok: bool = False) -> bool:
        """Delete a connection (allowed from its source or its sink org).

        Returns ``True`` when this call deleted it (including when an interrupted attempt did and
        the retry answered 404), ``False`` when it was already gone and ``missing_ok``.

        Raises:
            NotFoundError: no such connection for the current org and not ``missing_ok``.
            InvalidInputError: the id is not a valid UUID.
        """
        _require_id(connection_id, "connection_id")
        op = Operation(f"delete org connection {connection_id}", mutation=True, permission=WRITE_PERMISSION)
        call = self._transport.call(op)
        resp = self._transport.request(call, "DELETE", _connection_path(connection_id), ok_statuses=(404,))
        if resp.status_code != 404:
            return True
        if call.ambiguous:
            log.debug(
                "delete %s: 404 after an interrupted attempt: the earlier attempt deleted it", connection_id
            )
            return True
        if missing_ok:
            return False
        raise call.api_error(resp)

    # ------------------------------------------------------------------------------- internals

    def _iter(
        self,
        op: Operation,
        *,
        sink_org_id: str | None,
        source_org_id: str | None,
        page_size: int,
    ) -> Iterator[Connection]:
        seen: set[str] = set()
        offset = 0
        while True:
            page = self._list_page(
                self._transport.call(op),
                sink_org_id=sink_org_id,
                source_org_id=source_org_id,
                limit=page_size,
                offset=offset,
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
        call: Call,
        *,
        sink_org_id: str | None,
        source_org_id: str | None,
        limit: int,
        offset: int,
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
        resp = self._transport.request(call, "GET", CONNECTIONS_PATH, params=params)
        return self._transport.parse(call, resp, parse_connection_page)

    def _create(self, call: Call, sink_org_id: str, types: list[str]) -> Connection:
        """POST until the create is settled, with a look-up before any POST after an ambiguous one."""
        body = {
            "data": {
                "type": "org_connection",
                "attributes": {"connection_types": types},
                "relationships": {"sink_org": {"data": {"type": "orgs", "id": sink_org_id}}},
            }
        }
        while True:
            if call.ambiguous:
                found = self._created_by_earlier_attempt(call, sink_org_id, types)
                if found is not None:
                    return found
            try:
                resp = self._transport.request(call, "POST", CONNECTIONS_PATH, body=body, retry_sent=False)
            except MaybeApplied as maybe:
                call.ambiguous = True
                found = self._wait_or_last_lookup(call, maybe.error, sink_org_id, types)
                if found is not None:
                    return found
                continue
            except ConflictError:
                if not call.ambiguous:
                    raise
                found = self._created_by_earlier_attempt(call, sink_org_id, types)
                if found is not None:
                    return found
                raise
            try:
                return self._transport.parse(call, resp, parse_connection_document)
            except ResponseFormatError:
                # The 2xx says it was created; the body just cannot be read. Read it back. If
                # that finds nothing, the error says maybe_applied (the server answered 2xx).
                found = self._created_by_earlier_attempt(call, sink_org_id, types)
                if found is not None:
                    return found
                raise

    def _wait_or_last_lookup(
        self, call: Call, error: DatadogError, sink_org_id: str, types: list[str]
    ) -> Connection | None:
        """Wait before another POST (``None``); out of budget, look once more, else raise ``error``."""
        try:
            call.wait_or_raise(error, None)
        except DatadogError:
            try:
                found = self._created_by_earlier_attempt(call, sink_org_id, types)
            except DatadogError:
                found = None
            if found is not None:
                return found
            raise error from None
        return None

    def _created_by_earlier_attempt(
        self, call: Call, sink_org_id: str, types: list[str]
    ) -> Connection | None:
        """After an ambiguous create: the pair's connection if our create took effect, else None.

        Raises ConflictError when the pair has a connection with other types (someone else's);
        any error of the look-up itself says ``maybe_applied``.
        """
        check_op = Operation(
            f"{call.op.text} (checking whether an interrupted attempt took effect)", call.op.org_ids
        )
        check = self._transport.call(check_op, deadline=call.deadline)
        try:
            page = self._list_page(check, sink_org_id=sink_org_id, source_org_id=None, limit=1000, offset=0)
        except DatadogError as err:
            raise err.as_maybe_applied() from None
        candidates = [c for c in page.connections if c.sink_org_id == sink_org_id]
        if len(candidates) != 1:
            log.debug("%s: %d candidate(s) after an interrupted attempt", call.op.text, len(candidates))
            return None
        conn = candidates[0]
        if set(conn.connection_types) != set(types):
            raise call.error(
                ConflictError,
                f"the pair already has connection {conn.id} with types {list(conn.connection_types)}, "
                f"not the requested {types}: it was not made by this call",
                status=409,
                org_ids=(conn.source_org_id, sink_org_id),
                maybe_applied=False,
            )
        log.debug("%s: an interrupted attempt did create %s", call.op.text, conn.id)
        call.answered_at = check.answered_at
        return conn


def _list_op(text: str, sink_org_id: str | None, source_org_id: str | None) -> Operation:
    filters = []
    if sink_org_id is not None:
        filters.append(f"sink org {sink_org_id}")
    if source_org_id is not None:
        filters.append(f"source org {source_org_id}")
    if filters:
        text = f"{text} with {' and '.join(filters)}"
    return Operation(text, tuple(o for o in (source_org_id, sink_org_id) if o))


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
