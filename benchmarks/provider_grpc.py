"""Section `provider`: the provider process alone, driven over gRPC as the engine drives it
(`python -m pulumi.dynamic`, properties through Pulumi's serialization, the provider through
dill), ours against the emulator versus the no-op provider: wall time and CPU time of the
provider process per call. This isolates the provider's own per-call cost from the engine's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from datadog_org_connections.provider import OrgConnectionProvider
from harness import BENCH_DIR, EmulatorProcess, log, summarize_requests
from noop_provider import NoopProvider
from report import Table, ms

PROVIDER_KEY = "__provider"
WORKERS = 4  # as many calls at once as the provider host serves
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _struct(props: dict[str, Any]) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


class Host:
    """A `python -m pulumi.dynamic` process serving one serialized provider."""

    def __init__(self, provider: object, workdir: Path) -> None:
        self.serialized = serialize_provider(provider)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DATADOG_", "PULUMI_"))}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p)
        env["PULUMI_HOME"] = str(workdir)  # where the provider keeps its journal of unfinished creates
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.close()
            raise RuntimeError(f"provider host did not start: {port!r}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def props(self, props: dict[str, Any]) -> Any:
        return _struct({**props, PROVIDER_KEY: self.serialized})

    def close(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        self.proc.kill()
        self.proc.wait(timeout=10)


def _phase(host: Host, calls: Sequence[Callable[[], Any]], workers: int) -> dict[str, float]:
    cpu0 = host.cpu_seconds()
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
    cpu = host.cpu_seconds() - cpu0
    durations.sort()
    return {
        "wall_s": round(wall, 3),
        "call_median_ms": round(durations[len(durations) // 2], 3),
        "provider_cpu_ms_per_call": round(cpu * 1000.0 / len(calls), 3),
        "results": results,  # type: ignore[dict-item]
    }


def _drive(host: Host, emu: EmulatorProcess, n: int) -> dict[str, dict[str, Any]]:
    src = emu.source
    host.stub.Configure(
        provider_pb2.ConfigureRequest(
            args=_struct(
                {"datadog:apiKey": src.api_key, "datadog:appKey": src.app_key, "datadog:apiUrl": emu.url}
            ),
            acceptSecrets=True,
        )
    )
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
    checked = [dict(rpc.deserialize_properties(r.inputs, True)) for r in out["check"]["results"]]
    out["create"] = _phase(
        host,
        [lambda p=p: host.stub.Create(provider_pb2.CreateRequest(properties=host.props(p))) for p in checked],
        WORKERS,
    )
    created = [(r.id, dict(rpc.deserialize_properties(r.properties, True))) for r in out["create"]["results"]]
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


def run(emu: EmulatorProcess, workdir: Path, *, n: int) -> tuple[dict[str, Any], Table]:
    emu.reset()
    data: dict[str, Any] = {"n": n, "workers": WORKERS}
    for mode, provider in (("ours", OrgConnectionProvider()), ("noop", NoopProvider())):
        host = Host(provider, workdir / f"provider-{mode}")
        try:
            emu.clear_log()
            data[mode] = _drive(host, emu, n)
            data[mode]["requests"] = summarize_requests(emu.requests_log())["by_kind"]
        finally:
            host.close()
        log(
            f"  {mode}: "
            + ", ".join(f"{p} {v['wall_s']:.2f}s" for p, v in data[mode].items() if p != "requests")
        )
    emu.reset()
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
