"""Benchmarks of the org connections provider, client and emulator (run by scripts/bench).

    .venv/bin/python benchmarks/run.py [--quick] [--only SECTION[,SECTION]] [--json FILE] [--keep]

Sections run by default: requests (API requests per lifecycle operation), overhead (pulumi up/
preview/refresh/destroy of N connections vs a no-op provider, interleaved, and with 50 ms of
latency), ratelimit (N creates under a rate limit), footprint (state bytes per resource, provider
start-up), provider (the provider process alone over gRPC, ours vs no-op), http (one call through
the client). Only when named with --only: stored (the overhead ratio with 1,000 more connections
stored in the emulator), scale (32 orgs meshed by one OrgTopology: 992 connections; several
minutes) and cli (dd-org-connections reconcile and graph over 10 orgs and 45 connections at 2 s of
API latency, with and without faults, orgs read one by one and at once; about 15 minutes). Every section starts from a reset emulator and a new Pulumi project. Prints tables, then
the JSON document (or writes it to --json FILE). Measures and prints only: nothing here fails on a
timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli_scale
import footprint
import lifecycle
import overhead
import provider_grpc
import rate_limits
import roundtrip
import scale
import stored
from harness import VENV_BIN, Account, BenchProject, account, log, workdir
from report import Table

DEFAULT_SECTIONS = ("requests", "overhead", "ratelimit", "footprint", "provider", "http")
SECTIONS = (*DEFAULT_SECTIONS, "stored", "scale", "cli")
OWN_ACCOUNT = ("scale", "cli")  # sections that run an emulator and an account of their own


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller N and fewer repeats (a smoke run)")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated sections to run, among {', '.join(SECTIONS)} "
        f"(default: {', '.join(DEFAULT_SECTIONS)})",
    )
    parser.add_argument("--json", metavar="FILE", help="write the JSON document to FILE instead of stdout")
    parser.add_argument("-n", type=int, default=None, help="connections per stack (default 100; --quick 20)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="interleaved rounds of ours and no-op (default 5; scale's mesh 2)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (stacks, logs)")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}: choose among {', '.join(SECTIONS)}")
    args.sections = only or list(DEFAULT_SECTIONS)
    return args


def _versions() -> dict[str, str]:
    pulumi = subprocess.run(
        [str(Path(VENV_BIN) / "pulumi"), "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    from importlib import metadata

    return {
        "python": platform.python_version(),
        "pulumi_cli": pulumi,
        "pulumi_sdk": metadata.version("pulumi"),
        "requests": metadata.version("requests"),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
    }


def _org_names(n: int) -> list[str]:
    """`source` and max(n, 501) + 8 sinks: adoption needs 1 + 1,000 connections of one org."""
    return ["source", *(f"sink-{i:04d}" for i in range(max(n, 501) + 8))]


def _run_section(
    section: str, emu: Account | None, tmp: Path, args: argparse.Namespace, n: int
) -> tuple[dict[str, Any], list[Table]]:
    """One section, from a reset emulator and a new Pulumi project of its own."""
    if section == "scale":
        return scale.run(tmp / "scale", repeats=args.repeats or 2, quick=args.quick)
    if section == "cli":
        return cli_scale.run(tmp / "cli", repeats=args.repeats or 1, quick=args.quick)
    assert emu is not None
    emu.control.reset()
    project = BenchProject(tmp / section)
    repeats = args.repeats or 5
    if section == "stored":
        return stored.run(emu, project, n=n, repeats=repeats)
    if section == "requests":
        data, table = lifecycle.run(emu, project)
        return data, [table]
    if section == "overhead":
        return overhead.run(emu, project, n=n, repeats=repeats)
    if section == "ratelimit":
        data, table = rate_limits.run(emu, project, n=n, limit=max(1, n // 5), period=1.0)
        return data, [table]
    if section == "footprint":
        return footprint.run(emu, project, runs=5 if args.quick else 9)
    if section == "provider":
        data, table = provider_grpc.run(emu, n=n)
        return data, [table]
    data, table = roundtrip.run(emu, calls=n)
    return data, [table]


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    n = args.n or (20 if args.quick else 100)
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "settings": {"n": n, "quick": args.quick, "repeats": args.repeats, "sections": args.sections},
        "versions": _versions(),
        "sections": {},
    }
    tables: list[Table] = []
    failed: list[str] = []
    doc["load_average_start"] = os.getloadavg()
    with workdir(args.keep) as tmp, ExitStack() as stack:
        log(f"work dir {tmp}; load averages {doc['load_average_start']}")
        emu: Account | None = None
        for section in args.sections:
            if emu is None and section not in OWN_ACCOUNT:
                emu = stack.enter_context(account(tmp, _org_names(n)))
                log(f"emulator {emu.url} with {len(emu.orgs)} orgs")
            t0 = time.perf_counter()
            log(f"section {section}")
            try:
                data, more = _run_section(section, emu, tmp, args, n)
                tables += more
            except Exception as exc:  # a broken set-up, not a slow figure: report it, go on
                log(f"section {section} FAILED: {type(exc).__name__}: {exc}")
                data = {"error": f"{type(exc).__name__}: {exc}"}
                failed.append(section)
            data["section_seconds"] = round(time.perf_counter() - t0, 2)
            doc["sections"][section] = data
            log(f"section {section} done in {data['section_seconds']:.1f} s")
    doc["wall_seconds"] = round(time.perf_counter() - started, 1)
    doc["load_average_end"] = os.getloadavg()

    print()
    for table in tables:
        print(table.render())
        print()
    sizes = (
        f"N={n}"
        if set(args.sections) - set(OWN_ACCOUNT)
        else f"{scale.QUICK_ORGS if args.quick else scale.ORGS} orgs"
        if "scale" in args.sections
        else f"{cli_scale.ORGS} orgs"
    )
    print(f"total wall time {doc['wall_seconds']:.1f} s ({sizes}, {'quick' if args.quick else 'full'} run)")
    print(
        "load averages (1, 5, 15 min) at start {} and end {}".format(
            *(" / ".join(f"{x:.2f}" for x in doc[k]) for k in ("load_average_start", "load_average_end"))
        )
    )
    text = json.dumps(doc, indent=2, sort_keys=False)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
        print(f"JSON written to {args.json}")
    else:
        print("\nJSON")
        print(text)
    if failed:
        print(f"sections that could not run: {', '.join(failed)} (see stderr)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
