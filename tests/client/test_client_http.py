"""The client over a real socket against the scripted FakeServer: requests sent, answers read."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from client_payloads import API_KEY, APP_KEY, OTHER, SINK, SOURCE, conn_id, document, page, resource

from datadog_org_connections.client import USER_AGENT, OrgConnectionsClient
from datadog_org_connections.errors import (
    ApiError,
    ConflictError,
    DatadogError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
)
from support.fake_server import Canned, FakeServer

MakeClient = Callable[..., OrgConnectionsClient]


def _exercise_every_method(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(
        Canned(200, page([resource(conn_id(1))])),
        Canned(200, document(conn_id(2), types=["logs", "metrics"])),
        Canned(200, document(conn_id(2), types=["audit"])),
        Canned(200, {}),
        Canned(200, {"data": {"id": SOURCE, "type": "managed_orgs"}, "included": []}),
    )
    client.list_connections(sink_org_id=SINK, source_org_id=SOURCE)
    client.create_connection(SINK, ["logs", "metrics"])
    client.update_connection(conn_id(2), ["audit"])
    client.delete_connection(conn_id(2))
    client.list_managed_orgs()


def test_keys_travel_in_headers_only(client: OrgConnectionsClient, server: FakeServer) -> None:
    _exercise_every_method(client, server)
    assert [r.method for r in server.requests] == ["GET", "POST", "PATCH", "DELETE", "GET"]
    for req in server.requests:
        assert req.header("DD-API-KEY") == API_KEY
        assert req.header("DD-APPLICATION-KEY") == APP_KEY
        assert req.header("Accept") == "application/json"
        assert req.header("User-Agent") == USER_AGENT
        assert USER_AGENT.startswith("datadog-org-connections/")
        for key in (API_KEY, APP_KEY):
            assert key not in req.target
            assert key.encode() not in req.body
        assert "api_key" not in req.target and "application_key" not in req.target
        has_body = req.method in ("POST", "PATCH")
        assert (req.header("Content-Type") == "application/json") == has_body


def test_debug_log_has_requests_but_no_keys(
    client: OrgConnectionsClient, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="datadog_org_connections.client"):
        _exercise_every_method(client, server)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert (
        f"GET /api/v2/org_connections?sink_org_id={SINK}&source_org_id={SOURCE}&limit=1000&offset=0 -> 200"
        in text
    )
    assert "POST /api/v2/org_connections -> 200 (attempt 1," in text
    assert f"DELETE /api/v2/org_connections/{conn_id(2)} -> 200" in text
    assert API_KEY not in text and APP_KEY not in text


def test_list_page_query_and_parse(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, page([resource(conn_id(1)), resource(conn_id(2))], total=9, filtered=2)))
    got = client.list_page(sink_org_id=SINK, limit=50, offset=10)
    assert [c.id for c in got.connections] == [conn_id(1), conn_id(2)]
    assert (got.total_count, got.total_filtered_count) == (9, 2)
    req = server.requests[0]
    assert req.path == "/api/v2/org_connections"
    assert req.query == {"sink_org_id": [SINK], "limit": ["50"], "offset": ["10"]}


def test_pagination_across_pages(client: OrgConnectionsClient, server: FakeServer) -> None:
    items = [resource(conn_id(i)) for i in range(7)]
    server.enqueue(
        Canned(200, page(items[0:3], total=7, filtered=7)),
        Canned(200, page(items[3:6], total=7, filtered=7)),
        Canned(200, page(items[6:7], total=7, filtered=7)),
    )
    got = client.list_connections(page_size=3)
    assert [c.id for c in got] == [conn_id(i) for i in range(7)]
    assert [r.query["offset"] for r in server.requests] == [["0"], ["3"], ["6"]]
    assert all(r.query["limit"] == ["3"] for r in server.requests)


def test_pagination_stops_at_total_filtered_count(client: OrgConnectionsClient, server: FakeServer) -> None:
    items = [resource(conn_id(i)) for i in range(4)]
    server.enqueue(Canned(200, page(items[0:2], filtered=4)), Canned(200, page(items[2:4], filtered=4)))
    assert len(client.list_connections(page_size=2)) == 4
    assert len(server.requests) == 2  # no third request for an empty page


def test_pagination_stops_on_empty_page(client: OrgConnectionsClient, server: FakeServer) -> None:
    items = [resource(conn_id(i)) for i in range(2)]
    server.enqueue(Canned(200, {"data": items}), Canned(200, {"data": []}))
    assert len(client.list_connections(page_size=2)) == 2
    assert len(server.requests) == 2


def test_pagination_repeat_guard(client: OrgConnectionsClient, server: FakeServer) -> None:
    """An API that ignores offset returns the first page forever: stop, yield nothing twice."""
    first = page([resource(conn_id(0)), resource(conn_id(1))], total=10, filtered=10)
    server.handler = lambda req: Canned(200, first)
    got = client.list_connections(page_size=2)
    assert [c.id for c in got] == [conn_id(0), conn_id(1)]
    assert len(server.requests) == 2


def test_find_with_both_orgs_is_one_request(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, page([resource(conn_id(5))])))
    got = client.find_connection(conn_id(5), sink_org_id=SINK, source_org_id=SOURCE)
    assert got is not None and got.id == conn_id(5)
    assert len(server.requests) == 1
    assert server.requests[0].query["sink_org_id"] == [SINK]
    assert server.requests[0].query["source_org_id"] == [SOURCE]


def test_find_matches_by_id_not_position(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, page([resource(conn_id(1)), resource(conn_id(2), sink=OTHER)])))
    got = client.find_connection(conn_id(2))
    assert got is not None and got.sink_org_id == OTHER


def test_find_pages_and_stops_at_the_page_holding_the_id(
    client: OrgConnectionsClient, server: FakeServer
) -> None:
    items = [resource(conn_id(i)) for i in range(6)]
    server.enqueue(*(Canned(200, page(items[i : i + 2], filtered=6)) for i in (0, 2, 4)))
    got = client.find_connection(conn_id(3), page_size=2)
    assert got is not None and got.id == conn_id(3)
    assert len(server.requests) == 2
    assert server.pending == 1


def test_find_missing_returns_none(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, page([resource(conn_id(1))])))
    assert client.find_connection(conn_id(9), sink_org_id=SINK) is None


def test_create_sends_types_as_given(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, document(conn_id(1), types=["metrics", "logs"])))
    conn = client.create_connection(SINK, ["metrics", "logs"])
    assert conn.connection_types == ("logs", "metrics")
    assert server.requests[0].json() == {
        "data": {
            "type": "org_connection",
            "attributes": {"connection_types": ["metrics", "logs"]},
            "relationships": {"sink_org": {"data": {"type": "orgs", "id": SINK}}},
        }
    }


def test_create_does_not_dedupe(client: OrgConnectionsClient, server: FakeServer) -> None:
    msg = f"connection between orgs {SOURCE} and {SINK} is not allowed"
    server.enqueue(Canned(400, {"errors": [msg]}))
    with pytest.raises(InvalidInputError) as info:
        client.create_connection(SINK, ("logs", "logs"))
    assert server.requests[0].json()["data"]["attributes"]["connection_types"] == ["logs", "logs"]
    assert msg in str(info.value)
    assert info.value.api_errors == [msg]


def test_create_conflict_on_first_attempt(client: OrgConnectionsClient, server: FakeServer) -> None:
    msg = f"connection between orgs {SOURCE} and {SINK} already exists"
    server.enqueue(Canned(409, {"errors": [msg]}))
    with pytest.raises(ConflictError) as info:
        client.create_connection(SINK, ["logs"])
    err = info.value
    assert str(err) == f"create org connection to sink org {SINK}: HTTP 409: {msg}"
    assert (err.status, err.operation, err.org_ids) == (
        409,
        f"create org connection to sink org {SINK}",
        (SINK,),
    )
    assert not err.maybe_applied
    assert len(server.requests) == 1


def test_update_sends_patch(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, document(conn_id(1), types=["audit", "logs"])))
    conn = client.update_connection(conn_id(1), ["logs", "audit"])
    assert conn.connection_types == ("audit", "logs")
    req = server.requests[0]
    assert (req.method, req.path) == ("PATCH", f"/api/v2/org_connections/{conn_id(1)}")
    assert req.json() == {
        "data": {
            "type": "org_connection",
            "id": conn_id(1),
            "attributes": {"connection_types": ["logs", "audit"]},
        }
    }


def test_connection_id_is_quoted_into_the_path(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(400, {"errors": ["connection id must be a valid uuid"]}))
    with pytest.raises(InvalidInputError, match="connection id must be a valid uuid"):
        client.delete_connection("../../v1/org?x=1")
    assert server.requests[0].target == "/api/v2/org_connections/..%2F..%2Fv1%2Forg%3Fx%3D1"


def test_delete_outcomes(client: OrgConnectionsClient, server: FakeServer) -> None:
    gone = {"errors": [f"org connection with id:{conn_id(1)} not found not found"]}
    server.enqueue(Canned(200, {}), Canned(404, gone), Canned(404, gone))
    assert client.delete_connection(conn_id(1)) is True
    assert client.delete_connection(conn_id(1), missing_ok=True) is False
    with pytest.raises(NotFoundError) as info:
        client.delete_connection(conn_id(1))
    cid = conn_id(1)
    assert str(info.value) == (
        f"delete org connection {cid}: HTTP 404: org connection with id:{cid} not found not found"
    )


def test_managed_orgs(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(
        Canned(
            200,
            {
                "data": {
                    "id": SOURCE,
                    "type": "managed_orgs",
                    "relationships": {
                        "current_org": {"data": {"id": SOURCE, "type": "orgs"}},
                        "managed_orgs": {"data": [{"id": SINK, "type": "orgs"}]},
                    },
                },
                "included": [
                    {"id": SOURCE, "type": "orgs", "attributes": {"name": "Parent", "public_id": "p1"}},
                    {"id": SINK, "type": "orgs", "attributes": {"name": "Child", "public_id": "p2"}},
                ],
            },
        )
    )
    orgs = client.list_managed_orgs()
    assert orgs.current_id == SOURCE and orgs.managed
    assert [(o.id, o.public_id, o.name) for o in orgs.orgs] == [
        (SOURCE, "p1", "Parent"),
        (SINK, "p2", "Child"),
    ]
    assert server.requests[0].path == "/api/v2/org"


@pytest.mark.parametrize(
    ("status", "body", "cls", "expected"),
    [
        (
            400,
            {"errors": ["Validation failed for input."]},
            InvalidInputError,
            "HTTP 400: Validation failed for input.",
        ),
        (
            401,
            {"errors": ["Unauthorized"]},
            ForbiddenError,
            "HTTP 401: Unauthorized: the Datadog API key or "
            "application key is wrong, or the application key's user lacks the org_connections_write "
            "permission (the older org_management permission grants it too)",
        ),
        (
            403,
            {"errors": ["Forbidden"]},
            ForbiddenError,
            "HTTP 403: Forbidden: the Datadog API key or application "
            "key is wrong, or the application key's user lacks the org_connections_write permission "
            "(the older org_management permission grants it too)",
        ),
        (404, {"errors": ["Not found"]}, NotFoundError, "HTTP 404: Not found"),
        (409, {"errors": ["exists"]}, ConflictError, "HTTP 409: exists"),
        (418, {"errors": ["I'm a teapot"]}, ApiError, "HTTP 418: I'm a teapot"),
        (
            400,
            {"errors": [{"status": "400", "title": "Bad Request", "detail": "bad types"}]},
            InvalidInputError,
            "HTTP 400: bad types",
        ),
        (400, {"message": "odd"}, InvalidInputError, 'HTTP 400 with body {"message": "odd"}'),
        (501, {"errors": ["nope"]}, ServerError, "HTTP 501: nope"),
    ],
)
def test_error_per_status(
    make_client: MakeClient, server: FakeServer, status: int, body: object, cls: type[ApiError], expected: str
) -> None:
    server.enqueue(Canned(status, body))
    with pytest.raises(cls) as info:
        make_client().update_connection(conn_id(1), ["logs"])
    assert type(info.value) is cls
    assert str(info.value) == f"update org connection {conn_id(1)}: {expected}"
    assert info.value.status == status
    assert len(server.requests) == 1  # 4xx and 501 are not retried


@pytest.mark.parametrize(
    ("canned", "expected"),
    [
        (
            Canned(
                502,
                "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
                content_type="text/html",
            ),
            "HTTP 502 with a non-JSON (text/html) body: 502 Bad Gateway",
        ),
        (Canned(503, None), "HTTP 503 with an empty body"),
        (Canned(500, '{"errors": ["boo'), "HTTP 500 with an unparsable JSON body"),
        (
            Canned(504, "upstream timed out", content_type="text/plain"),
            "HTTP 504 with a non-JSON (text/plain) body",
        ),
    ],
)
def test_non_json_error_bodies_are_summarised(
    make_client: MakeClient, server: FakeServer, canned: Canned, expected: str
) -> None:
    server.enqueue(canned)
    with pytest.raises(ServerError) as info:
        make_client(max_attempts=1).list_connections()
    assert str(info.value) == f"list org connections: {expected}"
    assert info.value.api_errors == []


def test_no_key_in_error_even_when_the_server_echoes_it(make_client: MakeClient, server: FakeServer) -> None:
    echo = {"errors": [f"Forbidden: bad key {API_KEY} / {APP_KEY}"]}
    server.enqueue(Canned(403, echo), Canned(500, f"<title>key {API_KEY}</title>", content_type="text/html"))
    client = make_client(max_attempts=1)
    for call in (lambda: client.list_connections(), lambda: client.create_connection(SINK, ["logs"])):
        with pytest.raises(DatadogError) as info:
            call()
        err = info.value
        for text in (str(err), repr(err), err.detail, *err.api_errors):
            assert API_KEY not in text and APP_KEY not in text
        assert "***" in str(err)


def test_redirects_are_not_followed(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(302, None, headers={"Location": "https://evil.example/api/v2/org_connections"}))
    with pytest.raises(ApiError, match=r"unexpected redirect to host evil\.example"):
        client.list_connections()
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("canned", "fragment"),
    [
        (Canned(200, '{"data": [{"type": "org_connection", "id": "x", "attri'), "truncated JSON"),
        (Canned(200, {"data": [{"id": "x"}]}), "data[0].attributes: missing"),
        (
            Canned(200, "<html>login</html>", content_type="text/html"),
            "HTTP 200 with a non-JSON (text/html) body",
        ),
    ],
)
def test_malformed_success_bodies(
    client: OrgConnectionsClient, server: FakeServer, canned: Canned, fragment: str
) -> None:
    server.enqueue(canned)
    with pytest.raises(ResponseFormatError) as info:
        client.list_connections()
    assert fragment in str(info.value)
    assert str(info.value).startswith("list org connections: HTTP 200")


def test_bad_arguments_are_refused_before_sending(client: OrgConnectionsClient, server: FakeServer) -> None:
    with pytest.raises(TypeError):
        client.create_connection(SINK, "logs")
    with pytest.raises(ValueError):
        client.delete_connection("")
    with pytest.raises(ValueError):
        client.iter_connections(page_size=0)
    assert server.requests == []


def test_context_manager_closes(server: FakeServer) -> None:
    from datadog_org_connections.settings import Credentials

    server.enqueue(Canned(200, page([])))
    with OrgConnectionsClient(Credentials(API_KEY, APP_KEY, server.url)) as client:
        assert client.list_connections() == []
        assert API_KEY not in repr(client)
