"""Many clients at once leave the store consistent: one connection per (source, sink) pair."""

from __future__ import annotations

import random
import threading
from collections import Counter

import requests
from emulator_helpers import ACME, HUB, SPOKE_EU, Api

from datadog_org_connections.emulator import Emulator

THREADS = 50
CYCLES = 4


def test_same_pair_created_by_50_threads_at_once_exists_once(emu: Emulator) -> None:
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        api = Api(emu.url, HUB)
        barrier.wait()
        status = api.create(SPOKE_EU).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert Counter(statuses) == {200: 1, 409: THREADS - 1}
    assert len(Api(emu.url, HUB).list().json()["data"]) == 1


def test_50_threads_creating_and_deleting_leave_a_consistent_store(emu: Emulator) -> None:
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()
    created: dict[str, tuple[str, str]] = {}
    deleted: list[str] = []
    unexpected: list[str] = []

    def worker(index: int) -> None:
        rng = random.Random(index)
        session = requests.Session()
        barrier.wait()
        for _ in range(CYCLES):
            source, sink = rng.sample(ACME, 2)
            api = Api(emu.url, source, session)
            response = api.create(sink, rng.sample(["logs", "metrics", "audit"], rng.randint(1, 3)))
            if response.status_code == 200:
                data = response.json()["data"]
                with lock:
                    created[data["id"]] = (source.id, sink.id)
            elif response.status_code != 409:
                with lock:
                    unexpected.append(f"create {response.status_code} {response.text}")
            # Delete one connection this org takes part in, from a random side.
            listing = api.list().json()["data"]
            if not listing or rng.random() < 0.3:
                continue
            victim = rng.choice(listing)
            side = rng.choice(["source_org", "sink_org"])
            owner = next(o for o in ACME if o.id == victim["relationships"][side]["data"]["id"])
            response = Api(emu.url, owner, session).delete(victim["id"])
            if response.status_code == 200:
                with lock:
                    deleted.append(victim["id"])
            elif response.status_code != 404:  # 404: another thread deleted it first
                with lock:
                    unexpected.append(f"delete {response.status_code} {response.text}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert unexpected == []

    # Each id was deleted successfully at most once, and only ids that were created.
    assert len(deleted) == len(set(deleted))
    assert set(deleted) <= set(created)
    alive = {conn_id: pair for conn_id, pair in created.items() if conn_id not in set(deleted)}

    state = requests.get(emu.url + "/_emulator/state", timeout=5).json()
    pairs = [
        (c["relationships"]["source_org"]["data"]["id"], c["relationships"]["sink_org"]["data"]["id"])
        for c in state["connections"]
    ]
    assert len(pairs) == len(set(pairs)), "duplicate (source, sink) pair"
    assert {c["id"] for c in state["connections"]} == set(alive)
    assert sorted(pairs) == sorted(alive.values())

    # Every org's list is exactly its share of the surviving connections.
    for org in ACME:
        listed = {c["id"] for c in Api(emu.url, org).list().json()["data"]}
        assert listed == {cid for cid, (src, snk) in alive.items() if org.id in (src, snk)}
    assert len(created) >= 12  # the run did create plenty
