"""Control endpoints under /_emulator/: log, reset, state, out-of-band connections."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from emulator_helpers import GLOBEX, HUB, SPOKE_AP, SPOKE_EU, SPOKE_US, Api

from datadog_org_connections.emulator import Emulator


def control(emu: Emulator, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{emu.url}/_emulator{path}", json=body, timeout=5)


def test_request_log_entries_and_clear(emu: Emulator, hub: Api) -> None:
    hub.create(SPOKE_EU)
    hub.list(limit=5, sink_org_id=SPOKE_EU.id)
    Api(emu.url, HUB).request("GET", "/api/v2/org_connections", headers={})
    entries = control(emu, "GET", "/requests").json()
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/api/v2/org_connections", 200),
        ("GET", "/api/v2/org_connections", 200),
        ("GET", "/api/v2/org_connections", 403),
    ]
    assert entries[1]["query"] == {"limit": "5", "sink_org_id": SPOKE_EU.id}
    assert entries[0]["org_id"] == HUB.id and entries[2]["org_id"] is None
    for entry in entries:
        assert set(entry) >= {"method", "path", "query", "status", "time", "duration_ms", "org_id", "fault"}
        assert isinstance(entry["time"], float) and entry["duration_ms"] >= 0
        assert entry["fault"] is None
    assert control(emu, "DELETE", "/requests").json() == {}
    assert control(emu, "GET", "/requests").json() == []


def test_control_requests_are_not_logged(emu: Emulator) -> None:
    control(emu, "GET", "/state")
    control(emu, "GET", "/health")
    assert control(emu, "GET", "/requests").json() == []


def test_reset_restores_the_start(emu: Emulator, hub: Api) -> None:
    hub.create(SPOKE_EU)
    control(emu, "POST", "/faults", {"kinds": ["rate_limit"], "methods": ["DELETE"]})
    control(emu, "POST", "/latency", {"ms": 5})
    control(emu, "POST", "/rate_limit", {"limit": 50, "period": 5})
    assert control(emu, "POST", "/reset").json() == {}
    state = control(emu, "GET", "/state").json()
    assert state["connections"] == []
    assert state["settings"] == {
        "faults": None,
        "faults_injected": 0,
        "latency_ms": 0.0,
        "rate_limit": {"limit": 6000, "period": 60.0},
    }
    assert control(emu, "GET", "/requests").json() == []


def test_state_lists_orgs_without_keys_and_every_connection(emu: Emulator, hub: Api, eu: Api) -> None:
    a = hub.create(SPOKE_EU).json()["data"]
    b = eu.create(SPOKE_AP).json()["data"]
    state = control(emu, "GET", "/state").json()
    assert [acc["name"] for acc in state["accounts"]] == ["acme", "globex", "initech"]
    orgs = {o["name"]: o for acc in state["accounts"] for o in acc["orgs"]}
    assert orgs["hub"]["id"] == HUB.id
    assert {u["name"] for u in orgs["hub"]["users"]} == {
        "admin@hub.acme.test",
        "viewer@hub.acme.test",
        "ci-reader@hub.acme.test",
        "connections-bot@hub.acme.test",
    }
    text = str(state)
    for secret in (HUB.api_key, HUB.app_key, GLOBEX.api_key):
        assert secret not in text
    assert state["connections"] == [a, b]
    assert control(emu, "GET", "/connections").json() == {"data": [a, b]}


def test_out_of_band_create_by_name_or_id(emu: Emulator, hub: Api) -> None:
    response = control(
        emu, "POST", "/connections", {"source": "hub", "sink": SPOKE_US.id, "connection_types": ["metrics"]}
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["relationships"]["source_org"]["data"]["id"] == HUB.id
    assert data["relationships"]["created_by"]["data"]["name"] == "admin@hub.acme.test"
    assert hub.list().json()["data"] == [data]
    # The API sees the pair as taken.
    assert hub.create(SPOKE_US).status_code == 409
    # Chosen id, timestamp and creator.
    chosen = str(uuid.uuid4())
    response = control(
        emu,
        "POST",
        "/connections",
        {
            "source": SPOKE_EU.id,
            "sink": "spoke-ap",
            "connection_types": ["audit"],
            "id": chosen,
            "created_at": "2024-05-01T10:00:00Z",
            "created_by": SPOKE_EU.user_id,
        },
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == chosen
    assert data["attributes"]["created_at"] == "2024-05-01T10:00:00.000000+00:00"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"source": "hub", "sink": "nowhere", "connection_types": ["logs"]}, 404),
        ({"source": "hub", "sink": "globex-main", "connection_types": ["logs"]}, 404),
        ({"source": "hub", "sink": "hub", "connection_types": ["logs"]}, 400),
        ({"source": "hub", "sink": "spoke-eu", "connection_types": []}, 400),
        ({"source": "hub", "sink": "spoke-eu", "connection_types": ["logs", "logs"]}, 400),
        ({"source": "hub", "sink": "spoke-eu"}, 400),
        ({"sink": "spoke-eu", "connection_types": ["logs"]}, 400),
        ({"source": "hub", "sink": "spoke-eu", "connection_types": ["logs"], "created_by": "nobody"}, 400),
        ({"source": "hub", "sink": "spoke-eu", "connection_types": ["logs"], "created_at": "yesterday"}, 400),
    ],
)
def test_out_of_band_create_errors(emu: Emulator, body: dict[str, Any], status: int) -> None:
    response = control(emu, "POST", "/connections", body)
    assert response.status_code == status, response.text
    assert response.json()["errors"]
    assert control(emu, "GET", "/state").json()["connections"] == []


def test_out_of_band_create_conflict(emu: Emulator) -> None:
    body = {"source": "hub", "sink": "spoke-eu", "connection_types": ["logs"]}
    assert control(emu, "POST", "/connections", body).status_code == 200
    assert control(emu, "POST", "/connections", body).status_code == 409


def test_out_of_band_patch_and_delete(emu: Emulator, hub: Api) -> None:
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    response = control(emu, "PATCH", f"/connections/{conn}", {"connection_types": ["audit", "logs"]})
    assert response.status_code == 200
    assert hub.list().json()["data"][0]["attributes"]["connection_types"] == ["audit", "logs"]
    assert control(emu, "PATCH", f"/connections/{conn}", {"connection_types": ["x"]}).status_code == 400
    assert control(emu, "DELETE", f"/connections/{conn}").json() == {}
    assert hub.list().json()["data"] == []
    assert control(emu, "DELETE", f"/connections/{conn}").status_code == 404
    assert control(emu, "PATCH", f"/connections/{conn}", {"connection_types": ["logs"]}).status_code == 404
    assert control(emu, "DELETE", "/connections/nope").status_code == 400


def test_unknown_control_path_and_method(emu: Emulator) -> None:
    assert control(emu, "GET", "/nope").status_code == 404
    assert control(emu, "DELETE", "/state").status_code == 405
    assert control(emu, "GET", f"/connections/{uuid.uuid4()}").status_code == 405
    response = requests.post(emu.url + "/_emulator/latency", data=b"{oops", timeout=5)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"


def test_in_process_helpers(emu: Emulator, hub: Api) -> None:
    emu.set_faults(kinds=["rate_limit"], count=1)
    assert hub.list().status_code == 429
    assert hub.list().status_code == 200
    hub.create(SPOKE_EU)
    assert len(emu.connections()) == 1
    assert [e["status"] for e in emu.requests_log()] == [429, 200, 200]
    emu.set_rate_limit(1, 60)
    assert [hub.list().status_code for _ in range(2)] == [200, 429]
    emu.reset()
    assert emu.connections() == [] and emu.requests_log() == []
    assert hub.list().status_code == 200


def test_a_request_that_began_before_a_reset_is_not_logged_after_it() -> None:
    """A fault can hold a request past the reset between two tests: it must not show in the next log."""
    from datadog_org_connections.emulator.runtime import RequestLog

    log = RequestLog()
    began = log.generation
    log.clear()  # the reset
    log.append({"method": "POST"}, began)  # the held request ends now
    log.append({"method": "GET"}, log.generation)
    assert [e["method"] for e in log.entries()] == ["GET"]
