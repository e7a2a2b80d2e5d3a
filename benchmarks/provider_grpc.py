"""Section `provider`: the provider process alone, driven over gRPC as the engine drives it
(`python -m pulumi.dynamic`, properties through Pulumi's serialization, the provider through
dill), ours against the emulator versus the no-op provider: wall time and CPU time of the
provider process per call. This isolates the provider's own per-call cost from the engine's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pulumi.runtime.proto import provider_pb2

from datadog_org_connections.provider import OrgConnectionProvider
from harness import BENCH_DIR, Account, log, summarize_requests
from noop_provider import NoopProvider
from procstat import cpu_seconds
from report import Table, ms
from support.provider_host import PROVIDER_KEY, ProviderHost, from_struct

WORKERS = 4  # as many calls at once as the provider host serves


def _phase(host: ProviderHost, calls: Sequence[Callable[[], Any]], workers: int) -> dict[str, float]:
    cpu0 = cpu_seconds(host.proc.pid)
    durations: list[float] = []

    def timed(fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        out = fn()
        durations.append((time.perf_counter() - started) * 1000.0)
        return out

    started = time.perf_counter()
    if workers == 1:
        results = [timed(c) for c in calls]
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(timed, calls))
    wall = time.perf_counter() - started
    cpu = cpu_seconds(host.proc.pid) - cpu0
    durations.sort()
    return {
        "wall_s": round(wall, 3),
        "call_median_ms": round(durations[len(durations) // 2], 3),
        "provider_cpu_ms_per_call": round(cpu * 1000.0 / len(calls), 3),
        "results": results,  # type: ignore[dict-item]
    }


def _drive(host: ProviderHost, emu: Account, n: int) -> dict[str, dict[str, Any]]:
    host.configure(emu.source.config(emu.url))
    news = [{"sink_org_id": s.id, "connection_types": ["logs"]} for s in emu.sinks[:n]]
    out: dict[str, dict[str, Any]] = {}
    out["check"] = _phase(
        host,
        [
            lambda p=p: host.stub.Check(provider_pb2.CheckRequest(olds=host.props({}), news=host.props(p)))
            for p in news
        ],
        1,
    )
    checked = [from_struct(r.inputs) for r in out["check"]["results"]]
    out["create"] = _phase(
        host,
        [lambda p=p: host.stub.Create(provider_pb2.CreateRequest(properties=host.props(p))) for p in checked],
        WORKERS,
    )
    created = [(r.id, from_struct(r.properties)) for r in out["create"]["results"]]
    for _, outs in created:
        outs.pop(PROVIDER_KEY, None)
    out["read"] = _phase(
        host,
        [
            lambda i=i, o=o: host.stub.Read(provider_pb2.ReadRequest(id=i, properties=host.props(o)))
            for i, o in created
        ],
        WORKERS,
    )
    out["delete"] = _phase(
        host,
        [
            lambda i=i, o=o: host.stub.Delete(provider_pb2.DeleteRequest(id=i, properties=host.props(o)))
            for i, o in created
        ],
        WORKERS,
    )
    for phase in out.values():
        phase.pop("results")
    return out


def run(emu: Account, *, n: int) -> tuple[dict[str, Any], Table]:
    data: dict[str, Any] = {"n": n, "workers": WORKERS}
    for mode, provider in (("ours", OrgConnectionProvider()), ("noop", NoopProvider())):
        emu.control.reset()
        with ProviderHost(provider=provider, pythonpath=[str(BENCH_DIR)]) as host:
            data[mode] = _drive(host, emu, n)
            data[mode]["requests"] = summarize_requests(emu.control.requests())["by_kind"]
        log(
            f"  {mode}: "
            + ", ".join(f"{p} {v['wall_s']:.2f}s" for p, v in data[mode].items() if p != "requests")
        )
    emu.control.reset()
    table = Table(
        f"provider process over gRPC, N={n}: check sequential, then create/read/delete {WORKERS} at a time",
        ["call", "ours wall", "no-op wall", "ours per call", "ours CPU/call", "no-op CPU/call"],
    )
    for phase in ("check", "create", "read", "delete"):
        o, z = data["ours"][phase], data["noop"][phase]
        table.add(
            phase,
            f"{o['wall_s']:.2f} s",
            f"{z['wall_s']:.2f} s",
            ms(o["call_median_ms"]),
            ms(o["provider_cpu_ms_per_call"]),
            ms(z["provider_cpu_ms_per_call"]),
        )
    table.notes.append(
        "CPU = user+system time of the provider process (/proc) over the phase, per call; the first "
        "call of each provider also unpickles it and imports its modules"
    )
    return data, table
