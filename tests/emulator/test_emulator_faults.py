"""Fault injection, rate limiting and latency, observed from a real HTTP client."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from emulator_helpers import CONNECTIONS, HUB, RATE_LIMIT_HEADERS, SPOKE_EU, SPOKE_US, Api

from datadog_org_connections.emulator import Emulator


def set_faults(emu: Emulator, config: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(emu.url + "/_emulator/faults", json=config, timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def log(emu: Emulator) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = requests.get(emu.url + "/_emulator/requests", timeout=5).json()
    return entries


def connection_count(emu: Emulator) -> int:
    return len(requests.get(emu.url + "/_emulator/state", timeout=5).json()["connections"])


# ---------------------------------------------------------------------------- fault kinds


def test_rate_limit_fault_is_429_with_headers_and_nothing_applied(emu: Emulator, hub: Api) -> None:
    set_faults(emu, {"kinds": ["rate_limit"], "probability": 1})
    response = hub.create(SPOKE_EU)
    assert response.status_code == 429
    assert response.json() == {"errors": ["Too many requests"]}
    assert response.headers["Content-Type"] == "application/json"
    for header in RATE_LIMIT_HEADERS:
        assert header in response.headers
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) >= 1
    assert connection_count(emu) == 0
    assert log(emu)[-1]["fault"] == "rate_limit"
    assert log(emu)[-1]["status"] == 429


def test_server_errors_are_500_json_502_html_503_empty(emu: Emulator, hub: Api) -> None:
    set_faults(emu, {"kinds": ["server_error"], "probability": 1, "seed": 7})
    seen: dict[int, requests.Response] = {}
    for _ in range(40):
        response = hub.create(SPOKE_EU)
        seen.setdefault(response.status_code, response)
        if len(seen) == 3:
            break
    assert set(seen) == {500, 502, 503}
    assert seen[500].headers["Content-Type"] == "application/json"
    assert seen[500].json()["errors"]
    assert seen[502].headers["Content-Type"].startswith("text/html")
    assert seen[502].text == "<html><body><h1>502 Bad Gateway</h1></body></html>"
    assert seen[503].content == b""
    for response in seen.values():
        assert "X-RateLimit-Limit" in response.headers
    assert connection_count(emu) == 0  # never applied
    assert {e["fault"] for e in log(emu)} <= {"server_error:500", "server_error:502", "server_error:503"}


def test_reset_closes_without_answer_and_applies_nothing(emu: Emulator, hub: Api) -> None:
    set_faults(emu, {"kinds": ["reset"], "probability": 1, "count": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        hub.create(SPOKE_EU)
    assert connection_count(emu) == 0
    entry = log(emu)[-1]
    assert (entry["fault"], entry["status"], entry["method"]) == ("reset", None, "POST")
    # The same session recovers on a new connection.
    assert hub.create(SPOKE_EU).status_code == 200


def test_lost_response_applies_the_mutation_but_never_answers(emu: Emulator, hub: Api) -> None:
    set_faults(emu, {"kinds": ["lost_response"], "probability": 1, "count": 1, "methods": ["POST"]})
    with pytest.raises(requests.exceptions.ConnectionError):
        hub.create(SPOKE_EU)
    listing = hub.list().json()["data"]
    assert [c["relationships"]["sink_org"]["data"]["id"] for c in listing] == [SPOKE_EU.id]
    entry = [e for e in log(emu) if e["method"] == "POST"][-1]
    assert entry["fault"] == "lost_response"
    assert entry["status"] is None
    assert entry["unsent_status"] == 200
    # A retry now sees the connection that was created: 409.
    assert hub.create(SPOKE_EU).status_code == 409


def test_lost_response_on_delete_and_on_get(emu: Emulator, hub: Api) -> None:
    conn = hub.create(SPOKE_EU).json()["data"]["id"]
    set_faults(emu, {"kinds": ["lost_response"], "count": 2})
    with pytest.raises(requests.exceptions.ConnectionError):
        hub.delete(conn)
    with pytest.raises(requests.exceptions.ConnectionError):
        hub.list()  # read-only: like reset
    assert connection_count(emu) == 0
    assert hub.delete(conn).status_code == 404


def test_timeout_delays_then_applies(emu: Emulator, hub: Api) -> None:
    set_faults(emu, {"kinds": ["timeout"], "timeout_seconds": 0.6, "count": 1})
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        hub.request("POST", CONNECTIONS, json=_body(SPOKE_EU.id), timeout=0.2)
    assert time.monotonic() - started < 0.5
    assert connection_count(emu) == 0  # not yet: the server sleeps first
    deadline = time.monotonic() + 5
    while connection_count(emu) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connection_count(emu) == 1  # then processes the request
    assert log(emu)[-1]["fault"] == "timeout"
    assert log(emu)[-1]["status"] == 200


def test_timeout_with_a_patient_client_just_answers_late(emu: Emulator, hub: Api) -> None:
    set_faults(emu, {"kinds": ["timeout"], "timeout_seconds": 0.3, "count": 1})
    started = time.monotonic()
    assert hub.create(SPOKE_EU).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_stop_does_not_wait_for_a_sleeping_timeout(hub: Api, emu: Emulator) -> None:
    set_faults(emu, {"kinds": ["timeout"], "timeout_seconds": 60, "count": 1})
    with pytest.raises(requests.exceptions.Timeout):
        hub.request("POST", CONNECTIONS, json=_body(SPOKE_EU.id), timeout=0.2)
    started = time.monotonic()
    emu.stop()
    assert time.monotonic() - started < 3
    assert emu.store.all() == []  # the delayed request was dropped, not applied


# ------------------------------------------------------------------------ selection, count


def test_count_limits_the_number_of_faults(emu: Emulator, hub: Api) -> None:
    body = set_faults(emu, {"kinds": ["rate_limit"], "count": 2})
    assert body["faults"]["count"] == 2
    assert [hub.list().status_code for _ in range(4)] == [429, 429, 200, 200]
    state = requests.get(emu.url + "/_emulator/faults", timeout=5).json()
    assert state["injected"] == 2


def test_method_and_path_filters(emu: Emulator, hub: Api) -> None:
    set_faults(emu, {"kinds": ["rate_limit"], "methods": ["post"]})
    assert hub.list().status_code == 200
    assert hub.create(SPOKE_EU).status_code == 429
    set_faults(emu, {"kinds": ["rate_limit"], "path": "/api/v2/org"})
    assert hub.create(SPOKE_EU).status_code == 200  # /api/v2/org_connections is another path
    assert hub.request("GET", "/api/v2/org").status_code == 429
    set_faults(emu, {"kinds": ["rate_limit"], "path": "/api/v2/"})
    assert hub.list().status_code == 429  # a folder matches what lies below it


def test_empty_config_turns_faults_off(emu: Emulator, hub: Api) -> None:
    set_faults(emu, {"kinds": ["rate_limit"]})
    assert hub.list().status_code == 429
    assert set_faults(emu, {}) == {"faults": None, "injected": 0}
    assert [hub.list().status_code for _ in range(3)] == [200, 200, 200]


def test_probability_with_a_seed_is_reproducible(emu: Emulator, hub: Api) -> None:
    def run() -> list[int]:
        set_faults(emu, {"kinds": ["rate_limit", "server_error"], "probability": 0.5, "seed": 42})
        return [hub.list().status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert 200 in first and any(s != 200 for s in first)


def test_control_endpoints_never_fault(emu: Emulator) -> None:
    set_faults(emu, {"kinds": ["reset"], "probability": 1})
    for path in ("/_emulator/state", "/_emulator/requests", "/_emulator/faults", "/_emulator/health"):
        assert requests.get(emu.url + path, timeout=5).status_code == 200


@pytest.mark.parametrize(
    "config",
    [
        {"probability": 2},
        {"kinds": ["explode"]},
        {"kinds": []},
        {"count": -1},
        {"seed": "x"},
        {"methods": ["FETCH"]},
        {"path": "api"},
        {"timeout_seconds": -1},
        {"bogus": 1},
        [1],
    ],
)
def test_invalid_fault_config_is_400_and_leaves_faults_unchanged(emu: Emulator, config: Any) -> None:
    response = requests.post(emu.url + "/_emulator/faults", json=config, timeout=5)
    assert response.status_code == 400
    assert response.json()["errors"]
    assert requests.get(emu.url + "/_emulator/faults", timeout=5).json()["faults"] is None


# ----------------------------------------------------------------- rate limits and latency


def test_rate_limit_per_org_and_endpoint_with_window_reset(emu: Emulator, hub: Api) -> None:
    response = requests.post(emu.url + "/_emulator/rate_limit", json={"limit": 3, "period": 1}, timeout=5)
    assert response.json() == {"limit": 3, "period": 1.0}
    statuses = [hub.list() for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in statuses] == ["2", "1", "0", "0"]
    limited = statuses[-1]
    assert limited.json() == {"errors": ["Too many requests"]}
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert limited.headers["X-RateLimit-Period"] == "1"
    assert limited.headers["X-RateLimit-Reset"] == "1"
    assert limited.headers["X-RateLimit-Name"] == "org_connections_list"
    # Another org and another endpoint have their own windows.
    assert Api(emu.url, SPOKE_US).list().status_code == 200
    assert hub.create(SPOKE_EU).status_code == 200
    time.sleep(1.05)
    assert hub.list().status_code == 200
    # {} restores the default.
    assert requests.post(emu.url + "/_emulator/rate_limit", json={}, timeout=5).json()["limit"] == 6000
    assert all(hub.list().status_code == 200 for _ in range(5))


def test_rate_limit_from_the_constructor() -> None:
    with Emulator.start(rate_limit="2/60") as emu:
        api = Api(emu.url, HUB)
        assert [api.list().status_code for _ in range(3)] == [200, 200, 429]
        assert api.list().headers["X-RateLimit-Reset"] in {str(n) for n in range(1, 61)}


@pytest.mark.parametrize("config", [{"limit": 0, "period": 1}, {"limit": 1}, {"limit": 1, "period": 0}])
def test_invalid_rate_limit_is_400(emu: Emulator, config: dict[str, Any]) -> None:
    assert requests.post(emu.url + "/_emulator/rate_limit", json=config, timeout=5).status_code == 400


def test_latency_delays_api_answers_but_not_control(emu: Emulator, hub: Api) -> None:
    response = requests.post(emu.url + "/_emulator/latency", json={"ms": 250}, timeout=5)
    assert response.json() == {"ms": 250.0}
    started = time.monotonic()
    assert hub.list().status_code == 200
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    requests.get(emu.url + "/_emulator/state", timeout=5)
    assert time.monotonic() - started < 0.2
    assert requests.post(emu.url + "/_emulator/latency", json={}, timeout=5).json() == {"ms": 0.0}
    assert requests.post(emu.url + "/_emulator/latency", json={"ms": -1}, timeout=5).status_code == 400


def _body(sink_id: str) -> dict[str, Any]:
    return {
        "data": {
            "type": "org_connection",
            "attributes": {"connection_types": ["logs"]},
            "relationships": {"sink_org": {"data": {"type": "orgs", "id": sink_id}}},
        }
    }
