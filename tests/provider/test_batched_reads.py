"""A refresh lists each source org's connections once: N reads cost ceil(N/1000) requests, not N.

Through the provider protocol against an emulator whose account is large enough for one org to be
the source of more than 1,000 connections (a parent org connected to each of its 1,005 children).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl
from support.provider_host import ProviderHost

CHILDREN = 1005
PARENT_KEYS = ("parent-api-key-000000000000000000", "parent-app-key-0000000000000000000000000000")


def _seed() -> dict[str, Any]:
    def org(name: str, api: str, app: str) -> dict[str, Any]:
        user = {"name": f"admin@{name}", "app_keys": [app], "permissions": ["org_management"]}
        return {"name": name, "api_keys": [api], "users": [user]}

    orgs = [org("parent", *PARENT_KEYS)]
    orgs += [
        org(f"child-{i:03d}", f"child-api-{i:03d}-0000000000000000000", f"child-app-{i:03d}-" + "0" * 30)
        for i in range(CHILDREN)
    ]
    conns = [
        {"source": "parent", "sink": f"child-{i:03d}", "connection_types": ["logs"]} for i in range(CHILDREN)
    ]
    return {"accounts": [{"name": "big", "parent": "parent", "orgs": orgs}], "connections": conns}


@pytest.fixture(scope="module")
def big() -> Iterator[Emulator]:
    with Emulator.start(_seed()) as emulator:
        yield emulator


@pytest.fixture
def control(big: Emulator) -> EmulatorControl:
    control = EmulatorControl(big.url)
    control.reset()
    return control


def _outputs(conn: dict[str, Any]) -> dict[str, Any]:
    """What a refresh sends read(): the resource's last outputs."""
    return {
        "sink_org_id": conn["relationships"]["sink_org"]["data"]["id"],
        "source_org_id": conn["relationships"]["source_org"]["data"]["id"],
        "connection_types": conn["attributes"]["connection_types"],
    }


def _host(big: Emulator) -> ProviderHost:
    host = ProviderHost()
    host.configure(
        {"datadog:apiKey": PARENT_KEYS[0], "datadog:appKey": PARENT_KEYS[1], "datadog:apiUrl": big.url}
    )
    return host


def _list_calls(control: EmulatorControl) -> list[dict[str, Any]]:
    return [r for r in control.requests() if r["method"] == "GET" and r["path"] == "/api/v2/org_connections"]


def test_n_reads_of_one_org_cost_ceil_n_over_1000_requests(big: Emulator, control: EmulatorControl) -> None:
    parent_id = big.seed.orgs_by_name["parent"].id
    conns = control.connections()
    assert len(conns) == CHILDREN
    with _host(big) as host:
        control.clear_requests()
        for conn in conns:
            read_id, outs = host.read(conn["id"], _outputs(conn))
            assert read_id == conn["id"] and outs["sink_org_name"].startswith("child-")
        calls = _list_calls(control)
        assert len(calls) == math.ceil(CHILDREN / 1000) == 2
        assert [c["query"] for c in calls] == [
            {"source_org_id": parent_id, "limit": "1000", "offset": str(offset)} for offset in (0, 1000)
        ]
        # An id the list does not hold is gone (deleted out of band): no further request.
        gone = "00000000-0000-4000-8000-000000000000"
        assert host.read(gone, _outputs(conns[0])) == ("", {})
        assert len(_list_calls(control)) == 2


def test_concurrent_first_reads_send_one_request(big: Emulator, control: EmulatorControl) -> None:
    outgoing = control.connections()[:40]
    with _host(big) as host:
        control.latency(300)  # the first list is slow: the other reads arrive while it is in flight
        control.clear_requests()
        with ThreadPoolExecutor(max_workers=8) as pool:  # the engine makes up to 4 calls at once
            results = list(pool.map(lambda c: host.read(c["id"], _outputs(c)), outgoing))
        control.latency(0)
        assert [r[0] for r in results] == [c["id"] for c in outgoing]
        assert len(_list_calls(control)) == 2  # one fetch (two pages), not one per read


def test_a_mutation_drops_the_lists(big: Emulator, control: EmulatorControl) -> None:
    first, second = control.connections()[:2]
    with _host(big) as host:
        host.read(first["id"], _outputs(first))
        host.delete(second["id"], _outputs(second))  # mutating: the next read lists again
        control.clear_requests()
        assert host.read(second["id"], _outputs(second))[0] == ""
        assert len(_list_calls(control)) == 2  # listed again (two pages)
