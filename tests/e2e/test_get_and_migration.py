"""`OrgConnection.get` and the move from `pulumi_datadog.OrgConnection`, with the real CLI and the emulator.

The migration test follows docs/migrating-from-pulumi-datadog.md step by step. The pulumi-datadog
provider plugin cannot be downloaded here, so the stack "deployed with pulumi_datadog" is a stand-in:
the connection is made through the API with the source org's keys (what the bridged provider's
create does), and the state gets what the bridged provider would have recorded (its default
provider resource and a `datadog:index/orgConnection:OrgConnection` resource whose id is the
connection id) through `pulumi stack export` / `pulumi stack import`. The steps themselves never
need the old plugin: `pulumi state delete` edits the state only.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from support.emulator_control import EmulatorControl
from support.pulumi_cli import find_pulumi
from support.pulumi_program import ProgramProject
from support.seed import ALL_KEYS, HUB, SPOKE_EU, SPOKE_US, Org

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

GET_PROGRAM = """
import pulumi
from datadog_org_connections import OrgConnection

config = pulumi.Config()
conn = OrgConnection.get("existing", config.require("connId"))
pulumi.export("id", conn.id)
pulumi.export("sink", conn.sink_org_id)
pulumi.export("source", conn.source_org_id)
pulumi.export("types", conn.connection_types)
pulumi.export("names", pulumi.Output.all(conn.source_org_name, conn.sink_org_name))
if config.get("viaSink"):
    # The same connection read with the keys of its sink org (an org alias of the stack).
    seen = OrgConnection.get("seen-from-hub", config.require("connId"), source_org="hub")
    pulumi.export("sink_view", pulumi.Output.all(seen.source_org_id, seen.sink_org_id, seen.connection_types))
"""


def _made_by_hand(emulator: EmulatorControl, source: Org, sink: Org, types: list[str]) -> dict[str, Any]:
    """A connection created through the public API with the source org's keys (JSON:API resource)."""
    resp = requests.post(
        f"{emulator.url}/api/v2/org_connections",
        headers=source.headers(),
        json={
            "data": {
                "type": "org_connection",
                "attributes": {"connection_types": types},
                "relationships": {"sink_org": {"data": {"type": "orgs", "id": sink.id}}},
            }
        },
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json()["data"]  # type: ignore[no-any-return]


def _no_key_in(text: str) -> None:
    leaked = [k for k in ALL_KEYS if k in text]
    assert not leaked, "an API or application key appeared in the CLI output"


@pytest.fixture
def get_project(tmp_path: Path, emulator: EmulatorControl) -> ProgramProject:
    project = ProgramProject(tmp_path, "reader")
    project.write_program(GET_PROGRAM)
    project.init(SPOKE_EU, emulator.url)
    return project


def test_get_reads_an_existing_connection_without_managing_it(
    get_project: ProgramProject, emulator: EmulatorControl
) -> None:
    conn_id = _made_by_hand(emulator, SPOKE_EU, HUB, ["metrics", "logs"])["id"]
    _made_by_hand(emulator, SPOKE_US, HUB, ["logs"])  # another connection of the account
    get_project.config("connId", conn_id)
    get_project.config("viaSink", "true")
    get_project.config("orgConnections:orgs.hub.apiKey", HUB.api_key, secret=True, path=True)
    get_project.config("orgConnections:orgs.hub.appKey", HUB.app_key, secret=True, path=True)
    get_project.config("orgConnections:orgs.hub.apiUrl", emulator.url, path=True)
    emulator.clear_requests()

    preview = get_project.pulumi("preview").stdout
    assert "read pulumi-python:dynamic/datadog:OrgConnection existing" in preview
    assert SPOKE_EU.id in preview and HUB.id in preview  # the outputs are known at preview
    up = get_project.up()
    assert "read" in up
    outs = get_project.outputs()
    assert outs["id"] == conn_id
    assert (outs["source"], outs["sink"], outs["types"]) == (SPOKE_EU.id, HUB.id, ["logs", "metrics"])
    assert outs["names"] == ["spoke-eu", "hub"]
    assert outs["sink_view"] == [SPOKE_EU.id, HUB.id, ["logs", "metrics"]]
    # Reads only: list requests of the two orgs, unfiltered (the orgs are not known before the read).
    log = emulator.requests()
    assert {r["method"] for r in log} == {"GET"}
    assert {r["path"] for r in log} == {"/api/v2/org_connections"}

    state = {r["urn"].split("::")[-1]: r for r in get_project.resources() if r.get("custom")}
    assert state["existing"]["external"] is True and state["existing"]["id"] == conn_id

    # Not managed: destroy forgets it and the connection stays.
    emulator.clear_requests()
    get_project.pulumi("destroy", "--yes")
    assert emulator.mutating_requests() == []
    assert conn_id in {c["id"] for c in emulator.connections()}
    _no_key_in(get_project.output)


@pytest.mark.parametrize("bad_id", ["unknown", "malformed"])
def test_get_of_a_connection_that_does_not_exist_fails_naming_the_id(
    get_project: ProgramProject, emulator: EmulatorControl, bad_id: str
) -> None:
    _made_by_hand(emulator, SPOKE_EU, HUB, ["logs"])
    emulator.clear_requests()
    conn_id = str(uuid.uuid4()) if bad_id == "unknown" else "to-hub"
    get_project.config("connId", conn_id)
    for command in (("preview",), ("up", "--yes", "--skip-preview")):
        proc = get_project.pulumi(*command, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert f"read org connection {conn_id if bad_id == 'unknown' else repr(conn_id)} failed" in out
        assert "dd-org-connections list" in out
        assert "Traceback" not in out
    assert [r for r in get_project.resources() if r.get("custom") and "OrgConnection" in r["type"]] == []
    assert emulator.mutating_requests() == []
    _no_key_in(get_project.output)


# --- moving a stack over from pulumi_datadog.OrgConnection ------------------------------------------

OLD_TYPE = "datadog:index/orgConnection:OrgConnection"

NEW_PROGRAM = """
import pulumi
from datadog_org_connections import OrgConnection, OrgConnectionArgs

config = pulumi.Config()
to_hub = OrgConnection(
    "to-hub",
    OrgConnectionArgs(
        sink_org_id=config.require("hubOrgId"),
        connection_types=["logs", "metrics"],
        adopt_id=config.get("adoptId"),  # the id of the pulumi_datadog resource
    ),
)
pulumi.export("connection_id", to_hub.id)
pulumi.export("types", to_hub.connection_types)
"""


def _stand_in_for_pulumi_datadog(project: ProgramProject, conn: dict[str, Any], retain: bool = False) -> str:
    """Put into the stack what `pulumi_datadog.OrgConnection("to-hub", ...)` v4.57 would have; its URN."""
    state = project.export()
    resources = state["deployment"]["resources"]
    stack_urn = resources[0]["urn"]
    prefix = stack_urn.split("pulumi:pulumi:Stack::")[0]
    provider_urn, provider_id = f"{prefix}pulumi:providers:datadog::default_4_57_0", str(uuid.uuid4())
    urn = f"{prefix}{OLD_TYPE}::to-hub"
    conn_id = conn["id"]
    resources += [
        {
            "urn": provider_urn,
            "custom": True,
            "id": provider_id,
            "type": "pulumi:providers:datadog",
            "inputs": {"version": "4.57.0"},
            "outputs": {"version": "4.57.0"},
        },
        {
            "urn": urn,
            "custom": True,
            "id": conn_id,
            "type": OLD_TYPE,
            "inputs": {"connectionTypes": ["logs", "metrics"], "sinkOrgId": HUB.id},
            "outputs": {
                "id": conn_id,
                "connectionTypes": conn["attributes"]["connection_types"],
                "createdAt": conn["attributes"]["created_at"],
                "createdBy": conn["relationships"]["created_by"]["data"]["id"],
                "sinkOrgId": HUB.id,
                "sinkOrgName": "hub",
                "sourceOrgId": SPOKE_EU.id,
                "sourceOrgName": "spoke-eu",
            },
            "parent": stack_urn,
            "provider": f"{provider_urn}::{provider_id}",
            "propertyDependencies": {"connectionTypes": [], "sinkOrgId": []},
            **({"retainOnDelete": True} if retain else {}),
        },
    ]
    project.import_state(state)
    return urn


def _old_stack(
    tmp_path: Path, emulator: EmulatorControl, retain: bool = False
) -> tuple[ProgramProject, str, str]:
    """A stack holding the stand-in pulumi_datadog connection: (project, old URN, connection id)."""
    project = ProgramProject(tmp_path, "spoke")
    project.write_program("import pulumi\n")  # stands in for the pulumi_datadog program (see module doc)
    project.init(SPOKE_EU, emulator.url, {"hubOrgId": HUB.id})
    project.up()
    made = _made_by_hand(emulator, SPOKE_EU, HUB, ["logs", "metrics"])
    old_urn = _stand_in_for_pulumi_datadog(project, made, retain=retain)
    emulator.clear_requests()
    return project, old_urn, made["id"]


def test_migration_from_pulumi_datadog_makes_no_post_and_no_delete(
    tmp_path: Path, emulator: EmulatorControl
) -> None:
    project, old_urn, conn_id = _old_stack(tmp_path, emulator)

    # Step 1: the old resource's URN and id, as `pulumi stack --show-urns --show-ids` prints them.
    listing = project.pulumi("stack", "--show-urns", "--show-ids").stdout
    found = re.search(rf"URN: (\S+{re.escape(OLD_TYPE)}::to-hub)\n\s*(?:\S+\s+)?ID: (\S+)", listing)
    assert found is not None, listing
    assert found.groups() == (old_urn, conn_id)
    # Step 2: forget it in the state; the connection is not touched.
    project.pulumi("state", "delete", old_urn, "--yes")
    assert OLD_TYPE not in {r["type"] for r in project.resources()}
    # Step 3: declare ours with adopt_id instead of the old declaration; preview, then up.
    project.write_program(NEW_PROGRAM)
    project.config("adoptId", conn_id)
    preview = project.pulumi("preview").stdout
    assert "+  pulumi-python:dynamic/datadog:OrgConnection to-hub create" in preview
    project.pulumi("up", "--yes")

    assert project.outputs() == {"connection_id": conn_id, "types": ["logs", "metrics"]}
    assert [(c["id"], c["attributes"]["connection_types"]) for c in emulator.connections()] == [
        (conn_id, ["logs", "metrics"])
    ]
    methods = {r["method"] for r in emulator.requests()}
    assert "POST" not in methods and "DELETE" not in methods
    assert emulator.mutating_requests() == []  # same types: not even a PATCH
    # The old resource and the unused default provider of pulumi_datadog left the state.
    assert sorted(r["type"] for r in project.resources()) == [
        "pulumi-python:dynamic/datadog:OrgConnection",
        "pulumi:providers:pulumi-python",
    ]

    # Managed from now on: the next up changes nothing; dropping adopt_id (step 6) calls no API;
    # destroy deletes the connection (once).
    again = project.up()
    assert "unchanged" in again and emulator.mutating_requests() == []
    project.pulumi("config", "rm", "adoptId")
    assert "~ 1 updated" in project.up()
    assert emulator.mutating_requests() == []
    assert project.outputs()["connection_id"] == conn_id
    project.pulumi("destroy", "--yes")
    assert [r["method"] for r in emulator.mutating_requests()] == ["DELETE"]
    assert emulator.connections() == []
    _no_key_in(project.output)


def test_retain_on_delete_way_without_the_old_plugin_stops_before_any_change(
    tmp_path: Path, emulator: EmulatorControl
) -> None:
    """The retain_on_delete way needs the pulumi-datadog plugin; without it nothing at all happens."""
    # The state as `pulumi up` leaves it once the old resource is declared with retain_on_delete=True.
    project, _, conn_id = _old_stack(tmp_path, emulator, retain=True)
    project.write_program(NEW_PROGRAM)
    project.config("adoptId", conn_id)
    for command in (("preview",), ("up", "--yes", "--skip-preview")):
        proc = project.pulumi(*command, check=False)
        assert proc.returncode != 0
        assert "no resource plugin 'pulumi-resource-datadog' found" in proc.stdout + proc.stderr
    assert emulator.mutating_requests() == []
    assert [c["id"] for c in emulator.connections()] == [conn_id]
    assert OLD_TYPE in {r["type"] for r in project.resources()}  # nothing changed in the state either
