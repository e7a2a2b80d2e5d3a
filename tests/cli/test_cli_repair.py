"""`reconcile`'s REPAIR (issue 21): stack config `orgConnections:adopt` for the orphans a stack's resources
were being created for, from pending creates in an export or from the creates `pulumi preview --json` plans.

The exports and previews here are written by hand in the shapes the real CLI (v3.274.1) prints (its own
are exercised end to end in tests/e2e/test_repair_on_another_runner.py): `deployment.pending_operations[]`
of type `creating` with the resource's URN, inputs and, when the engine heard the provider's answer, its
id; preview `steps[]` of op `create` with `newState.inputs`. The API is the emulator's.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from cli_helpers import one_error_line_of, run

from support.emulator_control import EmulatorControl
from support.seed import HUB, SPOKE_AP, SPOKE_EU, SPOKE_US

TYPE = "pulumi-python:dynamic/datadog:OrgConnection"


def _urn(name: str, stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::proj::{TYPE}::{name}"


def _held(name: str, conn_id: str, sink: str) -> dict[str, Any]:
    outputs = {"source_org_id": SPOKE_EU.id, "sink_org_id": sink, "connection_types": ["logs"]}
    return {"urn": _urn(name), "type": TYPE, "id": conn_id, "inputs": {}, "outputs": outputs}


def _pending(name: str, sink: str, conn_id: str | None = None) -> dict[str, Any]:
    inputs = {"__owner": f"proj/dev/{name}", "sink_org_id": sink, "connection_types": ["logs"]}
    resource: dict[str, Any] = {"urn": _urn(name), "type": TYPE, "inputs": inputs}
    if conn_id:
        resource |= {"id": conn_id, "outputs": inputs}
    return {"type": "creating", "resource": resource}


def _export(tmp: Path, resources: list[dict[str, Any]], pending: list[dict[str, Any]]) -> str:
    stack = {"urn": "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev", "type": "pulumi:pulumi:Stack"}
    doc = {"version": 3, "deployment": {"resources": [stack, *resources], "pending_operations": pending}}
    path = tmp / "export.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _config(url: str, adopt: dict[str, str] | None = None) -> str:
    """What `pulumi config --show-secrets --json` prints for spoke-eu's stack."""
    doc = {
        "datadog:apiKey": {"value": SPOKE_EU.api_key, "secret": True},
        "datadog:appKey": {"value": SPOKE_EU.app_key, "secret": True},
        "datadog:apiUrl": {"value": url, "secret": False},
    }
    if adopt is not None:
        doc["orgConnections:adopt"] = {"value": json.dumps(adopt), "secret": False}
    return json.dumps(doc)


def test_pending_creates_become_one_config_command_merged_with_the_current_value(
    tmp_path: Path, emulator: EmulatorControl
) -> None:
    to_hub = emulator.create(SPOKE_EU.id, HUB.id, ["logs"])["id"]
    to_us = emulator.create(SPOKE_EU.id, SPOKE_US.id, ["logs"])["id"]
    to_ap = emulator.create(SPOKE_EU.id, SPOKE_AP.id, ["logs"])["id"]
    export = _export(
        tmp_path,
        [_held("to-hub", to_hub, HUB.id)],
        [
            _pending("to-hub", HUB.id),  # stale: created since, the state holds it
            _pending("ap-first", SPOKE_AP.id),  # same pair, but not the create that recorded the id
            _pending("to-us", SPOKE_US.id),
            _pending("to-ap", SPOKE_AP.id, conn_id=to_ap.upper()),
        ],
    )
    current = {"to-hub": to_hub, "gone": to_hub.upper()}  # done; and one naming another resource's
    config = _config(emulator.url, current)

    result = run("reconcile", export, "--stack-config", "-", "--json", org=None, input=config)
    assert result.code == 6, result
    doc = json.loads(result.out)
    assert doc["stacks"] == [{"stack": "proj/dev", "connections": 1, "interrupted_creates": 3}]
    adopt_as = {o["id"]: o["adopt_as"] for o in doc["orphans"]}
    assert {i: (a["resource"], a["interrupted_create"]) for i, a in adopt_as.items()} == {
        to_us: ("to-us", True),
        to_ap: ("to-ap", True),  # by the id its pending create recorded, not by the pair's first
    }
    assert doc["adoption_code"] is None
    [repair] = doc["repair"]
    assert repair["found"] == {"to-ap": to_ap, "to-us": to_us}
    assert repair["adopt"] == {"to-ap": to_ap, "to-hub": to_hub, "to-us": to_us}
    assert repair["left_out"] == [{"resource": "gone", "id": to_hub, "held_by": "proj/dev: to-hub"}]
    assert "orgConnections:adopt.gone of stack proj/dev names connection" in result.err
    assert repair["pending_creates"] == 4
    cancel, config_set, up, refresh = (shlex.split(c, comments=True) for c in repair["commands"])
    assert cancel == ["pulumi", "cancel", "--stack", "dev"]
    assert config_set[:5] == ["pulumi", "config", "set", "--stack", "dev"]
    assert config_set[5] == "orgConnections:adopt" and json.loads(config_set[6]) == repair["adopt"]
    assert up == ["pulumi", "up", "--stack", "dev", "--yes"]
    assert refresh == [
        "pulumi",
        "refresh",
        "--stack",
        "dev",
        "--clear-pending-creates",
        "--yes",
        "--non-interactive",
    ]
    assert repair["afterwards"] == ["pulumi config rm --stack dev orgConnections:adopt"]
    assert [r["method"] for r in emulator.requests()] == ["GET"] * len(emulator.requests())

    text = run("reconcile", export, "--stack-config", "-", org=None, input=config)
    assert text.code == 6
    assert "2 adopted by the REPAIR below (stack config, no program edit)" in text.out
    printed = [line for line in text.out.splitlines() if line.startswith("pulumi ")]
    assert printed == [*repair["commands"], *repair["afterwards"]]
    assert "OrgConnection(" not in text.out


def test_without_pending_creates_a_preview_plan_names_the_resource(
    tmp_path: Path, emulator: EmulatorControl
) -> None:
    to_us = emulator.create(SPOKE_EU.id, SPOKE_US.id, ["metrics"])["id"]
    by_hand = emulator.create(SPOKE_EU.id, SPOKE_AP.id, ["logs"])["id"]
    export = _export(tmp_path, [], [])
    steps = [
        {"op": "same", "urn": "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev"},
        {"op": "create", "urn": _urn("eu-us"), "newState": {
            "urn": _urn("eu-us"), "type": TYPE,
            "inputs": {"__owner": "proj/dev/eu-us", "sink_org_id": SPOKE_US.id, "connection_types": ["logs"]}}},
        {"op": "create", "urn": _urn("secret-sink"), "newState": {
            "urn": _urn("secret-sink"), "type": TYPE, "inputs": {"sink_org_id": "[secret]"}}},
    ]  # fmt: skip
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"config": {}, "steps": steps, "changeSummary": {"create": 2}}))

    result = run("reconcile", export, "--plan", str(plan), "--stack-config", "-", "--json",
                 org=None, input=_config(emulator.url))  # fmt: skip
    assert result.code == 6, result
    doc = json.loads(result.out)
    adopt_as = {o["id"]: o["adopt_as"] for o in doc["orphans"]}
    assert adopt_as[to_us]["resource"] == "eu-us" and adopt_as[to_us]["planned_create"] is True
    assert adopt_as[by_hand]["planned_create"] is False  # declared nowhere: adoption code
    [repair] = doc["repair"]
    assert repair["adopt"] == {"eu-us": to_us} and repair["pending_creates"] == 0
    assert [shlex.split(c, comments=True)[1] for c in repair["commands"]] == ["config", "up"]
    assert by_hand in doc["adoption_code"] and to_us not in doc["adoption_code"]


def test_unusable_repair_inputs(tmp_path: Path, emulator: EmulatorControl) -> None:
    export = _export(tmp_path, [], [])
    bad = run("reconcile", export, "--stack-config", "-", org=None,
              input=_config(emulator.url, {"to-us": "not-an-id"}))  # fmt: skip
    assert bad.code == 3 and "orgConnections:adopt.to-us must be a connection id" in one_error_line_of(bad)
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    no_plan = run("reconcile", export, "--plan", str(plan), url=emulator.url, org=SPOKE_EU)
    assert no_plan.code == 2 and "not the output of `pulumi preview --json`" in one_error_line_of(no_plan)
    no_pulumi = run(
        "reconcile", "--stack", "dev", url=emulator.url, org=SPOKE_EU, env={"PATH": str(tmp_path)}
    )
    assert no_pulumi.code == 3 and "no `pulumi` on PATH" in one_error_line_of(no_pulumi)
    assert emulator.requests() == []


def test_pending_creates_of_other_resources_are_not_cleared_blindly(
    tmp_path: Path, emulator: EmulatorControl
) -> None:
    """`--clear-pending-creates` drops every pending create: another provider's resource may have been made."""
    to_us = emulator.create(SPOKE_EU.id, SPOKE_US.id, ["logs"])["id"]
    monitor = {"type": "creating", "resource": {"urn": "urn:pulumi:dev::proj::datadog:index/monitor:Monitor::cpu",
                                                "type": "datadog:index/monitor:Monitor", "inputs": {}}}  # fmt: skip
    export = _export(tmp_path, [], [_pending("to-us", SPOKE_US.id), monitor])
    result = run("reconcile", export, "--stack-config", "-", "--json", org=None, input=_config(emulator.url))
    [repair] = json.loads(result.out)["repair"]
    assert repair["adopt"] == {"to-us": to_us}
    assert (repair["pending_creates"], repair["pending_others"]) == (2, 1)
    *commands, clear = repair["commands"]
    assert [shlex.split(c)[1] for c in commands] == ["cancel", "config", "up"]
    assert clear.startswith("# pulumi refresh --stack dev --clear-pending-creates") and "1 of them" in clear
