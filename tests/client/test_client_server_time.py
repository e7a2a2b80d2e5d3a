"""The server's clock, read from the `Date` header of every answer, over a real socket."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from client_payloads import SINK, conn_id, document, page, resource

from datadog_org_connections.client import SERVER_TIME_RESOLUTION, OrgConnectionsClient
from datadog_org_connections.models import parse_http_date
from support.fake_server import Canned, FakeServer

MakeClient = Callable[..., OrgConnectionsClient]

#: The local wall clock the tests pin the client to (2033-05-18T03:33:20Z).
LOCAL = 2_000_000_000.0


def http_date(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, timezone.utc), usegmt=True)


def pinned(make_client: MakeClient, **kw: object) -> OrgConnectionsClient:
    """A client whose local wall clock always reads LOCAL."""
    return make_client(wall_clock=lambda: LOCAL, **kw)


def test_resolution_is_one_second() -> None:
    assert SERVER_TIME_RESOLUTION == 1.0


def test_none_until_an_answer_with_a_date(make_client: MakeClient, server: FakeServer) -> None:
    client = pinned(make_client)
    assert client.server_time(LOCAL) is None  # no answer yet
    server.enqueue(Canned(200, page([]), date=None))
    client.list_connections()
    assert client.server_time(LOCAL) is None  # an answer, but no Date header


def test_offset_from_a_date_far_from_the_local_clock(make_client: MakeClient, server: FakeServer) -> None:
    """The server says 1994 while the local clock says 2033: times convert by that offset."""
    server.enqueue(Canned(200, page([]), date="Sun, 06 Nov 1994 08:49:37 GMT"))
    client = pinned(make_client)
    client.list_connections()
    assert client.server_time(LOCAL) == 784111777.0
    assert client.server_time(LOCAL - 20) == 784111757.0
    assert client.server_time(LOCAL + 0.25) == 784111777.25


def test_real_date_headers_track_the_local_clock(make_client: MakeClient, server: FakeServer) -> None:
    """Without pinning: the fake server's own Date (same host, same clock) is never ahead of ours."""
    server.enqueue(Canned(200, page([])))
    client = make_client()
    client.list_connections()
    local = datetime.now(timezone.utc).timestamp()
    estimate = client.server_time(local)
    assert estimate is not None
    # Never later than the truth; earlier by the resolution plus latency (bounded loosely here:
    # this is not a timing test, only a check that the real header is read on the right scale).
    assert local - 3600 < estimate <= local + 0.01


def test_latest_answer_wins_error_answers_included(make_client: MakeClient, server: FakeServer) -> None:
    ahead = LOCAL + 86_400 * 365
    server.enqueue(
        Canned(200, page([]), date=http_date(LOCAL - 3600)),
        Canned(429, {"errors": ["slow"]}, headers={"X-RateLimit-Reset": "0"}, date=http_date(ahead)),
        Canned(200, page([]), date="not a date"),
    )
    client = pinned(make_client)
    client.list_connections()
    assert client.server_time(LOCAL) == LOCAL - 3600
    client.list_connections()  # a 429 (with its Date), then a 200 with an unreadable Date
    assert client.server_time(LOCAL) == ahead  # the 429 counted; the unreadable Date changed nothing


def test_create_returns_the_server_time_of_its_answer(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, document(conn_id(1)), date="Fri, 01 Jan 2100 00:00:00 GMT"))
    created = pinned(make_client).create_connection_timed(SINK, ["logs"])
    assert created.connection.id == conn_id(1)
    assert created.server_time == 4102444800.0


def test_create_settled_by_a_lookup_returns_the_lookups_time(
    make_client: MakeClient, server: FakeServer
) -> None:
    server.enqueue(
        Canned(drop=True),
        Canned(200, page([resource(conn_id(2))]), date="Fri, 01 Jan 2100 00:00:05 GMT"),
    )
    created = pinned(make_client).create_connection_timed(SINK, ["logs"])
    assert (created.connection.id, created.server_time) == (conn_id(2), 4102444805.0)
    assert [r.method for r in server.requests] == ["POST", "GET"]


def test_create_answer_without_date(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, document(conn_id(3)), date=None))
    created = pinned(make_client).create_connection_timed(SINK, ["logs"])
    assert created.server_time is None


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 784111777.0),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", 784111777.0),  # obsolete asctime (no zone: UTC)
        ("Sun, 06 Nov 1994 09:49:37 +0100", 784111777.0),
        ("", None),
        (None, None),
        ("yesterday", None),
        ("Sun, 99 Nov 1994 08:49:37 GMT", None),
    ],
)
def test_parse_http_date(text: str | None, epoch: float | None) -> None:
    assert parse_http_date(text) == epoch
