"""Section `http`: one API call through `OrgConnectionsClient` against the emulator subprocess.

Time per call seen by the client versus time the emulator spent on it (its request log): the
difference is client + transport. A Nagle / delayed-ACK stall shows up as ~40 ms per call. Also
what a new HTTP session per call would cost (the provider keeps one client per org and process).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from datadog_org_connections.client import OrgConnectionsClient
from datadog_org_connections.settings import Credentials
from harness import Account, log
from report import Table, ms


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "calls": len(ordered),
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "max_ms": round(ordered[-1], 3),
    }


def _timed(calls: int, fn: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(calls):
        started = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - started) * 1000.0)
    return out


def _server_ms(emu: Account, method: str) -> float:
    durations = [e["duration_ms"] for e in emu.control.requests() if e["method"] == method]
    return round(statistics.median(durations), 3) if durations else 0.0


def run(emu: Account, *, calls: int) -> tuple[dict[str, Any], Table]:
    src = emu.source
    creds = Credentials(src.api_key, src.app_key, emu.url)
    sinks = emu.sinks[:calls]
    results: dict[str, Any] = {}
    with OrgConnectionsClient(creds) as client:
        client.list_managed_orgs()  # connect, warm up
        ids: list[str] = []
        cases: list[tuple[str, str, Callable[[int], object]]] = [
            (
                "create (POST)",
                "POST",
                lambda i: ids.append(client.create_connection(sinks[i].id, ["logs"]).id),
            ),
            (
                "find by id, both orgs known (GET)",
                "GET",
                lambda i: client.find_connection(ids[i], sink_org_id=sinks[i].id, source_org_id=src.id),
            ),
            ("update (PATCH)", "PATCH", lambda i: client.update_connection(ids[i], ["logs", "metrics"])),
            ("delete (DELETE)", "DELETE", lambda i: client.delete_connection(ids[i])),
            ("list managed orgs (GET /api/v2/org)", "GET", lambda i: client.list_managed_orgs()),
        ]
        for name, method, fn in cases:
            emu.control.clear_requests()
            samples = _timed(len(sinks), fn)
            results[name] = dict(_stats(samples), server_median_ms=_server_ms(emu, method))
            log(f"  {name}: median {results[name]['median_ms']:.2f} ms")

        # A full page: the org takes part in 1,000 connections (made out of band).
        many = min(1000, 2 * (len(emu.sinks) - 1))
        for sink in emu.sinks[: many // 2]:
            emu.control.create(src.id, sink.id, ["logs"])
            emu.control.create(sink.id, src.id, ["metrics"])
        emu.control.clear_requests()
        name = f"list all {many} connections (GET, 1 page)"
        samples = _timed(10, lambda i: client.list_connections())
        results[name] = dict(_stats(samples), server_median_ms=_server_ms(emu, "GET"))
        log(f"  {name}: median {results[name]['median_ms']:.2f} ms")
        emu.control.reset()

    results["new client per call (GET /api/v2/org)"] = _fresh_sessions(emu, creds, len(sinks))
    return results, _table(results, len(sinks))


def _fresh_sessions(emu: Account, creds: Credentials, calls: int) -> dict[str, Any]:
    """What a new session (new TCP connection) per call would cost."""

    def fresh(_: int) -> None:
        with OrgConnectionsClient(creds) as c:
            c.list_managed_orgs()

    emu.control.clear_requests()
    stats = dict(_stats(_timed(calls, fresh)), server_median_ms=_server_ms(emu, "GET"))
    emu.control.reset()
    return stats


def _table(results: dict[str, Any], calls: int) -> Table:
    table = Table(
        f"one API call through OrgConnectionsClient, sequential, {calls} calls each",
        ["call", "median", "p95", "max", "emulator time (median)"],
    )
    for name, r in results.items():
        table.add(name, ms(r["median_ms"]), ms(r["p95_ms"]), ms(r["max_ms"]), ms(r["server_median_ms"]))
    table.notes.append(
        "a Nagle / delayed-ACK stall would show as a median near 40 ms; emulator time is the handler's "
        "own duration from its request log (the rest is client, HTTP parsing and loopback)"
    )
    return table
