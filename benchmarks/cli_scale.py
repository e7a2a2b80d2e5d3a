"""Section `cli` (only with `--only cli`; several minutes): `dd-org-connections reconcile` and `graph`
at account scale.

An account of 10 orgs; 9 stacks deployed with the real CLI, stack `org-0i` holding one connection
from org-0i to each org after it: 45 connections. Then each command is run with the 9 exports and
the 10 orgs' keys (`--org`), the API answering in 2 s, without and with 20 % faults (429 and 5xx,
seeded: each run meets the same draws in the order its requests arrive), `--parallel 1` (the orgs
read one after another, as before issue 21) against the default (8 at once). Wall time of the
command, its exit status, the API requests it made, the 429s it met, the most requests in flight.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from datadog_org_connections.cli.sources import alias_env
from harness import VENV_BIN, Account, BenchProject, account, connections_spec, log, summarize_requests
from report import Table, ratio, seconds

ORGS = 10
LATENCY_MS, QUICK_LATENCY_MS = 2000, 200
FAULTS = {"probability": 0.2, "kinds": ["rate_limit", "server_error"], "seed": 2121}
CONDITIONS = ("latency", "latency + 20 % faults")
MODES = {"before (--parallel 1)": ["--parallel", "1"], "after (default, 8)": []}
COMMANDS = ("reconcile", "graph")


def _deploy(emu: Account, project: BenchProject, exports_dir: Path) -> list[Path]:
    """The 9 stacks (org i -> every org after it), deployed; their exports written to files."""
    exports_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, org in enumerate(emu.orgs[:-1]):
        project.new_stack(org.name, org, emu.url)
        project.spec("ours", connections=connections_spec(emu.orgs[i + 1 :], prefix=f"{org.name}-to"))
        project.up(preview=False)
        path = exports_dir / f"{org.name}.json"
        path.write_text(project.run("stack", "export").stdout)
        files.append(path)
    return files


def _env(emu: Account) -> tuple[dict[str, str], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DATADOG_"))}
    env["DD_HOST"] = emu.url
    args: list[str] = []
    for org in emu.orgs:
        api_var, app_var = alias_env(org.name)
        env |= {api_var: org.api_key, app_var: org.app_key}
        args += ["--org", org.name]
    return env, args


def _measure(emu: Account, argv: list[str], env: dict[str, str], faults: bool) -> dict[str, Any]:
    if faults:
        emu.control.faults(**FAULTS)  # configured anew: every run meets the same draws
    else:
        emu.control.faults()
    emu.control.clear_requests()
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600, check=False)
    wall = time.perf_counter() - started
    requests = summarize_requests(emu.control.requests())
    return {
        "seconds": round(wall, 2),
        "exit_status": proc.returncode,
        "requests": requests["total"],
        "throttled": requests["throttled"],
        "statuses": requests["statuses"],
        "max_in_flight": requests["max_in_flight"],
        "error": proc.stderr.strip().splitlines()[-1] if proc.returncode not in (0, 6, 7) else None,
    }


def run(workdir: Path, repeats: int = 1, quick: bool = False) -> tuple[dict[str, Any], list[Table]]:
    """Deploy, then time both commands in both modes under both conditions."""
    latency = QUICK_LATENCY_MS if quick else LATENCY_MS
    names = [f"org-{i:02d}" for i in range(ORGS)]
    exe = str(Path(VENV_BIN) / "dd-org-connections")
    data: dict[str, Any] = {"orgs": ORGS, "latency_ms": latency, "faults": FAULTS, "runs": {}}
    workdir.mkdir(parents=True, exist_ok=True)
    with account(workdir, names) as emu:
        files = _deploy(emu, BenchProject(workdir / "project"), workdir / "exports")
        data["connections"] = len(emu.control.connections())
        env, org_args = _env(emu)
        emu.control.latency(latency)
        for condition in CONDITIONS:
            for command in COMMANDS:
                extra = ["--json"] if command == "reconcile" else ["--format", "dot"]
                for mode, flags in MODES.items():
                    key = f"{command} | {condition} | {mode}"
                    argv = [exe, command, *map(str, files), *org_args, *flags, *extra]
                    runs = [_measure(emu, argv, env, "faults" in condition) for _ in range(repeats)]
                    data["runs"][key] = runs
                    done = ", ".join(f"{r['seconds']:.1f} s (exit {r['exit_status']})" for r in runs)
                    log(f"cli: {key}: {done}")
        emu.control.faults()
        emu.control.latency(0)
    return data, [_table(data, repeats)]


def _table(data: dict[str, Any], repeats: int) -> Table:
    table = Table(
        f"CLI at account scale: {data['orgs']} orgs, {data.get('connections')} connections, "
        f"{data['latency_ms']} ms API latency",
        ["command | condition", "before", "after", "speed-up", "requests b/a", "429s b/a", "in flight b/a",
         "exit b/a"],
    )  # fmt: skip
    before_mode, after_mode = MODES
    for condition in CONDITIONS:
        for command in COMMANDS:
            b = data["runs"][f"{command} | {condition} | {before_mode}"]
            a = data["runs"][f"{command} | {condition} | {after_mode}"]
            bs, as_ = _median(b, "seconds"), _median(a, "seconds")
            table.add(
                f"{command} | {condition}", seconds(bs), seconds(as_), ratio(bs, as_),
                f"{_median(b, 'requests'):.0f}/{_median(a, 'requests'):.0f}",
                f"{_median(b, 'throttled'):.0f}/{_median(a, 'throttled'):.0f}",
                f"{max(r['max_in_flight'] for r in b)}/{max(r['max_in_flight'] for r in a)}",
                f"{'/'.join(str(r['exit_status']) for r in b)} | {'/'.join(str(r['exit_status']) for r in a)}",
            )  # fmt: skip
    table.notes += [
        "before = --parallel 1 (the orgs read one after another, as before issue 21); after = the default, 8 orgs at once",
        f"faults: {FAULTS['probability']:.0%} of the API requests answer 429 (X-RateLimit-Reset: the rest of the "
        "emulator's 60 s window) or 5xx, seeded; each org's client waits out its own 429s",
        f"median of {repeats} run(s) per cell; reconcile --json over the 9 stack exports, graph --format dot; "
        "exit 0 = in sync (reconcile) / drawn (graph)",
    ]
    return table


def _median(runs: list[dict[str, Any]], key: str) -> float:
    values = sorted(float(r[key]) for r in runs)
    return values[len(values) // 2]
