"""Section `ratelimit`: `pulumi up` creating N connections while the emulator allows R requests per
P seconds (per org and endpoint), versus the ideal schedule the limit implies."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from harness import Account, BenchProject, connections_spec, log, summarize_requests
from report import Table, ratio, seconds


def run(
    emu: Account, project: BenchProject, *, n: int, limit: int = 20, period: float = 1.0
) -> tuple[dict[str, Any], Table]:
    conns = connections_spec(emu.sinks[:n])

    # The floor: the same commands on the no-op provider (no API calls, so the limit does not matter).
    project.new_stack("ratelimit-noop", emu.source, emu.url)
    project.spec("noop", connections=conns)
    floor = {"up": project.up(preview=False).seconds, "destroy": project.destroy(preview=False).seconds}

    project.new_stack("ratelimit-ours", emu.source, emu.url)
    project.spec("ours", connections=conns)
    emu.control.rate_limit(limit, period)
    out: dict[str, Any] = {"n": n, "limit": limit, "period": period}
    table = Table(
        f"N={n} connections under a rate limit of {limit} requests per {period:g} s (per org and endpoint)",
        [
            "command",
            "ours",
            "ideal",
            "ours/ideal",
            "API phase",
            "API ideal",
            "requests",
            "429s",
            "limited requests",
        ],
    )
    for op, action, method in (
        ("up", lambda: project.up(preview=False), "POST"),
        ("destroy", lambda: project.destroy(preview=False), "DELETE"),
    ):
        out[op], row = _limited(emu, action, method, floor[op], limit, period)
        log(
            f"  {op}: {out[op]['seconds']:.2f} s, {out[op]['requests']} requests, {out[op]['throttled']} x 429"
        )
        table.add(op, *row)
    emu.control.reset()
    table.notes += [
        f"ideal = no-op floor ({floor['up']:.2f} s up, {floor['destroy']:.2f} s destroy) + "
        f"(ceil(requests/{limit}) - 1) x {period:g} s: a full window of {limit} at once, then one per period",
        "429s are answers the client had to wait out (X-RateLimit-Reset seconds) and retry",
    ]
    return out, table


def _limited(
    emu: Account, action: Callable[[], Any], method: str, floor: float, limit: int, period: float
) -> tuple[dict[str, Any], list[Any]]:
    """Run one command under the limit: its JSON record and its table row (after the command name)."""
    emu.control.clear_requests()
    r = action()
    entries = emu.control.requests()
    summary = summarize_requests(entries)
    accepted = sum(1 for e in entries if e["method"] == method and e["status"] != 429)
    api_ideal = (math.ceil(accepted / limit) - 1) * period
    ideal = floor + api_ideal
    record = {
        "seconds": round(r.seconds, 3),
        "floor_seconds": round(floor, 3),
        "ideal_seconds": round(ideal, 3),
        "ratio": round(r.seconds / ideal, 3),
        "requests": summary["total"],
        "by_kind": summary["by_kind"],
        "throttled": summary["throttled"],
        "api_span_seconds": summary["api_span_seconds"],
        "api_ideal_seconds": api_ideal,
    }
    row = [
        seconds(r.seconds),
        seconds(ideal),
        ratio(r.seconds, ideal),
        seconds(summary["api_span_seconds"]),
        seconds(api_ideal),
        summary["total"],
        summary["throttled"],
        f"{accepted} {method}",
    ]
    return record, row
