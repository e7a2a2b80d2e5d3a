"""Parsing API bodies into models (no network)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from client_payloads import SINK, SOURCE, USER, conn_id, document, included_org, included_user, page, resource

from datadog_org_connections.errors import ResponseFormatError
from datadog_org_connections.models import (
    CONNECTION_TYPES,
    Connection,
    ConnectionPage,
    ManagedOrg,
    parse_connection_document,
    parse_connection_page,
    parse_json,
    parse_managed_orgs,
)


def test_connection_types_constant() -> None:
    assert CONNECTION_TYPES == ("audit", "logs", "metrics")


def test_parse_connection() -> None:
    conn = Connection.from_api(resource(conn_id(1), types=["metrics", "audit", "logs"]))
    assert conn == Connection(
        id=conn_id(1),
        source_org_id=SOURCE,
        source_org_name="Source Org",
        sink_org_id=SINK,
        sink_org_name="Sink Org",
        connection_types=("audit", "logs", "metrics"),
        created_at="2025-08-25T18:13:19.375125+00:00",
        created_by_id=USER,
        created_by_name="Ada Admin",
    )
    assert Connection.from_api(document(conn_id(1))) == parse_connection_document(document(conn_id(1)))
    with pytest.raises(AttributeError):
        conn.id = "other"  # type: ignore[misc]


def test_display_fields_are_optional() -> None:
    raw = resource(conn_id(2))
    del raw["relationships"]["created_by"]
    del raw["relationships"]["sink_org"]["data"]["name"]
    raw["relationships"]["source_org"]["data"]["name"] = None
    conn = Connection.from_api(raw)
    assert (conn.created_by_id, conn.created_by_name, conn.sink_org_name, conn.source_org_name) == ("",) * 4


def _broken(mutate: Any) -> dict[str, Any]:
    raw = copy.deepcopy(resource(conn_id(3)))
    mutate(raw)
    return raw


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda r: r.pop("id"), "data.id: missing"),
        (lambda r: r.update(id=7), "data.id: expected a non-empty string, got number"),
        (lambda r: r.update(type="users"), "data.type"),
        (lambda r: r.pop("attributes"), "data.attributes: missing"),
        (lambda r: r["attributes"].update(connection_types="logs"), "data.attributes.connection_types"),
        (lambda r: r["attributes"].update(connection_types=["logs", 3]), "non-string items"),
        (lambda r: r["attributes"].pop("created_at"), "data.attributes.created_at: missing"),
        (lambda r: r.pop("relationships"), "data.relationships: missing"),
        (lambda r: r["relationships"].pop("sink_org"), "data.relationships.sink_org: missing"),
        (lambda r: r["relationships"]["source_org"].update(data=None), "source_org.data: expected an object"),
        (lambda r: r["relationships"]["sink_org"]["data"].pop("id"), "sink_org.data.id: missing"),
        (lambda r: r["relationships"]["sink_org"]["data"].update(name=5), "sink_org.data.name"),
    ],
)
def test_malformed_connection(mutate: Any, where: str) -> None:
    with pytest.raises(ResponseFormatError) as info:
        Connection.from_api(_broken(mutate))
    assert where in str(info.value)


def test_parse_page() -> None:
    parsed = parse_connection_page(page([resource(conn_id(1)), resource(conn_id(2))], total=5, filtered=2))
    assert isinstance(parsed, ConnectionPage)
    assert [c.id for c in parsed.connections] == [conn_id(1), conn_id(2)]
    assert (parsed.total_count, parsed.total_filtered_count) == (5, 2)
    empty = parse_connection_page(
        {"data": [], "meta": {"page": {"total_count": 0, "total_filtered_count": 0}}}
    )
    assert empty == ConnectionPage((), 0, 0)
    assert parse_connection_page({"data": []}) == ConnectionPage((), None, None)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ([], "top level: expected an object, got list"),
        ({}, "data: missing"),
        ({"data": {}}, "data: expected a list, got object"),
        ({"data": [resource(conn_id(1)), 3]}, "data[1]: expected an object, got number"),
        ({"data": [], "meta": {"page": {"total_count": "3"}}}, "meta.page.total_count"),
        ({"data": [], "meta": {"page": {"total_filtered_count": True}}}, "meta.page.total_filtered_count"),
        ({"data": [], "meta": []}, "meta: expected an object"),
    ],
)
def test_malformed_page(body: Any, where: str) -> None:
    with pytest.raises(ResponseFormatError) as info:
        parse_connection_page(body)
    assert where in str(info.value)


def _managed(current: str, managed: list[str], included: list[dict[str, object]]) -> dict[str, object]:
    return {
        "data": {
            "id": current,
            "type": "managed_orgs",
            "relationships": {
                "current_org": {"data": {"id": current, "type": "orgs"}},
                "managed_orgs": {"data": [{"id": m, "type": "orgs"} for m in managed]},
            },
        },
        "included": included,
    }


def test_managed_orgs() -> None:
    parent = {"id": SOURCE, "type": "orgs", "attributes": {"name": "Parent", "public_id": "abc123", "x": 1}}
    child = {"id": SINK, "type": "orgs", "attributes": {"name": "Child", "public_id": "def456"}}
    orgs = parse_managed_orgs(_managed(SOURCE, [SINK], [parent, child]))
    assert orgs.current_id == SOURCE and orgs.managed
    assert orgs.orgs == (ManagedOrg(SOURCE, "abc123", "Parent"), ManagedOrg(SINK, "def456", "Child"))
    assert orgs.find(SINK.upper()) == ManagedOrg(SINK, "def456", "Child")
    # The current org listed among the managed ones too (the contract does not say): listed once.
    assert parse_managed_orgs(_managed(SOURCE, [SOURCE, SINK], [parent, child])).orgs == orgs.orgs
    # A child's keys: only itself, so the listing proves nothing about the rest of the account.
    alone = parse_managed_orgs(_managed(SINK, [], [child]))
    assert alone.current == ManagedOrg(SINK, "def456", "Child") and not alone.managed
    # Attributes absent: ids still usable, names empty.
    assert parse_managed_orgs(_managed(SOURCE, [SINK], [])).orgs[1] == ManagedOrg(SINK, "", "")
    with pytest.raises(ResponseFormatError, match=r"data.id: missing"):
        parse_managed_orgs({"data": {"type": "managed_orgs"}, "included": []})
    with pytest.raises(ResponseFormatError, match="data: missing"):
        parse_managed_orgs({"orgs": [{"name": "Example Org", "public_id": "abc-123"}]})  # the v1 shape


def test_parse_json_errors() -> None:
    assert parse_json(b'{"a": 1}') == {"a": 1}
    with pytest.raises(ResponseFormatError, match="truncated JSON"):
        parse_json(b'{"data": [{"id": "x", "attributes": {')
    with pytest.raises(ResponseFormatError, match="invalid JSON"):
        parse_json(b"<html><body>Bad gateway</body></html>")
    with pytest.raises(ResponseFormatError, match="empty"):
        parse_json(b"  ")
    with pytest.raises(ResponseFormatError, match="not UTF-8"):
        parse_json(b"\xff\xfe{}")


# ------------------------------------------------------------- the list answer's ``included``


def _recorded_page(*items: dict[str, Any], service_account: object = False) -> dict[str, Any]:
    """A list answer with the recorded top-level ``included``: the orgs, then the creator."""
    body = page(list(items))
    body["included"] = [
        included_org(SOURCE, "Source Org"),
        included_org(SINK, "Sink Org"),
        included_user(USER, "Ada Admin", service_account),
    ]
    return body


@pytest.mark.parametrize(("flag", "expected"), [(True, True), (False, False), (..., None), ("yes", None)])
def test_creator_service_account_from_included(flag: object, expected: bool | None) -> None:
    [conn] = parse_connection_page(_recorded_page(resource(conn_id(1)), service_account=flag)).connections
    assert conn.created_by_service_account is expected
    assert (conn.source_org_name, conn.sink_org_name, conn.created_by_name) == (
        "Source Org",
        "Sink Org",
        "Ada Admin",
    )


def test_without_included_the_creator_kind_is_unknown() -> None:
    [conn] = parse_connection_page(page([resource(conn_id(1))])).connections
    assert conn.created_by_service_account is None
    assert Connection.from_api(resource(conn_id(1))).created_by_service_account is None


def _nameless(cid: str) -> dict[str, Any]:
    """A connection as the recorded PATCH answer carries it: relationships without names."""
    raw = resource(cid)
    for rel in raw["relationships"].values():
        del rel["data"]["name"]
    return raw


def test_names_missing_from_relationships_come_from_included() -> None:
    body = _recorded_page(_nameless(conn_id(1)))
    body["included"][0]["id"] = SOURCE.upper()  # ids compare across case
    [conn] = parse_connection_page(body).connections
    assert (conn.source_org_name, conn.sink_org_name, conn.created_by_name) == (
        "Source Org",
        "Sink Org",
        "Ada Admin",
    )
    # A name the relationship carries wins over included.
    body = _recorded_page(resource(conn_id(1)))
    body["included"][1]["attributes"]["name"] = "Renamed"
    assert parse_connection_page(body).connections[0].sink_org_name == "Sink Org"


def test_a_patch_answer_without_names_parses_with_empty_names() -> None:
    conn = parse_connection_document({"data": _nameless(conn_id(1))})
    assert (conn.id, conn.source_org_id, conn.sink_org_id, conn.created_by_id) == (
        conn_id(1),
        SOURCE,
        SINK,
        USER,
    )
    assert (conn.source_org_name, conn.sink_org_name, conn.created_by_name) == ("", "", "")
    assert conn.created_by_service_account is None


@pytest.mark.parametrize(
    "included",
    [
        "nope",
        None,
        [3, "x", None, {"type": "orgs"}, {"id": SINK}, {"type": "users", "id": USER, "attributes": []}],
        [{"type": "orgs", "id": SINK, "attributes": {"name": None, "description": None, "url": None}}],
    ],
    ids=["not-a-list", "null", "malformed-entries", "null-org-fields"],
)
def test_included_is_never_required_nor_fatal(included: object) -> None:
    body = page([_nameless(conn_id(1))])
    body["included"] = included
    [conn] = parse_connection_page(body).connections
    assert (conn.sink_org_name, conn.created_by_service_account) == ("", None)
