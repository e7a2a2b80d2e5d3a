"""Who the keys are: parsing ``GET /api/v2/current_user`` and the client call over a socket."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from client_payloads import API_KEY, APP_KEY, ROLE, SOURCE, USER, WRITE_PERM, current_user, included_org

from datadog_org_connections.client import CURRENT_USER_PATH, OrgConnectionsClient
from datadog_org_connections.errors import ForbiddenError, NotFoundError, ResponseFormatError, ServerError
from datadog_org_connections.models import CurrentUser, parse_current_user
from datadog_org_connections.transport import RetryPolicy
from support.fake_server import Canned, FakeServer

MakeClient = Callable[..., OrgConnectionsClient]


def test_a_person_with_write_permission() -> None:
    user = parse_current_user(current_user())
    assert user == CurrentUser(
        user_id=USER,
        name="Ada Admin",
        handle="ada@example.com",
        email="ada@example.com",
        service_account=False,
        disabled=False,
        status="Active",
        org_id=SOURCE,
        org_name="Source Org",
        permissions=frozenset({"org_connections_read", "org_connections_write"}),
    )
    assert (user.can_read, user.can_write) == (True, True)
    assert user.label == "Ada Admin (ada@example.com)"
    with pytest.raises(AttributeError):
        user.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("permissions", "can_read", "can_write"),
    [
        (("org_connections_read",), True, False),
        (("org_connections_write",), False, True),
        (("org_management",), True, True),
        (("logs_read_data",), False, False),
        ((), False, False),
    ],
)
def test_permissions_decide_read_and_write(
    permissions: tuple[str, ...], can_read: bool, can_write: bool
) -> None:
    user = parse_current_user(current_user(permissions=permissions))
    assert user.permissions == frozenset(permissions)
    assert (user.can_read, user.can_write) == (can_read, can_write)


def test_a_service_account() -> None:
    assert parse_current_user(current_user(service_account=True)).service_account is True


@pytest.mark.parametrize("odd", [..., None, "true", 1])
def test_service_account_missing_or_not_a_boolean_is_unknown(odd: object) -> None:
    assert parse_current_user(current_user(service_account=odd)).service_account is None


def _mutated(mutate: Callable[[dict[str, Any]], object]) -> CurrentUser:
    body = copy.deepcopy(current_user())
    mutate(body)
    return parse_current_user(body)


def _role(body: dict[str, Any]) -> dict[str, Any]:
    return next(i for i in body["included"] if i["type"] == "roles")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.pop("included"),
        lambda b: b.update(included="nope"),
        lambda b: b["data"]["relationships"].pop("roles"),
        lambda b: b["data"].pop("relationships"),
        lambda b: b["data"]["relationships"]["roles"].update(data=None),
        lambda b: b["data"]["relationships"]["roles"]["data"][0].pop("id"),
        lambda b: b.update(included=[i for i in b["included"] if i["type"] != "roles"]),
        lambda b: _role(b).pop("relationships"),
        lambda b: _role(b).update(relationships=[]),
        lambda b: b.update(included=[i for i in b["included"] if i.get("id") != WRITE_PERM]),
        lambda b: next(i for i in b["included"] if i.get("id") == WRITE_PERM).pop("attributes"),
    ],
    ids=[
        "no-included",
        "included-not-a-list",
        "no-roles",
        "no-relationships",
        "roles-data-null",
        "role-without-id",
        "role-not-included",
        "role-without-permissions",
        "role-relationships-not-an-object",
        "permission-not-included",
        "permission-without-name",
    ],
)
def test_permissions_not_all_carried_are_unknown_not_empty(
    mutate: Callable[[dict[str, Any]], object],
) -> None:
    user = _mutated(mutate)
    assert user.permissions is None
    assert (user.can_read, user.can_write) == (None, None)
    assert user.user_id == USER  # the rest still reads


def test_a_user_without_any_role_holds_no_permission() -> None:
    user = _mutated(lambda b: b["data"]["relationships"]["roles"].update(data=[]))
    assert user.permissions == frozenset() and user.can_write is False


def test_ids_match_across_case() -> None:
    user = _mutated(lambda b: b["data"]["relationships"]["roles"]["data"][0].update(id=ROLE.upper()))
    assert user.can_write is True


def test_display_fields_are_lenient() -> None:
    bare = parse_current_user({"data": {"id": USER}})
    assert bare == CurrentUser(USER, "", "", "", None, None, "", None, "", None)
    assert bare.label == USER
    odd = _mutated(
        lambda b: b["data"].update(attributes={"name": None, "handle": 3, "email": "e@x", "status": []})
    )
    assert (odd.name, odd.handle, odd.email, odd.status) == ("", "", "e@x", "")
    assert odd.label == "e@x"
    named = _mutated(lambda b: b["data"]["attributes"].update(handle="Ada Admin"))
    assert named.label == "Ada Admin"


def test_org_name_from_included_and_null_org_fields() -> None:
    user = parse_current_user(current_user())
    assert included_org(SOURCE, "x")["attributes"]["description"] is None  # the recorded nulls parse
    assert (user.org_id, user.org_name) == (SOURCE, "Source Org")
    no_org = _mutated(lambda b: b["data"]["relationships"].pop("org"))
    assert (no_org.org_id, no_org.org_name) == (None, "")
    not_included = _mutated(lambda b: b.update(included=[i for i in b["included"] if i["type"] != "orgs"]))
    assert (not_included.org_id, not_included.org_name) == (SOURCE, "")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ([], "top level: expected an object, got list"),
        ({}, "data: missing"),
        ({"data": []}, "data: expected an object, got list"),
        ({"data": {"type": "users"}}, "data.id: missing"),
        ({"data": {"id": ""}}, "data.id: expected a non-empty string, got string"),
        ({"data": {"id": 7}}, "data.id: expected a non-empty string, got number"),
        ({"data": {"id": USER, "type": "orgs"}}, "data.type: expected 'users', got 'orgs'"),
    ],
)
def test_what_callers_rely_on_is_strict(body: Any, where: str) -> None:
    with pytest.raises(ResponseFormatError) as info:
        parse_current_user(body)
    assert where in str(info.value)


# ------------------------------------------------------------------------- over a socket


def test_get_current_user_sends_one_get(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(200, current_user(service_account=True)))
    user = client.get_current_user()
    assert user.service_account is True and user.can_write is True
    assert CURRENT_USER_PATH == "/api/v2/current_user"
    [req] = server.requests
    assert (req.method, req.path, req.query) == ("GET", CURRENT_USER_PATH, {})
    assert req.header("DD-API-KEY") == API_KEY and req.header("DD-APPLICATION-KEY") == APP_KEY


def test_a_403_says_the_keys_were_refused_not_a_permission(
    client: OrgConnectionsClient, server: FakeServer
) -> None:
    server.enqueue(Canned(403, {"errors": ["Forbidden"]}))
    with pytest.raises(ForbiddenError) as info:
        client.get_current_user()
    text = str(info.value)
    assert text.startswith("get the user of the application key: HTTP 403: Forbidden: ")
    assert "key was refused" in text and "needs no permission" in text
    assert "org_connections" not in text and "org_management" not in text
    assert API_KEY not in text and APP_KEY not in text
    assert len(server.requests) == 1


def test_other_answers_raise_the_usual_errors(client: OrgConnectionsClient, server: FakeServer) -> None:
    server.enqueue(Canned(404, {"errors": ["Not found"]}), Canned(200, {"data": {"type": "users"}}))
    with pytest.raises(NotFoundError):
        client.get_current_user()
    with pytest.raises(ResponseFormatError, match=r"data\.id: missing"):
        client.get_current_user()


def test_policy_replaces_the_retries_for_this_call(make_client: MakeClient, server: FakeServer) -> None:
    client = make_client(max_attempts=6)
    server.enqueue(*[Canned(503, None)] * 3, Canned(200, current_user()))
    with pytest.raises(ServerError):
        client.get_current_user(policy=RetryPolicy(max_attempts=2))
    assert len(server.requests) == 2
    assert client.get_current_user().user_id == USER  # the client's own retries otherwise
    assert len(server.requests) == 4
