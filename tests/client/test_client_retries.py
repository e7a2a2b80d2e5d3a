"""Retries, rate limits, time budgets and the create/delete ambiguity rules, over a real socket."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from client_payloads import API_KEY, APP_KEY, SINK, conn_id, document, page, resource

from datadog_org_connections.client import OrgConnectionsClient
from datadog_org_connections.errors import (
    ConflictError,
    ForbiddenError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from datadog_org_connections.settings import Credentials
from support.fake_server import Canned, FakeClock, FakeServer, SleepRecorder, free_port

MakeClient = Callable[..., OrgConnectionsClient]

HTML_502 = Canned(502, "<html><title>502 Bad Gateway</title></html>", content_type="text/html")
EMPTY = Canned(200, page([]))


def methods(server: FakeServer) -> list[str]:
    return [r.method for r in server.requests]


def found(cid: str, types: list[str] | None = None) -> Canned:
    return Canned(200, page([resource(cid, types=types or ["logs"])]))


# ------------------------------------------------------------------------------ create ambiguity


def test_create_lost_response_is_found_by_lookup(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(drop=True), found(conn_id(1)))
    conn = make_client().create_connection(SINK, ["logs"])
    assert conn.id == conn_id(1)
    assert methods(server) == ["POST", "GET"]  # exactly one POST
    lookup = server.requests[1]
    assert lookup.query["sink_org_id"] == [SINK]
    assert "source_org_id" not in lookup.query


def test_create_reset_then_not_found_retries_post(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(reset=True), EMPTY, Canned(200, document(conn_id(2))))
    assert make_client().create_connection(SINK, ["logs"]).id == conn_id(2)
    assert methods(server) == ["POST", "GET", "POST"]


def test_create_html_502_then_retry(
    make_client: MakeClient, server: FakeServer, sleeps: SleepRecorder
) -> None:
    server.enqueue(HTML_502, EMPTY, Canned(200, document(conn_id(3))))
    assert make_client().create_connection(SINK, ["logs"]).id == conn_id(3)
    assert methods(server) == ["POST", "GET", "POST"]


def test_create_read_timeout_is_ambiguous(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, document(conn_id(4)), delay=0.6), found(conn_id(4)))
    conn = make_client(timeout=(2.0, 0.2)).create_connection(SINK, ["logs"])
    assert conn.id == conn_id(4)
    assert methods(server) == ["POST", "GET"]


def test_create_body_cut_off_mid_stream(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, document(conn_id(5)), truncate_to=25), found(conn_id(5)))
    assert make_client().create_connection(SINK, ["logs"]).id == conn_id(5)
    assert methods(server) == ["POST", "GET"]


def test_create_2xx_with_truncated_json_is_read_back(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, '{"data": {"type": "org_connection", "id": "'), found(conn_id(6)))
    assert make_client().create_connection(SINK, ["logs"]).id == conn_id(6)
    assert methods(server) == ["POST", "GET"]


def test_create_2xx_unreadable_and_not_found_raises_format_error(
    make_client: MakeClient, server: FakeServer
) -> None:
    server.enqueue(Canned(200, "<html>?</html>", content_type="text/html"), EMPTY)
    with pytest.raises(ResponseFormatError, match="non-JSON"):
        make_client().create_connection(SINK, ["logs"])


def test_409_after_ambiguous_attempt_returns_the_connection(
    make_client: MakeClient, server: FakeServer
) -> None:
    exists = Canned(409, {"errors": ["connection between orgs a and b already exists"]})
    server.enqueue(Canned(drop=True), EMPTY, exists, found(conn_id(7)))
    assert make_client().create_connection(SINK, ["logs"]).id == conn_id(7)
    assert methods(server) == ["POST", "GET", "POST", "GET"]


def test_409_after_ambiguous_attempt_without_connection_is_a_conflict(
    make_client: MakeClient, server: FakeServer
) -> None:
    exists = Canned(409, {"errors": ["connection between orgs a and b already exists"]})
    server.enqueue(HTML_502, EMPTY, exists, EMPTY)
    with pytest.raises(ConflictError, match="already exists"):
        make_client().create_connection(SINK, ["logs"])


def test_pair_found_with_other_types_is_not_ours(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(drop=True), found(conn_id(8), ["metrics"]))
    with pytest.raises(ConflictError) as info:
        make_client().create_connection(SINK, ["logs"])
    assert conn_id(8) in str(info.value) and "not made by this call" in str(info.value)
    assert methods(server) == ["POST", "GET"]


def test_create_gives_up_after_attempts_with_a_last_lookup(
    make_client: MakeClient, server: FakeServer
) -> None:
    server.enqueue(HTML_502, EMPTY, HTML_502, EMPTY)
    with pytest.raises(ServerError) as info:
        make_client(max_attempts=2).create_connection(SINK, ["logs"])
    err = info.value
    assert err.maybe_applied and err.attempts == 2 and err.status == 502
    assert "gave up after 2 attempts" in str(err) and "may have been applied" in str(err)
    assert methods(server) == ["POST", "GET", "POST", "GET"]


def test_create_last_lookup_can_still_find_it(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(drop=True), found(conn_id(9)))
    assert make_client(max_attempts=1).create_connection(SINK, ["logs"]).id == conn_id(9)
    assert methods(server) == ["POST", "GET"]


def test_create_refused_connect_is_retried_without_lookup(sleeps: SleepRecorder) -> None:
    """Connection refused: the POST never left, so it is simply sent again (no lookup)."""
    port = free_port()
    started: list[FakeServer] = []

    def sleep_then_start_server(seconds: float) -> None:
        if not started:
            fake = FakeServer(port=port).start()
            fake.enqueue(Canned(200, document(conn_id(10))))
            started.append(fake)

    creds = Credentials(API_KEY, APP_KEY, f"http://127.0.0.1:{port}")
    with OrgConnectionsClient(creds, sleep=sleep_then_start_server) as client:
        try:
            assert client.create_connection(SINK, ["logs"]).id == conn_id(10)
        finally:
            for fake in started:
                fake.stop()
    assert methods(started[0]) == ["POST"]


def test_create_connect_timeout_is_retried_without_lookup() -> None:
    """A connect timeout: the POST never left, so it is sent again (no lookup)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))  # fills the backlog: next connects hang
    started: list[FakeServer] = []

    def sleep_then_start_server(seconds: float) -> None:
        if not started:
            filler.close()
            listener.close()
            fake = FakeServer(port=port).start()
            fake.enqueue(Canned(200, document(conn_id(11))))
            started.append(fake)

    creds = Credentials(API_KEY, APP_KEY, f"http://127.0.0.1:{port}")
    try:
        with OrgConnectionsClient(creds, timeout=(0.2, 2.0), sleep=sleep_then_start_server) as client:
            assert client.create_connection(SINK, ["logs"]).id == conn_id(11)
    finally:
        filler.close()
        listener.close()
        for fake in started:
            fake.stop()
    assert started, "the first connect did not time out"
    assert methods(started[0]) == ["POST"]


def test_refused_connection_gives_transport_error(sleeps: SleepRecorder) -> None:
    waits: list[float] = []
    creds = Credentials(API_KEY, APP_KEY, f"http://127.0.0.1:{free_port()}")
    client = OrgConnectionsClient(creds, max_attempts=3, sleep=waits.append)
    with client, pytest.raises(TransportError) as info:
        client.delete_connection(conn_id(1))
    err = info.value
    assert "connection refused" in str(err) and "gave up after 3 attempts" in str(err)
    assert err.status is None and err.attempts == 3 and not err.maybe_applied
    assert len(waits) == 2
    assert API_KEY not in str(err)


# ------------------------------------------------------------------------------------ delete


def test_delete_404_after_ambiguous_attempt_is_success(make_client: MakeClient, server: FakeServer) -> None:
    gone = Canned(404, {"errors": ["org connection with id:x not found not found"]})
    server.enqueue(Canned(drop=True), gone, HTML_502, gone)
    client = make_client()
    assert client.delete_connection(conn_id(1)) is True
    assert client.delete_connection(conn_id(1)) is True
    assert methods(server) == ["DELETE"] * 4


# ---------------------------------------------------------------------------- idempotent calls


@pytest.mark.parametrize(
    "failure",
    [
        HTML_502,
        Canned(503, None),
        Canned(500, '{"errors": ["tru'),
        Canned(drop=True),
        Canned(reset=True),
        Canned(200, page([resource(conn_id(1))]), truncate_to=10),
        Canned(200, page([]), delay=0.6),
    ],
    ids=["html502", "empty503", "truncated500", "drop", "reset", "cut-body", "read-timeout"],
)
def test_get_is_retried(make_client: MakeClient, server: FakeServer, failure: Canned) -> None:
    server.enqueue(failure, Canned(200, page([resource(conn_id(1))])))
    got = make_client(timeout=(2.0, 0.3)).list_connections()
    assert [c.id for c in got] == [conn_id(1)]
    assert methods(server) == ["GET", "GET"]


def test_patch_is_retried_after_5xx_and_reset(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(503, None), Canned(reset=True), Canned(200, document(conn_id(1))))
    assert make_client().update_connection(conn_id(1), ["logs"]).id == conn_id(1)
    assert methods(server) == ["PATCH"] * 3


def test_retries_bounded_by_attempts(
    make_client: MakeClient, server: FakeServer, sleeps: SleepRecorder
) -> None:
    server.handler = lambda req: HTML_502
    with pytest.raises(ServerError) as info:
        make_client(max_attempts=4).list_connections()
    assert len(server.requests) == 4
    assert info.value.attempts == 4
    assert str(info.value) == (
        "list org connections: HTTP 502 with a non-JSON (text/html) body: 502 Bad Gateway "
        "(gave up after 4 attempts)"
    )
    waits = sleeps.waits
    assert len(waits) == 3
    # exponential backoff with jitter: step d = 0.5 * 2^(n-1), wait in [d/2, d]
    for n, wait in enumerate(waits, start=1):
        step = 0.5 * 2 ** (n - 1)
        assert step / 2 <= wait <= step


def test_retries_bounded_by_time_budget(server: FakeServer) -> None:
    clock = FakeClock()
    server.handler = lambda req: Canned(
        429, {"errors": ["Too many requests"]}, headers={"X-RateLimit-Reset": "10"}
    )
    creds = Credentials(API_KEY, APP_KEY, server.url)
    c = OrgConnectionsClient(creds, max_attempts=50, max_retry_seconds=25, sleep=clock.sleep, clock=clock)
    with c, pytest.raises(RateLimitedError) as info:
        c.update_connection(conn_id(1), ["logs"])
    assert clock.waits == [10.0, 10.0]  # a third wait would end past the 25 s budget
    assert len(server.requests) == 3
    assert info.value.retry_after == 10.0


def test_time_budget_with_real_sleeps(make_client: MakeClient, server: FakeServer) -> None:
    server.handler = lambda req: Canned(429, {"errors": ["slow"]}, headers={"X-RateLimit-Reset": "0.1"})
    client = make_client(max_attempts=100, max_retry_seconds=0.35, sleep=time.sleep)
    started = time.monotonic()
    with pytest.raises(RateLimitedError):
        client.list_connections()
    elapsed = time.monotonic() - started
    assert elapsed < 0.35 + 0.3
    assert 3 <= len(server.requests) <= 4


def test_one_wait_is_capped(server: FakeServer) -> None:
    clock = FakeClock()
    server.enqueue(Canned(429, {"errors": ["slow"]}, headers={"X-RateLimit-Reset": "3600"}), EMPTY)
    creds = Credentials(API_KEY, APP_KEY, server.url)
    with OrgConnectionsClient(creds, sleep=clock.sleep, clock=clock) as c:
        assert c.list_connections() == []
    assert clock.waits == [60.0]


# ----------------------------------------------------------------------------------- rate limits


def test_429_on_post_waits_reset_and_resends(
    make_client: MakeClient, server: FakeServer, sleeps: SleepRecorder
) -> None:
    limited = Canned(
        429,
        {"errors": ["Too many requests"]},
        headers={"X-RateLimit-Reset": "0.05", "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"},
    )
    server.enqueue(limited, limited, Canned(200, document(conn_id(1))))
    assert make_client().create_connection(SINK, ["logs"]).id == conn_id(1)
    assert methods(server) == ["POST", "POST", "POST"]  # a 429 was not applied: no lookup
    assert sleeps.waits == [0.05, 0.05]


@pytest.mark.parametrize("reset", [None, "soon", "-3", "nan", "inf", ""])
def test_429_without_usable_reset_backs_off(
    make_client: MakeClient, server: FakeServer, sleeps: SleepRecorder, reset: str | None
) -> None:
    headers = {} if reset is None else {"X-RateLimit-Reset": reset}
    server.enqueue(Canned(429, {"errors": ["slow"]}, headers=headers), EMPTY)
    assert make_client().list_connections() == []
    (wait,) = sleeps.waits
    assert 0.25 <= wait <= 0.5


def test_429_exhausted(make_client: MakeClient, server: FakeServer, sleeps: SleepRecorder) -> None:
    server.handler = lambda req: Canned(
        429, {"errors": ["Too many requests"]}, headers={"X-RateLimit-Reset": "0.05"}
    )
    with pytest.raises(RateLimitedError) as info:
        make_client(max_attempts=3).delete_connection(conn_id(1))
    err = info.value
    assert len(server.requests) == 3
    assert (err.status, err.attempts, err.retry_after, err.maybe_applied) == (429, 3, 0.05, False)
    assert str(err) == (
        f"delete org connection {conn_id(1)}: HTTP 429: Too many requests (gave up after 3 attempts)"
    )


def test_post_5xx_is_never_blindly_repeated(make_client: MakeClient, server: FakeServer) -> None:
    """Whatever happens, every POST after the first is preceded by a lookup GET."""
    server.handler = lambda req: HTML_502 if req.method == "POST" else EMPTY
    with pytest.raises(ServerError):
        make_client(max_attempts=5).create_connection(SINK, ["logs"])
    seq = methods(server)
    assert seq.count("POST") == 5
    for i, method in enumerate(seq[1:], start=1):
        if method == "POST":
            assert seq[i - 1] == "GET"


def test_lookup_failure_after_ambiguous_create_says_it_may_have_applied(
    make_client: MakeClient, server: FakeServer
) -> None:
    server.enqueue(Canned(drop=True), Canned(403, {"errors": ["Forbidden"]}))
    with pytest.raises(ForbiddenError) as info:
        make_client().create_connection(SINK, ["logs"])
    err = info.value
    assert err.maybe_applied and err.status == 403
    assert "checking whether an interrupted attempt took effect" in str(err)
    assert "may have been applied" in str(err)
    assert methods(server) == ["POST", "GET"]
