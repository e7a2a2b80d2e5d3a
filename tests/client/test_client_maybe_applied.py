"""`maybe_applied` on every error a mutation raises: the one flag callers may rely on.

True whenever the mutation may have taken effect (sent but unanswered, a retried 5xx, a 2xx whose
body is unreadable, a failed check of an interrupted attempt); False when it provably did not
(not sent, a 4xx on a clean first attempt, a pair found with other types); never True for reads.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
from client_payloads import API_KEY, APP_KEY, SINK, conn_id, page, resource

from datadog_org_connections.client import OrgConnectionsClient
from datadog_org_connections.errors import (
    ConflictError,
    DatadogError,
    InvalidInputError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from datadog_org_connections.settings import Credentials
from support.fake_server import Canned, FakeServer, free_port

MakeClient = Callable[..., OrgConnectionsClient]

EMPTY = Canned(200, page([]))
HTML_502 = Canned(502, "<html><title>502 Bad Gateway</title></html>", content_type="text/html")
UNREADABLE_2XX = Canned(200, '{"data": {"type": "org_connection", "id": "')

Mutation = Callable[[OrgConnectionsClient], object]
MUTATIONS: dict[str, Mutation] = {
    "create": lambda c: c.create_connection(SINK, ["logs"]),
    "update": lambda c: c.update_connection(conn_id(1), ["logs"]),
    "delete": lambda c: c.delete_connection(conn_id(1)),
}


def raised(make_client: MakeClient, call: Mutation, **kw: object) -> DatadogError:
    with pytest.raises(DatadogError) as info:
        call(make_client(**kw))
    return info.value


# A create's failed POST is followed by a look-up: EMPTY answers it ("not created").
@pytest.mark.parametrize(
    ("name", "answers", "cls"),
    [
        ("create", [Canned(drop=True), EMPTY], TransportError),
        ("create", [Canned(reset=True), EMPTY], TransportError),
        ("create", [HTML_502, EMPTY], ServerError),
        ("create", [Canned(503, None), EMPTY], ServerError),
        ("create", [UNREADABLE_2XX, EMPTY], ResponseFormatError),
        ("update", [Canned(drop=True)], TransportError),
        ("update", [Canned(reset=True)], TransportError),
        ("update", [HTML_502], ServerError),
        ("update", [UNREADABLE_2XX], ResponseFormatError),
        ("delete", [Canned(drop=True)], TransportError),
        ("delete", [Canned(reset=True)], TransportError),
        ("delete", [Canned(500, {"errors": ["Internal Server Error"]})], ServerError),
    ],
    ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", None),
)
def test_may_have_applied(
    make_client: MakeClient, server: FakeServer, name: str, answers: list[Canned], cls: type[DatadogError]
) -> None:
    server.enqueue(*answers)
    err = raised(make_client, MUTATIONS[name], max_attempts=1)
    assert type(err) is cls
    assert err.maybe_applied is True, err
    assert "may have been applied" in str(err)
    assert server.pending == 0


def test_read_timeout_after_sending_may_have_applied(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, page([]), delay=0.6), EMPTY)
    err = raised(make_client, MUTATIONS["create"], max_attempts=1, timeout=(2.0, 0.2))
    assert isinstance(err, TransportError) and err.maybe_applied
    assert "read timeout" in str(err)


def test_unreadable_2xx_create_not_found_by_lookup(make_client: MakeClient, server: FakeServer) -> None:
    """The POST answered 2xx (so the server acted) but its body is cut off, and the look-up misses it."""
    server.enqueue(UNREADABLE_2XX, EMPTY)
    err = raised(make_client, MUTATIONS["create"])
    assert isinstance(err, ResponseFormatError)
    assert (err.maybe_applied, err.status) == (True, 200)
    assert [r.method for r in server.requests] == ["POST", "GET"]  # never a second POST


@pytest.mark.parametrize(
    ("name", "answer", "cls"),
    [
        ("create", Canned(409, {"errors": ["exists"]}), ConflictError),
        ("create", Canned(400, {"errors": ["bad"]}), InvalidInputError),
        ("update", Canned(400, {"errors": ["bad"]}), InvalidInputError),
        ("delete", Canned(404, {"errors": ["not found"]}), DatadogError),
        # 501: the server does not implement the method: not applied (inferred from HTTP's meaning).
        ("update", Canned(501, {"errors": ["nope"]}), ServerError),
    ],
)
def test_clean_refusal_was_not_applied(
    make_client: MakeClient, server: FakeServer, name: str, answer: Canned, cls: type[DatadogError]
) -> None:
    server.enqueue(answer)
    err = raised(make_client, MUTATIONS[name])
    assert isinstance(err, cls) and err.maybe_applied is False, err


@pytest.mark.parametrize("name", MUTATIONS)
def test_never_sent_was_not_applied(name: str) -> None:
    creds = Credentials(API_KEY, APP_KEY, f"http://127.0.0.1:{free_port()}")
    client = OrgConnectionsClient(creds, max_attempts=2, sleep=lambda s: None)
    with client, pytest.raises(TransportError) as info:
        MUTATIONS[name](client)
    assert "connection refused" in str(info.value) and info.value.maybe_applied is False


def test_pair_with_other_types_was_not_applied(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(drop=True), Canned(200, page([resource(conn_id(8), types=["metrics"])])))
    err = raised(make_client, MUTATIONS["create"])
    assert isinstance(err, ConflictError) and err.maybe_applied is False


def test_rate_limited_mutation_was_not_applied(make_client: MakeClient, server: FakeServer) -> None:
    server.handler = lambda req: Canned(429, {"errors": ["slow"]}, headers={"X-RateLimit-Reset": "0"})
    err = raised(make_client, MUTATIONS["update"], max_attempts=2)
    assert isinstance(err, RateLimitedError) and err.maybe_applied is False


def test_reads_never_say_maybe_applied(make_client: MakeClient, server: FakeServer) -> None:
    server.enqueue(Canned(drop=True), HTML_502, UNREADABLE_2XX)
    client = make_client(max_attempts=1)
    for _ in range(3):
        with pytest.raises(DatadogError) as info:
            client.list_connections()
        assert info.value.maybe_applied is False, info.value


def test_as_maybe_applied_keeps_everything_else() -> None:
    err = RateLimitedError(
        f"slow down {API_KEY}",
        operation="op",
        status=429,
        api_errors=["slow down"],
        org_ids=["o1"],
        attempts=3,
        secrets=[API_KEY],
    )
    err.retry_after = 2.5
    marked = err.as_maybe_applied()
    assert type(marked) is RateLimitedError and marked is not err
    assert not err.maybe_applied and marked.maybe_applied
    assert (marked.status, marked.attempts, marked.org_ids, marked.retry_after) == (429, 3, ("o1",), 2.5)
    assert str(marked) == f"{err}; the change may have been applied: check the current state before retrying"
    assert API_KEY not in str(marked)
    assert marked.as_maybe_applied() is marked
    back = pickle.loads(pickle.dumps(marked))
    assert (str(back), back.maybe_applied) == (str(marked), True)
