"""Who the keys are (``GET /api/v2/current_user``), service accounts in the seed, and the recorded
shapes of the list (``included``) and PATCH (no names) answers, with plain ``requests``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from emulator_helpers import HUB, SPOKE_EU, SPOKE_US, TIMESTAMP, Api, Org, assert_errors, assert_json

from datadog_org_connections.emulator import Emulator, SeedError, parse_seed
from datadog_org_connections.emulator.resources import permission_id
from support.seed import (
    HUB_BOT,
    HUB_READER_APP_KEY,
    HUB_VIEWER_APP_KEY,
    ORGS,
    SPOKE_EU_ENGINEER,
    USERS,
    service_account_of,
)

CURRENT_USER = "/api/v2/current_user"


def _one_user(**user: Any) -> dict[str, Any]:
    """A seed of one org ``o`` (API key ``k``) with one user ``u`` (application key ``a``)."""
    user = {"name": "u", "app_keys": ["a"], **user}
    return {"accounts": [{"name": "x", "orgs": [{"name": "o", "api_keys": ["k"], "users": [user]}]}]}


def whoami(api: Api, app_key: str | None = None) -> requests.Response:
    return api.request("GET", CURRENT_USER, headers=api.org.headers(app_key))


def _permissions(body: dict[str, Any]) -> set[str]:
    """The permission names the user's roles grant, resolved through ``included``."""
    included = {(i["type"], i["id"]): i for i in body["included"]}
    names = set()
    for ref in body["data"]["relationships"]["roles"]["data"]:
        role = included[("roles", ref["id"])]
        for perm in role["relationships"]["permissions"]["data"]:
            names.add(included[("permissions", perm["id"])]["attributes"]["name"])
    return names


def test_current_user_of_a_person_in_the_published_shape(hub: Api) -> None:
    body = assert_json(whoami(hub), 200)
    assert isinstance(body, dict) and set(body) == {"data", "included"}
    data = body["data"]
    assert (data["type"], data["id"]) == ("users", HUB.user_id)
    attrs = data["attributes"]
    assert (attrs["name"], attrs["handle"], attrs["email"]) == (HUB.user_name,) * 3
    assert (attrs["status"], attrs["disabled"], attrs["verified"]) == ("Active", False, True)
    assert attrs["service_account"] is False
    assert TIMESTAMP.match(attrs["created_at"]) and TIMESTAMP.match(attrs["modified_at"])
    assert data["relationships"]["org"] == {"data": {"id": HUB.id, "type": "orgs"}}
    [role] = data["relationships"]["roles"]["data"]
    assert role["type"] == "roles" and uuid.UUID(role["id"])
    [org] = [i for i in body["included"] if i["type"] == "orgs"]
    assert (org["id"], org["attributes"]["name"]) == (HUB.id, "hub")
    assert _permissions(body) == {"org_management"}
    assert [i["type"] for i in body["included"]] == ["orgs", "roles", "permissions"]


@pytest.mark.parametrize(
    ("org", "user", "permissions"),
    [
        (HUB, HUB_BOT.name, {"org_connections_read", "org_connections_write"}),
        (HUB, "ci-reader@hub.acme.test", {"org_connections_read"}),
        (HUB, "viewer@hub.acme.test", {"logs_read_data"}),
        (SPOKE_EU, SPOKE_EU_ENGINEER.name, {"org_connections_read", "org_connections_write"}),
    ],
)
def test_current_user_follows_the_seed(emu: Emulator, org: Org, user: str, permissions: set[str]) -> None:
    """Any valid key may ask, with or without connection permissions; roles follow the seed."""
    seeded = USERS[user]
    body = assert_json(whoami(Api(emu.url, org), seeded.app_key), 200)
    assert isinstance(body, dict)
    assert body["data"]["id"] == seeded.id
    assert body["data"]["attributes"]["service_account"] is seeded.service_account
    assert _permissions(body) == permissions
    ids = {i["id"] for i in body["included"] if i["type"] == "permissions"}
    assert ids == {permission_id(p) for p in permissions}  # the same ids in every org


def test_a_user_without_any_permission_has_a_role_granting_nothing() -> None:
    seed = parse_seed(_one_user())
    with Emulator.start(seed) as other:
        answer = requests.get(
            other.url + CURRENT_USER, headers={"DD-API-KEY": "k", "DD-APPLICATION-KEY": "a"}, timeout=5
        )
    body = assert_json(answer, 200)
    assert isinstance(body, dict) and _permissions(body) == set()
    assert [i["type"] for i in body["included"]] == ["orgs", "roles"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"DD-API-KEY": HUB.api_key},
        {"DD-API-KEY": "0" * 32, "DD-APPLICATION-KEY": HUB.app_key},
        {"DD-API-KEY": HUB.api_key, "DD-APPLICATION-KEY": "0" * 40},
        {"DD-API-KEY": HUB.api_key, "DD-APPLICATION-KEY": SPOKE_EU.app_key},
    ],
    ids=["none", "api-only", "bad-api", "bad-app", "mixed-orgs"],
)
def test_bad_keys_get_403_forbidden(hub: Api, headers: dict[str, str]) -> None:
    assert_errors(hub.request("GET", CURRENT_USER, headers=headers), 403, "Forbidden")


def test_a_deactivated_users_key_gets_403(emu: Emulator) -> None:
    engineer = Api(emu.url, SPOKE_EU.as_user(SPOKE_EU_ENGINEER))
    assert whoami(engineer).status_code == 200
    emu.deactivate_user(SPOKE_EU_ENGINEER.name)
    assert_errors(whoami(engineer), 403, "Forbidden")


def test_other_methods_are_405(hub: Api) -> None:
    response = hub.request("POST", CURRENT_USER, json={})
    assert_errors(response, 405, "Method not allowed")
    assert response.headers["Allow"] == "GET"


def test_read_only_and_permissionless_keys_may_ask(hub: Api) -> None:
    for key in (HUB_READER_APP_KEY, HUB_VIEWER_APP_KEY):
        assert whoami(hub, key).status_code == 200


# ------------------------------------------------------------------------ service accounts


def test_every_default_org_has_a_service_account_and_the_others_are_persons() -> None:
    for org in ORGS.values():
        bot = service_account_of(org)
        assert bot.name.startswith("connections-bot@") and bot.org == org.name
        assert set(bot.permissions) == {"org_connections_read", "org_connections_write"}
    assert service_account_of(HUB) == HUB_BOT
    persons = [u for u in USERS.values() if not u.service_account]
    assert {u.name for u in persons} >= {HUB.user_name, SPOKE_EU_ENGINEER.name, "ci-reader@hub.acme.test"}
    assert all(not u.name.startswith("connections-bot@") for u in persons)
    with pytest.raises(LookupError, match="no service-account user"):
        service_account_of("hub", {})


def test_seed_service_account_defaults_to_a_person_and_must_be_a_boolean() -> None:
    assert parse_seed(_one_user()).orgs[0].users[0].service_account is False
    assert parse_seed(_one_user(service_account=True)).orgs[0].users[0].service_account is True
    with pytest.raises(SeedError, match=r"accounts\[0\]\.orgs\[0\]\.users\[0\]\.service_account"):
        parse_seed(_one_user(service_account="yes"))
    user = parse_seed(_one_user(email="u@example.com")).orgs[0].users[0]
    assert user.handle == "u@example.com"


def test_the_state_shows_who_is_a_service_account(emu: Emulator) -> None:
    state = requests.get(f"{emu.url}/_emulator/state", timeout=5).json()
    flags = {
        u["name"]: u["service_account"] for a in state["accounts"] for o in a["orgs"] for u in o["users"]
    }
    assert flags[HUB_BOT.name] is True and flags[HUB.user_name] is False


# ------------------------------------------------------------------------ recorded shapes


def test_the_list_carries_the_recorded_included_when_not_empty(emu: Emulator, hub: Api) -> None:
    assert "included" not in assert_json(hub.list(), 200)  # type: ignore[operator]
    bot = Api(emu.url, HUB.as_user(service_account_of(HUB)))
    hub.create(SPOKE_EU)
    bot.create(SPOKE_US)
    body = assert_json(hub.list(), 200)
    assert isinstance(body, dict) and set(body) == {"data", "meta", "included"}  # no links
    orgs = [i for i in body["included"] if i["type"] == "orgs"]
    users = [i for i in body["included"] if i["type"] == "users"]
    assert len(body["included"]) == len(orgs) + len(users)
    assert [o["id"] for o in orgs] == [HUB.id, SPOKE_EU.id, SPOKE_US.id]  # each org once
    for org in orgs:
        attrs = org["attributes"]
        assert set(attrs) == {
            "public_id", "name", "description", "sharing", "url", "disabled", "created_at", "modified_at"
        }  # fmt: skip
        assert (attrs["description"], attrs["url"], attrs["modified_at"]) == (None, None, None)
        assert (attrs["sharing"], attrs["disabled"]) == ("all_private", False)
        assert attrs["name"] == {HUB.id: "hub", SPOKE_EU.id: "spoke-eu", SPOKE_US.id: "spoke-us"}[org["id"]]
    by_id = {u["id"]: u["attributes"] for u in users}
    assert set(by_id) == {HUB.user_id, HUB_BOT.id}
    assert (by_id[HUB.user_id]["service_account"], by_id[HUB_BOT.id]["service_account"]) == (False, True)
    assert set(by_id[HUB_BOT.id]) == {
        "name", "handle", "created_at", "modified_at", "email", "icon", "title", "verified",
        "service_account", "disabled", "allowed_login_methods", "status",
    }  # fmt: skip
    # Filtered to one connection: only what it references.
    one = assert_json(hub.list(sink_org_id=SPOKE_US.id), 200)
    assert isinstance(one, dict)
    assert [(i["type"], i["id"]) for i in one["included"]] == [
        ("orgs", HUB.id),
        ("orgs", SPOKE_US.id),
        ("users", HUB_BOT.id),
    ]
    # A filter matching nothing: no included.
    assert "included" not in hub.list(sink_org_id=str(uuid.uuid1())).json()


def test_create_keeps_names_and_patch_answers_without_them(hub: Api) -> None:
    created = hub.create(SPOKE_EU).json()["data"]
    assert all("name" in rel["data"] for rel in created["relationships"].values())
    patched = assert_json(hub.patch(created["id"], ["metrics"]), 200)
    assert isinstance(patched, dict)
    assert patched["data"]["relationships"] == {
        "source_org": {"data": {"type": "orgs", "id": HUB.id}},
        "sink_org": {"data": {"type": "orgs", "id": SPOKE_EU.id}},
        "created_by": {"data": {"type": "users", "id": HUB.user_id}},
    }


def test_the_recorded_error_texts(hub: Api) -> None:
    missing = str(uuid.uuid4())
    assert_errors(hub.patch(missing, ["logs"]), 404, f"Org connection with id:{missing} not found not found")
    assert_errors(hub.delete(missing), 404, f"org connection with id:{missing} not found not found")
    assert_errors(hub.delete("nope"), 400, "connection id must be a valid uuid")
    assert_errors(hub.create("not-a-uuid"), 404, "Not found")
    assert_errors(
        hub.create(SPOKE_EU, ["logs", "logs"]),
        400,
        f"connection between orgs {HUB.id} and {SPOKE_EU.id} is not allowed",
    )
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    assert_errors(hub.patch(conn, ["logs", "logs"]), 400, "Validation failed for input.")
