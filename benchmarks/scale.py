"""Section `scale` (only with `--only scale`): an account of 32 orgs, meshed by one `OrgTopology`
with 32 aliases (32 x 31 = 992 connections), and a hub-and-spoke of the same orgs (31).

Ours against the no-op provider (`NoopTopology`: the same component, edges, names and parents),
interleaved: `pulumi preview` (of the new stack), `up`, `refresh` and `destroy` (--skip-preview)
wall times, API requests per command beside their floor, the peak RSS of the provider processes,
the state's bytes per resource; then ours once more under a rate limit per org and endpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cycles import Cycle, cycle, fmt_spread, interleaved, ratios, seconds_of
from harness import Account, BenchProject, Run, account, log
from report import Table, ratio, seconds

ORGS = 32
QUICK_ORGS = 8
LIMIT, PERIOD = 20, 1.0  # the rate limit of the last run: requests per period, per org and endpoint
OPS = ("preview", "up", "refresh", "destroy")
SKIP = "PULUMI_SKIP_CHECKPOINTS"


def floors(k: int, shape: str) -> dict[str, int]:
    """The fewest API requests each command can make: one write per connection, one paged list per
    source org for refresh (limit 1000), and the sink check (GET /api/v2/org) once per org and process."""
    n = k * (k - 1) if shape == "mesh" else k - 1
    sources = k if shape == "mesh" else k - 1
    return {
        "preview": sources,
        "up": n + sources,
        "refresh": sources * math.ceil((k - 1) / 1000),
        "destroy": n,
    }


def _topology(emu: Account, shape: str) -> dict[str, Any]:
    orgs = {o.name: o.id for o in emu.orgs}
    hub = emu.orgs[0].name if shape == "hub-and-spoke" else None
    return {"name": shape.split("-")[0], "orgs": orgs, "mode": shape, "hub": hub, "types": ["logs"]}


def _stack_config(emu: Account) -> dict[str, str]:
    aliases = {o.name: {"apiKey": o.api_key, "appKey": o.app_key, "apiUrl": emu.url} for o in emu.orgs}
    return {"orgConnections:orgs": json.dumps(aliases)}


def _state_size(project: BenchProject) -> dict[str, Any]:
    path = project.state_file()
    resources = json.loads(path.read_text())["checkpoint"]["latest"].get("resources") or []
    conns = [r for r in resources if r["type"].endswith((":OrgConnection", ":NoopConnection"))]
    one = len(json.dumps(conns[0], separators=(",", ":")).encode()) if conns else 0
    size = path.stat().st_size
    return {
        "file_bytes": size,
        "resources": len(resources),
        "connections": len(conns),
        "bytes_per_resource": round(size / max(1, len(resources))),
        "one_connection_bytes": one,
    }


def _actions(
    project: BenchProject, sizes: dict[str, Any], ops: tuple[str, ...]
) -> dict[str, Callable[[], Run]]:
    def up() -> Run:
        run = project.up(preview=False)
        sizes.update(_state_size(project))  # after the timing: not part of the command's wall time
        return run

    every = {
        "preview": project.preview,
        "up": up,
        "refresh": project.refresh,
        "destroy": lambda: project.destroy(preview=False),
    }
    return {op: every[op] for op in ops}


def _measure_shape(
    emu: Account, project: BenchProject, shape: str, repeats: int, ops: tuple[str, ...] = OPS
) -> tuple[dict[str, list[Cycle]], dict[str, dict[str, Any]]]:
    topology = _topology(emu, shape)
    sizes: dict[str, dict[str, Any]] = {"ours": {}, "noop": {}}
    for mode in ("ours", "noop"):
        project.new_stack(f"{shape}-{mode}", emu.source, emu.url, _stack_config(emu))

    def runner(mode: str) -> Cycle:
        emu.control.reset()
        project.stack = f"{shape}-{mode}"
        project.spec(mode, topology=topology)
        return cycle(emu, project, project.stack, _actions(project, sizes[mode], ops), watch=True)

    label = f"{shape}{' ' + SKIP if SKIP in project.cli.extra_env else ''} "
    samples = interleaved(repeats, {"ours": lambda: runner("ours"), "noop": lambda: runner("noop")}, label)
    return samples, sizes


def _without_checkpoints(emu: Account, project: BenchProject, repeats: int) -> dict[str, Any]:
    """The mesh again with PULUMI_SKIP_CHECKPOINTS=true: the engine writes the state once at the
    end instead of after every step, which takes its O(N^2) share out of the floor."""
    project.cli.extra_env[SKIP] = "true"
    try:
        samples, _ = _measure_shape(emu, project, "mesh", repeats, ("up", "refresh", "destroy"))
    finally:
        del project.cli.extra_env[SKIP]
    return {"samples": samples, "rounds": repeats}


def _rate_limited(emu: Account, project: BenchProject, shape: str) -> Cycle:
    emu.control.reset()
    emu.control.rate_limit(LIMIT, PERIOD)
    try:
        project.stack = f"{shape}-ours"
        project.spec("ours", topology=_topology(emu, shape))
        out = cycle(emu, project, project.stack, _actions(project, {}, ("up", "refresh", "destroy")))
    finally:
        emu.control.reset()
    log(
        "  rate-limited: "
        + "  ".join(f"{op} {v['seconds']:.2f}s/{v['requests']}req" for op, v in out.items())
    )
    return out


def run(workdir: Path, *, repeats: int, quick: bool) -> tuple[dict[str, Any], list[Table]]:
    k = QUICK_ORGS if quick else ORGS
    workdir.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"orgs": k, "repeats": repeats, "rate_limit": {"limit": LIMIT, "period": PERIOD}}
    with account(workdir, [f"org-{i:02d}" for i in range(k)]) as emu:
        project = BenchProject(workdir / "pulumi")
        for shape, rounds in (("mesh", repeats), ("hub-and-spoke", max(repeats, 5))):
            log(f"  {shape} of {k} orgs, {rounds} interleaved rounds")
            samples, sizes = _measure_shape(emu, project, shape, rounds)
            data[shape] = {"samples": samples, "state": sizes, "floors": floors(k, shape), "rounds": rounds}
        log(f"  mesh with {SKIP}=true, {max(repeats, 5)} interleaved rounds")
        data["mesh"]["without_checkpoints"] = _without_checkpoints(emu, project, max(repeats, 5))
        log(f"  mesh under a rate limit of {LIMIT} per {PERIOD:g} s per org and endpoint")
        data["mesh"]["rate_limited"] = _rate_limited(emu, project, "mesh")
    return data, tables(data)


def tables(data: dict[str, Any]) -> list[Table]:
    """The scale tables: commands, rate limit, state and memory."""
    return [_commands_table(data), _checkpoints_table(data), _rate_limit_table(data), _footprint_table(data)]


def _checkpoints_table(data: dict[str, Any]) -> Table:
    d, base = data["mesh"]["without_checkpoints"], data["mesh"]["samples"]
    t = Table(
        f"mesh of {data['orgs']} orgs with {SKIP}=true ({d['rounds']} rounds, interleaved)",
        [
            "command",
            "ours",
            "no-op",
            "ours/no-op (min-max)",
            "CPU ours/no-op",
            "no-op with checkpoints",
            "requests",
        ],
    )
    for op in ("up", "refresh", "destroy"):
        t.add(
            op,
            seconds(seconds_of(d["samples"]["ours"], op)["median"]),
            seconds(seconds_of(d["samples"]["noop"], op)["median"]),
            fmt_spread(ratios(d["samples"]["ours"], d["samples"]["noop"], op)),
            fmt_spread(ratios(d["samples"]["ours"], d["samples"]["noop"], op, "cpu_seconds")),
            seconds(seconds_of(base["noop"], op)["median"]),
            d["samples"]["ours"][-1][op]["requests"],
        )
    t.notes.append(
        "by default the engine persists the whole state after every step (file backend: the checkpoint "
        "file rewritten), O(N) per step and O(N^2) per command; with this setting it writes once at the end"
    )
    return t


def _commands_table(data: dict[str, Any]) -> Table:
    k = data["orgs"]
    t = Table(
        f"{k} orgs: ours vs no-op, interleaved (mesh: {data['mesh']['rounds']} rounds, "
        f"hub-and-spoke: {data['hub-and-spoke']['rounds']})",
        [
            "shape",
            "N",
            "command",
            "ours",
            "no-op",
            "ours/no-op (min-max)",
            "CPU ours/no-op",
            "requests",
            "floor",
            "what we sent",
        ],
    )
    for shape in ("mesh", "hub-and-spoke"):
        d = data[shape]
        n = d["state"]["ours"].get("connections", 0)
        for op in OPS:
            last = d["samples"]["ours"][-1][op]
            kinds = ", ".join(f"{c} {kind}" for kind, c in last["by_kind"].items()) or "nothing"
            t.add(
                shape,
                n,
                op,
                seconds(seconds_of(d["samples"]["ours"], op)["median"]),
                seconds(seconds_of(d["samples"]["noop"], op)["median"]),
                fmt_spread(ratios(d["samples"]["ours"], d["samples"]["noop"], op)),
                fmt_spread(ratios(d["samples"]["ours"], d["samples"]["noop"], op, "cpu_seconds")),
                last["requests"],
                d["floors"][op],
                kinds,
            )
    t.notes += [
        "preview = `pulumi preview` of the new stack (N creates planned); up, refresh, destroy with --skip-preview; "
        "CPU = user+system time of the command's processes (not the emulator's)",
        "floor: preview and up make one sink check (GET /api/v2/org) per source org and provider process; "
        "refresh needs one paged list (limit=1000) per source org; up and destroy one request per connection",
    ]
    return t


def _rate_limit_table(data: dict[str, Any]) -> Table:
    limited = data["mesh"]["rate_limited"]
    noop = data["mesh"]["samples"]["noop"]
    t = Table(
        f"mesh of {data['orgs']} orgs under a rate limit of {LIMIT} requests per {PERIOD:g} s per org and endpoint",
        ["command", "ours", "no-op floor", "ideal", "ours/ideal", "requests", "429s", "floor"],
    )
    per_org = {"up": data["orgs"] - 1, "refresh": 1, "destroy": data["orgs"] - 1}
    for op, v in limited.items():
        floor = seconds_of(noop, op)["median"]
        ideal = floor + (math.ceil(per_org[op] / LIMIT) - 1) * PERIOD
        t.add(op, seconds(v["seconds"]), seconds(floor), seconds(ideal), ratio(v["seconds"], ideal),
              v["requests"], v["throttled"], data["mesh"]["floors"][op])  # fmt: skip
    t.notes += [
        "ideal = no-op floor + (ceil(requests per org at the floor / limit) - 1) x period: every org's "
        "window used in full, the orgs' windows running side by side",
        "429s: answers the client waited out (X-RateLimit-Reset) and retried; requests include them",
    ]
    return t


def _footprint_table(data: dict[str, Any]) -> Table:
    t = Table(
        "state and provider memory at scale",
        ["shape", "provider", "state file", "resources", "bytes/resource", "one connection",
         "provider peak RSS (up)", "(refresh)", "(destroy)"],
    )  # fmt: skip
    for shape in ("mesh", "hub-and-spoke"):
        for mode in ("ours", "noop"):
            s = data[shape]["state"][mode]
            rss = [f"{max(c[op]['provider_peak_rss_mib'] for c in data[shape]['samples'][mode]):.0f} MiB"
                   for op in ("up", "refresh", "destroy")]  # fmt: skip
            t.add(shape, mode, f"{s['file_bytes'] / 1024:.0f} KiB", s["resources"], f"{s['bytes_per_resource']} B",
                  f"{s['one_connection_bytes']} B", *rss)  # fmt: skip
    t.notes.append(
        "state file: the stack's checkpoint in the file backend after up (resources include the stack, the "
        "component and the default provider); peak RSS = VmHWM of the command's dynamic provider "
        "process(es) (pulumi_dynamic_host.py, running pulumi.dynamic), the largest over the rounds"
    )
    return t
