"""Published limits: same Datadog site, and at most 5 sinks for a non-Enterprise source."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from emulator_helpers import CONNECTIONS, Api, create_body

from datadog_org_connections.emulator import Emulator, SeedError, parse_seed
from support.seed import INITECH, INITECH_EU, INITECH_SINKS

LIMIT_TEXT = (
    f"source org {INITECH.id} is not on an Enterprise plan and already shares with 5 orgs, "
    "the most allowed without Enterprise"
)


def oob(emu: Emulator, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{emu.url}/_emulator/connections", json=body, timeout=5)


def test_a_sink_on_another_site_is_refused_like_another_account(emu: Emulator) -> None:
    initech = Api(emu.url, INITECH)
    response = initech.create(INITECH_EU.id)
    assert (response.status_code, response.json()) == (404, {"errors": ["Not found"]})
    # Either way round, and out of band too (the UI keeps the same rule).
    assert Api(emu.url, INITECH_EU).create(INITECH.id).status_code == 404
    assert (
        oob(emu, {"source": "initech", "sink": "initech-eu", "connection_types": ["logs"]}).status_code == 404
    )
    assert emu.connections() == []
    assert initech.create(INITECH_SINKS[0]).status_code == 200  # same site: fine


def test_a_non_enterprise_source_shares_with_at_most_5_orgs(emu: Emulator) -> None:
    initech = Api(emu.url, INITECH)
    *five, sixth = INITECH_SINKS
    made = [initech.create(sink).json()["data"]["id"] for sink in five]
    response = initech.create(sixth)
    assert response.status_code == 400
    assert response.json() == {"errors": ["Validation failed for input.", LIMIT_TEXT]}
    # An existing pair is still a 409 (it would not be a sixth), and updates are not creates.
    assert initech.create(five[0]).status_code == 409
    assert initech.patch(made[0], ["metrics"]).status_code == 200
    # Out of band (the UI) keeps the rule too.
    refused = oob(emu, {"source": "initech", "sink": sixth.name, "connection_types": ["logs"]})
    assert (refused.status_code, refused.json()["errors"][1]) == (400, LIMIT_TEXT)
    # Deleting one frees a place.
    assert initech.delete(made[0]).status_code == 200
    assert initech.create(sixth).status_code == 200
    assert len(emu.connections()) == 5


def test_incoming_connections_do_not_count(emu: Emulator) -> None:
    """Inferred: the limit is on what an org shares (outgoing), not on what it receives."""
    for sink in INITECH_SINKS:
        assert Api(emu.url, sink).create(INITECH).status_code == 200
    assert Api(emu.url, INITECH).list().json()["meta"]["page"]["total_count"] == 6
    assert Api(emu.url, INITECH).create(INITECH_SINKS[0]).status_code == 200


def _account(enterprise: bool, sinks: int, site: str | None = None) -> dict[str, Any]:
    orgs: list[dict[str, Any]] = [
        {
            "name": "src",
            "enterprise": enterprise,
            "api_keys": ["k-src"],
            "users": [{"name": "u", "app_keys": ["a-src"], "permissions": ["org_connections_write"]}],
        }
    ]
    orgs += [{"name": f"sink-{i}", **({"site": site} if site else {})} for i in range(sinks)]
    return {"name": "solo", "orgs": orgs}


def test_an_enterprise_source_has_no_such_limit() -> None:
    seed = parse_seed({"accounts": [_account(True, 7)]})
    headers = {"DD-API-KEY": "k-src", "DD-APPLICATION-KEY": "a-src"}
    with Emulator.start(seed) as emu:
        for org in seed.orgs[1:]:
            response = requests.post(
                emu.url + CONNECTIONS, json=create_body(org.id), headers=headers, timeout=5
            )
            assert response.status_code == 200, response.text
        assert len(emu.connections()) == 7


def test_the_seed_keeps_the_same_rules() -> None:
    six = {
        "accounts": [_account(False, 6)],
        "connections": [
            {"source": "src", "sink": f"sink-{i}", "connection_types": ["logs"]} for i in range(6)
        ],
    }
    with pytest.raises(SeedError, match=r"connections\[5\].*not on an Enterprise plan"):
        parse_seed(six)
    six["connections"] = six["connections"][:5]  # type: ignore[index]
    assert len(parse_seed(six).connections) == 5
    other_site = {
        "accounts": [_account(True, 1, site="datadoghq.eu")],
        "connections": [{"source": "src", "sink": "sink-0", "connection_types": ["logs"]}],
    }
    with pytest.raises(SeedError, match=r"connections\[0\]\.sink: .* on site 'datadoghq.eu'"):
        parse_seed(other_site)
