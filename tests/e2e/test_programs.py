"""The sample stacks (root Pulumi.yaml, programs/) under the real `pulumi` CLI, against the emulator.

Each test copies the project with the demo's committed stack files (Pulumi.demo-*.yaml, secrets
encrypted with the demo passphrase) into a temporary directory, points `datadog:apiUrl` at the
session's emulator, and drives preview / up / refresh / destroy on a fresh local file backend.
Where keys are stored: test_state_secrets.py; the README's steps for a real account:
test_readme_real_account.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.pulumi_program import copy_sample_project
from support.seed import HUB, SPOKE_AP, SPOKE_EU, SPOKE_US

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSPHRASE = "demo-passphrase"  # what the committed stack files are encrypted with
PROGRAM = ROOT / "programs" / "org" / "__main__.py"


class Project:
    """A copy of the sample project and a Pulumi CLI bound to a fresh backend."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.dir = copy_sample_project(tmp / "repo")
        self.multi = self.dir / "programs" / "multi-org"
        self.url = url
        self.cli = PulumiCLI(tmp / "pulumi", extra_env={"PULUMI_CONFIG_PASSPHRASE": DEMO_PASSPHRASE})

    def init(self, stack: str, cwd: Path | None = None) -> None:
        cwd = cwd or self.dir
        self.cli.stack_init(stack, cwd)
        self.cli.config_set(stack, cwd, "datadog:apiUrl", self.url)

    def pulumi(self, *args: str, stack: str, cwd: Path | None = None, check: bool = True) -> str:
        proc = self.cli.run(*args, "--stack", stack, cwd=cwd or self.dir, check=check)
        return proc.stdout + proc.stderr

    def up(self, stack: str, cwd: Path | None = None) -> str:
        return self.pulumi("up", "--yes", "--skip-preview", stack=stack, cwd=cwd)


@pytest.fixture
def project(tmp_path: Path, emulator: EmulatorControl) -> Project:
    """The sample project with hub, spoke-eu and spoke-us initialised and the hub deployed."""
    proj = Project(tmp_path, emulator.url)
    for stack in ("demo-hub", "demo-spoke-eu", "demo-spoke-us"):
        proj.init(stack)
    proj.up("demo-hub")
    return proj


def _conn_ids(emulator: EmulatorControl) -> dict[tuple[str, str], str]:
    return {
        (c["relationships"]["source_org"]["data"]["id"], c["relationships"]["sink_org"]["data"]["id"]): c[
            "id"
        ]
        for c in emulator.connections()
    }


def test_preview_sends_no_mutation_and_up_creates_exactly_the_declared(
    project: Project, emulator: EmulatorControl
) -> None:
    emulator.clear_requests()
    preview = project.pulumi("preview", stack="demo-spoke-eu")
    assert "+ 2 to create" in preview  # the stack and its OrgConnection
    assert "+  pulumi-python:dynamic/datadog:OrgConnection to-hub create" in preview
    assert emulator.mutating_requests() == []

    project.up("demo-spoke-eu")
    project.up("demo-spoke-us")
    assert emulator.pairs() == sorted(
        [(SPOKE_EU.id, HUB.id, ("logs", "metrics")), (SPOKE_US.id, HUB.id, ("logs",))]
    )
    outs = project.cli.outputs("demo-spoke-eu", project.dir)
    assert outs["sink_org"] == "hub" and outs["source_org"] == "spoke-eu"
    assert outs["connection_id"] == _conn_ids(emulator)[(SPOKE_EU.id, HUB.id)]
    # The state points at the program's line that declares the connection, not into the package.
    (conn,) = [r for r in project.cli.export("demo-spoke-eu", project.dir)["deployment"]["resources"]
               if r["type"] == "pulumi-python:dynamic/datadog:OrgConnection"]  # fmt: skip
    line = next(n for n, text in enumerate(PROGRAM.read_text().splitlines(), 1) if "= OrgConnection(" in text)
    assert conn["sourcePosition"].endswith(f"/programs/org/__main__.py#{line}"), conn["sourcePosition"]
    assert "datadog_org_connections" not in json.dumps(conn.get("stackTrace", []))

    # Preview of the unchanged stack sends one request: who the org's keys are (the preflight).
    emulator.clear_requests()
    project.pulumi("preview", "--expect-no-changes", stack="demo-spoke-eu")
    assert [(r["method"], r["path"]) for r in emulator.requests()] == [("GET", "/api/v2/current_user")]

    # A second up changes nothing and sends no mutation.
    emulator.clear_requests()
    again = project.up("demo-spoke-eu")
    assert "2 unchanged" in again
    assert emulator.mutating_requests() == []


def test_changing_types_is_an_update_in_place(project: Project, emulator: EmulatorControl) -> None:
    project.up("demo-spoke-eu")
    before = _conn_ids(emulator)[(SPOKE_EU.id, HUB.id)]
    project.cli.run(
        "config", "set", "--stack", "demo-spoke-eu", "--path", "connectionTypes[2]", "audit", cwd=project.dir
    )
    preview = project.pulumi("preview", stack="demo-spoke-eu")
    assert "~ 1 to update" in preview and "replace" not in preview
    up = project.up("demo-spoke-eu")
    assert "~ 1 updated" in up
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("audit", "logs", "metrics"))]
    assert _conn_ids(emulator)[(SPOKE_EU.id, HUB.id)] == before


def test_changing_the_sink_is_a_replacement(project: Project, emulator: EmulatorControl) -> None:
    project.up("demo-spoke-eu")
    # Point spoke-eu at another "hub": a second hub stack whose org is spoke-us.
    project.init("hub-2")
    project.cli.config_set("hub-2", project.dir, "role", "hub")
    project.cli.config_set("hub-2", project.dir, "orgId", SPOKE_US.id)
    project.up("hub-2")
    project.cli.config_set("demo-spoke-eu", project.dir, "hubStack", "organization/datadog-orgs/hub-2")
    preview = project.pulumi("preview", stack="demo-spoke-eu")
    assert "+-1 to replace" in preview.replace(" ", "") or "1 to replace" in preview
    up = project.up("demo-spoke-eu")
    assert "replaced" in up
    assert emulator.pairs() == [(SPOKE_EU.id, SPOKE_US.id, ("logs", "metrics"))]


def test_out_of_band_delete_from_the_sink_is_noticed_and_restored(
    project: Project, emulator: EmulatorControl
) -> None:
    project.up("demo-spoke-eu")
    conn_id = _conn_ids(emulator)[(SPOKE_EU.id, HUB.id)]
    # The hub (the sink) deletes the connection through the public API.
    resp = requests.delete(
        f"{emulator.url}/api/v2/org_connections/{conn_id}", headers=HUB.headers(), timeout=10
    )
    assert resp.status_code == 200
    refresh = project.pulumi("refresh", "--yes", stack="demo-spoke-eu")
    assert "deleted" in refresh
    up = project.up("demo-spoke-eu")
    assert "+ 1 created" in up
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs", "metrics"))]


def test_adopting_a_connection_made_by_hand_then_managing_it(
    project: Project, emulator: EmulatorControl
) -> None:
    made = emulator.create(SPOKE_US.id, HUB.id, ["metrics"])
    failed = project.pulumi("up", "--yes", "--skip-preview", stack="demo-spoke-us", check=False)
    assert "already exists" in failed and "adopt_existing=True" in failed
    assert len(emulator.connections()) == 1

    project.cli.config_set("demo-spoke-us", project.dir, "adoptExisting", "true")
    project.up("demo-spoke-us")
    assert _conn_ids(emulator)[(SPOKE_US.id, HUB.id)] == made["id"]
    assert emulator.pairs() == [(SPOKE_US.id, HUB.id, ("logs",))]  # brought to the declared types

    project.cli.run(
        "config",
        "set",
        "--stack",
        "demo-spoke-us",
        "--path",
        "connectionTypes[1]",
        "metrics",
        cwd=project.dir,
    )
    project.up("demo-spoke-us")
    assert emulator.pairs() == [(SPOKE_US.id, HUB.id, ("logs", "metrics"))]
    assert _conn_ids(emulator)[(SPOKE_US.id, HUB.id)] == made["id"]

    project.pulumi("destroy", "--yes", stack="demo-spoke-us")
    assert emulator.connections() == []


def test_multi_org_stack_by_alias_and_destroy_everything(project: Project, emulator: EmulatorControl) -> None:
    project.up("demo-spoke-eu")
    project.up("demo-spoke-us")
    project.init("demo-account", cwd=project.multi)
    project.up("demo-account", cwd=project.multi)
    assert emulator.pairs() == sorted(
        [
            (SPOKE_EU.id, HUB.id, ("logs", "metrics")),
            (SPOKE_US.id, HUB.id, ("logs",)),
            (SPOKE_AP.id, HUB.id, ("logs", "metrics")),
            (SPOKE_EU.id, SPOKE_US.id, ("audit",)),
        ]
    )
    outs = project.cli.outputs("demo-account", project.multi)
    assert set(outs["topology"]) == {"spoke-ap-to-hub"}

    project.pulumi("destroy", "--yes", stack="demo-account", cwd=project.multi)
    for stack in ("demo-spoke-eu", "demo-spoke-us", "demo-hub"):
        project.pulumi("destroy", "--yes", stack=stack)
    assert emulator.connections() == []


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("hubStack", None, "is not a UUID"),
        ("connectionTypes[0]", "traces", "unknown value(s) ['traces']"),
    ],
)
def test_bad_input_fails_at_preview_with_a_clear_message(
    project: Project, emulator: EmulatorControl, setting: str, value: str | None, words: str
) -> None:
    if value is None:  # a hub whose org id is malformed
        project.init("bad-hub")
        project.cli.config_set("bad-hub", project.dir, "role", "hub")
        project.cli.config_set("bad-hub", project.dir, "orgId", "hub-org")
        project.up("bad-hub")
        project.cli.config_set("demo-spoke-eu", project.dir, "hubStack", "organization/datadog-orgs/bad-hub")
    else:
        project.cli.run(
            "config", "set", "--stack", "demo-spoke-eu", "--path", setting, value, cwd=project.dir
        )
    emulator.clear_requests()
    preview = project.pulumi("preview", stack="demo-spoke-eu", check=False)
    assert words in preview
    assert emulator.mutating_requests() == []


def test_adding_an_org_to_a_topology_replaces_nothing(tmp_path: Path, emulator: EmulatorControl) -> None:
    proj = Project(tmp_path, emulator.url)
    proj.init("demo-account", cwd=proj.multi)
    proj.up("demo-account", cwd=proj.multi)
    before = _conn_ids(emulator)
    proj.cli.run(
        "config", "set", "--stack", "demo-account", "--path", "topologyOrgs[2]", "spoke-eu", cwd=proj.multi
    )
    preview = proj.pulumi("preview", stack="demo-account", cwd=proj.multi)
    assert "+ 1 to create" in preview and "replace" not in preview and "delete" not in preview
    proj.up("demo-account", cwd=proj.multi)
    after = _conn_ids(emulator)
    assert {k: v for k, v in after.items() if k in before} == before  # the existing edges kept their ids
    assert (SPOKE_EU.id, HUB.id) in after
    outs = proj.cli.outputs("demo-account", proj.multi)
    assert set(outs["topology"]) == {"spoke-ap-to-hub", "spoke-eu-to-hub"}


def test_only_demo_stack_files_are_committed() -> None:
    """A user's `pulumi stack init hub` (any name but demo-*) must find no stack file of ours.

    A stack file carries its secrets provider (the passphrase's salt): a committed Pulumi.hub.yaml
    makes `stack init hub` under another passphrase fail, or puts real keys under the demo's.
    """
    stack_files = sorted(
        p.relative_to(ROOT).as_posix()
        for p in [*ROOT.glob("Pulumi.*.yaml"), *ROOT.glob("programs/*/Pulumi.*.yaml")]
    )
    assert stack_files == [
        "Pulumi.demo-hub.yaml",
        "Pulumi.demo-spoke-eu.yaml",
        "Pulumi.demo-spoke-us.yaml",
        "programs/multi-org/Pulumi.demo-account.yaml",
    ]
