"""Section `overhead`: `pulumi up` / preview / refresh / destroy of N `OrgConnection`s against the
emulator, versus the same program shape on a no-op dynamic provider (the engine's floor); then the
same with 50 ms of emulated API latency, versus the ideal for the provider host's 4 workers.
"""

from __future__ import annotations

import math
from typing import Any

from harness import EmulatorProcess, PulumiProject, connections_spec, log, median, summarize_requests
from report import Table, ratio, seconds

OPS = ("up", "preview", "refresh", "destroy")
PROVIDER_WORKERS = 4  # `python -m pulumi.dynamic` serves gRPC calls from a ThreadPoolExecutor(max_workers=4)


def _cycle(
    emu: EmulatorProcess, project: PulumiProject, stack: str, mode: str, conns: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """up (create N), preview (unchanged), refresh, destroy: wall time and API requests of each."""
    project.stack = stack
    project.spec(mode, conns)
    out: dict[str, dict[str, Any]] = {}
    actions = {
        "up": lambda: project.up(preview=False),
        "preview": project.preview,
        "refresh": project.refresh,
        "destroy": lambda: project.destroy(preview=False),
    }
    for op in OPS:
        emu.clear_log()
        r = actions[op]()
        entries = emu.requests_log()
        summary = summarize_requests(entries)
        server_ms = sum(e["duration_ms"] for e in entries)
        out[op] = {
            "seconds": round(r.seconds, 3),
            "requests": summary["total"],
            "by_kind": summary["by_kind"],
            "emulator_busy_ms": round(server_ms, 1),
            "api_span_seconds": summary["api_span_seconds"],
            "max_in_flight": summary["max_in_flight"],
        }
    log(f"  {mode:4s} " + "  ".join(f"{op} {out[op]['seconds']:.2f}s/{out[op]['requests']}req" for op in OPS))
    return out


def run(
    emu: EmulatorProcess, project: PulumiProject, *, n: int, repeats: int, latency_ms: float = 50.0
) -> tuple[dict[str, Any], list[Table]]:
    emu.reset()
    conns = connections_spec(emu.sinks[:n])
    project.new_stack("overhead-ours", emu.source)
    project.new_stack("overhead-noop", emu.source)
    samples: dict[str, list[dict[str, dict[str, Any]]]] = {"ours": [], "noop": []}
    for rep in range(repeats):
        log(f"  N={n}, round {rep + 1}/{repeats}")
        samples["ours"].append(_cycle(emu, project, "overhead-ours", "ours", conns))
        samples["noop"].append(_cycle(emu, project, "overhead-noop", "noop", conns))

    def med(mode: str, op: str) -> float:
        return median(s[op]["seconds"] for s in samples[mode])

    base = {mode: {op: round(med(mode, op), 3) for op in OPS} for mode in samples}
    requests = {op: samples["ours"][-1][op]["requests"] for op in OPS}
    by_kind = {op: samples["ours"][-1][op]["by_kind"] for op in OPS}

    log(f"  N={n} with {latency_ms:g} ms of API latency")
    emu.post("latency", {"ms": latency_ms})
    slow = _cycle(emu, project, "overhead-ours", "ours", conns)
    emu.reset()

    t1 = Table(
        f"pulumi commands on N={n} connections: ours vs a no-op dynamic provider (median of {repeats})",
        ["command", "ours", "no-op", "ours/no-op", "API requests (ours)"],
    )
    for op in OPS:
        kinds = ", ".join(f"{c} {k}" for k, c in by_kind[op].items()) or "0"
        t1.add(
            op,
            seconds(base["ours"][op]),
            seconds(base["noop"][op]),
            ratio(base["ours"][op], base["noop"][op]),
            kinds,
        )
    t1.notes.append(
        "up = `pulumi up --skip-preview` creating all N; preview = of the unchanged stack; refresh and "
        "destroy with --skip-preview; each against the emulator in its own process, 0 ms latency"
    )

    minimum_requests = {"up": n, "preview": 0, "refresh": n, "destroy": n}
    t2 = Table(
        f"the same with {latency_ms:g} ms of API latency: ours vs ideal = no-op floor + "
        f"ceil(requests/{PROVIDER_WORKERS}) x {latency_ms:g} ms",
        [
            "command",
            "ours",
            "ideal",
            "ours/ideal",
            "API phase",
            "API ideal",
            "API phase/ideal",
            "max in flight",
            "requests",
            "GET /api/v2/org",
        ],
    )
    latency: dict[str, Any] = {}
    for op in OPS:
        api_ideal = math.ceil(minimum_requests[op] / PROVIDER_WORKERS) * latency_ms / 1000.0
        ideal = base["noop"][op] + api_ideal
        s = slow[op]
        latency[op] = dict(
            s,
            ideal_seconds=round(ideal, 3),
            ratio=round(s["seconds"] / ideal, 3),
            api_ideal_seconds=round(api_ideal, 3),
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
            slow[op]["by_kind"].get("GET /api/v2/org", 0),
        )
    t2.notes += [
        f"the provider process runs at most {PROVIDER_WORKERS} calls at once, so N API calls of "
        f"{latency_ms:g} ms cannot take less than ceil(N/{PROVIDER_WORKERS}) x {latency_ms:g} ms (API ideal)",
        "API phase = first request to last answer, seen by the emulator; max in flight = most requests "
        "it was serving at once. ours/ideal < 1 means the engine overlapped its own work with the API waits",
    ]
    data = {
        "n": n,
        "repeats": repeats,
        "median_seconds": base,
        "requests": requests,
        "requests_by_kind": by_kind,
        "samples": samples,
        "latency_ms": latency_ms,
        "with_latency": latency,
    }
    return data, [t1, t2]
