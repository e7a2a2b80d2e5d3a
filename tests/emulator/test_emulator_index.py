"""The store's indexes: a request costs what the caller's own connections cost, whatever others hold.

No timings: a tripwire counts every attribute read on the connections of *other* orgs while one
org lists, creates, updates and deletes over HTTP. The index must never touch them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import permutations
from typing import Any

import pytest
import requests
from emulator_helpers import CONNECTIONS, create_body, patch_body

from datadog_org_connections.emulator import Connection, Emulator, parse_seed
from datadog_org_connections.emulator import store as store_module
from datadog_org_connections.emulator.index import ConnectionIndex

OTHER_ORGS = 142  # 142 * 141 = 20,022 connections among them
TARGET_HEADERS = {"DD-API-KEY": "k-target", "DD-APPLICATION-KEY": "a-target"}


class Tripwire(Connection):
    """A connection that counts attribute reads once armed."""

    armed = False
    reads = 0

    def __getattribute__(self, name: str) -> Any:
        if Tripwire.armed and not name.startswith("__"):
            Tripwire.reads += 1
        return super().__getattribute__(name)


def _seed() -> dict[str, Any]:
    orgs: list[dict[str, Any]] = [{"name": f"o{i}"} for i in range(OTHER_ORGS)]
    orgs.append(
        {
            "name": "target",
            "api_keys": ["k-target"],
            "users": [{"name": "admin@target", "app_keys": ["a-target"], "permissions": ["org_management"]}],
        }
    )
    orgs += [{"name": "peer"}, {"name": "lonely"}]
    return {"accounts": [{"name": "big", "orgs": orgs, "parent": "target"}]}


@pytest.fixture(scope="module")
def crowded() -> Iterator[Emulator]:
    """An emulator holding 20,022 connections between other orgs, each a :class:`Tripwire`."""
    seed = parse_seed(_seed())
    others = [o.id for o in seed.orgs if o.name.startswith("o")]
    with Emulator.start(seed) as emu:
        original = store_module.Connection
        store_module.Connection = Tripwire  # type: ignore[misc]
        try:
            for source, sink in permutations(others, 2):
                emu.store.create(source, sink, ["logs"], None)
        finally:
            store_module.Connection = original  # type: ignore[misc]
        yield emu


def test_one_orgs_requests_never_touch_the_20000_connections_of_others(crowded: Emulator) -> None:
    seed = crowded.seed
    peer, lonely = seed.orgs_by_name["peer"].id, seed.orgs_by_name["lonely"].id
    target = seed.orgs_by_name["target"].id
    assert len(crowded.store.all()) == OTHER_ORGS * (OTHER_ORGS - 1)
    http = requests.Session()
    http.headers.update(TARGET_HEADERS)
    url = crowded.url + CONNECTIONS
    Tripwire.reads, Tripwire.armed = 0, True
    try:
        made = http.post(url, json=create_body(peer), timeout=30).json()["data"]["id"]
        http.post(url, json=create_body(lonely), timeout=30)
        for params in (
            {},
            {"source_org_id": target},
            {"sink_org_id": peer},
            {"sink_org_id": target},
            {"source_org_id": target, "sink_org_id": lonely},
            {"limit": "1", "offset": "1"},
        ):
            assert http.get(url, params=params, timeout=30).status_code == 200
        listed = http.get(url, params={"sink_org_id": peer}, timeout=30).json()
        assert [c["id"] for c in listed["data"]] == [made]
        assert listed["meta"]["page"] == {"total_count": 2, "total_filtered_count": 1}
        assert http.patch(f"{url}/{made}", json=patch_body(made, ["metrics"]), timeout=30).status_code == 200
        assert http.delete(f"{url}/{made}", timeout=30).status_code == 200
        assert http.post(url, json=create_body(target), timeout=30).status_code == 400  # to itself
        assert http.get(crowded.url + "/api/v2/org", timeout=30).status_code == 200
        touched_by_target = Tripwire.reads
        crowded.store.list_for(seed.orgs_by_name["o0"].id, limit=1)  # the tripwire does fire
        touched_by_one_other = Tripwire.reads - touched_by_target
    finally:
        Tripwire.armed = False
    assert touched_by_target == 0
    assert 0 < touched_by_one_other < 50  # one page of one, not a scan of 20,022


# ------------------------------------------------------------------ the index against a brute force


def _reference(
    conns: list[Connection], org: str, source: str | None, sink: str | None
) -> tuple[list[str], int, int]:
    mine = sorted((c for c in conns if org in (c.source_org_id, c.sink_org_id)), key=Connection.sort_key)
    kept = [
        c
        for c in mine
        if (source is None or c.source_org_id == source) and (sink is None or c.sink_org_id == sink)
    ]
    return [c.id for c in kept], len(mine), len(kept)


def test_pages_match_a_brute_force_scan_under_random_creates_and_deletes() -> None:
    rng = random.Random(7)
    orgs = [f"org-{i}" for i in range(6)]
    index, alive = ConnectionIndex(), {}
    for step in range(400):
        if alive and rng.random() < 0.35:
            gone = index.remove(rng.choice(sorted(alive)))
            assert gone is not None
            del alive[gone.id]
            continue
        source, sink = rng.sample(orgs, 2)
        if index.by_pair(source, sink) is not None:
            continue
        stamp = f"2025-01-01T00:00:{rng.randint(0, 9):02d}.000000+00:00"  # ties and disorder on purpose
        conn = Connection(f"id-{step:04d}", source, sink, ["logs"], stamp)
        index.add(conn)
        alive[conn.id] = conn
    assert alive and len(index) == len(alive)
    conns = list(alive.values())
    for org in orgs:
        for source in (None, *orgs):
            for sink in (None, *orgs):
                expected_ids, total, filtered = _reference(conns, org, source, sink)
                for limit, offset in ((1000, 0), (2, 0), (2, 3), (1, filtered)):
                    page = index.page(org, source, sink, limit, offset)
                    assert [c.id for c in page.connections] == expected_ids[offset : offset + limit]
                    assert (page.total_count, page.total_filtered_count) == (total, filtered)
        assert index.outgoing_count(org) == sum(c.source_org_id == org for c in conns)
    assert [c.id for c in index.ordered()] == [c.id for c in sorted(conns, key=Connection.sort_key)]
