"""Issue 21: a `pulumi up` killed on one CI runner is repaired from another, following what our tools print.

Two runners share one PostgreSQL state backend (tests/conftest.py, `postgres_backend`): each has its own
PULUMI_HOME, its own copy of the project (`FanOutStack.on_another_runner`) and no journal of the other's.
On runner 1, `pulumi up` of N connections from one org (the API answering in 400 ms) is SIGKILLed, every
process of it, once K POSTs were answered: connections are left in the API that the state does not hold.

- **Pending creates in the state** (item 2): on runner 2, `dd-org-connections reconcile --stack dev` reads
  the stack (export, config) through the pulumi CLI and prints the repair; each line of it is run as
  printed. At most 5 commands after the kill, reconcile included; no DELETE ever; state == API, each
  declared connection once, adopted as `config`; `preview --expect-no-changes`; destroy leaves nothing.
- **Pending creates cleared** (items 3 and 4): runner 2 goes the way the CLI's own messages lead: `pulumi up`
  says the stack is locked, `pulumi cancel`; `pulumi up` warns of the pending operations and fails with 409s
  whose advice names `dd-org-connections reconcile --stack dev`; `pulumi refresh --clear-pending-creates`
  drops the pending creates; then the command the advice named matches the orphans with the creates
  `pulumi preview --json` plans, and its repair converges the same way.

The default run kills 8 connections after 2 POSTs; DDOC_SLOW_TESTS=1 adds the issue's own numbers (24, 6).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.cli_helpers import Result, run
from datadog_org_connections.emulator import Emulator
from support.interrupts import FanOutStack, Missed, fan_out_seed, signal_all, wait_until
from support.postgres import PostgresCluster
from support.pulumi_cli import find_pulumi

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc"),
]

SLOW = os.environ.get("DDOC_SLOW_TESTS") == "1"
LATENCY_MS = 400
POSTS = "/api/v2/org_connections"
LOCKS = "/.pulumi/locks/"
ATTEMPTS = 3


@pytest.fixture(scope="module")
def fan() -> Iterator[Emulator]:
    """One source org and 24 sinks, driven in-process (its HTTP server serves the runners alone)."""
    with Emulator.start(fan_out_seed(24)) as emulator:
        yield emulator


@dataclass
class Killed:
    """What runner 1's killed `pulumi up` left: the stack as each runner sees it, and the API."""

    one: FanOutStack
    two: FanOutStack
    in_state: set[str]
    orphans: set[str]
    mark: int  # the request log's length at the kill: what runner 2 caused comes after

    def requests(self, emu: Emulator) -> list[dict[str, Any]]:
        return emu.requests_log()[self.mark :]


def _posts(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests_log() if r["method"] == "POST" and r["path"] == POSTS]


def _kill_on_runner_one(
    tmp: Path, fan: Emulator, postgres: PostgresCluster, count: int, answered: int
) -> Killed:
    """SIGKILL runner 1's `pulumi up` (every process of it) after `answered` POSTs were answered; retried
    on a fresh backend when the kill left no orphan."""
    sinks = [fan.seed.orgs_by_name[f"sink-{i:02d}"].id for i in range(count)]
    misses = []
    for attempt in range(ATTEMPTS):
        fan.reset()
        fan.set_latency(LATENCY_MS)
        backend = postgres.new_backend()
        one = FanOutStack(tmp / f"attempt-{attempt}" / "runner-1", fan.url, sinks, backend_url=backend)
        try:
            _kill(one, fan, answered)
            assert postgres.keys(backend, LOCKS), "a killed `pulumi up` leaves its lock in the backend"
            two = one.on_another_runner(tmp / f"attempt-{attempt}" / "runner-2")
            in_state = set(two.state_ids())
            orphans = {c["id"] for c in fan.connections()} - in_state
            if not orphans:
                raise Missed("the kill left no orphan (no POST was in flight)")
            print(
                f"\nkilled after {answered} answered POSTs: in state {len(in_state)}, orphans {len(orphans)}"
            )
            return Killed(one, two, in_state, orphans, len(fan.requests_log()))
        except Missed as missed:
            misses.append(f"attempt {attempt + 1}: {missed}")
        finally:
            one.cleanup()
            fan.set_latency(0)
    pytest.skip("the kill never left an orphan: " + "; ".join(misses))


def _kill(one: FanOutStack, fan: Emulator, answered: int) -> None:
    up = one.start_up()
    wait_until(
        lambda: sum(r["status"] is not None for r in _posts(fan)) >= answered or up.poll() is not None,
        f"{answered} POSTs answered",
    )
    if up.poll() is not None:
        raise Missed(f"`pulumi up` ended (exit {up.returncode}) before the kill")
    signal_all(one.tree(), signal.SIGKILL)
    one.wait()
    wait_until(lambda: fan.server.open_connection_count == 0, "the API to finish in-flight requests")
    assert not one.cleanup(), "nothing of the killed run outlives it"
    fan.set_latency(0)


def _reconcile(runner: FanOutStack, *args: str) -> Result:
    """`dd-org-connections ARGS` on `runner`, in its project's directory: no Datadog key in the environment
    (reconcile reads the stack's own through `pulumi config`)."""
    env = {k: v for k, v in runner.cli.env.items() if k.startswith("PULUMI_") or k == "PATH"}
    return run(*args, org=None, env=env, cwd=str(runner.dir), timeout=300)


def _repair(out: str) -> tuple[list[str], list[str]]:
    """The REPAIR section's commands (before its "then" comment) and what comes after them."""
    section = out.split("\nREPAIR: ", 1)[1]
    lines = [
        line for line in section.splitlines() if line.startswith(("pulumi ", "dd-org-connections ", "# then"))
    ]
    cut = next(i for i, line in enumerate(lines) if line.startswith("# then"))
    return lines[:cut], [line for line in lines[cut + 1 :] if line.startswith("pulumi ")]


def _run_line(runner: FanOutStack, line: str) -> str:
    """Run one printed `pulumi ...` line as printed (after `#`: a comment), in the runner's project."""
    args = shlex.split(line, comments=True)
    assert args[0] == "pulumi", line
    proc = runner.cli.run(*args[1:], cwd=runner.dir, check=False)
    assert proc.returncode == 0, f"{line}\n{proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


def _converged(fan: Emulator, killed: Killed, count: int) -> None:
    """State == API, each declared connection once, the orphans adopted from the stack config, no DELETE
    ever (nor PATCH: the types are the declared ones), a preview sees no change."""
    two = killed.two
    deployment = two.export()
    state = two.state_ids(deployment)
    assert sorted(state) == sorted(c["id"] for c in fan.connections())
    assert len(set(state)) == len(state) == count
    resources = two.connections(deployment)
    assert sorted(r["outputs"]["sink_org_id"] for r in resources) == sorted(two.sink_ids)
    assert {r["id"] for r in resources if r["outputs"].get("adopted") == "config"} == killed.orphans
    assert [r for r in fan.requests_log() if r["method"] in ("DELETE", "PATCH")] == []
    two.run("preview", "--expect-no-changes")


def _destroyed(fan: Emulator, killed: Killed) -> None:
    killed.two.run("destroy", "--yes", "--skip-preview")
    assert fan.connections() == [] and killed.two.state_ids() == []


@pytest.mark.parametrize(
    ("count", "answered"),
    [
        pytest.param(8, 2, id="8-connections"),
        pytest.param(
            24, 6, id="24-connections",
            marks=[pytest.mark.slow, pytest.mark.skipif(not SLOW, reason="full size: set DDOC_SLOW_TESTS=1")],
        ),
    ],
)  # fmt: skip
def test_the_next_runner_converges_with_what_reconcile_prints(
    tmp_path: Path, fan: Emulator, postgres: PostgresCluster, count: int, answered: int
) -> None:
    killed = _kill_on_runner_one(tmp_path, fan, postgres, count, answered)
    two = killed.two
    pending = two.export().get("pending_operations") or []
    assert {op["type"] for op in pending} == {"creating"} and len(pending) >= len(killed.orphans)

    report = _reconcile(two, "reconcile", "--stack", "dev")
    assert report.code == 6, report
    commands, afterwards = _repair(report.out)
    print(f"\n$ dd-org-connections reconcile --stack dev\n{report.out}")
    assert len(commands) + 1 <= 5, commands  # reconcile and what it printed
    assert [shlex.split(c, comments=True)[1] for c in commands] == ["cancel", "config", "up", "refresh"]
    assert "OrgConnection(" not in report.out, "no program edit: no adoption code"
    for line in commands:
        _run_line(two, line)
        if line.startswith("pulumi up"):
            # The killed run's pending creates survive a successful `pulumi up` (the engine keeps them
            # for a person to judge): what the repair's last command is for.
            assert len(two.export().get("pending_operations") or []) == len(pending)
    assert not two.export().get("pending_operations")
    mutations = sorted(f"{r['method']} {r['status']}" for r in killed.requests(fan) if r["method"] != "GET")
    made = count - len(killed.in_state) - len(killed.orphans)
    assert mutations == sorted(["POST 409"] * len(killed.orphans) + ["POST 200"] * made)
    _converged(fan, killed, count)

    # Once done, the value is removed (recommended, not counted): nothing changes.
    assert afterwards == ["pulumi config rm --stack dev orgConnections:adopt"]
    _run_line(two, afterwards[0])
    two.run("preview", "--expect-no-changes")
    _destroyed(fan, killed)


def test_with_the_pending_creates_cleared_the_409_advice_leads_to_the_repair(
    tmp_path: Path, fan: Emulator, postgres: PostgresCluster
) -> None:
    count = 8
    killed = _kill_on_runner_one(tmp_path, fan, postgres, count, 2)
    two = killed.two
    locked = two.run("up", "--yes", "--skip-preview", check=False)
    said = locked.stdout + locked.stderr
    assert locked.returncode != 0 and "currently locked" in said and "`pulumi cancel`" in said, said
    two.run("cancel", "--yes")

    failed = two.run("up", "--yes", "--skip-preview", check=False)
    said = failed.stdout + failed.stderr
    assert failed.returncode != 0
    warning = said.index("pending operations from previous deployment")
    advice = re.findall(r"`(dd-org-connections reconcile --stack [^`]+)`", said)
    assert advice and set(advice) == {"dd-org-connections reconcile --stack dev"}, said
    assert warning < said.index("dd-org-connections reconcile --stack dev"), "the warning precedes the advice"

    print("\n$ pulumi up  (after pulumi cancel)\n" + said[max(0, warning - 300) :][:2500])
    two.run("refresh", "--yes", "--clear-pending-creates")
    assert not two.export().get("pending_operations")

    report = _reconcile(two, *shlex.split(advice[0])[1:])
    assert report.code == 6, report
    print(f"\n$ {advice[0]}\n{report.err}{report.out}")
    assert "pulumi preview --json --stack dev" in report.err  # how it found the declared creates
    commands, _ = _repair(report.out)
    assert [shlex.split(c, comments=True)[1] for c in commands] == ["config", "up"], report.out
    for line in commands:
        _run_line(two, line)
    _converged(fan, killed, count)
    _destroyed(fan, killed)
