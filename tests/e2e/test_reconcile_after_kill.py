"""Another machine after a killed `pulumi up`: `reconcile` finds exactly the orphans, and adopts them.

The CI-runner case of issue 12: one stack declares the 12 connections of the acme account (every
ordered pair of its four orgs, one alias each), the API answers slowly, and the whole `pulumi up`
process tree is SIGKILLed once a few creates were answered. The provider's journal is wiped (a
fresh runner has none). `reconcile` on the stack's export, with the stack's own keys piped from
`pulumi config --show-secrets --json`, must report exactly the connections the API holds and the
state does not, each as the create a resource was interrupted in (with its `source_org` alias); the
repair it prints (stack config `orgConnections:adopt`, run as printed: no program edit) must adopt
them on their 409, with no DELETE, and converge.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.cli_helpers import run
from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import ACME

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi"),
    pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the killed tree's processes in /proc"),
]

STACK = "ci"
LATENCY_MS = 1500
ANSWERED_BEFORE_KILL = 3

PROGRAM = """
import json
import pulumi
from datadog_org_connections import OrgConnection

for c in json.loads(pulumi.Config().require("connections")):
    OrgConnection(c["name"], source_org=c["source"], sink_org_id=c["sink"], connection_types=c["types"])
"""

DECLARED = [
    {
        "name": f"{a.name}-to-{b.name}",
        "source": a.name,
        "sink": b.id,
        "types": ["logs"] if n % 2 else ["metrics"],
    }
    for n, (a, b) in enumerate((a, b) for a in ACME for b in ACME if a is not b)
]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """An emulator of its own: the test waits until it has no client connection left."""
    with Emulator.start() as emu:
        yield emu


def _our_processes(home: Path) -> list[int]:
    """Live processes started by the Pulumi CLI of this test (they all inherit its PULUMI_HOME)."""
    marker = f"PULUMI_HOME={home}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in environ and state != "Z":
            pids.append(int(entry))
    return pids


def _wait_for(what: str, condition: Any, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _kill_everything(up: subprocess.Popen[str], home: Path) -> None:
    """SIGKILL the CLI and every plugin it started (they run in process groups of their own)."""
    os.killpg(up.pid, signal.SIGKILL)
    up.wait()

    def none_left() -> bool:
        for pid in _our_processes(home):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return not _our_processes(home)

    _wait_for("the killed processes to be gone", none_left)


class Project:
    def __init__(self, tmp: Path, url: str) -> None:
        self.dir = tmp / "project"
        self.dir.mkdir()
        (self.dir / "Pulumi.yaml").write_text("name: killed\nruntime: python\n")
        (self.dir / "__main__.py").write_text(textwrap.dedent(PROGRAM))
        self.journal = tmp / "journal"
        self.cli = PulumiCLI(tmp / "pulumi", extra_env={"DDOC_JOURNAL_DIR": str(self.journal)})
        self.cli.stack_init(STACK, self.dir)
        self.cli.config_set(STACK, self.dir, "datadog:apiUrl", url)
        orgs = {o.name: {"apiKey": o.api_key, "appKey": o.app_key} for o in ACME}
        self.cli.config_set(STACK, self.dir, "orgConnections:orgs", json.dumps(orgs), secret=True)
        self.declare(DECLARED)

    def declare(self, conns: list[dict[str, Any]]) -> None:
        self.cli.config_set(STACK, self.dir, "connections", json.dumps(conns))

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cli.run(*args, "--stack", STACK, cwd=self.dir, check=check)

    def start_up(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive", "--stack", STACK],
            cwd=self.dir, env=self.cli.env, start_new_session=True, text=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def export(self) -> dict[str, Any]:
        return self.cli.export(STACK, self.dir)

    def state_ids(self) -> dict[str, str]:
        """Resource name -> connection id, for every connection in the state."""
        return {
            r["urn"].split("::")[-1]: r["id"]
            for r in self.export()["deployment"]["resources"]
            if r["type"].endswith(":OrgConnection")
        }


def _posts(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests_log() if r["method"] == "POST" and r["path"] == "/api/v2/org_connections"]


def _killed_with_orphans(tmp_path: Path, emulator: Emulator) -> tuple[Project, set[str]]:
    """A stack whose `pulumi up` was SIGKILLed while creates were in flight, leaving orphans (the API
    holds connections the state does not). The kill lands at the intended moment only if a POST is in
    flight: on a loaded machine it may not, so the scenario is tried again on a fresh stack (3 times)."""
    control = EmulatorControl(emulator.url)
    for attempt in range(3):
        control.reset()
        control.latency(LATENCY_MS)
        control.session.close()  # no keep-alive connection of ours: the quiet check below counts clients
        root = tmp_path / f"attempt-{attempt}"
        root.mkdir()
        project = Project(root, emulator.url)
        up = project.start_up()
        _wait_for(
            f"{ANSWERED_BEFORE_KILL} answered creates",
            lambda up=up: (  # type: ignore[misc]
                sum(r["status"] == 200 for r in _posts(emulator)) >= ANSWERED_BEFORE_KILL
                or up.poll() is not None
            ),
            seconds=300,
        )
        assert up.poll() is None, "pulumi up ended before it could be killed"
        _kill_everything(up, project.cli.home)
        # Requests already sent finish on the server's side (a POST that lost its client still creates).
        _wait_for("the emulator to finish every request", lambda: emulator.server.open_connection_count == 0)
        shutil.rmtree(project.journal, ignore_errors=True)  # another machine: no journal
        emulator.set_latency(0)
        state = project.state_ids()
        api = {c["id"] for c in emulator.connections()}
        assert set(state.values()) <= api
        if api - set(state.values()):
            return project, api - set(state.values())
    raise AssertionError("the scenario made no orphan in 3 attempts: kill earlier or add latency")


def test_reconcile_finds_exactly_the_orphans_and_its_repair_adopts_them(
    tmp_path: Path, emulator: Emulator
) -> None:
    project, expected = _killed_with_orphans(tmp_path, emulator)
    export = project.export()
    api = {c["id"]: c for c in emulator.connections()}
    pending = {
        op["resource"]["urn"].split("::")[-1] for op in export["deployment"].get("pending_operations") or []
    }

    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(export))
    config = project.pulumi("config", "--show-secrets", "--json").stdout
    emulator.runtime.log.clear()
    result = run("reconcile", str(export_file), "--stack-config", "-", "--json", org=None, input=config)
    assert result.code == 6, result
    doc = json.loads(result.out)
    assert {o["id"] for o in doc["orphans"]} == expected  # exactly the orphans
    assert doc["ghosts"] == doc["type_differences"] == doc["shared"] == doc["unchecked"] == []
    assert {o["id"] for o in doc["orgs"]} == {o.id for o in ACME}
    # Each orphan is the create an interrupted resource was waiting for: it keeps that name.
    adopt_as = {o["adopt_as"]["resource"]: o["id"] for o in doc["orphans"]}
    assert all(o["adopt_as"]["interrupted_create"] for o in doc["orphans"])
    assert set(adopt_as) <= pending
    assert all(
        o["adopt_as"]["source_org"] == o["adopt_as"]["resource"].split("-to-")[0] for o in doc["orphans"]
    )
    assert {r["method"] for r in emulator.requests_log()} == {"GET"}

    # No program edit: the repair sets stack config orgConnections:adopt; run it as printed.
    assert doc["adoption_code"] is None
    [repair] = doc["repair"]
    assert repair["stack"] == f"killed/{STACK}" and repair["adopt"] == repair["found"] == adopt_as
    emulator.runtime.log.clear()
    for line in repair["commands"]:
        args = shlex.split(line, comments=True)
        assert args[0] == "pulumi" and args[args.index("--stack") + 1] == STACK, line
        project.cli.run(*args[1:], cwd=project.dir)

    # Each orphan's create meets its 409 and takes it over; the never-made ones are created.
    posts = sorted(p["status"] for p in _posts(emulator))
    assert posts == sorted([409] * len(expected) + [200] * (len(DECLARED) - len(api)))
    assert not [r for r in emulator.requests_log() if r["method"] in ("DELETE", "PATCH")]
    final = project.state_ids()
    assert {name: final[name] for name in adopt_as} == adopt_as  # adopted under their own names
    resources = project.export()["deployment"]["resources"]
    assert {r["id"] for r in resources if (r.get("outputs") or {}).get("adopted") == "config"} == expected
    assert sorted(final.values()) == sorted(c["id"] for c in emulator.connections())
    assert len(final) == len(DECLARED)
    project.pulumi("preview", "--expect-no-changes")

    export_file.write_text(json.dumps(project.export()))
    again = run("reconcile", str(export_file), "--stack-config", "-", org=None, input=config)
    assert again.code == 0 and "in sync: 12 connection(s)" in again.out, again
