"""Two CI runners, one shared state backend (issue 21), with the real CLI and a real PostgreSQL.

Each runner is a `PulumiCLI` of its own (its own PULUMI_HOME) with its own checkout of the project
(the program, Pulumi.yaml and Pulumi.dev.yaml, as a `git clone` gives), both pointed at one
`postgres://` backend on the session's throwaway cluster (tests/conftest.py, `postgres_backend`).
The stack declares the connections listed in its config (spoke-eu's keys); the emulator's request
log shows what reached the API.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from support.emulator_control import EmulatorControl
from support.interrupts import process_tree, signal_all, wait_until
from support.postgres import PostgresCluster
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import HUB, SPOKE_AP, SPOKE_EU, SPOKE_US

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi"),
]

PROGRAM = """
import json
import pulumi
from datadog_org_connections import OrgConnection

for c in json.loads(pulumi.Config().require("connections")):
    OrgConnection(c["name"], sink_org_id=c["sink"], connection_types=c["types"])
"""

TO_HUB = {"name": "to-hub", "sink": HUB.id, "types": ["logs"]}
TO_US = {"name": "to-us", "sink": SPOKE_US.id, "types": ["metrics"]}
TO_AP = {"name": "to-ap", "sink": SPOKE_AP.id, "types": ["logs"]}
LOCKS = "/.pulumi/locks/"


class Runner:
    """One CI runner: a checkout of the project and a Pulumi home, the state in `backend_url`."""

    def __init__(self, root: Path, checkout: Path, backend_url: str) -> None:
        self.dir = checkout
        self.cli = PulumiCLI(root / "pulumi", backend_url=backend_url)

    def run(self, *args: str, check: bool = True) -> str:
        proc = self.cli.run(*args, "--stack", "dev", cwd=self.dir, check=check)
        return proc.stdout + proc.stderr

    def declare(self, *connections: dict[str, Any]) -> None:
        self.cli.config_set("dev", self.dir, "connections", json.dumps(list(connections)))

    def up(self, check: bool = True) -> str:
        return self.run("up", "--yes", "--skip-preview", check=check)

    def state(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Resource name -> (connection id, types), as the shared state holds them."""
        resources = self.cli.export("dev", self.dir)["deployment"].get("resources") or []
        return {
            r["urn"].rsplit("::", 1)[-1]: (r["id"], tuple(r["outputs"]["connection_types"]))
            for r in resources
            if r["type"].endswith(":OrgConnection")
        }

    def start_up(self, log: Path) -> subprocess.Popen[bytes]:
        """`pulumi up` in the background (a session of its own), its output in `log`."""
        with open(log, "wb") as out:
            return subprocess.Popen(
                ["pulumi", "up", "--yes", "--skip-preview", "--stack", "dev", "--non-interactive"],
                cwd=self.dir, env=self.cli.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip


@pytest.fixture
def runners(tmp_path: Path, postgres_backend: str, emulator: EmulatorControl) -> tuple[Runner, Runner]:
    """Runner 1 creates the stack and its config; runner 2 gets a copy of that checkout."""
    first = tmp_path / "checkout-1"
    first.mkdir()
    (first / "Pulumi.yaml").write_text("name: shared\nruntime: python\n")
    (first / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    one = Runner(tmp_path / "runner-1", first, postgres_backend)
    one.cli.stack_init("dev", first)
    one.cli.run(
        "config", "set-all", "--stack", "dev",
        "--plaintext", f"datadog:apiUrl={emulator.url}",
        "--secret", f"datadog:apiKey={SPOKE_EU.api_key}",
        "--secret", f"datadog:appKey={SPOKE_EU.app_key}",
        "--plaintext", f"connections={json.dumps([TO_HUB, TO_US])}",
        cwd=first,
    )  # fmt: skip
    second = tmp_path / "checkout-2"
    shutil.copytree(first, second)  # what the other runner's `git clone` holds
    return one, Runner(tmp_path / "runner-2", second, postgres_backend)


def _api(emulator: EmulatorControl) -> dict[str, tuple[str, ...]]:
    return {c["id"]: tuple(sorted(c["attributes"]["connection_types"])) for c in emulator.connections()}


def test_two_runners_share_the_state_and_the_lock(
    runners: tuple[Runner, Runner],
    emulator: EmulatorControl,
    postgres: PostgresCluster,
    postgres_backend: str,
    tmp_path: Path,
) -> None:
    one, two = runners
    one.up()
    state = one.state()
    assert set(state) == {"to-hub", "to-us"} and {i for i, _ in state.values()} == set(_api(emulator))
    assert postgres.keys(postgres_backend, "/.pulumi/stacks/shared/dev.json"), (
        "the state is not in the database"
    )
    assert not (one.cli.backend.exists() or two.cli.backend.exists())  # no file backend on either runner

    # Runner 2 (another PULUMI_HOME, nothing local) sees the stack and its state as runner 1 left it.
    assert two.state() == state
    two.run("preview", "--expect-no-changes")
    two.declare({**TO_HUB, "types": ["audit", "logs"]}, TO_US)
    emulator.clear_requests()
    two.up()
    assert [r["method"] for r in emulator.mutating_requests()] == ["PATCH"]
    # Runner 1 refreshes: the change made from runner 2 is in the state it reads, and in the API.
    summary = one.run("refresh", "--yes", "--skip-preview").split("Resources:")[-1]
    assert "unchanged" in summary and "updated" not in summary, summary
    assert one.state()["to-hub"] == (state["to-hub"][0], ("audit", "logs"))

    # Runner 1 pulls the change and adds a connection; its `up` holds the stack while runner 2's
    # `up` (dropping to-us) comes: the backend's lock refuses it, and nothing reaches the API.
    shutil.copy(two.dir / "Pulumi.dev.yaml", one.dir / "Pulumi.dev.yaml")
    one.declare({**TO_HUB, "types": ["audit", "logs"]}, TO_US, TO_AP)
    two.declare({**TO_HUB, "types": ["audit", "logs"]})
    first = one.start_up(tmp_path / "up-1.log")
    try:
        wait_until(lambda: postgres.keys(postgres_backend, LOCKS), "runner 1's lock", poll=0.05)
        stopped = process_tree(first.pid)[:1]  # the engine, which holds the lock
        signal_all(stopped, signal.SIGSTOP)
        emulator.clear_requests()
        refused = two.up(check=False)
        assert "the stack is currently locked by 1 lock(s)" in refused and "pulumi cancel" in refused
        assert [r for r in emulator.requests() if r["method"] in ("DELETE", "PATCH")] == []
        assert state["to-us"][0] in _api(emulator)
        signal_all(stopped, signal.SIGCONT)
        assert first.wait(timeout=300) == 0, (tmp_path / "up-1.log").read_text()
    finally:
        if first.poll() is None:  # the test failed midway: let nothing of the run outlive it
            leftover = process_tree(first.pid)
            signal_all(leftover, signal.SIGCONT)
            signal_all(leftover, signal.SIGKILL)
            first.wait(timeout=30)
    assert postgres.keys(postgres_backend, LOCKS) == []
    assert set(one.state()) == {"to-hub", "to-us", "to-ap"} and len(_api(emulator)) == 3

    two.run("destroy", "--yes", "--skip-preview")
    assert emulator.connections() == [] and one.state() == {}
