"""Section `requests`: API requests per lifecycle operation, counted in the emulator's request log.

Each operation is one real `pulumi` command on a stack holding one `OrgConnection` (adoption: one
connection among 1,000 others of the same org), so the counts include every call the engine makes
the provider do (check, diff, create/read/update/delete), in every provider process it starts.
"""

from __future__ import annotations

import math
from typing import Any

from harness import Account, BenchProject, connections_spec, log, summarize_requests
from report import Table

PAGE_SIZE = 1000  # the client's page size (the API's maximum `limit`)


def _count(emu: Account, project: BenchProject, what: str, action: Any) -> dict[str, Any]:
    emu.control.clear_requests()
    run = action()
    summary = summarize_requests(emu.control.requests())
    summary["seconds"] = round(run.seconds, 3)
    log(f"  {what}: {summary['total']} request(s) {summary['by_kind']} in {run.seconds:.2f} s")
    return summary


def _make_others(emu: Account, others: int) -> tuple[str, int]:
    """`others` connections of the source org made out of band (half outgoing, half incoming),
    plus the one to adopt (source -> sinks[0]); returns (id to adopt, connections of the org)."""
    source = emu.source
    target = emu.control.create(source.id, emu.sinks[0].id, ["logs"])["id"]
    outgoing = (others + 1) // 2
    incoming = others - outgoing
    if outgoing + 1 > len(emu.sinks) or incoming > len(emu.sinks) - 1:
        raise RuntimeError(f"the seed has too few sink orgs for {others} connections")
    for sink in emu.sinks[1 : outgoing + 1]:
        emu.control.create(source.id, sink.id, ["metrics"])
    for sink in emu.sinks[1 : incoming + 1]:
        emu.control.create(sink.id, source.id, ["logs"])
    return target, 1 + outgoing + incoming


def run(emu: Account, project: BenchProject, *, adopt_others: int = 1000) -> tuple[dict[str, Any], Table]:
    """Count the requests of each lifecycle command (one stack, one connection)."""
    ops, visible = _measure(emu, project, adopt_others)
    minimum = {
        "create (up with preview)": 1,
        "destroy (with preview)": 1,
        "create": 1,
        "update": 1,
        "delete": 1,
        "preview, unchanged": 0,
        "preview, one new": 0,
        "refresh": 1,
        "adopt by id": math.ceil(visible / PAGE_SIZE),
    }
    data = {"operations": ops, "minimum": minimum, "adopt_visible_connections": visible}
    return data, _table(ops, minimum, visible)


def _measure(emu: Account, project: BenchProject, adopt_others: int) -> tuple[dict[str, dict[str, Any]], int]:
    """Run each command once, counting its requests; also how many connections adoption had to page."""
    s0, s1 = emu.sinks[0], emu.sinks[1]
    project.new_stack("lifecycle", emu.source, emu.url)
    one = connections_spec([s0])
    ops: dict[str, dict[str, Any]] = {}

    project.spec("ours", connections=one)
    ops["create (up with preview)"] = _count(emu, project, "create, pulumi up with its preview", project.up)
    ops["destroy (with preview)"] = _count(emu, project, "destroy with its preview", project.destroy)
    ops["create"] = _count(emu, project, "create", lambda: project.up(preview=False))
    ops["preview, unchanged"] = _count(emu, project, "preview of an unchanged stack", project.preview)
    project.spec("ours", connections=one + connections_spec([s1], prefix="new"))
    ops["preview, one new"] = _count(emu, project, "preview with one new connection", project.preview)
    project.spec("ours", connections=connections_spec([s0], types=("logs", "metrics")))
    ops["update"] = _count(emu, project, "update (types)", lambda: project.up(preview=False))
    ops["refresh"] = _count(emu, project, "refresh", project.refresh)
    ops["delete"] = _count(emu, project, "delete", lambda: project.destroy(preview=False))

    log(f"  making {adopt_others} other connections of the org out of band")
    target, visible = _make_others(emu, adopt_others)
    project.spec(
        "ours", connections=[{"name": "adopted", "sink": s0.id, "types": ["logs"], "adopt_id": target}]
    )
    ops["adopt by id"] = _count(emu, project, "adoption by id", lambda: project.up(preview=False))
    state = project.export()["deployment"]["resources"]
    ids = [r.get("id") for r in state if r["type"].endswith(":OrgConnection")]
    ops["adopt by id"]["adopted_the_connection"] = ids == [target]
    if ids != [target]:
        log(f"  warning: the adopting resource has id {ids}, not {target}")
    project.destroy(preview=False)
    emu.control.reset()
    return ops, visible


def _table(ops: dict[str, dict[str, Any]], minimum: dict[str, int], visible: int) -> Table:
    order = [
        "create",
        "update",
        "delete",
        "preview, unchanged",
        "preview, one new",
        "refresh",
        "adopt by id",
        "create (up with preview)",
        "destroy (with preview)",
    ]
    table = Table(
        "API requests per lifecycle operation (one pulumi command each, counted by the emulator)",
        ["operation", "ours", "minimum", "what we sent", "pulumi wall"],
    )
    for name in order:
        o = ops[name]
        kinds = ", ".join(f"{n} {k}" for k, n in o["by_kind"].items()) or "nothing"
        table.add(name, o["total"], minimum[name], kinds, f"{o['seconds']:.2f} s")
    table.notes += [
        "create/update/delete/refresh/adopt: `pulumi up|refresh|destroy --skip-preview`; the last two rows "
        "are the default commands, whose preview runs in a provider process of its own",
        f"adopt by id: the org takes part in {visible} connections (1 to adopt + {visible - 1} others, "
        f"made with POST /_emulator/connections); minimum = ceil({visible}/{PAGE_SIZE}) pages of an "
        "unfiltered list; a list filtered by the sink needs 1",
        "GET /api/v2/org: the sink check of `check` (once per provider process, for a new or moved sink)",
    ]
    return table
