"""Section `overhead`: `pulumi up` / preview / refresh / destroy of N `OrgConnection`s against the
emulator, versus the same program shape on a no-op dynamic provider (the engine's floor), the two
interleaved over several repeats; then ours with 50 ms of emulated API latency, versus the ideal
for the provider host's 4 workers.
"""

from __future__ import annotations

import math
from typing import Any

from cycles import Cycle, cycle, fmt_spread, interleaved, lifecycle_actions, ratios, seconds_of
from harness import Account, BenchProject, connections_spec, log
from report import Table, ratio, seconds

OPS = ("up", "preview", "refresh", "destroy")
PROVIDER_WORKERS = 4  # `python -m pulumi.dynamic` serves gRPC calls from a ThreadPoolExecutor(max_workers=4)


def measure(
    emu: Account, project: BenchProject, conns: list[dict[str, Any]], repeats: int, label: str = ""
) -> dict[str, list[Cycle]]:
    """`repeats` interleaved rounds of up/preview/refresh/destroy, ours and no-op, on two stacks."""
    for mode in ("ours", "noop"):
        project.new_stack(f"{label or 'overhead'}-{mode}", emu.source, emu.url)

    def runner(mode: str) -> Cycle:
        project.stack = f"{label or 'overhead'}-{mode}"
        project.spec(mode, connections=conns)
        return cycle(emu, project, project.stack, lifecycle_actions(project))

    return interleaved(repeats, {"ours": lambda: runner("ours"), "noop": lambda: runner("noop")}, label)


def ratio_table(title: str, samples: dict[str, list[Cycle]]) -> tuple[dict[str, Any], Table]:
    """The per-command medians, the ratio's median and spread, and the requests of ours."""
    table = Table(
        title, ["command", "ours", "no-op", "ours/no-op", "IQR", "CPU ours/no-op", "API requests (ours)"]
    )
    data: dict[str, Any] = {}
    for op in OPS:
        r = ratios(samples["ours"], samples["noop"], op)
        cpu = ratios(samples["ours"], samples["noop"], op, "cpu_seconds")
        o, z = seconds_of(samples["ours"], op), seconds_of(samples["noop"], op)
        by_kind = samples["ours"][-1][op]["by_kind"]
        data[op] = {"ours_seconds": o, "noop_seconds": z, "ratio": r, "cpu_ratio": cpu, "by_kind": by_kind}
        kinds = ", ".join(f"{c} {k}" for k, c in by_kind.items()) or "0"
        table.add(
            op,
            seconds(o["median"]),
            seconds(z["median"]),
            fmt_spread(r),
            f"{r['q1']:.2f}-{r['q3']:.2f}",
            fmt_spread(cpu),
            kinds,
        )
    table.notes.append(
        "ours/no-op = median of the per-round ratios (min-max over the rounds); IQR = its quartiles; "
        "ours and no-op run back to back in each round, the order swapped every other round",
    )
    table.notes.append(
        "CPU = user+system time of the command's processes (pulumi, language host, provider; not the "
        "emulator), less disturbed by other load on the machine than wall time"
    )
    return data, table


def _latency_table(
    n: int, latency_ms: float, floor: dict[str, float], slow: Cycle
) -> tuple[dict[str, Any], Table]:
    t2 = Table(
        f"the same with {latency_ms:g} ms of API latency: ours vs ideal = no-op floor + "
        f"ceil(requests/{PROVIDER_WORKERS}) x {latency_ms:g} ms",
        ["command", "ours", "ideal", "ours/ideal", "API phase", "API ideal", "API phase/ideal",
         "max in flight", "requests", "GET /api/v2/org"],
    )  # fmt: skip
    # refresh: one paged list (limit=1000) of the stack's one org, the batched reads' floor
    minimum_requests = {"up": n, "preview": 0, "refresh": math.ceil(n / 1000), "destroy": n}
    latency: dict[str, Any] = {}
    for op in OPS:
        api_ideal = math.ceil(minimum_requests[op] / PROVIDER_WORKERS) * latency_ms / 1000.0
        ideal = floor[op] + api_ideal
        s = slow[op]
        latency[op] = dict(
            s,
            ideal_seconds=round(ideal, 3),
            ratio=round(s["seconds"] / ideal, 3),
            api_ideal_seconds=api_ideal,
        )
        t2.add(
            op,
            seconds(s["seconds"]),
            seconds(ideal),
            ratio(s["seconds"], ideal),
            seconds(s["api_span_seconds"]) if s["requests"] else "-",
            seconds(api_ideal) if api_ideal else "-",
            ratio(s["api_span_seconds"], api_ideal) if api_ideal else "-",
            s["max_in_flight"],
            s["requests"],
            s["by_kind"].get("GET /api/v2/org", 0),
        )
    t2.notes += [
        f"the provider process runs at most {PROVIDER_WORKERS} calls at once, so N API calls of "
        f"{latency_ms:g} ms cannot take less than ceil(N/{PROVIDER_WORKERS}) x {latency_ms:g} ms (API ideal)",
        "API phase = first request to last answer, seen by the emulator; max in flight = most requests "
        "it was serving at once. ours/ideal < 1 means the engine overlapped its own work with the API waits",
    ]
    return latency, t2


def run(
    emu: Account, project: BenchProject, *, n: int, repeats: int, latency_ms: float = 50.0
) -> tuple[dict[str, Any], list[Table]]:
    conns = connections_spec(emu.sinks[:n])
    samples = measure(emu, project, conns, repeats)
    data, t1 = ratio_table(
        f"pulumi commands on N={n} connections: ours vs a no-op dynamic provider ({repeats} rounds, interleaved)",
        samples,
    )
    t1.notes.append(
        "up = `pulumi up --skip-preview` creating all N; preview = of the unchanged stack; refresh and "
        "destroy with --skip-preview; the emulator is a subprocess, 0 ms latency, reset before the section"
    )
    log(f"  N={n} with {latency_ms:g} ms of API latency")
    emu.control.latency(latency_ms)
    project.spec("ours", connections=conns)
    slow = cycle(emu, project, "overhead-ours", lifecycle_actions(project))
    emu.control.reset()
    floor = {op: data[op]["noop_seconds"]["median"] for op in OPS}
    latency, t2 = _latency_table(n, latency_ms, floor, slow)
    out = {"n": n, "repeats": repeats, "commands": data, "samples": samples, "with_latency": latency}
    return out, [t1, t2]
