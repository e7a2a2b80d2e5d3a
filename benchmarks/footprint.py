"""Section `footprint`: bytes one resource takes in the stack state, and the provider process's
start-up cost (imports), versus the no-op provider and `pulumi.dynamic` alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from harness import Account, BenchProject, connections_spec, log, median
from report import Table, ms

OURS_TYPE = "pulumi-python:dynamic/datadog:OrgConnection"
NOOP_TYPE = "pulumi-python:dynamic/bench:NoopConnection"
PACKAGE = "datadog_org_connections"


def _resource_size(project: BenchProject, stack: str, type_: str) -> dict[str, Any]:
    project.stack = stack
    state = project.export()
    res = next(r for r in state["deployment"]["resources"] if r["type"] == type_)
    provider_in = res.get("inputs", {}).get("__provider")
    provider_out = res.get("outputs", {}).get("__provider")
    return {
        "bytes_compact": len(json.dumps(res, separators=(",", ":")).encode()),
        "bytes_indented": len(json.dumps(res, indent=4).encode()),
        "inputs_bytes": len(json.dumps(res.get("inputs", {}), separators=(",", ":")).encode()),
        "outputs_bytes": len(json.dumps(res.get("outputs", {}), separators=(",", ":")).encode()),
        "provider_value_bytes": len(json.dumps(provider_in)) - 2 if isinstance(provider_in, str) else None,
        "provider_copies": sum(1 for v in (provider_in, provider_out) if v is not None),
        "provider_is_secret": isinstance(provider_in, dict),
    }


def state_size(emu: Account, project: BenchProject) -> dict[str, Any]:
    conns = connections_spec(emu.sinks[:1])
    out = {}
    for mode, type_ in (("ours", OURS_TYPE), ("noop", NOOP_TYPE)):
        stack = f"footprint-{mode}"
        project.new_stack(stack, emu.source, emu.url)
        project.spec(mode, connections=conns)
        project.up(preview=False)
        out[mode] = _resource_size(project, stack, type_)
        project.destroy(preview=False)
    emu.control.reset()
    return out


def _time_import(code: str, runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append((time.perf_counter() - started) * 1000.0)
    return {"median_ms": round(median(samples), 1), "min_ms": round(min(samples), 1)}


def _importtime(module: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line[len("import time:") :].split("|")]
        if not parts[0].isdigit():
            continue
        rows.append({"module": parts[2].strip(), "self_us": int(parts[0]), "cumulative_us": int(parts[1])})
    return rows


def startup(runs: int) -> dict[str, Any]:
    codes = {
        "python -c pass": "pass",
        "import pulumi.dynamic": "import pulumi.dynamic",
        f"import {PACKAGE}.provider": f"import {PACKAGE}.provider",
    }
    _time_import(codes[f"import {PACKAGE}.provider"], 1)  # warm the file cache and .pyc files
    times = {name: _time_import(code, runs) for name, code in codes.items()}
    rows = _importtime(f"{PACKAGE}.provider")
    ours = sorted((r for r in rows if r["module"].startswith(PACKAGE)), key=lambda r: -r["cumulative_us"])
    # What the provider adds on top of pulumi.dynamic: modules absent from its import graph.
    base = {r["module"] for r in _importtime("pulumi.dynamic")}
    extra = [r for r in rows if r["module"] not in base]
    extra_self_ms = sum(r["self_us"] for r in extra) / 1000.0
    heavy_extra = sorted(extra, key=lambda r: -r["self_us"])[:8]
    return {
        "runs": runs,
        "times": times,
        "added_ms": round(
            times[f"import {PACKAGE}.provider"]["median_ms"] - times["import pulumi.dynamic"]["median_ms"], 1
        ),
        "package_modules": ours,
        "extra_modules_self_ms": round(extra_self_ms, 1),
        "extra_modules_count": len(extra),
        "heaviest_extra_modules": heavy_extra,
    }


def run(emu: Account, project: BenchProject, *, runs: int) -> tuple[dict[str, Any], list[Table]]:
    log("  state size of one resource")
    sizes = state_size(emu, project)
    log(f"  start-up: {runs} runs per import")
    boot = startup(runs)

    t1 = Table(
        "state size of one resource (pulumi stack export)",
        ["provider", "resource", "inputs", "outputs", "__provider value", "copies", "secret"],
    )
    for mode in ("ours", "noop"):
        s = sizes[mode]
        t1.add(
            "OrgConnection" if mode == "ours" else "no-op",
            f"{s['bytes_compact']} B",
            f"{s['inputs_bytes']} B",
            f"{s['outputs_bytes']} B",
            f"{s['provider_value_bytes']} B",
            s["provider_copies"],
            "yes" if s["provider_is_secret"] else "no",
        )
    t1.notes.append(
        "resource = the resource object as compact JSON (urn, type, inputs, outputs, ...); "
        f"{sizes['ours']['bytes_indented']} B with the export's 4-space indentation"
    )

    t2 = Table(
        f"provider process start-up: imports (median of {runs} fresh interpreters)",
        ["what", "median", "min"],
    )
    for name, t in boot["times"].items():
        t2.add(name, ms(t["median_ms"]), ms(t["min_ms"]))
    t2.notes.append(
        f"the provider adds {boot['added_ms']:.0f} ms over pulumi.dynamic: {boot['extra_modules_count']} more "
        f"modules, {boot['extra_modules_self_ms']:.0f} ms of their own import time; heaviest: "
        + ", ".join(f"{r['module']} {r['self_us'] / 1000:.1f}" for r in boot["heaviest_extra_modules"][:6])
    )
    t3 = Table(
        f"python -X importtime, {PACKAGE} modules (cumulative includes what they import)",
        ["module", "self", "cumulative"],
    )
    for r in boot["package_modules"][:8]:
        t3.add(r["module"], ms(r["self_us"] / 1000.0), ms(r["cumulative_us"] / 1000.0))
    return {"state": sizes, "startup": boot}, [t1, t2, t3]
