"""``GET /api/v2/current_user`` through ``datadog-api-client``'s ``UsersApi.get_current_user()``, and
the list's recorded ``included`` through ``OrgConnectionsApi`` (strict types on)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v2.model.organization import Organization
from datadog_api_client.v2.model.permission import Permission
from datadog_api_client.v2.model.role import Role
from datadog_api_client.v2.model.user_response import UserResponse
from dd_peer import LOGS, METRICS, assert_fully_parsed, assert_list_parsed, create_request, peer

from datadog_org_connections.client import OrgConnectionsClient
from datadog_org_connections.settings import Credentials
from support.emulator_control import EmulatorControl
from support.seed import (
    HUB,
    HUB_BOT,
    HUB_READER_APP_KEY,
    HUB_VIEWER_APP_KEY,
    SPOKE_EU,
    SPOKE_EU_ENGINEER,
    SPOKE_US,
    USERS,
    Org,
    service_account_of,
)


def current_user(url: str, org: Org, app_key: str | None = None) -> UserResponse:
    with peer(url, org, app_key) as dd:
        answer = dd.users.get_current_user()
        assert isinstance(answer, UserResponse)
        assert_fully_parsed(answer, dd.last_body)
    return answer


def permissions(answer: UserResponse) -> set[str]:
    """The permission names the user's roles grant, resolved through the typed ``included``."""
    items = [i.get_oneof_instance() for i in answer.included]  # each a oneOf (UserResponseIncludedItem)
    roles = {r.id: r for r in items if isinstance(r, Role)}
    names = {p.id: p.attributes.name for p in items if isinstance(p, Permission)}
    granted = set()
    for ref in answer.data.relationships.roles.data:
        granted |= {names[p.id] for p in roles[ref.id].relationships.permissions.data}
    return granted


@pytest.mark.parametrize(
    ("org", "user", "expected"),
    [
        (HUB, HUB.user_name, {"org_management"}),
        (HUB, HUB_BOT.name, {"org_connections_read", "org_connections_write"}),
        (HUB, "ci-reader@hub.acme.test", {"org_connections_read"}),
        (SPOKE_EU, SPOKE_EU_ENGINEER.name, {"org_connections_read", "org_connections_write"}),
    ],
    ids=["person-admin", "service-account", "read-only", "person-writer"],
)
def test_get_current_user(emulator: EmulatorControl, org: Org, user: str, expected: set[str]) -> None:
    seeded = USERS[user]
    answer = current_user(emulator.url, org, seeded.app_key)
    data = answer.data
    assert (data.id, data.attributes.name, data.attributes.handle) == (seeded.id, seeded.name, seeded.name)
    assert data.attributes.service_account is seeded.service_account
    assert (data.attributes.status, data.attributes.disabled) == ("Active", False)
    assert isinstance(data.attributes.created_at, datetime)
    assert data.relationships.org.data.id == org.id
    [own_org] = [o for o in (i.get_oneof_instance() for i in answer.included) if isinstance(o, Organization)]
    assert (own_org.id, own_org.attributes.name) == (org.id, org.name)
    assert permissions(answer) == expected
    # Our client reads the same answer the same way.
    with OrgConnectionsClient(Credentials(org.api_key, seeded.app_key, emulator.url)) as client:
        ours = client.get_current_user()
    assert (ours.user_id, ours.service_account, ours.org_id, ours.org_name) == (
        seeded.id,
        seeded.service_account,
        org.id,
        org.name,
    )
    assert ours.permissions == frozenset(expected)


@pytest.mark.parametrize("app_key", ["0" * 40, SPOKE_EU.app_key], ids=["unknown-key", "other-org-key"])
def test_bad_keys_get_403(emulator: EmulatorControl, app_key: str) -> None:
    with peer(emulator.url, HUB, app_key) as dd, pytest.raises(ApiException) as caught:
        dd.users.get_current_user()
    assert caught.value.status == 403
    body = caught.value.body
    assert (json.loads(body) if isinstance(body, str | bytes) else body) == {"errors": ["Forbidden"]}


def test_keys_without_connection_permissions_still_get_an_answer(emulator: EmulatorControl) -> None:
    assert permissions(current_user(emulator.url, HUB, HUB_VIEWER_APP_KEY)) == {"logs_read_data"}
    assert permissions(current_user(emulator.url, HUB, HUB_READER_APP_KEY)) == {"org_connections_read"}


def test_a_deactivated_users_keys_get_403(emulator: EmulatorControl) -> None:
    current_user(emulator.url, SPOKE_EU, SPOKE_EU_ENGINEER.app_key)
    emulator.deactivate(SPOKE_EU_ENGINEER.name)
    with peer(emulator.url, SPOKE_EU, SPOKE_EU_ENGINEER.app_key) as dd, pytest.raises(ApiException) as caught:
        dd.users.get_current_user()
    assert caught.value.status == 403


def test_the_list_with_included_deserializes(emulator: EmulatorControl) -> None:
    """``OrgConnectionListResponse`` does not declare ``included``: strict types on, the client keeps
    it untyped and parses the rest; our client takes the creators' ``service_account`` from it."""
    bot = service_account_of(HUB)
    with peer(emulator.url, HUB) as person, peer(emulator.url, HUB, bot.app_key) as service:
        person.connections.create_org_connections(body=create_request(SPOKE_EU.id, [LOGS]))
        service.connections.create_org_connections(body=create_request(SPOKE_US.id, [METRICS]))
        listed = person.connections.list_org_connections()
        assert_list_parsed(listed, person.last_body)
        assert [c.relationships.sink_org.data.name for c in listed.data] == ["spoke-eu", "spoke-us"]
        kinds = {
            i["id"]: i["attributes"]["service_account"] for i in listed["included"] if i["type"] == "users"
        }
        assert kinds == {HUB.user_id: False, bot.id: True}
    with OrgConnectionsClient(Credentials(HUB.api_key, HUB.app_key, emulator.url)) as client:
        ours = {c.sink_org_id: c.created_by_service_account for c in client.list_connections()}
    assert ours == {SPOKE_EU.id: False, SPOKE_US.id: True}
