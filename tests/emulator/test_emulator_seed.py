"""Seed loading and validation; seeded connections."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from emulator_helpers import ACME, GLOBEX, HUB, HUB_VIEWER_APP_KEY, SPOKE_EU, SPOKE_US, Api

from datadog_org_connections.emulator import (
    DEFAULT_SEED_PATH,
    Emulator,
    SeedError,
    load_seed,
    parse_seed,
)


def default_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_SEED_PATH.read_text())
    return data


def test_default_seed_has_the_documented_orgs_and_keys() -> None:
    seed = load_seed()
    assert [a.name for a in seed.accounts] == ["acme", "globex", "initech"]
    for org in (*ACME, GLOBEX):
        found = seed.orgs_by_id[org.id]
        assert found.name == org.name
        assert seed.org_by_api_key[org.api_key] is found
        owner_org, user = seed.user_by_app_key[org.app_key]
        assert owner_org is found and user.id == org.user_id and user.can_manage_orgs
    _, viewer = seed.user_by_app_key[HUB_VIEWER_APP_KEY]
    assert not viewer.can_manage_orgs
    assert seed.connections == ()


def test_missing_ids_are_generated_deterministically() -> None:
    data = {
        "accounts": [
            {
                "name": "solo",
                "orgs": [
                    {"name": "a", "api_keys": ["ka"], "users": [{"name": "ua", "app_keys": ["pa"]}]},
                    {"name": "b"},
                ],
            }
        ]
    }
    first, second = parse_seed(data), parse_seed(copy.deepcopy(data))
    org_ids = [o.id for o in first.orgs]
    assert org_ids == [o.id for o in second.orgs]
    assert all(uuid.UUID(i).version == 1 for i in org_ids)
    assert len(set(org_ids)) == 2
    user = first.orgs[0].users[0]
    assert uuid.UUID(user.id).version == 4
    assert user.id == second.orgs[0].users[0].id
    assert user.permissions == ()


def _mutate(path: str, value: Any) -> dict[str, Any]:
    data = default_data()
    target: Any = data
    keys = path.split("/")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


_DELETE = object()
HUB_PATH = "accounts/0/orgs/0"


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ("accounts", _DELETE, "accounts"),
        ("accounts", {}, "accounts"),
        ("accounts", [], "accounts"),
        (f"{HUB_PATH}/id", "not-a-uuid", "accounts[0].orgs[0].id"),
        (f"{HUB_PATH}/name", _DELETE, "accounts[0].orgs[0].name"),
        (f"{HUB_PATH}/name", "spoke-eu", "accounts[0].orgs[1].name"),
        (f"{HUB_PATH}/api_keys", "k", "accounts[0].orgs[0].api_keys"),
        (f"{HUB_PATH}/api_keys/0", 5, "accounts[0].orgs[0].api_keys[0]"),
        (f"{HUB_PATH}/api_keys/0", SPOKE_EU.api_key, "accounts[0].orgs[1].api_keys[0]"),
        (f"{HUB_PATH}/users/0/app_key", ["x"], "accounts[0].orgs[0].users[0].app_key"),
        (f"{HUB_PATH}/users/0/id", "a1b10002-0000-4000-8000-00000000c0de", "accounts[0].orgs[1].users[0].id"),
        (f"{HUB_PATH}/users/1/app_keys/0", HUB.app_key, "accounts[0].orgs[0].users[1].app_keys[0]"),
        ("accounts/1/name", "acme", "accounts[1].name"),
        ("accounts/1/orgs/0/id", HUB.id, "accounts[1].orgs[0].id"),
    ],
)
def test_invalid_seeds_name_the_field(path: str, value: Any, where: str) -> None:
    with pytest.raises(SeedError) as error:
        parse_seed(_mutate(path, value), source="test.json")
    assert f"test.json: {where}" in str(error.value)


@pytest.mark.parametrize(
    ("connection", "where"),
    [
        ({"source": "hub", "sink": "nowhere", "connection_types": ["logs"]}, "connections[0].sink"),
        ({"source": "nobody", "sink": "hub", "connection_types": ["logs"]}, "connections[0].source"),
        ({"source": "hub", "sink": "globex-main", "connection_types": ["logs"]}, "connections[0].sink"),
        ({"source": "hub", "sink": "hub", "connection_types": ["logs"]}, "connections[0].sink"),
        ({"source": "hub", "sink": "spoke-eu", "connection_types": []}, "connections[0].connection_types"),
        (
            {"source": "hub", "sink": "spoke-eu", "connection_types": ["x"]},
            "connections[0].connection_types[0]",
        ),
        (
            {"source": "hub", "sink": "spoke-eu", "connection_types": ["logs", "logs"]},
            "connections[0].connection_types",
        ),
        ({"source": "hub", "sink": "spoke-eu"}, "connections[0].connection_types"),
        ({"source": "hub", "sink": "spoke-eu", "connection_types": ["logs"], "id": "x"}, "connections[0].id"),
        (
            {"source": "hub", "sink": "spoke-eu", "connection_types": ["logs"], "created_by": "zz"},
            "connections[0].created_by",
        ),
        (
            {"source": "hub", "sink": "spoke-eu", "connection_types": ["logs"], "created_at": "soon"},
            "connections[0].created_at",
        ),
    ],
)
def test_invalid_seed_connections_name_the_field(connection: dict[str, Any], where: str) -> None:
    data = default_data()
    data["connections"] = [connection]
    with pytest.raises(SeedError) as error:
        parse_seed(data, source="seed.json")
    assert f"seed.json: {where}:" in str(error.value)


def test_duplicate_seeded_pair_is_rejected() -> None:
    data = default_data()
    conn = {"source": "hub", "sink": "spoke-eu", "connection_types": ["logs"]}
    data["connections"] = [conn, {**conn, "connection_types": ["metrics"]}]
    with pytest.raises(SeedError, match=r"connections\[1\]"):
        parse_seed(data)


def test_unreadable_seed_files(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read"):
        load_seed(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(SeedError, match=r"bad\.json: not valid JSON"):
        load_seed(bad)


def test_seeded_connections_are_served_and_come_back_on_reset(tmp_path: Path) -> None:
    data = default_data()
    data["connections"] = [
        {"source": "hub", "sink": SPOKE_EU.id, "connection_types": ["logs"]},
        {
            "source": SPOKE_US.id,
            "sink": "hub",
            "connection_types": ["metrics", "audit"],
            "id": "7e9d4a43-4224-4bdd-8e14-66037db578b1",
            "created_at": "2025-08-25T18:13:19.375125+00:00",
            "created_by": "admin@spoke-us.acme.test",
        },
    ]
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(data))
    with Emulator.start(seed=seed_file) as emu:
        hub = Api(emu.url, HUB)
        listing = hub.list().json()["data"]
        assert len(listing) == 2
        assert listing[1]["id"] == "7e9d4a43-4224-4bdd-8e14-66037db578b1"
        assert listing[1]["attributes"]["created_at"] == "2025-08-25T18:13:19.375125+00:00"
        assert listing[1]["relationships"]["created_by"]["data"]["id"] == SPOKE_US.user_id
        assert listing[0]["relationships"]["created_by"]["data"]["id"] == HUB.user_id
        assert hub.create(SPOKE_EU).status_code == 409
        assert hub.delete(listing[0]["id"]).status_code == 200
        assert hub.create(SPOKE_US).status_code == 200
        requests.post(emu.url + "/_emulator/reset", timeout=5)
        assert [c["id"] for c in hub.list().json()["data"]] == [listing[0]["id"], listing[1]["id"]]


def test_emulator_accepts_a_seed_dict() -> None:
    data = {"accounts": [{"name": "x", "orgs": [{"name": "only", "api_keys": ["k"], "users": []}]}]}
    with Emulator.start(seed=data) as emu:
        assert emu.seed.orgs[0].name == "only"
        response = requests.get(emu.url + "/api/v1/org", headers={"DD-API-KEY": "k"}, timeout=5)
        assert response.status_code == 403  # no application key
