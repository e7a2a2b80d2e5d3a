"""The API contract, endpoint by endpoint, with plain ``requests`` over a real socket."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest
import requests
from emulator_helpers import (
    CONNECTIONS,
    GLOBEX,
    HUB,
    HUB_VIEWER_APP_KEY,
    SPOKE_AP,
    SPOKE_EU,
    SPOKE_US,
    TIMESTAMP,
    Api,
    assert_errors,
    assert_json,
    create_body,
    patch_body,
)

from datadog_org_connections.emulator import Emulator

# --------------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"DD-API-KEY": HUB.api_key},
        {"DD-APPLICATION-KEY": HUB.app_key},
        {"DD-API-KEY": "0" * 32, "DD-APPLICATION-KEY": HUB.app_key},
        {"DD-API-KEY": HUB.api_key, "DD-APPLICATION-KEY": "0" * 40},
        {"DD-API-KEY": HUB.api_key, "DD-APPLICATION-KEY": SPOKE_EU.app_key},  # keys of two orgs
        {"DD-API-KEY": HUB.api_key, "DD-APPLICATION-KEY": HUB_VIEWER_APP_KEY},  # no org_management
    ],
    ids=["none", "api-only", "app-only", "bad-api", "bad-app", "mixed-orgs", "no-permission"],
)
def test_bad_keys_are_forbidden_on_every_operation(hub: Api, headers: dict[str, str]) -> None:
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    calls = [
        ("GET", CONNECTIONS, None),
        ("POST", CONNECTIONS, create_body(SPOKE_US.id)),
        ("PATCH", f"{CONNECTIONS}/{conn}", patch_body(conn, ["metrics"])),
        ("DELETE", f"{CONNECTIONS}/{conn}", None),
    ]
    for method, path, body in calls:
        assert_errors(hub.request(method, path, headers=headers, json=body), 403, "Forbidden")
    # Nothing changed.
    assert [c["id"] for c in hub.list().json()["data"]] == [conn]


def test_keys_in_query_parameters_are_accepted_and_never_logged(emu: Emulator, hub: Api) -> None:
    params = {"api_key": HUB.api_key, "application_key": HUB.app_key, "limit": "5"}
    response = hub.request("GET", CONNECTIONS, headers={}, params=params)
    assert_json(response, 200)
    log = requests.get(emu.url + "/_emulator/requests", timeout=5).json()
    assert log[-1]["query"] == {"limit": "5"}
    assert log[-1]["org_id"] == HUB.id
    assert HUB.api_key not in str(log) and HUB.app_key not in str(log)


def test_a_user_without_connection_permissions_gets_403_everywhere(hub: Api) -> None:
    headers = {"DD-API-KEY": HUB.api_key, "DD-APPLICATION-KEY": HUB_VIEWER_APP_KEY}
    assert_errors(hub.request("GET", "/api/v2/org", headers=headers), 403, "Forbidden")
    assert_errors(hub.request("GET", CONNECTIONS, headers=headers), 403, "Forbidden")


# --------------------------------------------------------------------------------- create


def test_create_returns_200_with_the_jsonapi_resource(hub: Api) -> None:
    body = assert_json(hub.create(SPOKE_EU, ["logs", "metrics"]), 200)
    assert isinstance(body, dict)
    data = body["data"]
    assert data["type"] == "org_connection"
    assert uuid.UUID(data["id"]).version == 4
    assert data["attributes"]["connection_types"] == ["logs", "metrics"]
    assert TIMESTAMP.match(data["attributes"]["created_at"])
    datetime.fromisoformat(data["attributes"]["created_at"])
    assert data["relationships"] == {
        "source_org": {"data": {"type": "orgs", "id": HUB.id, "name": "hub"}},
        "sink_org": {"data": {"type": "orgs", "id": SPOKE_EU.id, "name": "spoke-eu"}},
        "created_by": {"data": {"type": "users", "id": HUB.user_id, "name": HUB.user_name}},
    }


def test_create_twice_is_409_but_the_reverse_pair_is_distinct(hub: Api, eu: Api) -> None:
    assert hub.create(SPOKE_EU).status_code == 200
    assert_errors(
        hub.create(SPOKE_EU, ["metrics"]),
        409,
        f"connection between orgs {HUB.id} and {SPOKE_EU.id} already exists",
    )
    assert eu.create(HUB).status_code == 200  # (spoke-eu -> hub) is another pair


def test_create_with_repeated_types_is_400_not_allowed(hub: Api) -> None:
    assert_errors(
        hub.create(SPOKE_EU, ["logs", "logs"]),
        400,
        f"connection between orgs {HUB.id} and {SPOKE_EU.id} is not allowed",
    )


def test_create_to_itself_is_400(hub: Api) -> None:
    assert_errors(hub.create(HUB), 400, f"connection between orgs {HUB.id} and {HUB.id} is not allowed")


@pytest.mark.parametrize(
    "sink", [GLOBEX.id, str(uuid.uuid1()), "not-a-uuid"], ids=["other-account", "unknown", "malformed"]
)
def test_create_to_a_sink_outside_the_account_is_404(hub: Api, sink: str) -> None:
    assert_errors(hub.create(sink), 404, "Not found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"data": None},
        {"data": []},
        {"data": {"type": "org_connections", "attributes": {"connection_types": ["logs"]}}},
        {"data": {"type": "org_connection", "relationships": {}}},
        create_body(SPOKE_EU.id, []),
        create_body(SPOKE_EU.id, ["traces"]),
        create_body(SPOKE_EU.id, ["LOGS"]),
        {"data": {"type": "org_connection", "attributes": {"connection_types": "logs"}}},
        {"data": {"type": "org_connection", "attributes": {"connection_types": ["logs"]}}},
        {
            "data": {
                "type": "org_connection",
                "attributes": {"connection_types": ["logs"]},
                "relationships": {"sink_org": {"data": {"type": "users", "id": SPOKE_EU.id}}},
            }
        },
        {
            "data": {
                "type": "org_connection",
                "attributes": {"connection_types": ["logs"]},
                "relationships": {"sink_org": {"data": {"type": "orgs"}}},
            }
        },
    ],
    ids=[
        "empty",
        "null-data",
        "list-data",
        "wrong-type",
        "no-attributes",
        "empty-types",
        "unknown-type",
        "uppercase-type",
        "types-not-list",
        "no-relationships",
        "wrong-sink-type",
        "no-sink-id",
    ],
)
def test_create_with_an_invalid_body_is_400(hub: Api, body: dict[str, object]) -> None:
    response = hub.request("POST", CONNECTIONS, json=body)
    assert_errors(response, 400)
    assert response.json()["errors"][0] == "Validation failed for input."
    assert hub.list().json()["data"] == []


@pytest.mark.parametrize(
    "raw", [b"{", b"", b"null", b"[1]", b"\xff\xfe"], ids=["cut", "empty", "null", "list", "bin"]
)
def test_create_with_malformed_json_is_400(hub: Api, raw: bytes) -> None:
    response = hub.request(
        "POST", CONNECTIONS, data=raw, headers={**HUB.headers(), "Content-Type": "application/json"}
    )
    assert_errors(response, 400)


# ----------------------------------------------------------------------------------- list


def test_list_empty(hub: Api) -> None:
    assert assert_json(hub.list(), 200) == {
        "data": [],
        "meta": {"page": {"total_count": 0, "total_filtered_count": 0}},
    }


def test_list_shows_connections_as_source_or_sink_only(hub: Api, eu: Api, emu: Emulator) -> None:
    a = hub.create(SPOKE_EU).json()["data"]["id"]
    b = hub.create(SPOKE_US).json()["data"]["id"]
    c = eu.create(SPOKE_AP).json()["data"]["id"]
    us = Api(emu.url, SPOKE_US)
    ap = Api(emu.url, SPOKE_AP)
    assert [x["id"] for x in hub.list().json()["data"]] == [a, b]
    assert [x["id"] for x in eu.list().json()["data"]] == [a, c]
    assert [x["id"] for x in us.list().json()["data"]] == [b]
    assert [x["id"] for x in ap.list().json()["data"]] == [c]
    assert Api(emu.url, GLOBEX).list().json()["data"] == []


def test_list_filters_and_counts(hub: Api, eu: Api) -> None:
    a = hub.create(SPOKE_EU).json()["data"]["id"]
    b = hub.create(SPOKE_US).json()["data"]["id"]
    c = eu.create(HUB).json()["data"]["id"]
    body = hub.list(sink_org_id=SPOKE_EU.id).json()
    assert [x["id"] for x in body["data"]] == [a]
    assert body["meta"]["page"] == {"total_count": 3, "total_filtered_count": 1}
    body = hub.list(source_org_id=HUB.id).json()
    assert [x["id"] for x in body["data"]] == [a, b]
    assert body["meta"]["page"] == {"total_count": 3, "total_filtered_count": 2}
    body = hub.list(source_org_id=SPOKE_EU.id, sink_org_id=HUB.id).json()
    assert [x["id"] for x in body["data"]] == [c]
    body = hub.list(sink_org_id=str(uuid.uuid1())).json()
    assert body == {"data": [], "meta": {"page": {"total_count": 3, "total_filtered_count": 0}}}
    # Upper-case ids match too.
    assert [x["id"] for x in hub.list(sink_org_id=SPOKE_EU.id.upper()).json()["data"]] == [a]


def test_list_pages_in_a_stable_order(hub: Api, eu: Api) -> None:
    ids = [hub.create(org).json()["data"]["id"] for org in (SPOKE_EU, SPOKE_US, SPOKE_AP)]
    ids.append(eu.create(HUB).json()["data"]["id"])
    seen = []
    for offset in range(0, 4, 2):
        body = hub.list(limit=2, offset=offset).json()
        assert body["meta"]["page"] == {"total_count": 4, "total_filtered_count": 4}
        seen += [x["id"] for x in body["data"]]
    assert seen == ids
    assert hub.list(limit=10, offset=4).json()["data"] == []
    assert len(hub.list(limit=1000).json()["data"]) == 4


@pytest.mark.parametrize(
    "params",
    [{"limit": "x"}, {"limit": "0"}, {"limit": "-1"}, {"offset": "-1"}, {"offset": "1.5"}, {"limit": ""}],
)
def test_list_with_a_bad_limit_or_offset_is_400(hub: Api, params: dict[str, str]) -> None:
    assert_errors(hub.list(**params), 400)


# ---------------------------------------------------------------------------------- patch


def test_patch_changes_only_the_types(hub: Api) -> None:
    created = hub.create(SPOKE_EU).json()["data"]
    response = hub.patch(created["id"], ["metrics", "audit"])
    updated = assert_json(response, 200)
    assert isinstance(updated, dict)
    assert updated["data"]["attributes"]["connection_types"] == ["metrics", "audit"]
    assert updated["data"]["attributes"]["created_at"] == created["attributes"]["created_at"]
    # As recorded: the PATCH answer's relationships carry ids only, no names.
    assert updated["data"]["relationships"] == {
        name: {"data": {k: v for k, v in rel["data"].items() if k != "name"}}
        for name, rel in created["relationships"].items()
    }
    assert all("name" in rel["data"] for rel in created["relationships"].values())
    listed = hub.list().json()["data"]
    assert listed == [{**updated["data"], "relationships": created["relationships"]}]  # names again


def test_patch_with_repeated_types_is_400_validation_failed(hub: Api) -> None:
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    assert_errors(hub.patch(conn, ["logs", "logs"]), 400, "Validation failed for input.")


@pytest.mark.parametrize("types", [[], ["traces"], None], ids=["empty", "unknown", "missing"])
def test_patch_with_invalid_types_is_400(hub: Api, types: list[str] | None) -> None:
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    body = patch_body(conn, types or [])
    if types is None:
        del body["data"]["attributes"]["connection_types"]
    response = hub.request("PATCH", f"{CONNECTIONS}/{conn}", json=body)
    assert_errors(response, 400)
    assert response.json()["errors"][0] == "Validation failed for input."


def test_patch_with_a_mismatched_body_id_is_400(hub: Api) -> None:
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    response = hub.request("PATCH", f"{CONNECTIONS}/{conn}", json=patch_body(str(uuid.uuid4()), ["metrics"]))
    assert_errors(response, 400)
    response = hub.request("PATCH", f"{CONNECTIONS}/{conn}", data=b"{nope")
    assert_errors(response, 400)


def test_patch_unknown_id_is_404_and_malformed_id_is_400(hub: Api) -> None:
    missing = str(uuid.uuid4())
    # The recorded PATCH text: capital O (DELETE's is lower case).
    assert_errors(hub.patch(missing, ["logs"]), 404, f"Org connection with id:{missing} not found not found")
    assert_errors(hub.patch("nope", ["logs"]), 400, "connection id must be a valid uuid")


def test_only_the_source_org_may_patch(hub: Api, eu: Api, emu: Emulator) -> None:
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    message = f"Org connection with id:{conn} not found not found"
    assert_errors(eu.patch(conn, ["metrics"]), 404, message)  # the sink
    assert_errors(Api(emu.url, SPOKE_US).patch(conn, ["metrics"]), 404, message)  # a bystander
    assert hub.list().json()["data"][0]["attributes"]["connection_types"] == ["logs"]


# --------------------------------------------------------------------------------- delete


@pytest.mark.parametrize("who", ["source", "sink"])
def test_delete_from_source_or_sink_answers_empty_object(hub: Api, eu: Api, who: str) -> None:
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    caller = hub if who == "source" else eu
    assert assert_json(caller.delete(conn), 200) == {}
    assert hub.list().json()["data"] == []
    assert eu.list().json()["data"] == []


def test_delete_unknown_or_foreign_is_404_with_the_recorded_typo(hub: Api, emu: Emulator) -> None:
    missing = str(uuid.uuid4())
    assert_errors(hub.delete(missing), 404, f"org connection with id:{missing} not found not found")
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    bystander = Api(emu.url, SPOKE_US)
    assert_errors(bystander.delete(conn), 404, f"org connection with id:{conn} not found not found")
    assert hub.delete(conn).status_code == 200
    assert_errors(hub.delete(conn), 404, f"org connection with id:{conn} not found not found")


@pytest.mark.parametrize("bad", ["nope", "1234", "7e9d4a43-4224-4bdd-8e14-66037db578bz"])
def test_delete_malformed_id_is_400(hub: Api, bad: str) -> None:
    assert_errors(hub.delete(bad), 400, "connection id must be a valid uuid")


def test_delete_then_create_again(hub: Api) -> None:
    first = hub.create(SPOKE_EU).json()["data"]["id"]
    assert hub.delete(first).status_code == 200
    second = hub.create(SPOKE_EU, ["audit"]).json()["data"]
    assert second["id"] != first
    assert second["attributes"]["connection_types"] == ["audit"]


# ------------------------------------------------------------------------- /api/v2/org, v1


def test_parent_keys_list_the_parent_and_its_children(emu: Emulator) -> None:
    body = assert_json(Api(emu.url, HUB).request("GET", "/api/v2/org"), 200)
    assert isinstance(body, dict)
    data = body["data"]
    assert data["id"] == HUB.id and data["type"] == "managed_orgs"
    assert data["relationships"]["current_org"]["data"] == {"id": HUB.id, "type": "orgs"}
    managed = [o["id"] for o in data["relationships"]["managed_orgs"]["data"]]
    assert managed == [SPOKE_EU.id, SPOKE_US.id, SPOKE_AP.id]
    assert [o["id"] for o in body["included"]] == [HUB.id, *managed]
    assert [o["attributes"]["name"] for o in body["included"]] == ["hub", "spoke-eu", "spoke-us", "spoke-ap"]
    globex = Api(emu.url, GLOBEX).request("GET", "/api/v2/org").json()
    assert [o["id"] for o in globex["included"]] == [GLOBEX.id]
    assert_errors(Api(emu.url, HUB).request("GET", "/api/v2/org", headers={}), 403, "Forbidden")


def test_child_keys_list_only_the_child(emu: Emulator) -> None:
    body = Api(emu.url, SPOKE_US).request("GET", "/api/v2/org").json()
    assert body["data"]["id"] == SPOKE_US.id
    assert body["data"]["relationships"]["managed_orgs"]["data"] == []
    assert [o["id"] for o in body["included"]] == [SPOKE_US.id]


def test_v1_org_answers_only_in_its_published_shape(emu: Emulator) -> None:
    body = assert_json(Api(emu.url, HUB).request("GET", "/api/v1/org"), 200)
    assert isinstance(body, dict)
    assert list(body) == ["orgs"]
    (org,) = body["orgs"]
    assert set(org) == {"name", "public_id", "created"} and org["name"] == "hub"
    assert HUB.id not in json.dumps(body)


# ------------------------------------------------------------------------- routing, headers


def test_unknown_paths_are_404_json(hub: Api) -> None:
    for path in ("/", "/api/v2/org_connection", "/api/v2/org_connections/a/b", "/api/v3/x"):
        assert_errors(hub.request("GET", path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", CONNECTIONS),
        ("DELETE", CONNECTIONS),
        ("PATCH", CONNECTIONS),
        ("GET", f"{CONNECTIONS}/{uuid.uuid4()}"),
        ("POST", f"{CONNECTIONS}/{uuid.uuid4()}"),
        ("POST", "/api/v2/org"),
    ],
)
def test_wrong_method_is_405_json(hub: Api, method: str, path: str) -> None:
    response = hub.request(method, path)
    assert_errors(response, 405)
    assert response.headers["Allow"]


def test_head_gets_405_without_a_body_and_the_connection_stays_usable(hub: Api) -> None:
    response = hub.request("HEAD", CONNECTIONS)
    assert response.status_code == 405
    assert response.content == b""
    assert hub.list().status_code == 200


def test_keep_alive_reuses_one_connection(hub: Api, emu: Emulator) -> None:
    for _ in range(5):
        assert hub.list().status_code == 200
    assert hub.create(SPOKE_EU).status_code == 200
    assert emu.server.open_connection_count == 1  # one socket served every request


def test_chunked_request_body_is_accepted(hub: Api) -> None:
    payload = json.dumps(create_body(SPOKE_EU.id)).encode()
    chunks = iter([payload[:10], payload[10:]])  # a generator body makes requests send it chunked
    response = hub.request(
        "POST", CONNECTIONS, data=chunks, headers={**HUB.headers(), "Content-Type": "application/json"}
    )
    assert_json(response, 200)
    assert hub.list().json()["meta"]["page"]["total_count"] == 1


def test_rate_limit_headers_values(hub: Api) -> None:
    first = hub.list()
    second = hub.list()
    assert first.headers["X-RateLimit-Limit"] == "6000"
    assert first.headers["X-RateLimit-Period"] == "60"
    assert first.headers["X-RateLimit-Name"] == "org_connections_list"
    assert int(first.headers["X-RateLimit-Remaining"]) - 1 == int(second.headers["X-RateLimit-Remaining"])
    assert 1 <= int(first.headers["X-RateLimit-Reset"]) <= 60


def test_every_answer_carries_an_http_date_header(emu: Emulator, hub: Api) -> None:
    """The client reads ``Date`` as the server's clock: every API answer has one (RFC 9110, GMT)."""
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    answers = [
        hub.list(),
        hub.create(SPOKE_US),
        hub.patch(conn, ["metrics"]),
        hub.create(SPOKE_EU),  # 409
        hub.create(SPOKE_EU, ["logs", "logs"]),  # 400
        hub.request("GET", CONNECTIONS, headers={}),  # 403
        hub.delete(str(uuid.uuid4())),  # 404
        hub.request("PUT", CONNECTIONS),  # 405
        hub.request("GET", "/api/v2/org"),
        hub.delete(conn),
    ]
    for status in (500, 502, 503):  # injected server errors, drawn at random: ask until each is seen
        emu.set_faults(kinds=["server_error"], seed=status)
        answers += [r for r in (hub.list() for _ in range(30)) if r.status_code == status][:1]
    emu.set_faults()
    emu.set_rate_limit(1, 60)
    answers += [hub.list(), hub.list()]  # the second one is a 429
    answers.append(requests.get(emu.url + "/_emulator/health", timeout=5))
    statuses = {r.status_code for r in answers}
    assert statuses >= {200, 400, 403, 404, 405, 409, 429, 500, 502, 503}
    for response in answers:
        stamp = parsedate_to_datetime(response.headers["Date"])
        assert response.headers["Date"].endswith(" GMT") and stamp.tzinfo is not None
        assert abs((stamp - datetime.now(timezone.utc)).total_seconds()) < 3600  # a clock, not a constant
