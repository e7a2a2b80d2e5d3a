"""``POST /_emulator/users/{id or name}/deactivate``: keys stop working, the user's connections go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from emulator_helpers import HUB, SPOKE_AP, SPOKE_EU, SPOKE_US, Api

from datadog_org_connections.emulator import ApiFailure, Emulator
from support.seed import SPOKE_EU_ENGINEER

ENGINEER = SPOKE_EU.as_user(SPOKE_EU_ENGINEER)


def deactivate(emu: Emulator, ref: str, method: str = "POST") -> requests.Response:
    return requests.request(method, f"{emu.url}/_emulator/users/{ref}/deactivate", timeout=5)


def users(emu: Emulator) -> dict[str, Any]:
    state = requests.get(f"{emu.url}/_emulator/state", timeout=5).json()
    return {u["name"]: u for a in state["accounts"] for o in a["orgs"] for u in o["users"]}


def test_deactivation_deletes_exactly_the_users_connections(emu: Emulator) -> None:
    engineer, admin = Api(emu.url, ENGINEER), Api(emu.url, SPOKE_EU)
    theirs = [engineer.create(org).json()["data"]["id"] for org in (HUB, SPOKE_US)]
    kept = [
        admin.create(SPOKE_AP).json()["data"]["id"],
        Api(emu.url, HUB).create(SPOKE_EU).json()["data"]["id"],
    ]

    response = deactivate(emu, SPOKE_EU_ENGINEER.name)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == {
        "id": ENGINEER.user_id,
        "name": ENGINEER.user_name,
        "org_id": SPOKE_EU.id,
        "active": False,
    }
    assert body["was_active"] is True
    assert [c["id"] for c in body["deleted_connections"]] == theirs
    assert [c["id"] for c in emu.connections()] == kept
    assert users(emu)[SPOKE_EU_ENGINEER.name]["active"] is False
    assert users(emu)[SPOKE_EU.user_name]["active"] is True


def test_a_deactivated_users_keys_get_403_everywhere(emu: Emulator) -> None:
    engineer = Api(emu.url, ENGINEER)
    conn = engineer.create(HUB).json()["data"]["id"]
    other = Api(emu.url, SPOKE_EU).create(SPOKE_US).json()["data"]["id"]
    deactivate(emu, ENGINEER.user_id)  # by id this time
    for response in (
        engineer.list(),
        engineer.create(SPOKE_AP),
        engineer.patch(other, ["metrics"]),
        engineer.delete(other),
        engineer.request("GET", "/api/v2/org"),
    ):
        assert (response.status_code, response.json()) == (403, {"errors": ["Forbidden"]})
    # The org's other keys still work; what the engineer made is gone from the API's view.
    assert [c["id"] for c in Api(emu.url, SPOKE_EU).list().json()["data"]] == [other]
    assert Api(emu.url, HUB).delete(conn).status_code == 404


def test_deactivation_is_idempotent_and_reset_restores_the_user(emu: Emulator) -> None:
    engineer = Api(emu.url, ENGINEER)
    engineer.create(HUB)
    assert deactivate(emu, SPOKE_EU_ENGINEER.name).json()["was_active"] is True
    again = deactivate(emu, SPOKE_EU_ENGINEER.name).json()
    assert (again["was_active"], again["deleted_connections"]) == (False, [])
    assert requests.post(f"{emu.url}/_emulator/reset", timeout=5).status_code == 200
    assert users(emu)[SPOKE_EU_ENGINEER.name]["active"] is True
    assert engineer.list().status_code == 200
    assert engineer.create(HUB).status_code == 200


def test_unknown_users_bad_paths_and_methods(emu: Emulator) -> None:
    assert deactivate(emu, "nobody@nowhere.test").status_code == 404
    assert deactivate(emu, SPOKE_EU_ENGINEER.name, method="GET").status_code == 405
    assert (
        requests.post(f"{emu.url}/_emulator/users/{ENGINEER.user_id}/promote", timeout=5).status_code == 404
    )
    assert requests.post(f"{emu.url}/_emulator/users/deactivate", timeout=5).status_code == 404
    assert all(u["active"] for u in users(emu).values())


def test_out_of_band_creates_skip_deactivated_users(emu: Emulator) -> None:
    deactivate(emu, SPOKE_EU.user_name)  # the admin, the default creator of spoke-eu
    made = requests.post(
        f"{emu.url}/_emulator/connections",
        json={"source": "spoke-eu", "sink": "hub", "connection_types": ["logs"]},
        timeout=5,
    ).json()["data"]
    assert made["relationships"]["created_by"]["data"]["name"] == SPOKE_EU_ENGINEER.name  # next writer
    refused = requests.post(
        f"{emu.url}/_emulator/connections",
        json={
            "source": "spoke-eu",
            "sink": "spoke-us",
            "connection_types": ["logs"],
            "created_by": SPOKE_EU.user_name,
        },
        timeout=5,
    )
    assert refused.status_code == 400 and "deactivated" in refused.json()["errors"][0]


def test_a_create_in_flight_when_its_user_is_deactivated_is_refused(emu: Emulator) -> None:
    """Keys are checked before the store's lock is taken; the store re-checks the creator under
    it, so a create racing with the deactivation cannot leave a connection behind."""
    emu.store.deactivate(SPOKE_EU_ENGINEER.name)
    with pytest.raises(ApiFailure) as refused:
        emu.store.create(SPOKE_EU.id, HUB.id, ["logs"], ENGINEER.user_id)
    assert (refused.value.status, refused.value.messages) == (403, ["Forbidden"])
    assert emu.connections() == []


def test_in_process_helper_and_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator.start(state_path=state) as emu:
        conn = Api(emu.url, ENGINEER).create(HUB).json()["data"]["id"]
        assert emu.deactivate_user(SPOKE_EU_ENGINEER.name) == [conn]
    saved = json.loads(state.read_text())
    assert saved["connections"] == [] and saved["deactivated_user_ids"] == [ENGINEER.user_id]
    with Emulator.start(state_path=state) as emu:  # still deactivated after a restart
        assert Api(emu.url, ENGINEER).list().status_code == 403
        emu.reset()
        assert Api(emu.url, ENGINEER).list().status_code == 200
    assert json.loads(state.read_text())["deactivated_user_ids"] == []
