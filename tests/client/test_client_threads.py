"""One client shared by many threads: answers never cross, retries stay per call."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from client_payloads import document, page, resource

from datadog_org_connections.client import OrgConnectionsClient
from support.fake_server import Canned, FakeServer, Recorded

MakeClient = Callable[..., OrgConnectionsClient]

THREADS = 32
ROUNDS = 10


def _sink(n: int) -> str:
    return str(uuid.UUID(int=(7 << 120) + n))


def _conn_for(sink: str) -> str:
    return str(uuid.UUID(int=uuid.UUID(sink).int + (1 << 100)))


class Api:
    """A stateless stand-in API that derives every answer from the request, with sprinkled faults."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def __call__(self, req: Recorded) -> Canned:
        with self.lock:
            self.count += 1
            n = self.count
        if n % 7 == 0:
            return Canned(429, {"errors": ["Too many requests"]}, headers={"X-RateLimit-Reset": "0.001"})
        if req.method == "GET":
            if n % 11 == 0:
                return Canned(drop=True)
            sink = req.query["sink_org_id"][0]
            return Canned(200, page([resource(_conn_for(sink), sink=sink)]))
        if req.method == "POST":
            sink = req.json()["data"]["relationships"]["sink_org"]["data"]["id"]
            types = req.json()["data"]["attributes"]["connection_types"]
            return Canned(200, document(_conn_for(sink), sink=sink, types=types))
        if req.method == "PATCH":
            body = req.json()["data"]
            cid = body["id"]
            sink = str(uuid.UUID(int=uuid.UUID(cid).int - (1 << 100)))
            return Canned(200, document(cid, sink=sink, types=body["attributes"]["connection_types"]))
        if req.method == "DELETE":
            return Canned(200, {})
        return Canned(405, {"errors": ["method"]})


def test_shared_client_across_threads(make_client: MakeClient, server: FakeServer) -> None:
    server.handler = Api()
    client = make_client(max_attempts=10)

    def work(t: int) -> int:
        done = 0
        for r in range(ROUNDS):
            sink = _sink(t * 1000 + r)
            created = client.create_connection(sink, ["logs"])
            assert (created.id, created.sink_org_id) == (_conn_for(sink), sink)
            found = client.find_connection(created.id, sink_org_id=sink)
            assert found is not None and found.sink_org_id == sink
            updated = client.update_connection(created.id, ["audit", "metrics"])
            assert (updated.sink_org_id, updated.connection_types) == (sink, ("audit", "metrics"))
            assert client.delete_connection(created.id) is True
            done += 1
        return done

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))
    assert results == [ROUNDS] * THREADS

    by_method: dict[str, int] = {}
    for req in server.requests:
        by_method[req.method] = by_method.get(req.method, 0) + 1
    calls = THREADS * ROUNDS
    # every call made it; 429s and dropped GETs add retries on top
    assert by_method["DELETE"] >= calls and by_method["PATCH"] >= calls
    assert by_method["POST"] >= calls and by_method["GET"] >= calls
    # keep-alive connections from the pool are reused, not opened per request
    assert len({r.client_port for r in server.requests}) < len(server.requests) / 2


def test_session_pool_size(client: OrgConnectionsClient) -> None:
    adapter = client._transport.session.get_adapter(client.base_url)
    assert adapter._pool_maxsize == 32  # type: ignore[attr-defined]
